import { describe, expect, test } from "vitest";
import {
  formOf,
  type JobStatus,
  type LoadSpec,
  mediaOf,
  problemsOf,
  progressText,
  queryOf,
  specOf,
  specOfQuery,
  withSource,
} from "./spec";

const DIMS = ["Version", "Department", "Account", "Month", "Measure"];

function spec(overrides: Partial<LoadSpec> = {}): LoadSpec {
  return {
    columns: {},
    constants: {},
    value: null,
    across: null,
    value_columns: null,
    case_insensitive: false,
    decimal: "dot",
    thousands: "none",
    delimiter: null,
    encoding: null,
    sheet: null,
    mode: "upsert",
    load_valid_rows: false,
    ...overrides,
  };
}

// as the preview suggests for a German Excel CSV: Konto;Monat;Betrag
const LONG = spec({
  columns: { Account: "Konto", Month: "Monat" },
  value: "Betrag",
  decimal: "comma",
  thousands: "dot",
  delimiter: ";",
  encoding: "utf-8",
});
const LONG_HEADERS = ["Konto", "Monat", "Betrag"];

const WIDE = spec({ columns: { Account: "account" }, across: "Month", value_columns: ["jan", "feb"], case_insensitive: true });
const WIDE_HEADERS = ["account", "jan", "feb", "comment"];

describe("the form from a suggested spec", () => {
  test("a dimension the spec does not place asks for an element", () => {
    const form = formOf(LONG, DIMS);
    expect(form.sources.Account).toEqual({ kind: "column", column: "Konto" });
    expect(form.sources.Version).toEqual({ kind: "constant", element: "" });
    expect(problemsOf(form, LONG_HEADERS)).toEqual([
      "Version: choose a column, or the one element every row loads into.",
      "Department: choose a column, or the one element every row loads into.",
      "Measure: choose a column, or the one element every row loads into.",
    ]);
  });

  test("spec -> form -> spec keeps everything, constants once chosen", () => {
    const full = { ...LONG, constants: { Version: "Budget", Department: "Sales", Measure: "Amount" } };
    const form = formOf(full, DIMS);
    expect(problemsOf(form, LONG_HEADERS)).toEqual([]);
    expect(specOf(form)).toEqual(full);
    const wide = { ...WIDE, constants: { Version: "Budget", Department: "Sales", Measure: "Amount" } };
    expect(specOf(formOf(wide, DIMS))).toEqual(wide);
  });

  test("spec -> query -> spec is the identity, the route's parameter names", () => {
    for (const s of [LONG, WIDE, spec({ mode: "replace", load_valid_rows: true, sheet: "Actuals" })]) {
      expect(specOfQuery(queryOf(s))).toEqual(s);
    }
    const q = queryOf({ ...LONG, constants: { Version: "Budget" } }, { dry_run: true });
    expect(q.getAll("map")).toEqual(["Account=Konto", "Month=Monat"]);
    expect(q.getAll("const")).toEqual(["Version=Budget"]);
    expect(q.get("value")).toBe("Betrag");
    expect(q.get("decimal")).toBe("comma");
    expect(q.get("delimiter")).toBe(";");
    expect(q.get("dry_run")).toBe("true");
    expect(q.has("across")).toBe(false);
    expect(queryOf(WIDE).getAll("columns")).toEqual(["jan", "feb"]);
    // a tab delimiter and an element with "=" survive the encoding
    const odd = spec({ constants: { Version: "A=B" }, delimiter: "\t" });
    expect(specOfQuery(new URLSearchParams(queryOf(odd).toString()))).toEqual(odd);
  });
});

describe("changing the form", () => {
  test("choosing across for a dimension ticks the columns left over, and only one is across", () => {
    let form = formOf({ ...LONG, value: null }, DIMS);
    form = withSource(form, "Month", { kind: "across" }, LONG_HEADERS);
    expect(specOf(form).across).toBe("Month");
    expect(form.valueColumns).toEqual(["Monat", "Betrag"]);
    form = withSource(form, "Version", { kind: "across" }, LONG_HEADERS);
    expect(form.sources.Month).toEqual({ kind: "constant", element: "" });
    expect(specOf(form).across).toBe("Version");
  });

  test("in the wide layout the value column is not sent; in the long one the value columns are not", () => {
    const wide = formOf(WIDE, DIMS);
    expect(specOf({ ...wide, value: "jan" }).value).toBeNull();
    const long = withSource(wide, "Month", { kind: "constant", element: "Jan" }, WIDE_HEADERS);
    expect(specOf(long).value_columns).toBeNull();
    expect(specOf(long).constants.Month).toBe("Jan");
  });

  test("problems: a column twice, a missing value column, equal separators, nothing ticked", () => {
    const base = formOf(
      { ...LONG, constants: { Version: "Budget", Department: "Sales", Measure: "Amount" } },
      DIMS,
    );
    const twice = withSource(base, "Month", { kind: "column", column: "Konto" }, LONG_HEADERS);
    expect(problemsOf(twice, LONG_HEADERS)).toEqual(['Month: column "Konto" is already Account\'s.']);
    expect(problemsOf({ ...base, value: "" }, LONG_HEADERS)[0]).toMatch(/values/);
    expect(problemsOf({ ...base, value: "Konto" }, LONG_HEADERS)).toEqual([
      'The value column "Konto" is also Account\'s column.',
    ]);
    expect(problemsOf({ ...base, thousands: "comma" }, LONG_HEADERS)).toEqual([
      "The thousands separator cannot be the decimal separator.",
    ]);
    const wide = formOf({ ...WIDE, constants: { Version: "B", Department: "S", Measure: "A" } }, DIMS);
    expect(problemsOf(wide, WIDE_HEADERS)).toEqual([]);
    expect(problemsOf({ ...wide, valueColumns: [] }, WIDE_HEADERS)).toEqual(["Month: tick the columns its elements head."]);
  });
});

describe("progress and files", () => {
  const job: JobStatus = {
    id: "j1",
    state: "running",
    phase: "validating",
    percent: 15,
    rows: 120000,
    rows_per_s: 61234.4,
    eta_s: 2.2,
    message: "",
    cancel_requested: false,
    report: null,
    links: { self: "/api/jobs/j1", report: "/api/jobs/j1/report" },
  };

  test("percent, phase, rows/s and the time left", () => {
    expect(progressText(job)).toBe("15% · validating · 61,234 rows/s · about 3 s left");
    expect(progressText({ ...job, eta_s: 0.2 })).toBe("15% · validating · 61,234 rows/s · less than a second left");
    expect(progressText({ ...job, state: "succeeded", phase: "done", percent: 100, eta_s: 0 })).toBe(
      "100% · done · 61,234 rows/s",
    );
    expect(progressText({ ...job, rows_per_s: null, eta_s: null, cancel_requested: true })).toBe(
      "15% · validating · cancelling…",
    );
  });

  test("a file's media type by its name", () => {
    expect(mediaOf("actuals.CSV")).toBe("text/csv");
    expect(mediaOf("export.txt")).toBe("text/csv");
    expect(mediaOf("plan.xlsx")).toMatch(/spreadsheetml/);
    expect(mediaOf("facts.parquet")).toBe("application/vnd.apache.parquet");
    expect(mediaOf("old.xls")).toBeNull();
  });
});
