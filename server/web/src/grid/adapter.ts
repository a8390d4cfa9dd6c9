/**
 * The grid as the app sees it: a thin boundary between our view model and a grid library.
 *
 * The app hands the grid a whole view (setView), changed values (applyDeltas) and changed cell
 * states (setCellStates), hides rows under collapsed ones (setHiddenRows), and hears back what
 * the planner did: edits as raw text (collectEdits; numbers are parsed by the app, in
 * numbers.ts), the focused cell and row toggles. Cells are addressed by their row and column
 * index in the server's view. Only ./revogrid.ts knows the library, so swapping the library means
 * writing one module against this interface.
 */

import type { CellRef, CellValue, ColumnNode } from "../view";

export interface GridRow {
  label: string;
  depth: number;
  /** Consolidated rows are subtotals: read-only, set apart. */
  total: boolean;
  /** Whether the row has children in the view (and so a collapse toggle). */
  parent: boolean;
}

export interface GridColumn {
  label: string;
  total: boolean;
}

export interface GridView {
  /** The title over the row labels, e.g. the row dimension's name. */
  corner: string;
  rows: GridRow[];
  columns: GridColumn[];
  /** Column groups (Year > Quarter > Month); leaves point into `columns`. */
  columnTree: ColumnNode[];
  values: CellValue[][];
  /** State bits (view.ts `State`) per cell. */
  states: number[][];
}

export interface CellDelta extends CellRef {
  value: CellValue;
}

export interface CellStateUpdate extends CellRef {
  state: number;
  /** Shown when pointing at the cell (e.g. who changed it in a conflict); "" for none. */
  note: string;
}

export interface CellEdit extends CellRef {
  /** What the planner typed or pasted, as text (the copied value when filling, null when
   * clearing). */
  text: CellValue;
}

/** Typing edits one cell; a range edit (paste, fill, clearing a selection) many at once. */
export type EditOrigin = "typing" | "range";

/** Where a paste lands: rows and columns in display order (collapsed rows left out), and the
 * selection as positions in those lists. */
export interface PasteLayout {
  rows: number[];
  cols: number[];
  range: { top: number; left: number; bottom: number; right: number };
}

export interface EditSink {
  /** The planner opened an editor on a cell: the edit is made on what the grid shows now. */
  started(cell: CellRef): void;
  /** Whether a typed text can be taken; if not, the app says why and the editor stays open
   * with the text, for the planner to correct. */
  accepts(edit: CellEdit): boolean;
  /** `note` says what a paste skipped, for the status line. */
  edited(edits: CellEdit[], origin: EditOrigin, note?: string): void;
  /** The clipboard's text, pasted onto the selection. */
  pasted(text: string, layout: PasteLayout): void;
  /** The planner tried to type into a cell that is not for input (a total, a rule cell). */
  refused(cell: CellRef): void;
}

export interface GridAdapter {
  /** Show a whole view; the focus stays where it was, and the focus handler hears which cell
   * is there now (in another view, another cube cell). */
  setView(view: GridView): void;
  applyDeltas(deltas: CellDelta[]): void;
  setCellStates(updates: CellStateUpdate[]): void;
  setHiddenRows(hidden: ReadonlySet<number>, collapsed: ReadonlySet<number>): void;
  collectEdits(sink: EditSink): void;
  onFocus(handler: (cell: CellRef) => void): void;
  onToggle(handler: (row: number) => void): void;
}

export type { CellRef };
export { createRevoGrid as createGrid } from "./revogrid";
