import { describe, expect, test } from "vitest";
import { formatValue, parseNumber } from "./numbers";

describe("parseNumber accepts what Excel copies", () => {
  test.each([
    ["1234", 1234],
    ["1234.5", 1234.5],
    [" 42 ", 42],
    [".5", 0.5],
    ["1,234", 1234],
    ["1,234,567.89", 1234567.89],
    ["1 234 567", 1234567],
    ["1\u00a0234", 1234],
    ["1'234.5", 1234.5],
    ["-1,234.50", -1234.5],
    ["\u22125", -5],
    ["+7", 7],
    ["(1,234.50)", -1234.5],
    ["( 200 )", -200],
    ["12.5%", 0.125],
    ["(10%)", -0.1],
    ["$1,200", 1200],
    ["-$1,200", -1200],
    ["1,200 €", 1200],
    ["1.5E+3", 1500],
    ["-0", 0],
    // Excel's accounting format, as it copies: sign before the parentheses, "-" for zero
    [" $ (200.00) ", -200],
    ["$ 1,200.00 ", 1200],
    [" $ -   ", 0],
    ["-", 0],
    ["€ (1.5)", -1.5],
  ])("%j -> %d", (text, value) => {
    expect(parseNumber(text)).toEqual({ ok: true, value });
  });

  test("empty text and null clear the cell", () => {
    expect(parseNumber("")).toEqual({ ok: true, value: null });
    expect(parseNumber("   ")).toEqual({ ok: true, value: null });
    expect(parseNumber(null)).toEqual({ ok: true, value: null });
  });

  test("numbers pass through, non-finite ones do not", () => {
    expect(parseNumber(3.25)).toEqual({ ok: true, value: 3.25 });
    expect(parseNumber(Number.NaN).ok).toBe(false);
  });
});

describe("parseNumber refuses what is not a number", () => {
  test.each([
    "abc",
    "12abc",
    "1,2,3",
    "1,23",
    "12,3456",
    "1.2.3",
    "--5",
    "- -",
    "$$5",
    "(-5)",
    "(5",
    "5)",
    "%",
    "$",
    "1,234 567",
    "#N/A",
    "#DIV/0!",
    "1e999",
    "0x10",
    "Infinity",
  ])("%j", (text) => {
    const parsed = parseNumber(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(`"${text}" is not a number`);
  });

  test("a decimal comma gets a hint instead of a guess", () => {
    expect(parseNumber("1,5")).toEqual({
      ok: false,
      error: '"1,5" is not a number: use "." for decimals, "," only between thousands',
    });
  });
});

describe("formatValue", () => {
  test.each([
    [1234567, "1,234,567"],
    [1234.5, "1,234.50"],
    [0.125, "0.13"],
    [-1234, "(1,234)"],
    [-0.5, "(0.50)"],
    [0, ""],
    [null, ""],
    ["a note", "a note"],
  ])("%j -> %j", (value, text) => {
    expect(formatValue(value)).toBe(text);
  });
});
