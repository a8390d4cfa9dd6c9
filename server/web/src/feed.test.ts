import { afterEach, expect, test, vi } from "vitest";
import { LiveFeed } from "./feed";
import type { JobStatus } from "./import/spec";

afterEach(() => vi.unstubAllGlobals());

/** A socket that records what is sent and lets the test deliver messages. */
class FakeSocket {
  static OPEN = 1;
  static CONNECTING = 0;
  static last: FakeSocket | null = null;
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }
  close(): void {}
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  deliver(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

test("a job message reaches the page whichever view is watched; view answers need their id", () => {
  vi.stubGlobal("WebSocket", FakeSocket);
  vi.stubGlobal("location", { protocol: "http:", host: "plan.example:8000" });
  const jobs: JobStatus[] = [];
  const snapshots: unknown[] = [];
  const feed = new LiveFeed("demo", {
    snapshot: (view) => snapshots.push(view),
    cells: () => {},
    error: () => {},
    connected: () => {},
    job: (job) => jobs.push(job),
  });
  const socket = FakeSocket.last as FakeSocket;
  expect(socket.url).toBe("ws://plan.example:8000/api/models/demo/feed");
  feed.watch("PnL", { rows: [], columns: [], filters: {} } as never);
  socket.open();
  expect(socket.sent).toEqual([{ op: "subscribe", id: "v1", cube: "PnL", view: { rows: [], columns: [], filters: {} } }]);
  const job = { id: "j1", state: "running", phase: "validating", percent: 15 } as JobStatus;
  socket.deliver({ type: "job", job });
  socket.deliver({ type: "snapshot", id: "v0", view: { stale: true } });
  socket.deliver({ type: "snapshot", id: "v1", view: { fresh: true } });
  expect(jobs).toEqual([job]);
  expect(snapshots).toEqual([{ fresh: true }]);
});
