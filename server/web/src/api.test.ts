import { afterEach, expect, test, vi } from "vitest";
import { Api } from "./api";

afterEach(() => vi.unstubAllGlobals());

function recordHeaders(): Record<string, string>[] {
  const sent: Record<string, string>[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (_path: string, init: RequestInit) => {
      sent.push(init.headers as Record<string, string>);
      return new Response("[]", { status: 200 });
    }),
  );
  return sent;
}

test("every request names the user and this page's session", async () => {
  const sent = recordHeaders();
  let user = "ann";
  const api = new Api(() => user);
  await api.models();
  user = "bob";
  await api.cubes("demo");
  expect(sent.map((h) => h["X-Plancube-User"])).toEqual(["ann", "bob"]);
  const [first, second] = sent.map((h) => h["X-Plancube-Session"]);
  expect(first).toMatch(/^[0-9a-f]{32}$/);
  expect(second).toBe(first);
});

test("two pages (two Api objects) are two sessions", async () => {
  const sent = recordHeaders();
  await new Api(() => "ann").models();
  await new Api(() => "ann").models();
  expect(sent[0]["X-Plancube-Session"]).not.toBe(sent[1]["X-Plancube-Session"]);
});
