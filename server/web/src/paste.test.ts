import { describe, expect, test } from "vitest";
import { type PasteGrid, parseClipboard, planPaste } from "./paste";

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
const cells = (plan: ReturnType<typeof planPaste>) =>
  plan.ok ? plan.edits.map((e) => `${e.row}:${e.col}=${e.text}`) : plan.error;

describe("planPaste lays a block over the grid", () => {
  test("positionally, explicit blanks included", () => {
    const plan = planPaste([["1", ""], ["3", "4"]], grid(), at(1, 0));
    expect(cells(plan)).toEqual(["1:0=1", "1:1=", "2:0=3", "2:1=4"]);
    expect(plan.ok && plan.note).toBe("");
  });

  test("three months copied from a sheet without quarters skip the Q1 column", () => {
    const plan = planPaste([["20", "30", "40"]], grid(), at(1, 1));
    expect(cells(plan)).toEqual(["1:1=20", "1:2=30", "1:4=40"]);
    expect(plan.ok && plan.note).toBe("skipped the computed line Q1");
  });

  test("accounts copied without their subtotal skip the COGS row", () => {
    const plan = planPaste([["1"], ["2"], ["3"]], grid(), at(1, 0));
    expect(cells(plan)).toEqual(["1:0=1", "2:0=2", "4:0=3"]);
    expect(plan.ok && plan.note).toBe("skipped the computed line COGS");
  });

  test("a copied view pasted back, its totals included, lands positionally", () => {
    const plan = planPaste([["1,500", "10"]], grid(), at(0, 3));
    expect(plan.ok).toBe(false); // the anchor itself is a total, and 10 would land on Apr of it
    const back = planPaste([["5", "6", "7", "1,500"]], grid(), at(0, 0));
    expect(cells(back)).toMatch(/"5" would land on Revenue, Jan/);
    const row = planPaste([["5", "6", "7", "", "8"]], grid(), at(1, 0));
    expect(cells(row)).toEqual(["1:0=5", "1:1=6", "1:2=7", "1:4=8"]);
    expect(row.ok && row.note).toBe("");
  });

  test("a value onto a rule cell refuses the whole paste, naming the cell", () => {
    expect(cells(planPaste([["1", "2"]], grid(), at(2, 4)))).toBe(
      '"2" would land on Service, May, which is not an input cell (a total, a rule or a locked cell): ' +
        "nothing of this paste was saved.",
    );
  });

  test("a paste onto a total is refused, not moved to the next leaf", () => {
    expect(cells(planPaste([["9"]], grid(), at(1, 3)))).toMatch(/^"9" would land on Product, Q1/);
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
    expect(plan.ok && plan.note).toBe("left 4 computed cells as they are");
  });

  test("an empty clipboard is said so", () => {
    expect(cells(planPaste([], grid(), at(1, 0)))).toBe("The clipboard holds nothing to paste.");
  });
});
