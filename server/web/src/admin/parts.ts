/** The admin page's building blocks: a section with its own message line, tables, buttons. */

import { ApiError } from "../api";
import { el } from "../dom";

type Cell = Node | string;
type Tone = "ok" | "warning";

export function table(headers: string[], rows: Cell[][], attrs: Record<string, string> = {}): HTMLTableElement {
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      rows.map((row) => el("tr", {}, row.map((c) => el("td", {}, c)))),
    ),
  );
}

export function button(label: string, click: () => void, attrs: Record<string, string> = {}): HTMLButtonElement {
  const node = el("button", { type: "button", ...attrs }, label);
  node.addEventListener("click", click);
  return node;
}

export function choice(name: string, options: string[], chosen = ""): HTMLSelectElement {
  const node = el("select", { name }, options.map((o) => el("option", { value: o }, o)));
  node.value = chosen || (options[0] ?? "");
  return node;
}

/** A titled part of the admin page: what it shows, and one line saying what its last action did. */
export abstract class Section {
  readonly node: HTMLElement;
  protected readonly body = el("div", { class: "section-body" });
  private readonly message = el("p", { class: "message", role: "status" });

  constructor(title: string, id: string) {
    this.node = el("section", { id, class: "admin-section" }, el("h2", {}, title), this.message, this.body);
  }

  /** Fetch and show what the section lists. */
  abstract load(): Promise<void>;

  /** Run an action, say how it went (done, or done with a warning), and show the section afresh. */
  protected async act(done: string, action: () => Promise<unknown>, tone: Tone = "ok"): Promise<void> {
    try {
      await action();
      this.say(tone, done);
    } catch (exc) {
      this.say("error", problem(exc));
      return;
    }
    await this.reload();
  }

  protected async reload(): Promise<void> {
    try {
      await this.load();
    } catch (exc) {
      this.say("error", problem(exc));
    }
  }

  protected say(tone: Tone | "error", text: string): void {
    this.message.textContent = text;
    this.message.className = `message ${tone}`;
  }
}

function problem(exc: unknown): string {
  if (exc instanceof ApiError) return `${exc.message} (${exc.code})`;
  return String(exc);
}
