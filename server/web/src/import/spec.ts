/**
 * An import's mapping, three ways: the form the planner fills in (`MappingForm`: for each
 * dimension where its elements come from), the server's `LoadSpec` (server/imports/spec.py: the
 * mapping as one JSON document, as the preview suggests it), and the query parameters the import
 * route reads (`map=Account=Konto`, `const=Version=Budget`, `across=Month`, `decimal=comma`…).
 * Everything here is pure, so the round trips are unit-tested (spec.test.ts).
 */

export type Decimal = "dot" | "comma";
export type Thousands = "none" | "comma" | "dot" | "space" | "apostrophe";
export type Mode = "upsert" | "replace" | "accumulate";
export type Encoding = "utf-8" | "cp1252";

/** server/imports/spec.py `LoadSpec`, as JSON. */
export interface LoadSpec {
  columns: Record<string, string>;
  constants: Record<string, string>;
  value: string | null;
  across: string | null;
  value_columns: string[] | null;
  case_insensitive: boolean;
  decimal: Decimal;
  thousands: Thousands;
  delimiter: string | null;
  encoding: Encoding | null;
  sheet: string | null;
  mode: Mode;
  load_valid_rows: boolean;
}

/** Where a dimension's elements come from; "" is "not chosen yet". */
export type Source =
  | { kind: "column"; column: string }
  | { kind: "across" }
  | { kind: "constant"; element: string };

export interface MappingForm {
  /** The cube's dimensions, in cube order. */
  dimensions: string[];
  sources: Record<string, Source>;
  /** Long layout: the value column ("" not chosen). */
  value: string;
  /** Wide layout: the columns unpivoted across the dimension whose source is "across". */
  valueColumns: string[];
  decimal: Decimal;
  thousands: Thousands;
  mode: Mode;
  caseInsensitive: boolean;
  loadValidRows: boolean;
  delimiter: string | null;
  encoding: Encoding | null;
  sheet: string | null;
}

export const DECIMALS: Decimal[] = ["dot", "comma"];
export const THOUSANDS: Thousands[] = ["none", "comma", "dot", "space", "apostrophe"];
export const MODES: Mode[] = ["upsert", "replace", "accumulate"];

/** The form a LoadSpec fills in: a dimension the spec does not place asks for an element. */
export function formOf(spec: LoadSpec, dimensions: string[]): MappingForm {
  const sources: Record<string, Source> = {};
  for (const d of dimensions) {
    if (spec.across === d) sources[d] = { kind: "across" };
    else if (d in spec.constants) sources[d] = { kind: "constant", element: spec.constants[d] };
    else if (d in spec.columns) sources[d] = { kind: "column", column: spec.columns[d] };
    else sources[d] = { kind: "constant", element: "" };
  }
  return {
    dimensions: [...dimensions],
    sources,
    value: spec.value ?? "",
    valueColumns: [...(spec.value_columns ?? [])],
    decimal: spec.decimal,
    thousands: spec.thousands,
    mode: spec.mode,
    caseInsensitive: spec.case_insensitive,
    loadValidRows: spec.load_valid_rows,
    delimiter: spec.delimiter,
    encoding: spec.encoding,
    sheet: spec.sheet,
  };
}

/** The dimension the form unpivots across, if any. */
export function acrossOf(form: MappingForm): string | null {
  return form.dimensions.find((d) => form.sources[d]?.kind === "across") ?? null;
}

export function specOf(form: MappingForm): LoadSpec {
  const columns: Record<string, string> = {};
  const constants: Record<string, string> = {};
  for (const d of form.dimensions) {
    const source = form.sources[d];
    if (source?.kind === "column") columns[d] = source.column;
    else if (source?.kind === "constant") constants[d] = source.element;
  }
  const across = acrossOf(form);
  return {
    columns,
    constants,
    value: across === null && form.value ? form.value : null,
    across,
    value_columns: across !== null && form.valueColumns.length > 0 ? [...form.valueColumns] : null,
    case_insensitive: form.caseInsensitive,
    decimal: form.decimal,
    thousands: form.thousands,
    delimiter: form.delimiter,
    encoding: form.encoding,
    sheet: form.sheet,
    mode: form.mode,
    load_valid_rows: form.loadValidRows,
  };
}

/** The columns a dimension takes its elements from (they are not values). */
export function dimensionColumns(form: MappingForm): string[] {
  return form.dimensions.flatMap((d) => {
    const s = form.sources[d];
    return s?.kind === "column" && s.column ? [s.column] : [];
  });
}

/** A dimension's source changed: the form as it is then. Only one dimension can be across;
 * choosing it for another makes the first one ask for an element. */
export function withSource(form: MappingForm, dimension: string, source: Source, headers: string[]): MappingForm {
  const sources = { ...form.sources, [dimension]: source };
  if (source.kind === "across") {
    for (const d of form.dimensions) {
      if (d !== dimension && sources[d].kind === "across") sources[d] = { kind: "constant", element: "" };
    }
  }
  const next = { ...form, sources };
  if (source.kind === "across" && form.sources[dimension]?.kind !== "across") {
    // the headers that are not dimension columns nor the value column: the months, say
    const used = new Set([...dimensionColumns(next), form.value]);
    next.valueColumns = headers.filter((h) => !used.has(h));
  }
  return next;
}

/** What keeps the form from being sent, said as the planner reads it (empty: it can be). */
export function problemsOf(form: MappingForm, headers: string[]): string[] {
  const problems: string[] = [];
  const known = new Set(headers);
  const seen = new Map<string, string>();
  for (const d of form.dimensions) {
    const s = form.sources[d];
    if (s === undefined || (s.kind === "constant" && !s.element)) {
      problems.push(`${d}: choose a column, or the one element every row loads into.`);
    } else if (s.kind === "column") {
      if (!s.column || !known.has(s.column)) problems.push(`${d}: choose the column holding its elements.`);
      else if (seen.has(s.column)) problems.push(`${d}: column "${s.column}" is already ${seen.get(s.column)}'s.`);
      else seen.set(s.column, d);
    }
  }
  const across = acrossOf(form);
  if (across === null && (!form.value || !known.has(form.value))) {
    problems.push("Choose the column holding the values (or a dimension whose elements head the columns).");
  } else if (across === null && seen.has(form.value)) {
    problems.push(`The value column "${form.value}" is also ${seen.get(form.value)}'s column.`);
  }
  if (across !== null) {
    const values = form.valueColumns.filter((c) => known.has(c));
    if (values.length === 0) problems.push(`${across}: tick the columns its elements head.`);
    const taken = values.filter((c) => seen.has(c));
    if (taken.length > 0) problems.push(`Column "${taken[0]}" is ${seen.get(taken[0])}'s, not a value column.`);
  }
  const sep = { dot: ".", comma: ",", none: "", space: " ", apostrophe: "'" };
  if (sep[form.thousands] === sep[form.decimal]) {
    problems.push("The thousands separator cannot be the decimal separator.");
  }
  return problems;
}

/** The query parameters the import route reads for a spec (and extras: dry_run, background…). */
export function queryOf(spec: LoadSpec, extra: Record<string, string | boolean> = {}): URLSearchParams {
  const q = new URLSearchParams();
  for (const [d, c] of Object.entries(spec.columns)) q.append("map", `${d}=${c}`);
  for (const [d, e] of Object.entries(spec.constants)) q.append("const", `${d}=${e}`);
  if (spec.value) q.set("value", spec.value);
  if (spec.across) q.set("across", spec.across);
  for (const c of spec.value_columns ?? []) q.append("columns", c);
  q.set("mode", spec.mode);
  q.set("decimal", spec.decimal);
  q.set("thousands", spec.thousands);
  q.set("case_insensitive", String(spec.case_insensitive));
  q.set("load_valid_rows", String(spec.load_valid_rows));
  if (spec.delimiter) q.set("delimiter", spec.delimiter);
  if (spec.encoding) q.set("encoding", spec.encoding);
  if (spec.sheet) q.set("sheet", spec.sheet);
  for (const [name, value] of Object.entries(extra)) q.set(name, String(value));
  return q;
}

/** The spec a query names (the inverse of queryOf; what the server reads from it). */
export function specOfQuery(q: URLSearchParams): LoadSpec {
  const pairs = (name: string) =>
    Object.fromEntries(
      q.getAll(name).map((item) => {
        const at = item.indexOf("=");
        return [item.slice(0, at), item.slice(at + 1)];
      }),
    );
  const columns = q.getAll("columns");
  return {
    columns: pairs("map"),
    constants: pairs("const"),
    value: q.get("value"),
    across: q.get("across"),
    value_columns: columns.length > 0 ? columns : null,
    case_insensitive: q.get("case_insensitive") === "true",
    decimal: (q.get("decimal") ?? "dot") as Decimal,
    thousands: (q.get("thousands") ?? "none") as Thousands,
    delimiter: q.get("delimiter"),
    encoding: q.get("encoding") as Encoding | null,
    sheet: q.get("sheet"),
    mode: (q.get("mode") ?? "upsert") as Mode,
    load_valid_rows: q.get("load_valid_rows") === "true",
  };
}

/** A background import as GET /api/jobs/{id} (and the live feed's job messages) show it. */
export interface JobStatus {
  id: string;
  state: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  phase: string;
  percent: number;
  rows: number;
  rows_per_s: number | null;
  eta_s: number | null;
  message: string;
  cancel_requested: boolean;
  report: ImportReport | null;
  links: { self: string; report: string };
}

export interface Problem {
  row: number;
  column: string;
  value: string;
  reason: string;
  detail: string;
}

/** What an import (or its dry run) answers; a failed job's report has `error`. */
export interface ImportReport {
  dry_run?: boolean;
  rows?: number;
  cells?: number;
  written?: number;
  cleared?: number;
  would_write?: number;
  would_clear?: number;
  error_count?: number;
  errors?: Problem[];
  commit?: { id: number; cells?: number } | null;
  error?: { code: string; message: string };
}

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** "42% · validating · 12,345 rows/s · about 3 s left". */
export function progressText(job: JobStatus): string {
  const parts = [`${Math.round(job.percent)}%`, job.phase];
  if (job.rows_per_s !== null && job.rows_per_s > 0) {
    parts.push(`${Math.round(job.rows_per_s).toLocaleString("en-US")} rows/s`);
  }
  if (!FINISHED.has(job.state) && job.eta_s !== null) {
    parts.push(job.eta_s < 1 ? "less than a second left" : `about ${Math.ceil(job.eta_s)} s left`);
  }
  if (job.cancel_requested && !FINISHED.has(job.state)) parts.push("cancelling…");
  return parts.join(" · ");
}

/** The media type of a chosen file, by its name (null: not a file an import reads). */
export function mediaOf(name: string): string | null {
  const ext = name.toLowerCase().split(".").pop() ?? "";
  if (["csv", "txt", "tsv", "tab"].includes(ext)) return "text/csv";
  if (ext === "xlsx") return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  if (ext === "parquet") return "application/vnd.apache.parquet";
  return null;
}
