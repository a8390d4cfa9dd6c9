/**
 * Paste: what a planner copied in Excel or LibreOffice, and where in the grid it goes.
 *
 * The clipboard's text is tab-separated, one line per row, and — the part that once lost a
 * planner's number — every row ends with a line break, the last one too ("1\t2\r\n" on
 * Windows). That last break ends the last row; it does not start an empty one. An empty cell
 * *inside* the block is an explicit blank and clears its cell, as in Excel; nothing the
 * clipboard does not hold is ever cleared. Cells holding tabs, line breaks or quotes come quoted
 * ("a""b"), which papaparse reads.
 *
 * Where it goes: positionally from the anchor (the selected cell), as in Excel. A plan's grid
 * interleaves computed lines (Q1 between Mar and Apr, Revenue above its accounts) that a sheet
 * copied from elsewhere usually lacks, so when a value would land on a computed row or column
 * (and is not just the total it already shows, as when a copied view is pasted back), the
 * block is laid over the input lines only, skipping the computed ones, and the planner is told
 * which were skipped. A value that still cannot land on an input cell — a rule cell, a locked
 * cell, past the grid's edge — makes the whole paste refused with a message naming it: a value
 * is never dropped without a word, and never half a paste saved.
 */

import Papa from "papaparse";
import type { CellEdit } from "./grid/adapter";
import { formatValue, parseNumber } from "./numbers";
import type { CellValue } from "./view";

/** The clipboard's text as rows of cells, as the spreadsheet that copied it meant them. */
export function parseClipboard(text: string): string[][] {
  if (text === "") return [];
  const body = text.replace(/(\r\n|\n|\r)$/, "");
  if (body === "") return [[""]];
  const parsed = Papa.parse<string[]>(body, { delimiter: "\t", quoteChar: '"', skipEmptyLines: false });
  if (parsed.errors.some((e) => e.type === "Quotes")) {
    // A stray quote that does not open a quoted cell: take the text as it is.
    return body.split(/\r\n|\n|\r/).map((line) => line.split("\t"));
  }
  return parsed.data;
}

/** The grid a paste lands on: rows and columns in the order shown (collapsed ones left out). */
export interface PasteGrid {
  /** View row and column indices in display order. */
  rows: number[];
  cols: number[];
  input(row: number, col: number): boolean;
  /** What the cell shows now (a pending edit, else the server's value). */
  shown(row: number, col: number): CellValue;
  rowLabel(row: number): string;
  colLabel(col: number): string;
}

/** The selection: positions in `rows` / `cols` (display order), inclusive. */
export interface PasteRange {
  top: number;
  left: number;
  bottom: number;
  right: number;
}

export type PastePlan = { ok: true; edits: CellEdit[]; note: string } | { ok: false; error: string };

interface Miss {
  text: string;
  row?: number;
  col?: number;
}

/** Where each pasted value goes, or why the paste is refused. */
export function planPaste(block: string[][], grid: PasteGrid, at: PasteRange): PastePlan {
  const height = block.length;
  const width = Math.max(0, ...block.map((line) => line.length));
  if (height === 0 || width === 0) return { ok: false, error: "The clipboard holds nothing to paste." };
  if (height === 1 && width === 1 && (at.bottom > at.top || at.right > at.left)) {
    return fillSelection(block[0][0], grid, at);
  }
  const lines = new Lines(grid);
  const rows = grid.rows.slice(at.top);
  const cols = grid.cols.slice(at.left);
  const positional = place(block, rows, cols, grid);
  if (positional.misses.length === 0) return { ok: true, edits: positional.edits, note: "" };

  // Lay the block over input lines only, if what was in the way is a computed row or column.
  const computed = positional.misses.filter((m) => m.row !== undefined && m.col !== undefined);
  const skipRows = computed.some((m) => lines.rowComputed(m.row as number));
  const skipCols = computed.some((m) => lines.colComputed(m.col as number));
  const anchor = { row: rows[0], col: cols[0] };
  if ((!skipRows && !skipCols) || !grid.input(anchor.row, anchor.col)) {
    return refuse(positional.misses[0], grid, height, width);
  }
  const keep = (line: number[], computedLine: (i: number) => boolean, skip: boolean) =>
    skip ? [line[0], ...line.slice(1).filter((i) => !computedLine(i))] : line;
  const rowsUsed = keep(rows, (r) => lines.rowComputed(r), skipRows).slice(0, height);
  const colsUsed = keep(cols, (c) => lines.colComputed(c), skipCols).slice(0, width);
  const skipping = place(block, rowsUsed, colsUsed, grid);
  if (skipping.misses.length > 0) return refuse(skipping.misses[0], grid, height, width);
  const skipped = [
    ...between(rows, rowsUsed).map((r) => grid.rowLabel(r)),
    ...between(cols, colsUsed).map((c) => grid.colLabel(c)),
  ];
  const what = skipped.length === 1 ? "line" : "lines";
  return { ok: true, edits: skipping.edits, note: `skipped the computed ${what} ${skipped.join(", ")}` };
}

/** One value pasted onto a selection of many cells fills its input cells, as in Excel. */
function fillSelection(text: string, grid: PasteGrid, at: PasteRange): PastePlan {
  const edits: CellEdit[] = [];
  let computed = 0;
  for (const row of grid.rows.slice(at.top, at.bottom + 1)) {
    for (const col of grid.cols.slice(at.left, at.right + 1)) {
      if (grid.input(row, col)) edits.push({ row, col, text });
      else computed++;
    }
  }
  if (edits.length === 0) return { ok: false, error: "The selection holds no input cells to paste into." };
  const note = computed > 0 ? `left ${computed} computed cell${computed === 1 ? "" : "s"} as they are` : "";
  return { ok: true, edits, note };
}

function place(block: string[][], rows: number[], cols: number[], grid: PasteGrid) {
  const edits: CellEdit[] = [];
  const misses: Miss[] = [];
  block.forEach((line, i) => {
    line.forEach((text, j) => {
      const row = rows[i];
      const col = cols[j];
      if (row === undefined || col === undefined) {
        if (text.trim() !== "") misses.push({ text });
      } else if (grid.input(row, col)) {
        edits.push({ row, col, text });
      } else if (!alreadyShown(text, grid.shown(row, col))) {
        misses.push({ text, row, col });
      }
    });
  });
  return { edits, misses };
}

/** Whether pasting `text` over a computed cell would change nothing a planner sees. */
function alreadyShown(text: string, shown: CellValue): boolean {
  if (text.trim() === "") return true;
  if (typeof shown === "string") return text === shown;
  const parsed = parseNumber(text);
  return parsed.ok && formatValue(parsed.value) === formatValue(shown);
}

/** The lines of `all` (from its first) up to the last one used that were not used. */
function between(all: number[], used: number[]): number[] {
  const last = all.indexOf(used[used.length - 1]);
  const taken = new Set(used);
  return all.slice(0, last + 1).filter((i) => !taken.has(i));
}

function refuse(miss: Miss, grid: PasteGrid, height: number, width: number): PastePlan {
  const where =
    miss.row === undefined || miss.col === undefined
      ? `would fall outside the grid (the paste is ${height} × ${width})`
      : `would land on ${grid.rowLabel(miss.row)}, ${grid.colLabel(miss.col)}, which is not an ` +
        "input cell (a total, a rule or a locked cell)";
  return { ok: false, error: `"${miss.text}" ${where}: nothing of this paste was saved.` };
}

/** Which rows and columns hold no input cell at all (totals, rule lines), worked out lazily. */
class Lines {
  private readonly rows = new Map<number, boolean>();
  private readonly cols = new Map<number, boolean>();

  constructor(private readonly grid: PasteGrid) {}

  rowComputed(row: number): boolean {
    let known = this.rows.get(row);
    if (known === undefined) {
      known = this.grid.cols.every((col) => !this.grid.input(row, col));
      this.rows.set(row, known);
    }
    return known;
  }

  colComputed(col: number): boolean {
    let known = this.cols.get(col);
    if (known === undefined) {
      known = this.grid.rows.every((row) => !this.grid.input(row, col));
      this.cols.set(col, known);
    }
    return known;
  }
}
