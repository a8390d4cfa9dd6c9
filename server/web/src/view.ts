/**
 * The view model: what the server sends for a view, and the pure functions the grid needs from
 * it — a cell's cube address, its state at a glance, the row tree (which rows a collapse hides)
 * and the column tree (Year > Quarter > Month groups).
 *
 * The server flattens both axes: every header carries its tree `depth` and the index of its
 * `parent` header, parents before children. Nothing here computes a plan number; totals always
 * come from the server.
 */

export type CellValue = number | string | null;

/** A cell of the view: its row and column index in the server's answer. */
export interface CellRef {
  row: number;
  col: number;
}

export interface AxisSpec {
  dimension: string;
  members: string;
}

export interface ViewSpec {
  rows: AxisSpec[];
  columns: AxisSpec[];
  filters: Record<string, string>;
}

export interface Header {
  elements: string[];
  depth: number;
  parent: number | null;
  consolidated: boolean;
}

/** The answer of POST .../view and of the feed's snapshot. */
export interface ViewBody {
  model: string;
  cube: string;
  commit: number;
  as_of: number | null;
  row_dimensions: string[];
  column_dimensions: string[];
  filters: Record<string, string>;
  rows: Header[];
  columns: Header[];
  values: CellValue[][];
  flags: number[][];
  flag_bits: Record<string, number>;
}

/** Cell states as bits, so a 5,000 x 36 view keeps one small number per cell. */
export const State = {
  input: 1,
  computed: 2,
  locked: 4,
  seeded: 8,
  text: 16,
  commented: 32,
  dirty: 64,
  conflict: 128,
} as const;

/** The state of a cell as the server describes it (pending edits are added by the app). */
export function baseState(flags: number, bits: Record<string, number>): number {
  let state = 0;
  const has = (name: string) => (flags & (bits[name] ?? 0)) !== 0;
  if (has("consolidated") || has("rule")) state |= State.computed;
  else if (has("editable")) state |= State.input;
  else state |= State.locked;
  if (has("seeded")) state |= State.seeded;
  if (has("text")) state |= State.text;
  if (has("commented")) state |= State.commented;
  return state;
}

/** The elements of cell (row, col) in the cube's dimension order. */
export function cellElements(view: ViewBody, dimensions: string[], row: number, col: number) {
  const rowHeader = view.rows[row];
  const colHeader = view.columns[col];
  return dimensions.map((d) => {
    const r = view.row_dimensions.indexOf(d);
    if (r >= 0) return rowHeader.elements[r];
    const c = view.column_dimensions.indexOf(d);
    if (c >= 0) return colHeader.elements[c];
    return view.filters[d];
  });
}

/** One key per cube cell, whatever view shows it. */
export function cellKey(elements: string[]): string {
  return elements.join("\t");
}

/** Which headers have children in the view (they get a collapse toggle). */
export function parentsOf(headers: Header[]): boolean[] {
  const out = headers.map(() => false);
  for (const h of headers) if (h.parent !== null) out[h.parent] = true;
  return out;
}

/** The rows hidden because one of their ancestors is collapsed. Parents come before children. */
export function hiddenRows(headers: Header[], collapsed: ReadonlySet<number>): Set<number> {
  const hidden = new Set<number>();
  headers.forEach((h, i) => {
    if (h.parent !== null && (collapsed.has(h.parent) || hidden.has(h.parent))) hidden.add(i);
  });
  return hidden;
}

/** A node of the column header tree: a group (with its own total column last) or a column. */
export interface ColumnNode {
  label: string;
  column: number | null;
  children: ColumnNode[];
}

/**
 * Column headers as a tree of groups. A column with children in the view becomes a group that
 * holds its children and, last, its own column (the total): FY2026 > [Q1 > [Jan, Feb, Mar,
 * Q1], ..., FY2026]. With several column dimensions the outer elements name the group.
 */
export function columnTree(headers: Header[]): ColumnNode[] {
  const kids: number[][] = headers.map(() => []);
  const roots: number[] = [];
  headers.forEach((h, i) => (h.parent === null ? roots.push(i) : kids[h.parent].push(i)));
  const label = (i: number) => headers[i].elements[headers[i].elements.length - 1];
  const node = (i: number): ColumnNode =>
    kids[i].length === 0
      ? { label: label(i), column: i, children: [] }
      : {
          label: label(i),
          column: null,
          children: [...kids[i].map(node), { label: label(i), column: i, children: [] }],
        };
  const outer = (i: number) => headers[i].elements.slice(0, -1).join(" · ");
  const out: ColumnNode[] = [];
  let group: ColumnNode | null = null;
  for (const i of roots) {
    const name = outer(i);
    if (name === "") {
      out.push(node(i));
      continue;
    }
    if (group === null || group.label !== name) {
      group = { label: name, column: null, children: [] };
      out.push(group);
    }
    group.children.push(node(i));
  }
  return out;
}

/** Where a cube cell (by key) sits in the view, if the view shows it. */
export function locator(view: ViewBody, dimensions: string[]): (key: string) => CellRef | undefined {
  const index = (headers: Header[]) => new Map(headers.map((h, i) => [h.elements.join("\t"), i]));
  const rows = index(view.rows);
  const cols = index(view.columns);
  const rowAt = view.row_dimensions.map((d) => dimensions.indexOf(d));
  const colAt = view.column_dimensions.map((d) => dimensions.indexOf(d));
  const filters = Object.entries(view.filters).map(([d, e]) => [dimensions.indexOf(d), e] as const);
  return (key) => {
    const elements = key.split("\t");
    if (filters.some(([i, e]) => elements[i] !== e)) return undefined;
    const row = rows.get(rowAt.map((i) => elements[i]).join("\t"));
    const col = cols.get(colAt.map((i) => elements[i]).join("\t"));
    return row === undefined || col === undefined ? undefined : { row, col };
  };
}
