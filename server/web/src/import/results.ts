/**
 * What the upload dialog shows below the form: the file's first rows as the server read them,
 * the problems a check or an import found (row, column, value, reason, suggestions), and a
 * background import's progress (percent, phase, rows/s, time left).
 */

import { el } from "../dom";
import type { PreviewBody } from "./api";
import { type ImportReport, type JobStatus, progressText } from "./spec";

const SHOWN_ROWS = 10;

const REASONS: Record<string, string> = {
  unknown_element: "no such element",
  consolidated: "a total, not a leaf",
  not_a_number: "not a number",
  too_large: "too large",
  not_writable: "you may not write it",
  rule_cell: "computed by a rule",
  duplicate: "the same cell again",
};

/** The file's headers and first rows. */
export function previewTable(preview: PreviewBody): HTMLElement {
  const rows = preview.rows.slice(0, SHOWN_ROWS);
  const more = preview.row_count - rows.length;
  return el(
    "div",
    { class: "import-preview" },
    el(
      "table",
      { "aria-label": "The file's first rows" },
      el("thead", {}, el("tr", {}, el("th", { class: "row-number" }, "row"), preview.headers.map((h) => el("th", {}, h)))),
      el(
        "tbody",
        {},
        rows.map((r, i) => el("tr", {}, el("td", { class: "row-number" }, String(i + 2)), r.map((v) => el("td", {}, v)))),
      ),
    ),
    more > 0 ? el("p", { class: "hint" }, `… and ${more.toLocaleString("en-US")} more rows.`) : null,
  );
}

/** The problems of a report, each as the file has it (the header is row 1). */
export function problemsTable(report: ImportReport): HTMLElement | null {
  const errors = report.errors ?? [];
  if (errors.length === 0) return null;
  const count = report.error_count ?? errors.length;
  return el(
    "div",
    { class: "import-problems" },
    el(
      "table",
      { "aria-label": "Problems" },
      el(
        "thead",
        {},
        el("tr", {}, ["Row", "Column", "Value", "Problem", "Suggestions"].map((h) => el("th", {}, h))),
      ),
      el(
        "tbody",
        {},
        errors.map((p) =>
          el(
            "tr",
            {},
            el("td", { class: "num" }, p.row === 0 ? "—" : String(p.row)),
            el("td", {}, p.column),
            el("td", {}, p.value),
            el("td", {}, REASONS[p.reason] ?? p.reason),
            el("td", {}, p.detail),
          ),
        ),
      ),
    ),
    count > errors.length ? el("p", { class: "hint" }, `The first ${errors.length} of ${count}: the report has them all.`) : null,
  );
}

export class ProgressView {
  readonly node = el("div", { class: "import-progress", hidden: "" });
  private readonly bar = el("progress", { max: "100", value: "0", "aria-label": "Import progress" });
  private readonly text = el("span", { class: "progress-text" });

  constructor() {
    this.node.append(this.bar, this.text);
  }

  show(job: JobStatus): void {
    this.node.hidden = false;
    this.bar.value = job.percent;
    this.text.textContent = progressText(job);
  }

  hide(): void {
    this.node.hidden = true;
  }
}
