/**
 * Importing cells from the web: the "Import…" action opens this dialog over the grid, for the
 * cube the grid shows and for users who may write in its model.
 *
 * 1. A file is chosen (the file input, or dropped onto the dialog) and previewed by the server:
 *    the delimiter and encoding it sniffed (shown, and changeable: the file is read again), an
 *    XLSX's sheets, the first rows, and a suggested mapping that fills the form in (form.ts).
 * 2. "Check" is a dry run: every problem of the whole file, row by row, and the whole report as
 *    CSV to download. Nothing is written.
 * 3. "Import" runs the import as a background job: its progress comes over the live feed (the
 *    grid's socket hears the user's jobs) and by asking GET /api/jobs/{id} every second, in case
 *    the feed is down; it can be cancelled until its commit begins. At the end the grid is shown
 *    afresh and the dialog says what was written, in which commit — or, when the file had
 *    problems, that nothing was, and which.
 *
 * The file never leaves the page but to be read by the server; a file with problems writes
 * nothing unless "Load the valid rows" is ticked (the server's rule, not this page's).
 */

import { type Api, ApiError } from "../api";
import { el } from "../dom";
import { ImportApi, type PreviewBody, type ReadOptions } from "./api";
import { MappingFormView } from "./form";
import { problemsTable, previewTable, ProgressView } from "./results";
import {
  FINISHED,
  formOf,
  type ImportReport,
  type JobStatus,
  type MappingForm,
  mediaOf,
  problemsOf,
  specOf,
} from "./spec";

export interface ImportTarget {
  model: string;
  cube: string;
}

export interface ImportHooks {
  /** May the signed-in user write in the model (a planner, modeler or admin)? */
  mayWrite(model: string): boolean;
  /** An import committed: show the grid afresh. */
  imported(report: ImportReport): void;
}

const DELIMITERS: [string, string][] = [
  [",", "comma"],
  [";", "semicolon"],
  ["\t", "tab"],
  ["|", "pipe"],
];
const ENCODINGS: [string, string][] = [
  ["utf-8", "UTF-8"],
  ["cp1252", "Windows-1252"],
];
const POLL_MS = 1000;

type Tone = "info" | "ok" | "error";

export class ImportDialog {
  readonly button = el("button", { type: "button", id: "import-button", hidden: "" }, "Import…");
  private readonly dialog = el("dialog", { id: "import", "aria-labelledby": "import-title" });
  private readonly title = el("h2", { id: "import-title" }, "Import");
  private readonly fileInput = el("input", {
    type: "file",
    name: "file",
    accept: ".csv,.txt,.tsv,.xlsx,.parquet,text/csv",
  });
  private readonly fileName = el("span", { class: "file-name" });
  private readonly reading = el("p", { class: "import-read", hidden: "" });
  private readonly table = el("div", { class: "import-table" });
  private readonly mapping = new MappingFormView();
  private readonly checkButton = el("button", { type: "button", name: "check", disabled: "" }, "Check");
  private readonly importButton = el("button", { type: "button", name: "import", disabled: "" }, "Import");
  private readonly cancelButton = el("button", { type: "button", name: "cancel", hidden: "" }, "Cancel import");
  private readonly closeButton = el("button", { type: "button", name: "close" }, "Close");
  private readonly message = el("p", { class: "import-message", role: "status", "aria-live": "polite" });
  private readonly problems = el("div", { class: "import-report" });
  private readonly progress = new ProgressView();
  private readonly imports: ImportApi;
  private target: ImportTarget | null = null;
  private file: File | null = null;
  private media = "";
  private preview: PreviewBody | null = null;
  private job: JobStatus | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private told = false;
  private readonly leaves = new Map<string, string[]>();

  constructor(
    host: HTMLElement,
    private readonly api: Api,
    private readonly hooks: ImportHooks,
  ) {
    this.imports = new ImportApi(api);
    const drop = el(
      "div",
      { class: "import-drop" },
      el("label", {}, "Choose a CSV, XLSX or Parquet file ", this.fileInput),
      el("span", { class: "hint" }, " or drop one here. "),
      this.fileName,
    );
    this.dialog.append(
      this.title,
      drop,
      this.reading,
      this.table,
      this.mapping.node,
      el("p", { class: "import-actions" }, this.checkButton, this.importButton, this.cancelButton, this.closeButton),
      this.message,
      this.progress.node,
      this.problems,
    );
    this.mapping.node.hidden = true;
    host.append(this.dialog);
    this.button.addEventListener("click", () => void this.open());
    this.closeButton.addEventListener("click", () => this.dialog.close());
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      if (file) void this.choose(file);
    });
    this.dialog.addEventListener("dragover", (e) => {
      e.preventDefault();
      drop.classList.add("over");
    });
    this.dialog.addEventListener("dragleave", () => drop.classList.remove("over"));
    this.dialog.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      const file = e.dataTransfer?.files[0];
      if (file && !this.running) void this.choose(file);
    });
    this.checkButton.addEventListener("click", () => void this.check());
    this.importButton.addEventListener("click", () => void this.start());
    this.cancelButton.addEventListener("click", () => void this.cancel());
    this.mapping.changed = () => this.problems.replaceChildren();
  }

  /** The cube the grid shows: the one an import goes into. */
  setTarget(target: ImportTarget): void {
    if (this.target?.model !== target.model) this.leaves.clear();
    this.target = target;
    this.button.hidden = !this.hooks.mayWrite(target.model);
  }

  /** A job message from the live feed. */
  jobMessage(job: JobStatus): void {
    if (this.job !== null && job.id === this.job.id) this.follow(job);
  }

  private get running(): boolean {
    return this.job !== null && !FINISHED.has(this.job.state);
  }

  private async open(): Promise<void> {
    const target = this.target;
    if (target === null) return;
    this.title.textContent = `Import into ${target.cube}`;
    if (!this.running) this.reset();
    this.dialog.showModal();
    const cubes = await this.api.cubes(target.model).catch(() => []);
    const dims = cubes.find((c) => c.name === target.cube)?.dimensions ?? [];
    await Promise.all(
      dims
        .filter((d) => !this.leaves.has(d))
        .map(async (d) => {
          const elements = await this.api.elements(target.model, d).catch(() => []);
          this.leaves.set(d, elements.filter((e) => e.leaf).map((e) => e.name));
        }),
    );
    this.mapping.leaves = this.leaves;
    const form = this.mapping.value;
    if (form !== null && this.preview !== null) this.mapping.show(form, this.preview.headers);
  }

  /** Start afresh; `keepInput`: the file input holds the file being chosen now. */
  private reset(keepInput = false): void {
    this.file = null;
    this.preview = null;
    this.job = null;
    if (!keepInput) this.fileInput.value = "";
    this.fileName.textContent = "";
    this.reading.hidden = true;
    this.table.replaceChildren();
    this.mapping.node.hidden = true;
    this.problems.replaceChildren();
    this.progress.hide();
    this.say("info", "");
    this.buttons();
  }

  private async choose(file: File): Promise<void> {
    const media = mediaOf(file.name);
    this.reset(this.fileInput.files?.[0] === file);
    if (media === null) {
      this.say("error", `"${file.name}" is not a file an import reads: choose a .csv, .txt, .xlsx or .parquet file.`);
      return;
    }
    this.file = file;
    this.media = media;
    this.fileName.textContent = `${file.name} (${file.size.toLocaleString("en-US")} bytes)`;
    await this.read({});
  }

  /** Ask the server how it reads the file (with `options`), and show it. */
  private async read(options: ReadOptions): Promise<void> {
    const target = this.target;
    const file = this.file;
    if (target === null || file === null) return;
    let preview: PreviewBody;
    try {
      preview = await this.imports.preview(target.model, target.cube, file, this.media, options);
    } catch (exc) {
      this.preview = null;
      this.table.replaceChildren();
      this.mapping.node.hidden = true;
      this.buttons();
      this.say("error", `The file cannot be read: ${problem(exc)}`);
      return;
    }
    const before = this.preview;
    const kept = this.mapping.value;
    this.preview = preview;
    const suggested = formOf(preview.suggestion, preview.dimensions);
    const sameColumns = before !== null && kept !== null && same(before.headers, preview.headers);
    const form: MappingForm = sameColumns
      ? { ...kept, delimiter: suggested.delimiter, encoding: suggested.encoding, sheet: suggested.sheet }
      : suggested;
    this.showReading(preview);
    this.table.replaceChildren(previewTable(preview));
    this.mapping.node.hidden = false;
    this.mapping.show(form, preview.headers);
    this.problems.replaceChildren();
    this.buttons();
    const ask = preview.unmatched.length > 0 ? ` Choose an element for ${preview.unmatched.join(", ")}.` : "";
    this.say("info", `Mapping filled in from the file: check it, then press Check.${ask}`);
  }

  private showReading(preview: PreviewBody): void {
    const parts: Node[] = [el("span", {}, `Read as ${preview.format.toUpperCase()}`)];
    if (preview.format === "csv") {
      const delimiter = choice("delimiter", DELIMITERS, preview.delimiter ?? ",", "Delimiter");
      const encoding = choice("encoding", ENCODINGS, preview.encoding ?? "utf-8", "Encoding");
      const again = () => void this.read({ delimiter: delimiter.value, encoding: encoding.value });
      delimiter.addEventListener("change", again);
      encoding.addEventListener("change", again);
      parts.push(
        el("label", {}, "Delimiter ", delimiter),
        el("label", {}, "Encoding ", encoding),
        el("span", { class: "hint" }, preview.bom ? "with a byte-order mark" : ""),
      );
    } else if (preview.format === "xlsx" && preview.sheets) {
      const sheets = preview.sheets.map((s): [string, string] => [s, s]);
      const sheet = choice("sheet", sheets, preview.sheet ?? "", "Sheet");
      sheet.addEventListener("change", () => void this.read({ sheet: sheet.value }));
      parts.push(el("label", {}, "Sheet ", sheet));
    }
    const rows = preview.row_count;
    parts.push(el("span", { class: "row-count" }, `${rows.toLocaleString("en-US")} row${rows === 1 ? "" : "s"}`));
    this.reading.replaceChildren(...parts);
    this.reading.hidden = false;
  }

  /** The spec to send, or null after saying what is missing. */
  private ready(): ReturnType<typeof specOf> | null {
    const form = this.mapping.value;
    if (form === null || this.preview === null) return null;
    const missing = problemsOf(form, this.preview.headers);
    if (missing.length > 0) {
      this.say("error", missing.join(" "));
      return null;
    }
    return specOf(form);
  }

  private async check(): Promise<void> {
    const spec = this.ready();
    const target = this.target;
    const file = this.file;
    if (spec === null || target === null || file === null) return;
    this.say("info", "Checking the whole file…");
    let report: ImportReport;
    try {
      report = await this.imports.check(target.model, target.cube, file, this.media, spec);
    } catch (exc) {
      this.say("error", `The check could not run: ${problem(exc)}`);
      return;
    }
    const count = report.error_count ?? 0;
    const would = `${(report.would_write ?? 0).toLocaleString("en-US")} cell${report.would_write === 1 ? "" : "s"}`;
    const cleared = report.would_clear ? ` and clear ${report.would_clear.toLocaleString("en-US")}` : "";
    if (count === 0) this.say("ok", `No problems: the import would write ${would}${cleared}.`);
    else if (spec.load_valid_rows) {
      this.say("error", `${plural(count, "problem")}: the rows with problems would be skipped; the import would write ${would}${cleared}.`);
    } else {
      this.say("error", `${plural(count, "problem")}: an import would write nothing. Correct the file, or tick "Load the valid rows".`);
    }
    this.showProblems(report, () => this.downloadReport(spec));
  }

  private showProblems(report: ImportReport, download: (() => void) | string): void {
    const shown = problemsTable(report);
    if (shown === null) {
      this.problems.replaceChildren();
      return;
    }
    const link =
      typeof download === "string"
        ? el("a", { href: download, download: "import-report.csv" }, "Download the report (CSV)")
        : el("a", { href: "#", role: "button" }, "Download the report (CSV)");
    if (typeof download !== "string") {
      link.addEventListener("click", (e) => {
        e.preventDefault();
        download();
      });
    }
    this.problems.replaceChildren(el("h3", {}, "Problems"), shown, el("p", {}, link));
  }

  private async downloadReport(spec: ReturnType<typeof specOf>): Promise<void> {
    const target = this.target;
    const file = this.file;
    if (target === null || file === null) return;
    try {
      const blob = await this.imports.report(target.model, target.cube, file, this.media, spec);
      const url = URL.createObjectURL(blob);
      const a = el("a", { href: url, download: "import-report.csv" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (exc) {
      this.say("error", `The report could not be made: ${problem(exc)}`);
    }
  }

  private async start(): Promise<void> {
    const spec = this.ready();
    const target = this.target;
    const file = this.file;
    if (spec === null || target === null || file === null) return;
    this.problems.replaceChildren();
    try {
      this.job = await this.imports.start(target.model, target.cube, file, this.media, spec, `import of ${file.name}`);
    } catch (exc) {
      this.say("error", `The import could not start: ${problem(exc)}`);
      return;
    }
    this.told = false;
    this.say("info", `Importing ${file.name}…`);
    this.buttons();
    this.follow(this.job);
    this.poll = setInterval(() => void this.ask(), POLL_MS);
  }

  private async ask(): Promise<void> {
    const job = this.job;
    if (job === null) return;
    try {
      this.follow(await this.imports.job(job.id));
    } catch {
      // the feed may still tell; the next poll asks again
    }
  }

  private follow(job: JobStatus): void {
    if (this.job === null || job.id !== this.job.id || this.told) return;
    this.job = job;
    this.progress.show(job);
    if (!FINISHED.has(job.state)) return;
    this.told = true; // the feed and the poll both tell the end: say it once
    if (this.poll !== null) clearInterval(this.poll);
    this.poll = null;
    this.buttons();
    this.finished(job);
  }

  private finished(job: JobStatus): void {
    const report = job.report ?? {};
    if (job.state === "succeeded") {
      const written = report.written ?? 0;
      const commit = report.commit ? ` in commit ${report.commit.id}` : " (no change)";
      const cleared = report.cleared ? `, ${report.cleared.toLocaleString("en-US")} cleared` : "";
      const skipped = report.error_count ? `; ${plural(report.error_count, "row problem")} skipped` : "";
      this.say("ok", `Imported: ${plural(written, "cell")} written${cleared}${commit}${skipped}.`);
      if (report.error_count) this.showProblems(report, job.links.report);
      this.hooks.imported(report);
    } else if (job.state === "cancelled") {
      this.say("info", "Cancelled: nothing was written.");
    } else {
      this.say("error", `The import failed: ${report.error?.message ?? job.message}`);
      this.showProblems(report, job.links.report);
    }
  }

  private async cancel(): Promise<void> {
    const job = this.job;
    if (job === null) return;
    try {
      this.follow(await this.imports.cancel(job.id));
    } catch (exc) {
      this.say("error", `Not cancelled: ${problem(exc)}`);
    }
  }

  private buttons(): void {
    const running = this.running;
    const ready = this.preview !== null && !running;
    this.checkButton.disabled = !ready;
    this.importButton.disabled = !ready;
    this.fileInput.disabled = running;
    this.cancelButton.hidden = !running;
  }

  private say(tone: Tone, text: string): void {
    this.message.textContent = text;
    this.message.className = `import-message ${tone}`;
    this.message.setAttribute("role", tone === "error" ? "alert" : "status");
  }
}

function choice(name: string, options: [string, string][], chosen: string, label: string): HTMLSelectElement {
  const node = el("select", { name, "aria-label": label }, options.map(([v, l]) => el("option", { value: v }, l)));
  node.value = chosen;
  return node;
}

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((h, i) => h === b[i]);
}

function plural(n: number, what: string): string {
  return `${n.toLocaleString("en-US")} ${what}${n === 1 ? "" : "s"}`;
}

function problem(exc: unknown): string {
  if (exc instanceof ApiError) return exc.message;
  return String(exc);
}
