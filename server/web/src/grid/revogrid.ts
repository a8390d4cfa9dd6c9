/**
 * The GridAdapter on RevoGrid (@revolist/revogrid, MIT core; no Pro plugins): the only module
 * that knows the grid library.
 *
 * Rows are RevoGrid row models `{_r, label, c0, c1, ...}` holding the displayed values; `_r` is
 * the row's index in the server's view, so edits, focus and toggles are reported in view
 * coordinates whatever is collapsed. Collapsed subtrees are RevoGrid "trimmed" rows. Cell states
 * live in one byte per cell and become CSS classes when a cell renders. Edits are intercepted
 * before RevoGrid stores them (beforeedit / beforerangeedit are cancelled): the app decides what
 * a cell shows, so a refused value never appears.
 */

import type {
  BeforeRangeSaveDataDetails,
  BeforeSaveDataDetails,
  CellTemplateProp,
  ColumnDataSchemaModel,
  ColumnGrouping,
  ColumnRegular,
  FocusAfterRenderEvent,
} from "@revolist/revogrid";
import { defineCustomElements } from "@revolist/revogrid/loader";
import { formatValue } from "../numbers";
import { type CellValue, type ColumnNode, State } from "../view";
import type {
  CellDelta,
  CellEdit,
  CellRef,
  CellStateUpdate,
  EditSink,
  GridAdapter,
  GridView,
  PasteLayout,
} from "./adapter";

defineCustomElements();

interface RowModel {
  _r: number;
  _class: string;
  label: string;
  [prop: string]: CellValue;
}

type Grid = HTMLRevoGridElement;
type Column = ColumnRegular & { col?: number };

/** CSS classes for every combination of state bits, worked out once. */
const STATE_CLASSES = Array.from({ length: 256 }, (_, bits) =>
  Object.entries(State)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => `cell-${name}`)
    .join(" "),
);

const LABEL_WIDTH = 280;
const VALUE_WIDTH = 108;
const INDENT = 16;

/** The view column a row model's property holds (`c12` → 12), null for the label. */
function columnIndex(prop: string | number): number | null {
  const text = String(prop);
  return /^c\d+$/.test(text) ? Number(text.slice(1)) : null;
}

/** A key that would type a character (or open the editor, F2), as opposed to moving around. */
function isTyping(event: KeyboardEvent): boolean {
  if (event.ctrlKey || event.metaKey || event.altKey) return false;
  return event.key.length === 1 || event.key === "F2" || event.key === "Backspace" || event.key === "Delete";
}

export function createRevoGrid(host: HTMLElement): GridAdapter {
  return new RevoGridAdapter(host);
}

class RevoGridAdapter implements GridAdapter {
  private readonly grid: Grid;
  private view: GridView | null = null;
  private models: RowModel[] = [];
  private states = new Uint8Array(0);
  private notes = new Map<number, string>();
  private collapsed: ReadonlySet<number> = new Set();
  /** Data columns in the order the grid shows them (the column tree's leaves). */
  private shown: number[] = [];
  private refreshQueued = false;
  private toggle: (row: number) => void = () => {};
  private fillDown: (edits: CellEdit[]) => void = () => {};
  private refused: (cell: CellRef) => void = () => {};
  private focused: (focus: { model?: unknown; column?: unknown }) => void = () => {};
  /** The row models shown, in order (RevoGrid's row indices count these). */
  private visible: RowModel[] = [];

  constructor(host: HTMLElement) {
    this.grid = document.createElement("revo-grid");
    Object.assign(this.grid, {
      theme: "compact",
      range: true,
      resize: true,
      canMoveColumns: false,
      filter: false,
      rowClass: "_class",
      colSize: VALUE_WIDTH,
    });
    host.append(this.grid);
    const element: HTMLElement = this.grid;
    element.addEventListener("click", (e) => this.clicked(e));
    element.addEventListener("dblclick", () => void this.typedIntoFocused());
    element.addEventListener("keydown", (e) => this.keyDown(e), true);
  }

  setView(view: GridView): void {
    this.view = view;
    const width = view.columns.length;
    this.states = new Uint8Array(view.rows.length * width);
    this.notes.clear();
    this.models = view.rows.map((row, r) => {
      const model: RowModel = { _r: r, _class: row.total ? "row-total" : "", label: row.label };
      const values = view.values[r];
      const states = view.states[r];
      for (let c = 0; c < width; c++) {
        model[`c${c}`] = values[c];
        this.states[r * width + c] = states[c];
      }
      return model;
    });
    this.shown = [];
    const columns = [this.labelColumn(view), ...view.columnTree.map((n) => this.columnOf(n))];
    this.grid.trimmedRows = {};
    this.visible = this.models;
    this.grid.columns = columns;
    this.grid.source = this.models;
    // RevoGrid keeps its focus on the same row and column (prop) and does not say so: say which
    // cell sits there now.
    void this.grid.getFocused().then((focus) => focus && this.focused(focus));
  }

  applyDeltas(deltas: CellDelta[]): void {
    for (const { row, col, value } of deltas) {
      const model = this.models[row];
      if (model) model[`c${col}`] = value;
    }
    this.refresh();
  }

  setCellStates(updates: CellStateUpdate[]): void {
    const width = this.view?.columns.length ?? 0;
    for (const { row, col, state, note } of updates) {
      const at = row * width + col;
      this.states[at] = state;
      if (note) this.notes.set(at, note);
      else this.notes.delete(at);
    }
    this.refresh();
  }

  setHiddenRows(hidden: ReadonlySet<number>, collapsed: ReadonlySet<number>): void {
    this.collapsed = collapsed;
    const trimmed: Record<number, boolean> = {};
    for (const r of hidden) trimmed[r] = true;
    this.grid.trimmedRows = trimmed;
    this.visible = this.models.filter((m) => !hidden.has(m._r));
    this.refresh();
  }

  collectEdits(sink: EditSink): void {
    this.grid.addEventListener("beforeeditstart", (e) => {
      const cell = this.cellOf(e.detail as BeforeSaveDataDetails);
      if (cell) sink.started(cell);
    });
    // Enter in the editor: a text the app refuses keeps the editor open, with the text in it
    // (RevoGrid leaves a cancelled edit's editor as it is and does not move the focus).
    this.grid.addEventListener(
      "celledit",
      (e) => {
        const detail = (e as CustomEvent<{ rgRow: number; prop: string; val: unknown }>).detail;
        const model = this.visible[detail.rgRow];
        const col = columnIndex(detail.prop);
        if (model === undefined || col === null) return;
        if (sink.accepts({ row: model._r, col, text: detail.val as CellValue })) return;
        e.preventDefault();
        // The editor blurs its input before it saves; give the focus back for the correction.
        (e.target as HTMLElement).querySelector("input")?.focus();
      },
      true,
    );
    this.grid.addEventListener("beforeedit", (e) => {
      e.preventDefault();
      const detail = e.detail as BeforeSaveDataDetails;
      const cell = this.cellOf(detail);
      if (cell) sink.edited([{ ...cell, text: detail.val as CellValue }], "typing");
    });
    // The fill handle and Delete on a selection arrive as one range edit.
    this.grid.addEventListener("beforerangeedit", (e) => {
      e.preventDefault();
      sink.edited(this.rangeEdits(e.detail as BeforeRangeSaveDataDetails), "range");
    });
    // A paste is ours: RevoGrid would read a trailing line break as an empty row (and clear the
    // cells under the block) and lay values over totals; paste.ts reads and places it.
    this.grid.addEventListener("beforepaste", (e) => {
      const detail = (e as CustomEvent<{ dataText: string; event: ClipboardEvent }>).detail;
      e.preventDefault();
      detail.event.preventDefault();
      void this.pasteLayout().then((layout) => layout && sink.pasted(detail.dataText, layout));
    });
    this.fillDown = (edits) => sink.edited(edits, "range");
    this.refused = (cell) => sink.refused(cell);
  }

  onFocus(handler: (cell: CellRef) => void): void {
    this.focused = (focus) => {
      const cell = this.cellOf(focus);
      if (cell) handler(cell);
    };
    this.grid.addEventListener("afterfocus", (e) => this.focused((e as CustomEvent<FocusAfterRenderEvent>).detail));
  }

  onToggle(handler: (row: number) => void): void {
    this.toggle = handler;
  }

  // -- columns and cells ---------------------------------------------------------------------

  private labelColumn(view: GridView): Column {
    return {
      prop: "label",
      name: view.corner,
      pin: "colPinStart",
      size: LABEL_WIDTH,
      readonly: true,
      sortable: false,
      columnProperties: () => ({ class: "align-left" }),
      cellTemplate: (h, props: CellTemplateProp) => {
        const r = (props.model as RowModel)._r;
        const row = view.rows[r];
        const mark = row.parent ? (this.collapsed.has(r) ? "▸" : "▾") : "";
        return h("div", { class: "row-label", style: { paddingLeft: `${row.depth * INDENT}px` } }, [
          h("span", { class: row.parent ? "toggle" : "toggle none", "data-toggle": r }, mark),
          h("span", { class: "row-name", title: row.label }, row.label),
        ]);
      },
      cellProperties: (props: CellTemplateProp) => ({
        class: "row-header",
        "data-row": (props.model as RowModel)._r,
      }),
    };
  }

  private columnOf(node: ColumnNode): Column | ColumnGrouping {
    if (node.column === null) {
      return { name: node.label, children: node.children.map((n) => this.columnOf(n)) };
    }
    const c = node.column;
    const header = this.view?.columns[c];
    this.shown.push(c);
    return {
      prop: `c${c}`,
      col: c,
      name: node.label,
      sortable: false,
      readonly: (props: ColumnDataSchemaModel) =>
        (this.stateAt((props.model as RowModel)._r, c) & State.input) === 0,
      cellTemplate: (_h, props: CellTemplateProp) => formatValue(props.value as CellValue),
      cellProperties: (props: CellTemplateProp) => this.cellProperties(props, c),
      columnProperties: () => ({ class: header?.total ? "align-right col-total" : "align-right" }),
    };
  }

  private cellProperties(props: CellTemplateProp, c: number) {
    const r = (props.model as RowModel)._r;
    const at = r * (this.view?.columns.length ?? 0) + c;
    const value = props.value as CellValue;
    const negative = typeof value === "number" && value < 0 ? " neg" : "";
    return {
      class: STATE_CLASSES[this.states[at]] + negative,
      "data-cell": `${r}:${c}`,
      title: this.notes.get(at) ?? "",
    };
  }

  private stateAt(row: number, col: number): number {
    return this.states[row * (this.view?.columns.length ?? 0) + col] ?? 0;
  }

  private cellOf(detail: { model?: unknown; column?: unknown }): CellRef | null {
    const model = detail.model as RowModel | undefined;
    const col = (detail.column as Column | undefined)?.col;
    return model === undefined || col === undefined ? null : { row: model._r, col };
  }

  private rangeEdits(detail: BeforeRangeSaveDataDetails): CellEdit[] {
    const edits: CellEdit[] = [];
    for (const [index, changes] of Object.entries(detail.data)) {
      const model = detail.models[Number(index)] as RowModel | undefined;
      if (model === undefined) continue;
      for (const [prop, text] of Object.entries(changes)) {
        const col = columnIndex(prop);
        if (col !== null) edits.push({ row: model._r, col, text: text as CellValue });
      }
    }
    return edits;
  }

  // -- keyboard and mouse --------------------------------------------------------------------

  private clicked(event: MouseEvent): void {
    const target = (event.target as HTMLElement).closest<HTMLElement>("[data-toggle]");
    if (target?.classList.contains("toggle") && !target.classList.contains("none")) {
      this.toggle(Number(target.dataset.toggle));
    }
    // A click on the cell that has the grid's focus already (the same place in another view,
    // after a filter was chosen) focuses nothing in the page, and keys typed then would go past
    // keyDown. (A newly focused cell RevoGrid focuses again once it has rendered it.)
    const cell = (event.target as HTMLElement).closest<HTMLElement>("[data-cell]");
    const host: HTMLElement = this.grid;
    if (cell && !host.contains(document.activeElement)) cell.focus();
  }

  private keyDown(event: KeyboardEvent): void {
    const editing = (event.target as HTMLElement | null)?.closest("revogr-edit") != null;
    if (!editing && isTyping(event)) void this.typedIntoFocused();
    if (event.key === "Enter" || event.key === " ") {
      // On a read-only label RevoGrid does nothing with these keys; ask it where the focus is
      // now rather than trusting the last focus event, which may not have arrived yet.
      void this.toggleFocusedLabel();
    } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "d") {
      event.preventDefault();
      event.stopPropagation();
      void this.fillSelectionDown();
    }
  }

  /** Keys typed on a cell that is not for input open no editor: tell the app, which says why. */
  private async typedIntoFocused(): Promise<void> {
    const focus = await this.grid.getFocused();
    const row = (focus?.model as RowModel | undefined)?._r;
    const col = (focus?.column as Column | undefined)?.col;
    if (row === undefined || col === undefined) return;
    if ((this.stateAt(row, col) & State.input) === 0) this.refused({ row, col });
  }

  /** Where a paste lands: the selection (or the focused cell) over the rows and columns shown. */
  private async pasteLayout(): Promise<PasteLayout | null> {
    const range = await this.grid.getSelectedRange();
    const focus = range === null ? await this.grid.getFocused() : null;
    const area = range ?? (focus && { x: focus.cell.x, y: focus.cell.y, x1: focus.cell.x, y1: focus.cell.y });
    const colType = range?.colType ?? focus?.colType;
    if (area === null || colType !== "rgCol") return null;
    return {
      rows: this.visible.map((m) => m._r),
      cols: this.shown,
      range: {
        top: Math.min(area.y, area.y1),
        left: Math.min(area.x, area.x1),
        bottom: Math.max(area.y, area.y1),
        right: Math.max(area.x, area.x1),
      },
    };
  }

  private async toggleFocusedLabel(): Promise<void> {
    const focus = await this.grid.getFocused();
    if (focus?.colType !== "colPinStart") return;
    const row = (focus.model as RowModel | undefined)?._r;
    if (row !== undefined && this.view?.rows[row]?.parent) this.toggle(row);
  }

  /** Ctrl+D, as in Excel: copy the top row of the selection into the rows below it. */
  private async fillSelectionDown(): Promise<void> {
    const range = await this.grid.getSelectedRange();
    if (range === null || range.colType !== "rgCol" || range.y1 <= range.y) return;
    const rows = (await this.grid.getVisibleSource()) as RowModel[];
    const top = rows[range.y];
    const edits: CellEdit[] = [];
    for (let y = range.y + 1; y <= range.y1; y++) {
      for (let x = range.x; x <= range.x1; x++) {
        const col = this.shown[x];
        const row = rows[y]?._r;
        if (row === undefined || col === undefined) continue;
        if ((this.stateAt(row, col) & State.input) === 0) continue;
        edits.push({ row, col, text: top[`c${col}`] });
      }
    }
    if (edits.length > 0) this.fillDown(edits);
  }

  /** One grid refresh per frame, however many deltas and states arrive in it. */
  private refresh(): void {
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    requestAnimationFrame(() => {
      this.refreshQueued = false;
      void this.grid.refresh("rgRow");
    });
  }
}
