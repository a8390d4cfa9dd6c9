/**
 * The REST API as the grid uses it. Every request names the acting user (X-Plancube-User) and
 * this page's session (X-Plancube-Session, random per page load): the server then does not count
 * the page's own earlier commits as conflicts of a write on an older base, while another tab of
 * the same user is another session. Every failure becomes an ApiError carrying the server's one
 * error shape {"error": {"code", "message", "details"}}.
 */

import type { CellValue, ViewBody } from "./view";

export interface ModelInfo {
  name: string;
  dimensions: string[];
  cubes: string[];
}

export interface CubeInfo {
  name: string;
  dimensions: string[];
}

export interface DimensionInfo {
  name: string;
  role: string | null;
}

export interface ElementInfo {
  name: string;
  leaf: boolean;
  parents: string[];
  children: { name: string; weight: number }[];
}

export interface CommitInfo {
  id: number;
  author: string;
  time: string;
  message: string;
  source: string;
}

export interface HistoryEntry {
  commit: CommitInfo;
  old: CellValue;
  new: CellValue;
}

export interface CellWrite {
  elements: string[];
  value: CellValue;
}

export interface WriteRequest {
  base_commit: number;
  source: "web";
  message: string;
  cells: CellWrite[];
}

export interface WriteResult {
  commit: CommitInfo | null;
  head: number;
  changed: number;
}

/** How a cell's number comes about (GET .../trace): children of a total, inputs of a rule. */
export interface TraceNode {
  cube: string;
  elements: string[];
  value: CellValue;
  kind: "consolidation" | "rule" | "input";
  weight?: number;
  rule?: string;
  formula?: string;
  children?: TraceNode[];
  truncated?: boolean;
}

/** A cell another author changed after our base commit (409 write_conflict). */
export interface ConflictCell {
  cube: string;
  elements: string[];
  value: CellValue;
  commit: number;
  author: string;
  time: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A random session id; getRandomValues also works outside secure contexts (plain http). */
export function newSession(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Api {
  constructor(
    private readonly user: () => string,
    readonly session: string = newSession(),
  ) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {
      "X-Plancube-User": this.user(),
      "X-Plancube-Session": this.session,
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (exc) {
      throw new ApiError(0, "network", `the server did not answer (${String(exc)})`);
    }
    const payload = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = payload?.error ?? {};
      throw new ApiError(
        response.status,
        error.code ?? "http",
        error.message ?? `${method} ${path}: HTTP ${response.status}`,
        error.details ?? {},
      );
    }
    return payload as T;
  }

  models(): Promise<ModelInfo[]> {
    return this.request("GET", "/api/models");
  }

  cubes(model: string): Promise<CubeInfo[]> {
    return this.request("GET", `/api/models/${enc(model)}/cubes`);
  }

  dimensions(model: string): Promise<DimensionInfo[]> {
    return this.request("GET", `/api/models/${enc(model)}/dimensions`);
  }

  async elements(model: string, dimension: string): Promise<ElementInfo[]> {
    const body = await this.request<{ elements: ElementInfo[] }>(
      "GET",
      `/api/models/${enc(model)}/dimensions/${enc(dimension)}`,
    );
    return body.elements;
  }

  view(model: string, cube: string, spec: unknown): Promise<ViewBody> {
    return this.request("POST", `/api/models/${enc(model)}/cubes/${enc(cube)}/view`, spec);
  }

  write(model: string, cube: string, batch: WriteRequest): Promise<WriteResult> {
    return this.request("POST", `/api/models/${enc(model)}/cubes/${enc(cube)}/cells`, batch);
  }

  history(model: string, cube: string, elements: string[]): Promise<HistoryEntry[]> {
    const query = cellQuery(elements);
    return this.request("GET", `/api/models/${enc(model)}/cubes/${enc(cube)}/cells/history?${query}`);
  }

  trace(model: string, cube: string, elements: string[], depth: number, maxNodes: number) {
    const query = `${cellQuery(elements)}&depth=${depth}&max_nodes=${maxNodes}`;
    return this.request<TraceNode>("GET", `/api/models/${enc(model)}/cubes/${enc(cube)}/trace?${query}`);
  }
}

function cellQuery(elements: string[]): string {
  return elements.map((e) => `e=${enc(e)}`).join("&");
}

function enc(part: string): string {
  return encodeURIComponent(part);
}
