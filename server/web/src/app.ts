/**
 * The planning grid's controller: it keeps the view as the server last described it, lays the
 * planner's pending edits over it, and keeps the grid, the side panel and the status bar in step.
 *
 * Data flow: the live feed's snapshot gives the view (values, flags, headers and the commit it
 * reflects); the feed's cell messages update it after every commit, by anyone. The planner's
 * edits arrive from the grid as text, are parsed here (numbers.ts) and queued (edits.ts); until
 * the server accepts them they are shown instead of the server's value, marked "not saved yet".
 * Totals are never computed here: they arrive with the feed.
 *
 * Performance marks, read by benchmarks/web_grid.py (which watches the grid itself to see when
 * numbers are shown): `plancube:snapshot` when a view arrives, `plancube:feed` (detail: cells,
 * commit) when a feed message arrives.
 */

import type { Api, CommitInfo, Role } from "./api";
import { EditQueue, type SavedCell } from "./edits";
import type { CellChange } from "./feed";
import { LiveFeed } from "./feed";
import type { CellEdit, CellRef, EditOrigin, GridAdapter, GridView, PasteLayout } from "./grid/adapter";
import type { JobStatus } from "./import/spec";
import { formatValue, parseNumber } from "./numbers";
import type { CellPanel } from "./panel";
import { type PasteResult, parseClipboard, planPaste } from "./paste";
import type { Selection } from "./picker";
import type { Status } from "./status";
import {
  baseState,
  type CellValue,
  cellElements,
  cellKey,
  columnTree,
  hiddenRows,
  locator,
  parentsOf,
  State,
  type ViewBody,
} from "./view";

export class GridApp {
  private readonly queue: EditQueue;
  private feed: LiveFeed | null = null;
  private selection: Selection | null = null;
  private view: ViewBody | null = null;
  private fresh = true;
  private commit = 0;
  private collapsed = new Set<number>();
  /** Where a cube cell (by key) sits in the view. */
  private where: (key: string) => CellRef | undefined = () => undefined;
  /** The commit each open editor was opened on. */
  private editBase = new Map<string, number>();
  private focused: CellRef | null = null;
  /** What a paste skipped, by the key of its first cell: said when that cell is saved. */
  private readonly notes = new Map<string, string>();
  /** The signed-in user's role in a model (me.models), to say why a cell takes no input. */
  roleOf: (model: string) => Role | undefined = () => undefined;
  /** The live feed dropped: the page checks whether it is still signed in. */
  onDisconnected: () => void = () => {};
  /** A background import's progress, heard on the feed (import/dialog.ts follows it). */
  onJob: (job: JobStatus) => void = () => {};

  constructor(
    private readonly api: Api,
    private readonly grid: GridAdapter,
    private readonly status: Status,
    private readonly panel: CellPanel,
  ) {
    this.queue = new EditQueue((batch) => this.write(batch), {
      changed: (keys) => this.pendingChanged(keys),
      saved: (cells, commit) => this.saved(cells, commit),
      problem: (message) => this.status.show("error", message),
    });
    grid.collectEdits({
      started: (cell) => this.editBase.set(this.keyOf(cell), this.commit),
      accepts: (edit) => this.accepts(edit),
      edited: (edits, origin, note) => this.edited(edits, origin, note),
      pasted: (text, layout) => this.pasted(text, layout),
      refused: (cell) => this.refusedInput(cell),
    });
    grid.onFocus((cell) => {
      this.focused = cell;
      this.showCell(false);
    });
    grid.onToggle((row) => this.toggle(row));
  }

  /** Watch a view: the feed answers with a snapshot, then with every change to it. */
  open(selection: Selection): void {
    if (this.selection?.model !== selection.model) {
      this.feed?.close();
      this.commit = 0;
      this.feed = new LiveFeed(selection.model, {
        snapshot: (view) => this.snapshot(view),
        cells: (commit, cells) => this.changedCells(commit, cells),
        error: (message) => this.status.show("error", message),
        connected: (live) => {
          this.status.connected(live);
          if (!live) this.onDisconnected();
        },
        job: (job) => this.onJob(job),
      });
    }
    this.selection = selection;
    this.fresh = true;
    this.feed?.watch(selection.cube, selection.spec);
  }

  /** Ask for the view afresh (an import committed): the grid keeps its focus and folds. */
  refresh(): void {
    const selection = this.selection;
    if (selection !== null) this.feed?.watch(selection.cube, selection.spec);
  }

  /** Signed in again: send the edits that waited, and reopen the feed if it is down. */
  resume(): void {
    this.queue.resume();
    this.feed?.reconnect();
  }

  /** Edits not saved yet (a conflict counts: it is the planner's value, not the server's). */
  get unsaved(): number {
    return this.queue.pending.size;
  }

  takeTheirs(key: string): void {
    this.queue.takeTheirs(key);
  }

  overwrite(key: string): void {
    this.queue.overwrite(key);
  }

  // -- from the server -----------------------------------------------------------------------

  private snapshot(view: ViewBody): void {
    performance.mark("plancube:snapshot");
    if (this.fresh) {
      // Another view: the grid says which cell is at its focus now (setView); until then the
      // panel shows none, not the last view's.
      this.collapsed = new Set();
      this.focused = null;
      this.panel.clear();
    }
    this.fresh = false;
    this.view = view;
    this.where = locator(view, this.selection?.dimensions ?? []);
    this.seen(view.commit);
    const parents = parentsOf(view.rows);
    const last = (names: string[]) => names[names.length - 1];
    const grid: GridView = {
      corner: view.row_dimensions.join(" · "),
      rows: view.rows.map((h, r) => ({
        label: h.elements.length > 1 ? h.elements.join(" · ") : last(h.elements),
        depth: h.depth,
        total: h.consolidated,
        parent: parents[r],
      })),
      columns: view.columns.map((h) => ({ label: last(h.elements), total: h.consolidated })),
      columnTree: columnTree(view.columns),
      values: view.values,
      states: view.flags.map((row) => row.map((f) => baseState(f, view.flag_bits))),
    };
    this.grid.setView(grid);
    this.grid.setHiddenRows(hiddenRows(view.rows, this.collapsed), this.collapsed);
    // Edits not saved yet (say, across a reconnect) stay on top of the server's values.
    if (this.queue.pending.size > 0) this.pendingChanged([...this.queue.pending.keys()]);
    if (this.focused) this.showCell(true);
  }

  private changedCells(commit: CommitInfo, cells: CellChange[]): void {
    const view = this.view;
    if (view === null) return;
    performance.mark("plancube:feed", { detail: { cells: cells.length, commit: commit.id } });
    this.seen(commit.id);
    const pending = this.queue.pending;
    const shown: CellChange[] = [];
    for (const cell of cells) {
      view.values[cell.row][cell.col] = cell.value;
      // A cell with a pending edit keeps showing the planner's value.
      if (pending.size === 0 || !pending.has(this.keyOf(cell))) shown.push(cell);
    }
    this.grid.applyDeltas(shown);
    const focused = this.focused;
    if (focused && cells.some((c) => c.row === focused.row && c.col === focused.col)) {
      this.showCell(true);
    }
  }

  private seen(commit: number): void {
    this.commit = Math.max(this.commit, commit);
    this.status.seen(this.commit);
  }

  // -- from the planner ----------------------------------------------------------------------

  /** A typed text the grid may save: a number (or blank) for a numeric cell, any text else. */
  private accepts(edit: CellEdit): boolean {
    const view = this.view;
    if (view === null) return true;
    const state = baseState(view.flags[edit.row][edit.col], view.flag_bits);
    if ((state & State.input) === 0 || state & State.text) return true;
    const parsed = parseNumber(edit.text);
    if (!parsed.ok) {
      const where = this.describe(edit);
      this.status.show("error", `${parsed.error} (${where}): correct it, or Esc to cancel.`);
    }
    return parsed.ok;
  }

  private pasted(text: string, layout: PasteLayout): void {
    const view = this.view;
    if (view === null) return;
    const grid = {
      rows: layout.rows,
      cols: layout.cols,
      input: (row: number, col: number) =>
        (baseState(view.flags[row][col], view.flag_bits) & State.input) !== 0,
      shown: (row: number, col: number) => this.shownValue({ row, col }),
      rowLabel: (row: number) => view.rows[row].elements.join(" · "),
      colLabel: (col: number) => view.columns[col].elements.join(" · "),
    };
    const plan = planPaste(parseClipboard(text), grid, layout.range);
    if (plan.ok !== "ask") {
      this.applyPaste(plan);
      return;
    }
    // Only the planner knows whether the copied cells had the totals the block crosses.
    const answer = (result: PasteResult) => () => {
      if (this.view === view) this.applyPaste(result);
      else this.status.show("error", "The view changed since the paste: paste again.");
    };
    this.status.ask(plan.question, [
      { label: plan.inPlaceLabel, choose: answer(plan.inPlace) },
      { label: plan.skippingLabel, choose: answer(plan.skipping) },
    ]);
  }

  private applyPaste(result: PasteResult): void {
    if (result.ok) this.edited(result.edits, "range", result.note);
    else this.status.show("error", result.error);
  }

  /** Typing into a total, a rule cell or a read-only cell opens no editor; say why instead of
   * doing nothing. */
  private refusedInput(cell: CellRef): void {
    const view = this.view;
    if (view === null) return;
    const flags = view.flags[cell.row][cell.col];
    const has = (name: string) => (flags & (view.flag_bits[name] ?? 0)) !== 0;
    const model = this.selection?.model ?? "";
    const role = this.roleOf(model);
    const what = has("consolidated")
      ? "is a total, computed from the cells under it. Typing into a total does not spread it " +
        "yet: type into its leaves, or spread it with the API (POST …/spread, see docs/api.md)."
      : has("rule")
        ? "is computed by a rule; change the cells it reads."
        : view.as_of !== null
          ? `is as of commit ${view.as_of}: a past view is read-only.`
          : role === "viewer"
            ? `is read-only for you: you have the viewer role in model ${model}.`
            : role !== undefined
              ? // The role may write, the view is today's and the cell is a leaf no rule
                // computes: only element security takes writing away from it.
                `${this.filterNames(view)}is read-only for you: element security lets you ` +
                "read this cell but not change it (an admin of the model can grant WRITE)."
              : "is not open for input: read-only for you, or a locked version or cell.";
    this.status.show("info", `${this.describe(cell)} ${what}`);
  }

  /** The page's filter elements, e.g. "(Budget · Finance · Amount) ": where a cell sits besides
   * its row and column, and often what element security is about. */
  private filterNames(view: ViewBody): string {
    const names = Object.values(view.filters);
    return names.length > 0 ? `(${names.join(" · ")}) ` : "";
  }

  private edited(edits: CellEdit[], origin: EditOrigin, note = ""): void {
    const view = this.view;
    const selection = this.selection;
    if (view === null || selection === null) return;
    const accepted: { cell: CellRef; value: CellValue }[] = [];
    const refused: string[] = [];
    for (const edit of edits) {
      const state = baseState(view.flags[edit.row][edit.col], view.flag_bits);
      if ((state & State.input) === 0) continue;
      if (state & State.text) {
        const text = edit.text === null ? "" : String(edit.text);
        accepted.push({ cell: edit, value: text === "" ? null : text });
        continue;
      }
      const parsed = parseNumber(edit.text);
      if (parsed.ok) accepted.push({ cell: edit, value: parsed.value });
      else refused.push(`${parsed.error} (${this.describe(edit)})`);
    }
    if (refused.length > 0) {
      const more = refused.length > 1 ? ` and ${refused.length - 1} more` : "";
      const what = origin === "typing" ? "nothing was saved" : "nothing of this paste was saved";
      this.status.show("error", `${refused[0]}${more}: ${what}.`);
      return;
    }
    const changes = accepted.filter(({ cell, value }) => value !== this.shownValue(cell));
    if (changes.length === 0) {
      if (origin === "range") {
        const also = note ? `; ${note}` : "";
        this.status.show("info", `Nothing to save: the cells already hold these values${also}.`);
      }
      return;
    }
    const queued = changes.map(({ cell, value }) => {
      const elements = cellElements(view, selection.dimensions, cell.row, cell.col);
      const key = cellKey(elements);
      const base = (origin === "typing" && this.editBase.get(key)) || this.commit;
      this.editBase.delete(key);
      return { elements, value, base };
    });
    if (note) this.notes.set(cellKey(queued[0].elements), note);
    this.queue.add(queued, origin === "range");
  }

  private toggle(row: number): void {
    if (this.view === null) return;
    if (!this.collapsed.delete(row)) this.collapsed.add(row);
    this.grid.setHiddenRows(hiddenRows(this.view.rows, this.collapsed), this.collapsed);
  }

  // -- pending edits -------------------------------------------------------------------------

  private write(batch: Parameters<Api["write"]>[2]) {
    const selection = this.selection;
    if (selection === null) return Promise.reject(new Error("no view open"));
    return this.api.write(selection.model, selection.cube, batch);
  }

  private pendingChanged(keys: string[]): void {
    this.status.pending(this.queue.dirtyCount);
    const view = this.view;
    if (view === null) return;
    const updates = [];
    const values = [];
    for (const key of keys) {
      const cell = this.where(key);
      if (cell === undefined) continue;
      const pending = this.queue.pending.get(key);
      values.push({ ...cell, value: pending ? pending.value : view.values[cell.row][cell.col] });
      updates.push({ ...cell, state: this.stateOf(cell), note: this.noteOf(key) });
    }
    this.grid.applyDeltas(values);
    this.grid.setCellStates(updates);
    const focused = this.focused;
    if (focused && keys.includes(this.keyOf(focused))) this.showCell(true);
  }

  private saved(cells: SavedCell[], commit: CommitInfo | null): void {
    const view = this.view;
    if (view !== null) {
      for (const saved of cells) {
        const cell = this.where(saved.key);
        if (cell) view.values[cell.row][cell.col] = saved.value;
      }
    }
    const what = commit ? `in commit ${commit.id}` : "(no change)";
    const notes = cells.flatMap((c) => {
      const note = this.notes.get(c.key);
      this.notes.delete(c.key);
      return note ? [note] : [];
    });
    const note = notes.length > 0 ? `; ${notes.join("; ")}` : "";
    this.status.show("ok", `Saved ${cells.length} cell${cells.length === 1 ? "" : "s"} ${what}${note}.`);
  }

  // -- cells ---------------------------------------------------------------------------------

  private stateOf(cell: CellRef): number {
    const view = this.view;
    if (view === null) return 0;
    const pending = this.queue.pending.get(this.keyOf(cell));
    const state = baseState(view.flags[cell.row][cell.col], view.flag_bits);
    if (pending === undefined) return state;
    return state | (pending.state === "conflict" ? State.conflict : State.dirty);
  }

  private noteOf(key: string): string {
    const theirs = this.queue.pending.get(key)?.conflict;
    if (theirs === undefined) return "";
    const value = formatValue(theirs.value) || "empty";
    return `Conflict: ${theirs.author} changed this to ${value} (commit ${theirs.commit})`;
  }

  private shownValue(cell: CellRef): CellValue {
    const pending = this.queue.pending.get(this.keyOf(cell));
    return pending ? pending.value : (this.view?.values[cell.row][cell.col] ?? null);
  }

  private keyOf(cell: CellRef): string {
    const view = this.view;
    const dims = this.selection?.dimensions ?? [];
    return view === null ? "" : cellKey(cellElements(view, dims, cell.row, cell.col));
  }

  private describe(cell: CellRef): string {
    const view = this.view;
    if (view === null) return "";
    const name = (h: { elements: string[] }) => h.elements.join(" · ");
    return `${name(view.rows[cell.row])}, ${name(view.columns[cell.col])}`;
  }

  private showCell(reload: boolean): void {
    const view = this.view;
    const selection = this.selection;
    const cell = this.focused;
    if (view === null || selection === null || cell === null) return;
    if (cell.row >= view.rows.length || cell.col >= view.columns.length) return;
    const elements = cellElements(view, selection.dimensions, cell.row, cell.col);
    const key = cellKey(elements);
    const state = this.stateOf(cell);
    this.panel.show(
      {
        model: selection.model,
        cube: selection.cube,
        key,
        title: this.describe(cell),
        address: selection.dimensions.map((d, i) => [d, elements[i]]),
        value: this.shownValue(cell),
        states: Object.entries(State)
          .filter(([, bit]) => (state & bit) !== 0)
          .map(([name]) => name),
        leaf: (state & State.computed) === 0,
        pending: this.queue.pending.get(key),
      },
      reload,
    );
  }
}
