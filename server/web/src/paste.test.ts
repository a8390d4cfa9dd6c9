import { describe, expect, test } from "vitest";
import {
  type PasteGrid,
  type PastePlan,
  type PasteQuestion,
  type PasteResult,
  parseClipboard,
  planPaste,
} from "./paste";

const BLOCK = [
  ["150000", "151000"],
  ["15000", "15500"],
];

describe("parseClipboard reads what spreadsheets put on the clipboard", () => {
  test.each([
    ["Excel on Windows, a 2 x 2 block", "150000\t151000\r\n15000\t15500\r\n", BLOCK],
    ["Excel on a Mac / LibreOffice, a 2 x 2 block", "150000\t151000\n15000\t15500\n", BLOCK],
    ["one row ending in CRLF", "1\t2\t3\r\n", [["1", "2", "3"]]],
    ["a single cell", "42\r\n", [["42"]]],
    ["a single cell without a line break", "42", [["42"]]],
    ["a single empty cell", "\r\n", [[""]]],
    ["empty cells inside a block", "1\t\t3\r\n\t5\t\r\n", [["1", "", "3"], ["", "5", ""]]],
    ["a column with an empty cell last", "1\r\n2\r\n\r\n", [["1"], ["2"], [""]]],
    ["a column with an empty cell inside", "1\r\n\r\n3\r\n", [["1"], [""], ["3"]]],
    ["old Mac line ends", "1\r2\r", [["1"], ["2"]]],
    ["a quoted cell with a line break", '"two\nlines ""quoted"""\t7\r\n', [['two\nlines "quoted"', "7"]]],
    ["a stray quote in a cell", '5" pipe\t3\r\n', [['5" pipe', "3"]]],
    ["an opening quote never closed", '"abc\t3\r\n', [['"abc', "3"]]],
  ])("%s", (_name, text, rows) => {
    expect(parseClipboard(text)).toEqual(rows);
  });

  test("an empty clipboard holds nothing", () => {
    expect(parseClipboard("")).toEqual([]);
  });

  test("a whole column of 10,000 values", () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `${i}\r\n`).join("");
    const rows = parseClipboard(text);
    expect(rows.length).toBe(10_000);
    expect(rows[9_999]).toEqual(["9999"]);
  });
});

/**
 * A grid like the P&L: rows Revenue (total), Product, Service, COGS (total), Parts;
 * columns Jan, Feb, Mar, Q1 (total), Apr, May; one rule cell at (Service, May).
 */
function grid(): PasteGrid & { values: Map<string, number> } {
  const rowNames = ["Revenue", "Product", "Service", "COGS", "Parts"];
  const colNames = ["Jan", "Feb", "Mar", "Q1", "Apr", "May"];
  const totalRows = new Set([0, 3]);
  const values = new Map<string, number>([["0:3", 1500]]);
  return {
    values,
    rows: [0, 1, 2, 3, 4],
    cols: [0, 1, 2, 3, 4, 5],
    input: (r, c) => !totalRows.has(r) && c !== 3 && !(r === 2 && c === 5),
    shown: (r, c) => values.get(`${r}:${c}`) ?? null,
    rowLabel: (r) => rowNames[r],
    colLabel: (c) => colNames[c],
  };
}

const at = (top: number, left: number, bottom = top, right = left) => ({ top, left, bottom, right });
const cells = (plan: PastePlan | PasteResult): string[] | string =>
  plan.ok === "ask" ? plan.question : plan.ok ? plan.edits.map((e) => `${e.row}:${e.col}=${e.text}`) : plan.error;
const note = (plan: PastePlan | PasteResult) => (plan.ok === true ? plan.note : null);
function asked(plan: PastePlan): PasteQuestion {
  if (plan.ok !== "ask") throw new Error(`expected a question, got ${JSON.stringify(plan)}`);
  return plan;
}

describe("planPaste lays a block over the grid", () => {
  test("positionally, explicit blanks included", () => {
    const plan = planPaste([["1", ""], ["3", "4"]], grid(), at(1, 0));
    expect(cells(plan)).toEqual(["1:0=1", "1:1=", "2:0=3", "2:1=4"]);
    expect(note(plan)).toBe("");
  });

  test("a block across a quarter column asks whether the copy had it, with both answers ready", () => {
    const plan = asked(planPaste([["20", "30", "40"]], grid(), at(1, 1)));
    expect(plan.question).toBe("This paste crosses the computed column Q1: was it in what you copied?");
    expect([plan.inPlaceLabel, plan.skippingLabel]).toEqual(["Yes: paste in place", "No: skip it"]);
    // no: three months from a sheet without quarters
    expect(cells(plan.skipping)).toEqual(["1:1=20", "1:2=30", "1:4=40"]);
    expect(note(plan.skipping)).toBe("skipped the computed line Q1");
    // yes: the 40 was the sheet's own Q1 total, left to the server
    expect(cells(plan.inPlace)).toEqual(["1:1=20", "1:2=30"]);
    expect(note(plan.inPlace)).toBe("left the computed line Q1 as computed");
  });

  test("Jan, Feb, Mar, Q1, Apr copied with their total never shift the total into a month", () => {
    const plan = asked(planPaste([["100", "200", "300", "600", "400"]], grid(), at(1, 0)));
    expect(cells(plan.inPlace)).toEqual(["1:0=100", "1:1=200", "1:2=300", "1:4=400"]);
    expect(cells(plan.skipping)).toEqual(["1:0=100", "1:1=200", "1:2=300", "1:4=600", "1:5=400"]);
    // a year of months with its quarter totals, skipped, no longer fits: said so
    const year = asked(planPaste([["1", "2", "3", "6", "4", "5"]], grid(), at(1, 0)));
    expect(cells(year.skipping)).toBe(
      '"5" would fall outside the grid (the paste is 1 × 6, skipping the computed lines Q1): ' +
        "nothing of this paste was saved.",
    );
  });

  test("a blank on the total's place asks too: it may be a blank month", () => {
    const plan = asked(planPaste([["100", "200", "", "400"]], grid(), at(1, 1)));
    expect(cells(plan.skipping)).toEqual(["1:1=100", "1:2=200", "1:4=", "1:5=400"]);
    expect(cells(plan.inPlace)).toEqual(["1:1=100", "1:2=200", "1:4=400"]);
  });

  test("accounts copied without their subtotal: skipping the COGS row is one answer", () => {
    const plan = asked(planPaste([["1"], ["2"], ["3"]], grid(), at(1, 0)));
    expect(plan.question).toBe("This paste crosses the computed row COGS: was it in what you copied?");
    expect(cells(plan.skipping)).toEqual(["1:0=1", "2:0=2", "4:0=3"]);
    expect(cells(plan.inPlace)).toEqual(["1:0=1", "2:0=2"]);
  });

  test("a copied view pasted back, its totals included and unchanged, lands in place unasked", () => {
    const back = planPaste([["5", "6", "7", "1,500", "8"]], grid(), at(0, 0));
    expect(cells(back)).toMatch(/"5" would land on Revenue, Jan/); // Revenue is a total row
    const values = grid();
    values.values.set("1:3", 1500);
    const row = planPaste([["5", "6", "7", "1,500", "8"]], values, at(1, 0));
    expect(cells(row)).toEqual(["1:0=5", "1:1=6", "1:2=7", "1:4=8"]);
    expect(note(row)).toBe("left the computed line Q1 as computed");
  });

  test("a value onto a rule cell refuses the whole paste, naming the cell", () => {
    expect(cells(planPaste([["1", "2"]], grid(), at(2, 4)))).toBe(
      '"2" would land on Service, May, which is not an input cell (a total, a rule or a locked cell): ' +
        "nothing of this paste was saved.",
    );
  });

  test("a paste onto a total is refused, not moved to the next leaf", () => {
    expect(cells(planPaste([["9"]], grid(), at(1, 3)))).toMatch(/^"9" would land on Product, Q1/);
    expect(cells(planPaste([["9", "10"]], grid(), at(1, 3)))).toMatch(/^"9" would land on Product, Q1/);
  });

  test("values past the grid's edge refuse the paste; blanks past it are ignored", () => {
    expect(cells(planPaste([["1", "2", "3"]], grid(), at(4, 4)))).toBe(
      '"3" would fall outside the grid (the paste is 1 × 3): nothing of this paste was saved.',
    );
    expect(cells(planPaste([["1"], [""], [""], [""]], grid(), at(4, 4)))).toEqual(["4:4=1"]);
  });

  test("one value onto a selection fills its input cells", () => {
    const plan = planPaste([["7"]], grid(), at(0, 2, 1, 4));
    expect(cells(plan)).toEqual(["1:2=7", "1:4=7"]);
    expect(note(plan)).toBe("left 4 computed cells as they are");
  });

  test("a million-row clipboard (a whole column) is planned, not a stack overflow", () => {
    const column = Array.from({ length: 1_000_000 }, () => [""]);
    column[0] = ["5"];
    expect(cells(planPaste(column, grid(), at(4, 4)))).toEqual(["4:4=5"]);
  });

  test("an empty clipboard is said so", () => {
    expect(cells(planPaste([], grid(), at(1, 0)))).toBe("The clipboard holds nothing to paste.");
  });
});
