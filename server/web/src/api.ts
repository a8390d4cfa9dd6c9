/**
 * The REST API as the grid uses it. The browser signs in with the session cookie (set by
 * POST /api/auth/login, HttpOnly, sent by the browser with every same-origin request); every
 * change made with it carries the session's CSRF token in X-Plancube-CSRF, which this page keeps
 * in memory only (from the login answer, or GET /api/auth/me after a reload). Every request also
 * names this page's session (X-Plancube-Session, random per page load): the server then does not
 * count the page's own earlier commits as conflicts of a write on an older base, while another
 * tab of the same user is another session. Every failure becomes an ApiError carrying the
 * server's one error shape {"error": {"code", "message", "details"}}; a 401 (a session that
 * ended) or a refused CSRF token also tells `onSignInNeeded`, so the page can ask to sign in
 * again without losing what it holds.
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
export type TraceNode = ShownTraceNode | HiddenTraceNode;

export interface ShownTraceNode {
  hidden?: undefined;
  cube: string;
  elements: string[];
  value: CellValue;
  kind: TraceKind;
  weight?: number;
  rule?: string;
  formula?: string;
  children?: TraceNode[];
  truncated?: boolean;
}

/** A cell the user may not see (element security): its kind and weight only, nothing below. */
export interface HiddenTraceNode {
  hidden: true;
  cube: string;
  kind: TraceKind;
  weight?: number;
}

export type TraceKind = "consolidation" | "rule" | "input";

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
    /** Seconds to wait before trying again (Retry-After), when the server says. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

const LOGIN = "/api/auth/login";

function retryAfter(response: Response, details: Record<string, unknown> | undefined): number | null {
  const header = Number(response.headers.get("Retry-After"));
  if (Number.isFinite(header) && header > 0) return header;
  const detail = Number(details?.retry_after);
  return Number.isFinite(detail) && detail > 0 ? detail : null;
}

/** A random session id; getRandomValues also works outside secure contexts (plain http). */
export function newSession(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A signed-in user as GET /api/auth/me and POST /api/auth/login describe them. */
export interface User {
  id: string;
  name: string;
  display_name: string;
  email: string | null;
  server_admin: boolean;
  local: boolean;
}

export type Role = "viewer" | "planner" | "modeler" | "admin";

export interface Me {
  user: User;
  via: string;
  models: { model: string; role: Role }[];
  csrf_token?: string;
}

export interface LoginResult {
  user: User;
  csrf_token: string;
  csrf_header: string;
  expires_at: string;
}

/** The identity provider a server signs in through, as GET /api/auth/config describes it. */
export interface AuthProvider {
  kind: "entra" | "oidc";
  authority: string;
  /** The OIDC issuer's URL (kind oidc). */
  issuer?: string;
  client_id: string | null;
  scopes: string[];
  /** Where a page sends the browser to sign in through the provider; null: not set up. */
  web_sign_in: string | null;
}

/** GET /api/auth/config: how this server signs users in (public: asked before signing in). */
export interface AuthConfig {
  mode: "local" | "entra" | "oidc";
  local_accounts: boolean;
  provider?: AuthProvider;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
export const CSRF_HEADER = "X-Plancube-CSRF";

export class Api {
  /** The session's CSRF token: in memory only, never in storage a script of another page reads. */
  csrf: string | null = null;
  /** Told when the server says this page is not (or no longer) signed in. */
  onSignInNeeded: (error: ApiError) => void = () => {};

  constructor(readonly session: string = newSession()) {}

  /** One request in the server's error shape; `call` is also what admin/api.ts builds on. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const json = body === undefined ? undefined : { body: JSON.stringify(body), type: "application/json" };
    const response = await this.send(method, path, json);
    return (response.status === 204 ? null : await response.json().catch(() => null)) as T;
  }

  /** A file as the body (an import, its preview: import/api.ts); the answer is JSON. */
  async upload<T>(path: string, file: Blob, type: string): Promise<T> {
    const response = await this.send("POST", path, { body: file, type });
    return (await response.json().catch(() => null)) as T;
  }

  /** A file as the body; the answer as it came (a CSV report, say). */
  async uploadRaw(path: string, file: Blob, type: string): Promise<Response> {
    return this.send("POST", path, { body: file, type });
  }

  /** The request; a failure (not 2xx) becomes an ApiError in the server's error shape. */
  private async send(method: string, path: string, body?: { body: BodyInit; type: string }): Promise<Response> {
    const headers: Record<string, string> = { "X-Plancube-Session": this.session };
    if (body !== undefined) headers["Content-Type"] = body.type;
    if (this.csrf !== null && !SAFE_METHODS.has(method)) headers[CSRF_HEADER] = this.csrf;
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body: body?.body });
    } catch (exc) {
      throw new ApiError(0, "network", `the server did not answer (${String(exc)})`);
    }
    if (response.ok) return response;
    const payload = await response.json().catch(() => null);
    const error = payload?.error ?? {};
    const failure = new ApiError(
      response.status,
      error.code ?? "http",
      error.message ?? `${method} ${path}: HTTP ${response.status}`,
      error.details ?? {},
      retryAfter(response, error.details),
    );
    // The sign-in form's own failures are its to show; anything else means sign in (again).
    if (path !== LOGIN && (failure.status === 401 || failure.code === "csrf_failed")) {
      this.onSignInNeeded(failure);
    }
    throw failure;
  }

  // -- signing in ----------------------------------------------------------------------------

  /** Who is signed in (401 sign_in_required if nobody); keeps the session's CSRF token. */
  async me(): Promise<Me> {
    const me = await this.call<Me>("GET", "/api/auth/me");
    if (me.csrf_token) this.csrf = me.csrf_token;
    return me;
  }

  /** Sign in with a local account: the server sets the session cookie; the token is kept. */
  async login(username: string, password: string): Promise<LoginResult> {
    const result = await this.call<LoginResult>("POST", LOGIN, { username, password });
    this.csrf = result.csrf_token;
    return result;
  }

  authConfig(): Promise<AuthConfig> {
    return this.call("GET", "/api/auth/config");
  }

  async logout(): Promise<void> {
    await this.call<null>("POST", "/api/auth/logout");
    this.csrf = null;
  }

  models(): Promise<ModelInfo[]> {
    return this.call("GET", "/api/models");
  }

  cubes(model: string): Promise<CubeInfo[]> {
    return this.call("GET", `/api/models/${enc(model)}/cubes`);
  }

  dimensions(model: string): Promise<DimensionInfo[]> {
    return this.call("GET", `/api/models/${enc(model)}/dimensions`);
  }

  async elements(model: string, dimension: string): Promise<ElementInfo[]> {
    const body = await this.call<{ elements: ElementInfo[] }>(
      "GET",
      `/api/models/${enc(model)}/dimensions/${enc(dimension)}`,
    );
    return body.elements;
  }

  view(model: string, cube: string, spec: unknown): Promise<ViewBody> {
    return this.call("POST", `/api/models/${enc(model)}/cubes/${enc(cube)}/view`, spec);
  }

  write(model: string, cube: string, batch: WriteRequest): Promise<WriteResult> {
    return this.call("POST", `/api/models/${enc(model)}/cubes/${enc(cube)}/cells`, batch);
  }

  history(model: string, cube: string, elements: string[]): Promise<HistoryEntry[]> {
    const query = cellQuery(elements);
    return this.call("GET", `/api/models/${enc(model)}/cubes/${enc(cube)}/cells/history?${query}`);
  }

  trace(model: string, cube: string, elements: string[], depth: number, maxNodes: number) {
    const query = `${cellQuery(elements)}&depth=${depth}&max_nodes=${maxNodes}`;
    return this.call<TraceNode>("GET", `/api/models/${enc(model)}/cubes/${enc(cube)}/trace?${query}`);
  }
}

function cellQuery(elements: string[]): string {
  return elements.map((e) => `e=${enc(e)}`).join("&");
}

function enc(part: string): string {
  return encodeURIComponent(part);
}
