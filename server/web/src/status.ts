/**
 * The status bar: the last message (a refused number, a conflict, a save — it stays until the
 * next one, so what was skipped or refused can be read at leisure), whether the live feed
 * is connected, the commit the grid shows, how many edits are not saved yet, and a legend of the
 * cell states.
 */

import { el } from "./dom";

export type Tone = "info" | "ok" | "error";

export class Status {
  private readonly message = el("span", { id: "message", role: "status", "aria-live": "polite" });
  private readonly live = el("span", { id: "live", class: "off" }, "connecting…");
  private readonly commit = el("span", { id: "commit" });
  private readonly unsaved = el("span", { id: "unsaved" });

  constructor(host: HTMLElement) {
    const legend = el(
      "span",
      { class: "legend" },
      ...[
        ["input", "input"],
        ["computed", "computed"],
        ["locked", "locked"],
        ["seeded", "seeded forecast"],
        ["dirty", "not saved yet"],
        ["conflict", "conflict"],
      ].map(([state, label]) => el("span", { class: `chip cell-${state}` }, label)),
    );
    host.append(this.message, el("span", { class: "spacer" }), legend, this.unsaved, this.commit, this.live);
  }

  show(tone: Tone, text: string): void {
    this.message.textContent = text;
    this.message.className = tone;
    this.message.setAttribute("role", tone === "error" ? "alert" : "status");
  }

  /** A question with its answers as buttons; the next message replaces it. */
  ask(text: string, answers: { label: string; choose: () => void }[]): void {
    const buttons = answers.map(({ label, choose }) => {
      const button = el("button", { type: "button", class: "answer" }, label);
      button.addEventListener("click", choose);
      return button;
    });
    this.message.replaceChildren(`${text} `, ...buttons);
    this.message.className = "ask";
    this.message.setAttribute("role", "alert");
  }

  connected(live: boolean): void {
    this.live.textContent = live ? "● live" : "○ reconnecting…";
    this.live.className = live ? "on" : "off";
  }

  seen(commit: number): void {
    this.commit.textContent = `commit ${commit}`;
  }

  pending(count: number): void {
    this.unsaved.textContent = count > 0 ? `${count} not saved yet` : "";
  }
}
