import { describe, expect, test } from "vitest";
import {
  baseState,
  cellElements,
  columnTree,
  type Header,
  hiddenRows,
  locator,
  parentsOf,
  State,
  type ViewBody,
} from "./view";

const BITS = { consolidated: 1, editable: 2, text: 4, rule: 8, seeded: 16, commented: 32, held: 64 };

function h(name: string, depth: number, parent: number | null, outer: string[] = []): Header {
  return { elements: [...outer, name], depth, parent, consolidated: false };
}

// Net Income > (Revenue > (Sales, Services), Costs > (Rent))
const ROWS = [
  h("Net Income", 0, null),
  h("Revenue", 1, 0),
  h("Sales", 2, 1),
  h("Services", 2, 1),
  h("Costs", 1, 0),
  h("Rent", 2, 4),
];

describe("baseState", () => {
  test.each([
    [2, State.input],
    [1, State.computed],
    [8, State.computed],
    [0, State.locked],
    [2 | 16, State.input | State.seeded],
    [2 | 4 | 32, State.input | State.text | State.commented],
  ])("flags %d", (flags, state) => expect(baseState(flags, BITS)).toBe(state));
});

test("cellElements puts row, column and filter elements in cube order", () => {
  const view = {
    row_dimensions: ["Account"],
    column_dimensions: ["Month"],
    filters: { Version: "Budget", Measure: "Amount" },
    rows: [h("Rent", 0, null)],
    columns: [h("2027-01", 0, null)],
  } as unknown as ViewBody;
  expect(cellElements(view, ["Version", "Account", "Month", "Measure"], 0, 0)).toEqual([
    "Budget",
    "Rent",
    "2027-01",
    "Amount",
  ]);
});

test("locator finds a cube cell in the view, or not", () => {
  const view = {
    row_dimensions: ["Account"],
    column_dimensions: ["Month"],
    filters: { Version: "Budget" },
    rows: [h("Rent", 0, null), h("Travel", 0, null)],
    columns: [h("Jan", 0, null), h("Feb", 0, null)],
  } as unknown as ViewBody;
  const where = locator(view, ["Version", "Account", "Month"]);
  expect(where("Budget\tTravel\tFeb")).toEqual({ row: 1, col: 1 });
  expect(where("Actual\tTravel\tFeb")).toBeUndefined();
  expect(where("Budget\tPayroll\tFeb")).toBeUndefined();
});

test("parentsOf marks rows with children", () => {
  expect(parentsOf(ROWS)).toEqual([true, true, false, false, true, false]);
});

describe("hiddenRows", () => {
  test("collapsing a row hides all its descendants", () => {
    expect([...hiddenRows(ROWS, new Set([1]))]).toEqual([2, 3]);
    expect([...hiddenRows(ROWS, new Set([0]))]).toEqual([1, 2, 3, 4, 5]);
  });
  test("a collapsed row inside a collapsed row stays collapsed when its parent opens", () => {
    expect([...hiddenRows(ROWS, new Set([0, 4]))]).toEqual([1, 2, 3, 4, 5]);
    expect([...hiddenRows(ROWS, new Set([4]))]).toEqual([5]);
  });
});

describe("columnTree", () => {
  test("a group holds its children, then its own total column", () => {
    const cols = [h("FY", 0, null), h("Q1", 1, 0), h("Jan", 2, 1), h("Feb", 2, 1), h("Q2", 1, 0)];
    expect(columnTree(cols)).toEqual([
      {
        label: "FY",
        column: null,
        children: [
          {
            label: "Q1",
            column: null,
            children: [
              { label: "Jan", column: 2, children: [] },
              { label: "Feb", column: 3, children: [] },
              { label: "Q1", column: 1, children: [] },
            ],
          },
          { label: "Q2", column: 4, children: [] },
          { label: "FY", column: 0, children: [] },
        ],
      },
    ]);
  });
  test("flat columns stay flat; outer dimensions name a group", () => {
    expect(columnTree([h("Jan", 0, null), h("Feb", 0, null)]).map((n) => n.column)).toEqual([0, 1]);
    const nested = [h("Jan", 0, null, ["Budget"]), h("Jan", 0, null, ["Actual"])];
    expect(columnTree(nested).map((n) => [n.label, n.children.length])).toEqual([
      ["Budget", 1],
      ["Actual", 1],
    ]);
  });
});
