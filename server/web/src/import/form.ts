/**
 * The mapping form of the upload dialog: for each dimension of the cube where its elements come
 * from (a column of the file, the headers of the value columns, or one element for every row),
 * the value column or the columns to unpivot, how numbers are written, the mode, and whether to
 * match names case-insensitively and load the valid rows of a file with problems.
 *
 * It shows a `MappingForm` (spec.ts) and hands every change back as a new one; it is drawn
 * afresh on each change, keeping the focus on the control that had it (keyboard users stay
 * where they were).
 */

import { el } from "../dom";
import {
  acrossOf,
  DECIMALS,
  dimensionColumns,
  type MappingForm,
  type Mode,
  MODES,
  type Source,
  THOUSANDS,
  withSource,
} from "./spec";

const KINDS: [Source["kind"], string][] = [
  ["column", "a column"],
  ["across", "the column headers"],
  ["constant", "one element"],
];

const MODE_LABELS: Record<Mode, string> = {
  upsert: "write the file's cells (upsert)",
  replace: "replace the area the file covers",
  accumulate: "add up cells given more than once",
};

const DECIMAL_LABELS: Record<string, string> = { dot: "dot (1.5)", comma: "comma (1,5)" };
const THOUSANDS_LABELS: Record<string, string> = {
  none: "none",
  comma: "comma (1,000)",
  dot: "dot (1.000)",
  space: "space (1 000)",
  apostrophe: "apostrophe (1'000)",
};

export class MappingFormView {
  readonly node = el("fieldset", { class: "import-mapping" });
  private form: MappingForm | null = null;
  private headers: string[] = [];
  /** Leaves per dimension, for constants (loaded by the dialog). */
  leaves = new Map<string, string[]>();
  changed: (form: MappingForm) => void = () => {};

  show(form: MappingForm, headers: string[]): void {
    this.form = form;
    this.headers = headers;
    this.render();
  }

  get value(): MappingForm | null {
    return this.form;
  }

  private update(next: MappingForm): void {
    this.form = next;
    this.render();
    this.changed(next);
  }

  private render(): void {
    const form = this.form;
    if (form === null) return;
    const focused = (document.activeElement as HTMLElement | null)?.getAttribute("name");
    const across = acrossOf(form);
    const rows = form.dimensions.map((d) => this.dimensionRow(form, d));
    const used = new Set(dimensionColumns(form));
    const values =
      across === null
        ? el(
            "label",
            {},
            "Values in column ",
            select(
              "value",
              ["", ...this.headers],
              form.value,
              (v) => this.update({ ...form, value: v }),
              (h) => h || "— choose a column —",
            ),
          )
        : el(
            "fieldset",
            { class: "value-columns" },
            el("legend", {}, `Columns to load, one ${across} each`),
            this.headers
              .filter((h) => !used.has(h))
              .map((h) => {
                const box = el("input", { type: "checkbox", name: `value-column-${h}` });
                box.checked = form.valueColumns.includes(h);
                box.addEventListener("change", () => {
                  const chosen = new Set(form.valueColumns);
                  if (box.checked) chosen.add(h);
                  else chosen.delete(h);
                  this.update({ ...form, valueColumns: this.headers.filter((c) => chosen.has(c)) });
                });
                return el("label", { class: "check" }, box, h);
              }),
          );
    const check = (name: string, label: string, on: boolean, set: (v: boolean) => MappingForm) => {
      const box = el("input", { type: "checkbox", name });
      box.checked = on;
      box.addEventListener("change", () => this.update(set(box.checked)));
      return el("label", { class: "check" }, box, label);
    };
    this.node.replaceChildren(
      el("legend", {}, "Mapping"),
      el(
        "table",
        { class: "import-dimensions" },
        el("thead", {}, el("tr", {}, el("th", {}, "Dimension"), el("th", {}, "From"), el("th", {}, "Which"))),
        el("tbody", {}, rows),
      ),
      el("p", {}, values),
      el(
        "p",
        { class: "import-options" },
        el(
          "label",
          {},
          "Decimal separator ",
          select("decimal", DECIMALS, form.decimal, (v) => this.update({ ...form, decimal: v as MappingForm["decimal"] }), (v) => DECIMAL_LABELS[v]),
        ),
        el(
          "label",
          {},
          "Thousands separator ",
          select("thousands", THOUSANDS, form.thousands, (v) => this.update({ ...form, thousands: v as MappingForm["thousands"] }), (v) => THOUSANDS_LABELS[v]),
        ),
        el(
          "label",
          {},
          "Mode ",
          select("mode", MODES, form.mode, (v) => this.update({ ...form, mode: v as Mode }), (v) => MODE_LABELS[v as Mode]),
        ),
      ),
      el(
        "p",
        { class: "import-options" },
        check("case_insensitive", "Match element names case-insensitively", form.caseInsensitive, (v) => ({
          ...form,
          caseInsensitive: v,
        })),
        check("load_valid_rows", "Load the valid rows, skip the rows with problems", form.loadValidRows, (v) => ({
          ...form,
          loadValidRows: v,
        })),
      ),
    );
    if (focused) this.node.querySelector<HTMLElement>(`[name="${CSS.escape(focused)}"]`)?.focus();
  }

  private dimensionRow(form: MappingForm, d: string): HTMLTableRowElement {
    const source = form.sources[d];
    const kind = select(
      `source-${d}`,
      KINDS.map(([k]) => k),
      source.kind,
      (k) => {
        const next: Source =
          k === "column"
            ? { kind: "column", column: this.headers.find((h) => h.toLowerCase() === d.toLowerCase()) ?? "" }
            : k === "across"
              ? { kind: "across" }
              : { kind: "constant", element: "" };
        this.update(withSource(form, d, next, this.headers));
      },
      (k) => KINDS.find(([name]) => name === k)?.[1] ?? k,
    );
    kind.setAttribute("aria-label", `${d}: from`);
    let which: Node;
    if (source.kind === "column") {
      which = select(
        `column-${d}`,
        ["", ...this.headers],
        source.column,
        (c) => this.update(withSource(form, d, { kind: "column", column: c }, this.headers)),
        (h) => h || "— choose a column —",
      );
      (which as HTMLElement).setAttribute("aria-label", `${d}: column`);
    } else if (source.kind === "constant") {
      const leaves = this.leaves.get(d) ?? [];
      which = select(
        `element-${d}`,
        ["", ...leaves],
        source.element,
        (e) => this.update(withSource(form, d, { kind: "constant", element: e }, this.headers)),
        (e) => e || "— choose an element —",
      );
      (which as HTMLElement).setAttribute("aria-label", `${d}: element`);
      if (!source.element) (which as HTMLElement).classList.add("missing");
    } else {
      which = el("span", { class: "hint" }, "the headers of the columns ticked below");
    }
    return el("tr", { "data-dimension": d }, el("th", { scope: "row" }, d), el("td", {}, kind), el("td", {}, which));
  }
}

function select(
  name: string,
  options: string[],
  chosen: string,
  changed: (value: string) => void,
  label: (value: string) => string = (v) => v,
): HTMLSelectElement {
  const node = el("select", { name }, options.map((o) => el("option", { value: o }, label(o))));
  // an element the list does not hold (not loaded yet, or not a leaf) is shown, not dropped
  if (!options.includes(chosen)) node.append(el("option", { value: chosen }, chosen));
  node.value = chosen;
  node.addEventListener("change", () => changed(node.value));
  return node;
}
