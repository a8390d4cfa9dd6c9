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
 * interleaves computed lines (Q1 between Mar and Apr, Revenue above its accounts). When a block
 * crosses one, only the planner knows whether the copied cells had that line too — a sheet of
 * twelve months, or a copy of a grid with its quarters — and no value in the block can tell
 * (a blank may be a blank month or an empty total), so the grid asks: "yes" pastes in place and
 * leaves the totals to the server; "no" lays the block over the input lines only, skipping the
 * computed ones. Both answers are worked out before asking, and the status line says what was
 * skipped or left. A copied view pasted back with its totals as shown is not asked about. A
 * value that cannot land on an input cell — a rule cell, a locked cell, past the grid's edge —
 * refuses the whole paste with a message naming it: a value is never dropped without a word,
 * and never half a paste saved.
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

export type PasteResult = { ok: true; edits: CellEdit[]; note: string } | { ok: false; error: string };

/** Whether the copied cells held the computed lines the block crosses, only the planner knows. */
export interface PasteQuestion {
  ok: "ask";
  question: string;
  /** "Yes, they were copied too": values on those lines are totals, left as they are. */
  inPlace: PasteResult;
  inPlaceLabel: string;
  /** "No": the block is laid over the input lines only. */
  skipping: PasteResult;
  skippingLabel: string;
}

export type PastePlan = PasteResult | PasteQuestion;

interface Miss {
  text: string;
  row?: number;
  col?: number;
}

/**
 * Where each pasted value goes, or why the paste is refused, or — when the block crosses
 * computed rows or columns and it is not a copied view pasted back — the question whether the
 * copied cells had those lines too, with both answers worked out.
 */
export function planPaste(block: string[][], grid: PasteGrid, at: PasteRange): PastePlan {
  const height = block.length;
  // not Math.max(...rows): a whole column copied from LibreOffice has a million of them
  const width = block.reduce((most, line) => Math.max(most, line.length), 0);
  if (height === 0 || width === 0) return { ok: false, error: "The clipboard holds nothing to paste." };
  if (height === 1 && width === 1 && (at.bottom > at.top || at.right > at.left)) {
    return fillSelection(block[0][0], grid, at);
  }
  const lines = new Lines(grid);
  const rows = grid.rows.slice(at.top);
  const cols = grid.cols.slice(at.left);
  const crossedRows = new Set(rows.slice(1, height).filter((r) => lines.rowComputed(r)));
  const crossedCols = new Set(cols.slice(1, width).filter((c) => lines.colComputed(c)));
  const crossed = [
    ...[...crossedRows].map((r) => grid.rowLabel(r)),
    ...[...crossedCols].map((c) => grid.colLabel(c)),
  ];
  const onCrossed = (row: number, col: number) => crossedRows.has(row) || crossedCols.has(col);
  const inPlace = place(block, rows, cols, grid, onCrossed, { height, width, crossed, skipped: false });
  // Nothing to ask when no computed line is crossed, when the anchor itself is computed (the
  // paste is refused there), or when a copied view comes back with its totals as shown.
  const anchoredOnInput = grid.input(rows[0], cols[0]);
  if (crossed.length === 0 || !anchoredOnInput || pastedBack(block, rows, cols, grid, onCrossed)) {
    return inPlace;
  }
  const inputOnly = (line: number[], computed: Set<number>, isComputed: (i: number) => boolean) =>
    computed.size === 0 ? line : [line[0], ...line.slice(1).filter((i) => !isComputed(i))];
  const skipping = place(
    block,
    inputOnly(rows, crossedRows, (r) => lines.rowComputed(r)),
    inputOnly(cols, crossedCols, (c) => lines.colComputed(c)),
    grid,
    () => false,
    { height, width, crossed, skipped: true },
  );
  const kind = crossedCols.size === 0 ? "row" : crossedRows.size === 0 ? "column" : "line";
  const many = crossed.length > 1;
  return {
    ok: "ask",
    question:
      `This paste crosses the computed ${kind}${many ? "s" : ""} ${crossed.join(", ")}: ` +
      `${many ? "were they" : "was it"} in what you copied?`,
    inPlace,
    inPlaceLabel: "Yes: paste in place",
    skipping,
    skippingLabel: `No: skip ${many ? "them" : "it"}`,
  };
}

interface Shape {
  height: number;
  width: number;
  /** The computed lines the block crosses, and whether this placement skips them. */
  crossed: string[];
  skipped: boolean;
}

function place(
  block: string[][],
  rows: number[],
  cols: number[],
  grid: PasteGrid,
  leave: (row: number, col: number) => boolean,
  shape: Shape,
): PasteResult {
  const edits: CellEdit[] = [];
  for (const [i, line] of block.entries()) {
    for (const [j, text] of line.entries()) {
      const row = rows[i];
      const col = cols[j];
      let miss: Miss | null = null;
      if (row === undefined || col === undefined) {
        if (text.trim() !== "") miss = { text };
      } else if (grid.input(row, col)) {
        edits.push({ row, col, text });
      } else if (!leave(row, col) && !alreadyShown(text, grid.shown(row, col))) {
        miss = { text, row, col };
      }
      if (miss !== null) return { ok: false, error: refusal(miss, grid, shape) };
    }
  }
  const lines = shape.crossed.join(", ");
  const what = shape.crossed.length === 1 ? "line" : "lines";
  const note =
    shape.crossed.length === 0
      ? ""
      : shape.skipped
        ? `skipped the computed ${what} ${lines}`
        : `left the computed ${what} ${lines} as computed`;
  return { ok: true, edits, note };
}

/** A copied view pasted back: every value on the computed lines is the total shown there. */
function pastedBack(
  block: string[][],
  rows: number[],
  cols: number[],
  grid: PasteGrid,
  onCrossed: (row: number, col: number) => boolean,
): boolean {
  let seen = 0;
  for (const [i, line] of block.entries()) {
    for (const [j, text] of line.entries()) {
      const row = rows[i];
      const col = cols[j];
      if (row === undefined || col === undefined || !onCrossed(row, col)) continue;
      if (text.trim() === "" || !alreadyShown(text, grid.shown(row, col))) return false;
      seen++;
    }
  }
  return seen > 0;
}

/** One value pasted onto a selection of many cells fills its input cells, as in Excel. */
function fillSelection(text: string, grid: PasteGrid, at: PasteRange): PasteResult {
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

/** Whether pasting `text` over a computed cell would change nothing a planner sees. */
function alreadyShown(text: string, shown: CellValue): boolean {
  if (text.trim() === "") return true;
  if (typeof shown === "string") return text === shown;
  const parsed = parseNumber(text);
  return parsed.ok && formatValue(parsed.value) === formatValue(shown);
}

function refusal(miss: Miss, grid: PasteGrid, shape: Shape): string {
  let where: string;
  if (miss.row === undefined || miss.col === undefined) {
    const skipping = shape.skipped ? `, skipping the computed lines ${shape.crossed.join(", ")}` : "";
    where = `would fall outside the grid (the paste is ${shape.height} × ${shape.width}${skipping})`;
  } else {
    where =
      `would land on ${grid.rowLabel(miss.row)}, ${grid.colLabel(miss.col)}, which is not an ` +
      "input cell (a total, a rule or a locked cell)";
  }
  return `"${miss.text}" ${where}: nothing of this paste was saved.`;
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
