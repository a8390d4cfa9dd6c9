/**
 * The side panel: everything about the focused cell — its full address, its states, a conflict
 * with who changed it and their value (take theirs / overwrite), its history (who, when,
 * old → new) and its trace (how the number comes about: a total's children with their weights,
 * a rule's formula and the cells it reads, down to the inputs).
 */

import type { Api, HistoryEntry, ShownTraceNode, TraceNode } from "./api";
import { el } from "./dom";
import type { Pending } from "./edits";
import { formatValue } from "./numbers";
import type { CellValue } from "./view";

export interface CellInfo {
  model: string;
  cube: string;
  key: string;
  title: string;
  address: [string, string][];
  value: CellValue;
  states: string[];
  /** A leaf cell has a history; a total is computed from leaves. */
  leaf: boolean;
  pending: Pending | undefined;
}

export interface PanelActions {
  takeTheirs(key: string): void;
  overwrite(key: string): void;
}

export class CellPanel {
  private cell: CellInfo | null = null;
  private readonly history = el("div", { class: "history" });
  private readonly trace = el("div", { class: "trace" });
  private loads = 0;

  constructor(
    private readonly host: HTMLElement,
    private readonly api: Api,
    private readonly actions: PanelActions,
  ) {
    this.clear();
  }

  /** Show no cell (another view is open); answers still on their way for the last one are dropped. */
  clear(): void {
    this.cell = null;
    this.loads++;
    this.host.replaceChildren(el("p", { class: "hint" }, "Select a cell to see its history."));
  }

  /** Show a cell; its history is fetched again when `reload` or when it is another cell. */
  show(cell: CellInfo, reload = false): void {
    const same = this.cell?.key === cell.key;
    this.cell = cell;
    this.host.replaceChildren(
      el("h2", {}, cell.title),
      el(
        "dl",
        { class: "address" },
        cell.address.flatMap(([dim, element]) => [el("dt", {}, dim), el("dd", {}, element)]),
      ),
      el("p", { class: "states" }, cell.states.map((s) => el("span", { class: `chip cell-${s}` }, s))),
      el("p", { class: "value" }, "Value ", el("strong", {}, formatValue(cell.value) || "—")),
      this.conflict(cell),
      el("h3", {}, "History"),
      this.history,
      el("h3", {}, "Trace"),
      this.trace,
    );
    if (!same || reload) {
      const load = ++this.loads;
      void this.loadHistory(cell, load);
      void this.loadTrace(cell, load);
    }
  }

  private conflict(cell: CellInfo): HTMLElement | string {
    const theirs = cell.pending?.conflict;
    if (cell.pending?.state !== "conflict" || theirs === undefined) return "";
    const take = el("button", { type: "button", class: "take-theirs" }, "Take theirs");
    const overwrite = el("button", { type: "button", class: "overwrite" }, "Overwrite with mine");
    take.addEventListener("click", () => this.actions.takeTheirs(cell.key));
    overwrite.addEventListener("click", () => this.actions.overwrite(cell.key));
    return el(
      "div",
      { class: "conflict", role: "alert" },
      el(
        "p",
        {},
        el("strong", {}, theirs.author),
        ` changed this cell to ${formatValue(theirs.value) || "empty"} at ${when(theirs.time)} ` +
          `(commit ${theirs.commit}). Your value ${formatValue(cell.pending?.value ?? null) || "(empty)"} ` +
          "is kept here, not saved.",
      ),
      el("p", { class: "actions" }, take, overwrite),
    );
  }

  private async loadHistory(cell: CellInfo, load: number): Promise<void> {
    if (!cell.leaf) {
      this.history.replaceChildren(el("p", { class: "hint" }, "A total: computed from its leaves."));
      return;
    }
    this.history.replaceChildren(el("p", { class: "hint" }, "Loading…"));
    let entries: HistoryEntry[];
    try {
      entries = await this.api.history(cell.model, cell.cube, cell.address.map(([, e]) => e));
    } catch (exc) {
      if (load === this.loads) this.history.replaceChildren(el("p", { class: "error" }, String(exc)));
      return;
    }
    if (load !== this.loads) return;
    if (entries.length === 0) {
      this.history.replaceChildren(el("p", { class: "hint" }, "Never changed."));
      return;
    }
    const rows = entries
      .slice()
      .reverse()
      .map((h) =>
        el(
          "tr",
          {},
          el("td", {}, when(h.commit.time)),
          el("td", {}, h.commit.author),
          el("td", { class: "num" }, formatValue(h.old) || "—"),
          el("td", {}, "→"),
          el("td", { class: "num" }, formatValue(h.new) || "—"),
          el("td", { class: "source" }, h.commit.source),
        ),
      );
    this.history.replaceChildren(el("table", {}, el("tbody", {}, rows)));
  }

  private async loadTrace(cell: CellInfo, load: number): Promise<void> {
    const elements = cell.address.map(([, e]) => e);
    let root: TraceNode;
    try {
      root = await this.api.trace(cell.model, cell.cube, elements, TRACE_DEPTH, TRACE_NODES);
    } catch (exc) {
      if (load === this.loads) this.trace.replaceChildren(el("p", { class: "error" }, String(exc)));
      return;
    }
    if (load !== this.loads) return;
    if (root.hidden) {
      this.trace.replaceChildren(el("p", { class: "hint" }, NOT_VISIBLE));
      return;
    }
    if (root.kind === "input") {
      this.trace.replaceChildren(el("p", { class: "hint" }, "An input: typed, pasted or loaded."));
      return;
    }
    this.trace.replaceChildren(el("ul", {}, traceItem(root, null)));
  }
}

const TRACE_DEPTH = 2;
const TRACE_NODES = 60;

/** One node of a trace: what differs from its parent, its weight and value, then its children.
 * A part the user may not see keeps its place (a total's other parts still add up to it) but
 * not its name or value. */
function traceItem(node: TraceNode, parent: ShownTraceNode | null): HTMLElement {
  const weight = node.weight !== undefined && node.weight !== 1 ? ` × ${node.weight}` : "";
  if (node.hidden) {
    return el("li", { class: "trace-hidden" }, el("span", { class: "trace-name" }, NOT_VISIBLE + weight));
  }
  const name =
    parent === null
      ? "this cell"
      : node.cube !== parent.cube
        ? `${node.cube}: ${node.elements.join(" · ")}`
        : node.elements.filter((e, i) => e !== parent.elements[i]).join(" · ") || "same cell";
  const rule = node.formula ? el("code", {}, `${node.rule ?? "rule"}: ${node.formula}`) : "";
  const children = node.children?.map((child) => traceItem(child, node)) ?? [];
  if (node.truncated) children.push(el("li", { class: "hint" }, "…"));
  return el(
    "li",
    { class: `trace-${node.kind}` },
    el("span", { class: "trace-name" }, name + weight),
    el("span", { class: "num" }, formatValue(node.value) || "0"),
    rule,
    children.length > 0 ? el("ul", {}, children) : "",
  );
}

const NOT_VISIBLE = "(not visible to you)";

const WHEN = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

function when(time: string): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? time : WHEN.format(date);
}
