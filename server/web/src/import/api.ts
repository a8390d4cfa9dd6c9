/**
 * The import routes as the upload form uses them: the preview (POST …/import/preview), the
 * import itself (POST …/import, its mapping in the query: a dry run to check, `background` to run
 * it as a job), the job (GET and DELETE /api/jobs/{id}) and the CSV report (`report=csv`).
 * The file is sent as the body each time: the server keeps nothing of a file it did not import.
 */

import type { Api } from "../api";
import { type ImportReport, type JobStatus, type LoadSpec, queryOf } from "./spec";

/** POST …/import/preview: how the server reads the file, and a mapping it suggests. */
export interface PreviewBody {
  format: "csv" | "xlsx" | "parquet";
  delimiter: string | null;
  encoding: "utf-8" | "cp1252" | null;
  bom: boolean | null;
  sheet: string | null;
  sheets: string[] | null;
  headers: string[];
  rows: string[][];
  row_count: number;
  dimensions: string[];
  suggestion: LoadSpec;
  unmatched: string[];
}

export interface ReadOptions {
  delimiter?: string | null;
  encoding?: string | null;
  sheet?: string | null;
}

export class ImportApi {
  constructor(private readonly api: Api) {}

  private base(model: string, cube: string): string {
    return `/api/models/${encodeURIComponent(model)}/cubes/${encodeURIComponent(cube)}/import`;
  }

  preview(model: string, cube: string, file: Blob, type: string, options: ReadOptions): Promise<PreviewBody> {
    const q = new URLSearchParams({ rows: "20" });
    for (const [name, value] of Object.entries(options)) if (value) q.set(name, value);
    return this.api.upload(`${this.base(model, cube)}/preview?${q}`, file, type);
  }

  /** A dry run: every problem, nothing written. */
  check(model: string, cube: string, file: Blob, type: string, spec: LoadSpec): Promise<ImportReport> {
    const q = queryOf(spec, { dry_run: true });
    return this.api.upload(`${this.base(model, cube)}?${q}`, file, type);
  }

  /** The dry run's whole problem report as CSV. */
  async report(model: string, cube: string, file: Blob, type: string, spec: LoadSpec): Promise<Blob> {
    const q = queryOf(spec, { dry_run: true, report: "csv" });
    const response = await this.api.uploadRaw(`${this.base(model, cube)}?${q}`, file, type);
    return response.blob();
  }

  /** The import as a job (202): its progress follows at /api/jobs/{id} and over the feed. */
  start(model: string, cube: string, file: File, type: string, spec: LoadSpec, message: string): Promise<JobStatus> {
    const q = queryOf(spec, { background: true, file_name: file.name.slice(0, 255), message });
    return this.api.upload(`${this.base(model, cube)}?${q}`, file, type);
  }

  job(id: string): Promise<JobStatus> {
    return this.api.call("GET", `/api/jobs/${encodeURIComponent(id)}`);
  }

  cancel(id: string): Promise<JobStatus> {
    return this.api.call("DELETE", `/api/jobs/${encodeURIComponent(id)}`);
  }
}
