import { afterEach, expect, test, vi } from "vitest";
import { Api, ApiError } from "./api";
import { AdminApi } from "./admin/api";

afterEach(() => vi.unstubAllGlobals());

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Record what is fetched; answer each request with the next of `answers` (else 200 []). */
function server(...answers: Response[]): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (path: string, init: RequestInit) => {
      const body = init.body === undefined ? undefined : JSON.parse(String(init.body));
      sent.push({ method: init.method ?? "GET", path, headers: init.headers as Record<string, string>, body });
      return answers.shift() ?? new Response("[]", { status: 200 });
    }),
  );
  return sent;
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

function error(status: number, code: string, details: Record<string, unknown> = {}, headers = {}): Response {
  return json({ error: { code, message: `${code} message`, details } }, status, headers);
}

const USER = { id: "u1", name: "ann", display_name: "ann", email: null, server_admin: false, local: true };

test("every request names this page's session, and never a user by header", async () => {
  const sent = server();
  const api = new Api();
  await api.models();
  await api.cubes("demo");
  const [first, second] = sent.map((s) => s.headers["X-Plancube-Session"]);
  expect(first).toMatch(/^[0-9a-f]{32}$/);
  expect(second).toBe(first);
  expect(sent.every((s) => !("X-Plancube-User" in s.headers))).toBe(true);
});

test("two pages (two Api objects) are two sessions", async () => {
  const sent = server();
  await new Api().models();
  await new Api().models();
  expect(sent[0].headers["X-Plancube-Session"]).not.toBe(sent[1].headers["X-Plancube-Session"]);
});

test("login posts the name and password and keeps the CSRF token for every change", async () => {
  const sent = server(
    json({ user: USER, csrf_token: "tok1", csrf_header: "x-plancube-csrf", expires_at: "t" }),
    json([]),
    json({ commit: null, head: 3, changed: 0 }),
  );
  const api = new Api();
  const result = await api.login("ann", "secret");
  expect(result.user.name).toBe("ann");
  expect(sent[0]).toMatchObject({ method: "POST", path: "/api/auth/login", body: { username: "ann", password: "secret" } });
  expect(sent[0].headers["X-Plancube-CSRF"]).toBeUndefined();
  await api.models();
  await api.write("demo", "PnL", { base_commit: 1, source: "web", message: "", cells: [] });
  expect(sent[1].headers["X-Plancube-CSRF"]).toBeUndefined(); // a GET changes nothing
  expect(sent[2].headers["X-Plancube-CSRF"]).toBe("tok1");
});

test("me() gives who is signed in and the session's CSRF token (after a reload)", async () => {
  const sent = server(json({ user: USER, via: "session", models: [{ model: "demo", role: "planner" }], csrf_token: "tok2" }));
  const api = new Api();
  const me = await api.me();
  expect(sent[0]).toMatchObject({ method: "GET", path: "/api/auth/me" });
  expect(me.models).toEqual([{ model: "demo", role: "planner" }]);
  expect(api.csrf).toBe("tok2");
});

test("logout posts with the CSRF token and forgets it", async () => {
  const sent = server(new Response(null, { status: 204 }));
  const api = new Api();
  api.csrf = "tok3";
  await api.logout();
  expect(sent[0]).toMatchObject({ method: "POST", path: "/api/auth/logout" });
  expect(sent[0].headers["X-Plancube-CSRF"]).toBe("tok3");
  expect(api.csrf).toBeNull();
});

test("a 401 or a refused CSRF token asks to sign in; a failed sign-in does not", async () => {
  server(
    error(401, "sign_in_required"),
    error(403, "csrf_failed"),
    error(401, "sign_in_failed"),
    error(403, "write_forbidden", { cells: [["Budget"]] }),
  );
  const api = new Api();
  const asked: string[] = [];
  api.onSignInNeeded = (exc) => asked.push(exc.code);
  await expect(api.models()).rejects.toMatchObject({ status: 401, code: "sign_in_required" });
  await expect(api.write("demo", "PnL", { base_commit: 1, source: "web", message: "", cells: [] })).rejects.toMatchObject({
    code: "csrf_failed",
  });
  await expect(api.login("ann", "wrong")).rejects.toMatchObject({ code: "sign_in_failed" });
  await expect(api.models()).rejects.toMatchObject({ code: "write_forbidden", details: { cells: [["Budget"]] } });
  expect(asked).toEqual(["sign_in_required", "csrf_failed"]);
});

test("Retry-After comes with a refused sign-in", async () => {
  server(error(429, "account_locked", { retry_after: 900 }, { "Retry-After": "900" }), error(429, "sign_in_rate_limited", { retry_after: 12 }));
  const api = new Api();
  const locked = await api.login("ann", "x").catch((e) => e);
  expect(locked).toBeInstanceOf(ApiError);
  expect(locked.retryAfter).toBe(900);
  const limited = await api.login("ann", "x").catch((e) => e);
  expect(limited.retryAfter).toBe(12); // from the body when no header is readable
});

test("the admin API: one route per call, changes with the CSRF token", async () => {
  const sent = server();
  const api = new Api();
  api.csrf = "tok";
  const admin = new AdminApi(api);
  await admin.users();
  await admin.addUser({ name: "pia", password: "long enough pw" });
  await admin.changeUser("pia", { disabled: true });
  await admin.groups();
  await admin.addGroup("finance");
  await admin.addMember("finance", "pia");
  await admin.removeMember("finance", "pia");
  await admin.deleteGroup("finance");
  await admin.audit(50);
  await admin.roles("demo");
  await admin.setRole("demo", "finance", "planner");
  await admin.removeRole("demo", "finance");
  await admin.elementRules("demo", "Department");
  await admin.elementRules("demo");
  await admin.replaceElementRules("demo", "Department", [{ element: "R&D", group: "finance", access: "WRITE" }]);
  expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual([
    "GET /api/admin/users",
    "POST /api/admin/users",
    "PATCH /api/admin/users/pia",
    "GET /api/admin/groups",
    "POST /api/admin/groups",
    "PUT /api/admin/groups/finance/members/pia",
    "DELETE /api/admin/groups/finance/members/pia",
    "DELETE /api/admin/groups/finance",
    "GET /api/admin/audit?limit=50",
    "GET /api/models/demo/security/roles",
    "PUT /api/models/demo/security/roles/finance",
    "DELETE /api/models/demo/security/roles/finance",
    "GET /api/models/demo/security/elements?dimension=Department",
    "GET /api/models/demo/security/elements",
    "PUT /api/models/demo/security/elements/Department",
  ]);
  expect(sent[1].body).toEqual({ name: "pia", password: "long enough pw" });
  expect(sent[2].body).toEqual({ disabled: true });
  expect(sent[10].body).toEqual({ role: "planner" });
  expect(sent[14].body).toEqual([{ element: "R&D", group: "finance", access: "WRITE" }]);
  for (const s of sent) {
    expect(s.headers["X-Plancube-CSRF"]).toBe(s.method === "GET" ? undefined : "tok");
  }
});
