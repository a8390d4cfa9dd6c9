/**
 * The live feed: one WebSocket per model, watching one view.
 *
 * `watch(cube, spec)` subscribes; the server answers with a snapshot of the view, then after
 * every commit that changes it, with the changed cells (written leaves and recomputed totals).
 * A dropped connection is reopened with growing pauses and the view subscribed again, so the
 * grid gets a fresh snapshot instead of missing commits. The socket signs in with the page's
 * session cookie (same origin, sent by the browser with the handshake); a handshake refused
 * because the session ended looks like any dropped connection, so after signing in again the
 * page calls `reconnect()` rather than waiting for the next pause to end. The user's background
 * imports report their progress over the same socket (`job` messages, for no view in particular).
 */

import type { CommitInfo } from "./api";
import type { JobStatus } from "./import/spec";
import type { CellValue, ViewBody, ViewSpec } from "./view";

export interface CellChange {
  row: number;
  col: number;
  value: CellValue;
}

export interface FeedHandlers {
  snapshot(view: ViewBody): void;
  cells(commit: CommitInfo, cells: CellChange[]): void;
  error(message: string): void;
  connected(live: boolean): void;
  /** A background import of this user's changed (server/jobs.py), whichever view is watched. */
  job?(job: JobStatus): void;
}

type Message =
  | { type: "snapshot"; id: string; view: ViewBody }
  | { type: "cells"; id: string; commit: CommitInfo; cells: CellChange[] }
  | { type: "error"; id: string | null; error: { message: string } }
  | { type: "job"; job: JobStatus };

export class LiveFeed {
  private socket: WebSocket | null = null;
  private watching: { id: string; cube: string; view: ViewSpec } | null = null;
  private serial = 0;
  private retries = 0;
  private closed = false;
  private retry: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly model: string,
    private readonly on: FeedHandlers,
  ) {
    this.open();
  }

  /** Watch a view (replacing the one watched before). */
  watch(cube: string, view: ViewSpec): void {
    const previous = this.watching;
    this.watching = { id: `v${++this.serial}`, cube, view };
    if (this.socket?.readyState !== WebSocket.OPEN) return;
    if (previous) this.sendJson({ op: "unsubscribe", id: previous.id });
    this.subscribe();
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.socket?.close();
  }

  /** Open the connection now if it is down (say, just signed in again), subscribing again. */
  reconnect(): void {
    if (this.closed) return;
    const state = this.socket?.readyState;
    if (state === WebSocket.OPEN || state === WebSocket.CONNECTING) return;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.retries = 0;
    this.open();
  }

  private open(): void {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/api/models/${encodeURIComponent(this.model)}/feed`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.retries = 0;
      this.on.connected(true);
      this.subscribe();
    };
    socket.onmessage = (event) => this.receive(JSON.parse(String(event.data)) as Message);
    socket.onclose = () => {
      if (this.closed) return;
      this.on.connected(false);
      const pause = Math.min(10_000, 500 * 2 ** this.retries++);
      this.retry = setTimeout(() => {
        this.retry = null;
        this.open();
      }, pause);
    };
  }

  private subscribe(): void {
    if (this.watching === null) return;
    const { id, cube, view } = this.watching;
    this.sendJson({ op: "subscribe", id, cube, view });
  }

  private receive(message: Message): void {
    if (message.type === "job") {
      this.on.job?.(message.job);
      return;
    }
    // Answers for a view no longer watched (or an older subscription of it) are dropped.
    if (message.type !== "error" && message.id !== this.watching?.id) return;
    if (message.type === "snapshot") this.on.snapshot(message.view);
    else if (message.type === "cells") this.on.cells(message.commit, message.cells);
    else this.on.error(message.error.message);
  }

  private sendJson(message: object): void {
    this.socket?.send(JSON.stringify(message));
  }
}
