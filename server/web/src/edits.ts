/**
 * Pending edits: what a planner changed that the server has not accepted yet, and how it gets
 * there.
 *
 * Every edit carries the commit it was made on (the last commit the grid had seen when the
 * planner started typing, or pasted). Edits made within a short window, or one paste, go out as
 * one write — one commit — with that commit as its base, so a cell that someone else changed in
 * the meantime is reported as a conflict instead of being overwritten. Edits made on different
 * commits go in separate writes, oldest first: one base per write keeps every reported conflict
 * a real one. One write is in flight at a time; what is edited meanwhile waits for the next.
 *
 * Nothing is dropped silently: on a conflict the planner's value stays pending beside the other
 * author's (take theirs, or overwrite); on a network failure everything stays pending and is
 * retried; when the page must sign in again (401, an ended session) everything stays pending and
 * waits for `resume()`; only a value the server refuses (403 read-only for this user, 404/422
 * naming the cell) is given up, with a message.
 */

import { ApiError, type CommitInfo, type ConflictCell, type WriteRequest, type WriteResult } from "./api";
import { type CellValue, cellKey } from "./view";

export interface Edit {
  elements: string[];
  value: CellValue;
  base: number;
}

export interface Pending extends Edit {
  state: "dirty" | "conflict";
  conflict?: ConflictCell;
}

export interface SavedCell {
  key: string;
  elements: string[];
  value: CellValue;
}

export interface QueueEvents {
  /** The pending state of these cells changed (new, saved, conflicting or given up). */
  changed(keys: string[]): void;
  /** The server accepted these cells in one commit. */
  saved(cells: SavedCell[], commit: CommitInfo | null): void;
  problem(message: string): void;
}

export type Send = (batch: WriteRequest) => Promise<WriteResult>;

export class EditQueue {
  readonly pending = new Map<string, Pending>();
  private inFlight = false;
  /** Waiting for the planner to sign in again: nothing is sent until `resume()`. */
  private paused = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly send: Send,
    private readonly events: QueueEvents,
    private readonly delayMs = 300,
    private readonly retryMs = 5000,
  ) {}

  /** Queue edits; `now` sends them without waiting for more (a paste, a fill). */
  add(edits: Edit[], now = false): void {
    const keys = edits.map((edit) => {
      const key = cellKey(edit.elements);
      // Typing over a conflict means the planner has seen the other value.
      const seen = this.pending.get(key)?.conflict?.commit ?? 0;
      this.pending.set(key, { ...edit, base: Math.max(edit.base, seen), state: "dirty" });
      return key;
    });
    this.events.changed(keys);
    this.schedule(now ? 0 : this.delayMs);
  }

  /** Give up the planner's value for the other author's. */
  takeTheirs(key: string): void {
    if (this.pending.get(key)?.state !== "conflict") return;
    this.pending.delete(key);
    this.events.changed([key]);
  }

  /** Send the planner's value again, over the other author's. */
  overwrite(key: string): void {
    const cell = this.pending.get(key);
    if (cell?.state !== "conflict" || cell.conflict === undefined) return;
    this.add([{ elements: cell.elements, value: cell.value, base: cell.conflict.commit }], true);
  }

  /** Signed in again: send what waited. */
  resume(): void {
    this.paused = false;
    if (this.dirtyCount > 0) this.schedule(0);
  }

  get dirtyCount(): number {
    return [...this.pending.values()].filter((p) => p.state === "dirty").length;
  }

  private schedule(delayMs: number): void {
    if (this.paused) return;
    if (this.timer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delayMs);
  }

  /** Send the dirty cells made on the oldest commit as one write. */
  async flush(): Promise<void> {
    if (this.inFlight) return;
    const dirty = [...this.pending.entries()].filter(([, p]) => p.state === "dirty");
    if (dirty.length === 0) return;
    const base = Math.min(...dirty.map(([, p]) => p.base));
    const batch = dirty.filter(([, p]) => p.base === base);
    this.inFlight = true;
    let next = 0;
    try {
      const result = await this.send({
        base_commit: base,
        source: "web",
        message: "",
        cells: batch.map(([, p]) => ({ elements: p.elements, value: p.value })),
      });
      // A cell edited again while this write was in flight stays pending with its new value.
      const done = batch.filter(([key, p]) => this.pending.get(key) === p);
      for (const [key] of done) this.pending.delete(key);
      this.events.saved(
        done.map(([key, p]) => ({ key, elements: p.elements, value: p.value })),
        result.commit,
      );
      this.events.changed(done.map(([key]) => key));
    } catch (exc) {
      next = this.failed(exc, batch);
    } finally {
      this.inFlight = false;
    }
    if (this.dirtyCount > 0) this.schedule(next);
  }

  /** Handle a failed write; returns how long to wait before sending what is still dirty. */
  private failed(exc: unknown, batch: [string, Pending][]): number {
    if (!(exc instanceof ApiError) || exc.status === 0 || exc.status >= 500) {
      const seconds = Math.round(this.retryMs / 1000);
      this.events.problem(`Not saved yet: ${errorText(exc)}. Retrying in ${seconds} s.`);
      return this.retryMs;
    }
    if (exc.status === 401 || exc.code === "csrf_failed") {
      this.paused = true;
      const count = this.dirtyCount;
      this.events.problem(
        `Not saved yet: sign in again; your ${count} edit${count === 1 ? " is" : "s are"} kept and sent then.`,
      );
      return 0;
    }
    if (exc.code === "write_conflict") {
      const theirs = (exc.details.cells ?? []) as ConflictCell[];
      if (theirs.length > 0 && theirs.every((c) => this.pending.has(cellKey(c.elements)))) {
        const keys = this.markConflicts(theirs);
        const who = [...new Set(theirs.map((c) => c.author))].join(", ");
        this.events.problem(
          `${theirs.length} cell(s) were changed by ${who} since you started editing; ` +
            "your values are kept: take theirs or overwrite them (side panel).",
        );
        this.events.changed(keys);
        return 0;
      }
    }
    // Refused (404/422): give up the cell the server names, or else the whole write.
    const index = exc.details.cell;
    const refused = typeof index === "number" && batch[index] ? [batch[index]] : batch;
    for (const [key, p] of refused) if (this.pending.get(key) === p) this.pending.delete(key);
    const readOnly = exc.status === 403 ? " (read-only for you)" : "";
    this.events.problem(`Not saved${readOnly}: ${exc.message}`);
    this.events.changed(refused.map(([key]) => key));
    return 0;
  }

  private markConflicts(cells: ConflictCell[]): string[] {
    const keys: string[] = [];
    for (const theirs of cells) {
      const key = cellKey(theirs.elements);
      const mine = this.pending.get(key);
      // Edited again while the write was in flight, on a commit that already showed theirs?
      if (mine === undefined || mine.base >= theirs.commit) continue;
      mine.state = "conflict";
      mine.conflict = theirs;
      keys.push(key);
    }
    return keys;
  }
}

function errorText(exc: unknown): string {
  return exc instanceof Error ? exc.message : String(exc);
}
