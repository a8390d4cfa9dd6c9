/**
 * Numbers in the grid: the one place where text typed or pasted by a planner becomes a number
 * (or is refused), and where numbers become display text.
 *
 * Planners paste from Excel, which copies what the sheet *shows*: "1,234.50", "(200)" for a
 * negative, "12.5%", "$1,200". parseNumber accepts those shapes and nothing looser: a
 * comma must separate thousands in groups of three ("1,5" is refused rather than guessed to be
 * 1.5 or 15), so a value is never sent that the planner did not mean. An empty text clears the
 * cell (null); Excel's accounting format shows zero as "-" and puts the currency sign before
 * the parentheses ("$ (200.00)"), and both read as it means them.
 */

export type Parsed = { ok: true; value: number | null } | { ok: false; error: string };

const CURRENCY = "$€£¥";
const PLAIN = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const GROUPED: Record<string, RegExp> = {
  ",": /^\d{1,3}(,\d{3})+(\.\d*)?$/,
  " ": /^\d{1,3}( \d{3})+(\.\d*)?$/,
  "'": /^\d{1,3}('\d{3})+(\.\d*)?$/,
};

function refuse(text: string, hint = ""): Parsed {
  return { ok: false, error: `"${text}" is not a number${hint}` };
}

/** The number a planner meant by `input`, or an error message naming what was wrong. */
export function parseNumber(input: string | number | null | undefined): Parsed {
  if (input === null || input === undefined) return { ok: true, value: null };
  if (typeof input === "number") {
    return Number.isFinite(input) ? { ok: true, value: input } : refuse(String(input));
  }
  const original = input.trim();
  if (original === "") return { ok: true, value: null };
  // Unicode minus, and the non-breaking and thin spaces spreadsheets use between thousands.
  let text = original.replace(/\u2212/g, "-").replace(/[\u00a0\u202f\u2009]/g, " ");
  // Excel's accounting format: the sign before the parentheses ("$ (200.00)"), "-" for zero.
  const bare = stripCurrency(text);
  const currencyFirst = bare !== text;
  text = bare;
  if (text === "-") return { ok: true, value: 0 };
  let negative = false;
  const parens = /^\((.*)\)$/.exec(text);
  if (parens) {
    negative = true;
    text = parens[1].trim();
  }
  if (!negative && (text.startsWith("-") || text.startsWith("+"))) {
    negative = text.startsWith("-");
    text = text.slice(1).trim();
  }
  if (!currencyFirst) text = stripCurrency(text);
  let scale = 1;
  if (text.endsWith("%")) {
    scale = 0.01;
    text = text.slice(0, -1).trim();
  }
  const digits = digitsOf(text);
  if (digits === null) {
    const hint = /^\d+,\d{1,2}$/.test(text) ? ': use "." for decimals, "," only between thousands' : "";
    return refuse(original, hint);
  }
  const value = Number(digits) * scale;
  if (!Number.isFinite(value)) return refuse(original, ": it is too large");
  return { ok: true, value: negative && value !== 0 ? -value : value };
}

function stripCurrency(text: string): string {
  if (text !== "" && CURRENCY.includes(text[0])) return text.slice(1).trim();
  if (text !== "" && CURRENCY.includes(text[text.length - 1])) return text.slice(0, -1).trim();
  return text;
}

function digitsOf(text: string): string | null {
  if (PLAIN.test(text)) return text;
  for (const [separator, pattern] of Object.entries(GROUPED)) {
    if (pattern.test(text)) return text.split(separator).join("");
  }
  return null;
}

const WHOLE = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const CENTS = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/**
 * Display text for a cell value, the way a finance sheet shows it: thousands separators, whole
 * numbers without decimals and others with two, negatives in parentheses, zero and empty blank.
 * Text cells show their text.
 */
export function formatValue(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (value === 0 || !Number.isFinite(value)) return "";
  const magnitude = Math.abs(value);
  const text = Number.isInteger(magnitude) ? WHOLE.format(magnitude) : CENTS.format(magnitude);
  return value < 0 ? `(${text})` : text;
}
