"""The live feed: commits fan out to the views that live connections watch.

Writes run in worker threads; live connections are coroutines on the event loop. The write path
only *announces* a commit: ``Feed.publish`` appends the event to the model's hub and returns, in
the same few microseconds whatever the number of subscribers. The rest happens off the write
path, in the hub's own thread:

- commits that arrive while the hub is busy are coalesced: one round answers them all;
- subscriptions are grouped by what they watch (cube and view spec): each distinct view is read
  from the engine once per round, compared once with what its subscribers last got, and each
  message is serialized once (per subscription id, which clients mostly share);
- messages go to each socket's bounded ``Outbox`` on the event loop, drained by one sender task
  per socket. A socket ``limit`` messages behind loses them and gets a fresh snapshot once it
  reads again, so a slow or stuck subscriber never holds up a write, the hub or anyone else.

Order, per subscription: a snapshot first, then ``cells`` messages in commit order, each the
difference from what that subscriber was last sent and named by the newest commit its values
include (a client sends that back as its ``base_commit``). The hub's thread is the only one that
reads views and keeps what each subscriber was sent, and it hands messages to an event loop in
one FIFO, so no two messages of a subscription can swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from calc_engine import EngineError
from server.errors import FeedLimit, PlancubeError, from_engine
from server.limits import DEFAULT_MAX_FEED_CELLS, FEED_CELLS_SETTING

log = logging.getLogger(__name__)

MAX_QUEUED = 64  # messages waiting for one socket before it is resnapshotted instead
_SLICE = 16  # messages handed to outboxes per event-loop callback, so requests get a turn
_KNOWN = 256  # announced commits a hub remembers, to name the newest one a view includes
GIVE_WAY_S = 0.05  # longest the feed holds back while HTTP requests are in flight

Read = Callable[[], dict[str, Any]]  # a view answer (``views.query``), or PlancubeError


@dataclass(eq=False)
class Subscription:
    """One view one socket watches, under the client's id for it."""

    outbox: Outbox
    id: str
    key: tuple[object, ...]  # (cube, canonical view spec, rights): subscriptions that share a read
    read: Read
    live: bool = True  # False for a view as of a commit or snapshot: it never changes
    values: np.ndarray | None = None  # what the subscriber was last sent (hub thread only)
    behind: bool = False  # its messages were dropped; a snapshot brings it back (loop only)
    active: bool = True  # False once unsubscribed (loop only)


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def error_body(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, EngineError):
        exc = from_engine(exc)
    assert isinstance(exc, PlancubeError)
    return exc.body()["error"]


class Outbox:
    """One socket's messages on their way out; everything here runs on the socket's loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        limit: int = MAX_QUEUED,
        max_cells: int = DEFAULT_MAX_FEED_CELLS,
    ) -> None:
        self.loop = loop
        self.limit = limit
        self.max_cells = max_cells  # cells all its views may hold together
        self.subscriptions: dict[str, Subscription] = {}
        self.cells: dict[Subscription, int] = {}  # each view's cells (the hub thread's own)
        self._queue: deque[str] = deque()
        self._wake = asyncio.Event()
        self._lagging: list[Subscription] = []

    def post(self, text: str, sub: Subscription | None = None, fresh: bool = False) -> None:
        """Queue a message (of ``sub``; ``fresh``: a snapshot that resets it)."""
        if sub is not None and (not sub.active or (sub.behind and not fresh)):
            return
        if len(self._queue) >= self.limit:
            self._overflow()
            if not fresh:
                return
        if sub is not None and fresh:
            sub.behind = False
        self._queue.append(text)
        self._wake.set()

    def _overflow(self) -> None:
        """Too far behind: drop what waits; each subscription gets a snapshot when it drains."""
        self._queue.clear()
        for sub in self.subscriptions.values():
            if sub.active and not sub.behind:
                sub.behind = True
                self._lagging.append(sub)
        self._wake.set()

    async def drain(
        self, send: Callable[[str], Awaitable[None]], resync: Callable[[Subscription], None]
    ) -> None:
        """Send queued messages in order, forever; ask for snapshots after an overflow."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await send(self._queue.popleft())
            lagging, self._lagging = self._lagging, []
            for sub in lagging:
                if sub.active and sub.behind:
                    resync(sub)


@dataclass
class _Job:
    kind: str  # "commit" | "join" | "leave" | "resync"
    event: dict[str, Any] | None = None
    sub: Subscription | None = None


@dataclass
class _Delivery:
    """Messages for the outboxes of one event loop, handed over in order, a slice at a time."""

    loop: asyncio.AbstractEventLoop
    traffic: Traffic
    items: deque[tuple[Outbox, str, Subscription | None, bool]] = field(default_factory=deque)
    scheduled: bool = False
    held_since: float | None = None
    timer: asyncio.TimerHandle | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    drained: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.drained.set()

    def add(self, batch: list[tuple[Outbox, str, Subscription | None, bool]]) -> None:
        with self.lock:
            self.items.extend(batch)
            self.drained.clear()
            if self.scheduled:
                return
            self.scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop has closed: its sockets are gone
            with self.lock:
                self.items.clear()
                self.drained.set()

    def _run(self) -> None:
        if self.traffic.requests:  # requests first: each message costs the loop a send
            now = time.monotonic()
            self.held_since = self.held_since or now
            left = GIVE_WAY_S - (now - self.held_since)
            if left > 0:
                if self.timer is None:  # go on when the requests are done, or in ``left`` s
                    self.timer = self.loop.call_later(left, self._resume)
                    self.traffic.when_idle(self.loop, self._resume)
                return
        self.held_since = None
        with self.lock:
            n = min(_SLICE, len(self.items))
            batch = [self.items.popleft() for _ in range(n)]
            self.scheduled = bool(self.items)
            if not self.scheduled:
                self.drained.set()
        if self.scheduled:
            self.loop.call_soon(self._run)  # after the requests that came in meanwhile
        for outbox, text, sub, fresh in batch:
            outbox.post(text, sub, fresh)

    def _resume(self) -> None:
        if self.timer is not None:  # (the first of the two callbacks)
            self.timer.cancel()
            self.timer = None
            self._run()

    def wait(self, closed: Callable[[], bool]) -> bool:
        """Until the loop has taken every message (False: the loop is gone)."""
        while not self.drained.wait(0.5):
            if self.loop.is_closed():
                return False
            if closed():
                return True
        return True


class Hub:
    """One model's subscriptions, grouped by view, and the thread that keeps them current."""

    def __init__(self, model: str, traffic: Traffic | None = None) -> None:
        self.model = model
        self._traffic = traffic or Traffic()
        self._jobs: list[_Job] = []
        self._cond = threading.Condition()
        self._closed = False
        # (cube, spec) -> its live subscriptions, as an ordered set; the hub thread's own
        self._groups: dict[tuple[object, ...], dict[Subscription, None]] = {}
        self._known: dict[int, dict[str, Any]] = {}  # the last commits announced, by id
        self._deliveries: dict[asyncio.AbstractEventLoop, _Delivery] = {}
        self._thread = threading.Thread(target=self._run, name=f"feed:{model}", daemon=True)
        self._thread.start()

    # -- any thread, never blocking --------------------------------------------------------
    def publish(self, event: dict[str, Any]) -> None:
        with self._cond:
            commit = event.get("commit")
            if commit is not None:
                self._known[int(commit["id"])] = commit
                while len(self._known) > _KNOWN:
                    del self._known[next(iter(self._known))]
            self._jobs.append(_Job("commit", event=event))
            self._cond.notify()

    def join(self, sub: Subscription) -> None:
        self._put(_Job("join", sub=sub))

    def leave(self, sub: Subscription) -> None:
        self._put(_Job("leave", sub=sub))

    def resync(self, sub: Subscription) -> None:
        self._put(_Job("resync", sub=sub))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _put(self, job: _Job) -> None:
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()

    # -- the hub's thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            # while a loop is still busy handing out the last round, commits pile up and the
            # next round answers them all: the feed's pace follows what the sockets can take
            for loop, delivery in list(self._deliveries.items()):
                if not delivery.wait(lambda: self._closed):
                    del self._deliveries[loop]
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            # requests first: the write that announced this commit has not answered yet, and
            # reading views now would take the GIL from it
            self._traffic.idle.wait(GIVE_WAY_S)
            with self._cond:
                jobs, self._jobs = self._jobs, []
            try:
                self._round(jobs)
            except Exception:  # a bug must not stop the feed of every other view
                log.exception("live feed of model %r", self.model)

    def _round(self, jobs: list[_Job]) -> None:
        events = [j.event for j in jobs if j.event is not None]
        fresh: dict[tuple[object, ...], list[Subscription]] = {}
        for job in jobs:
            sub = job.sub
            if sub is None:
                continue
            group = self._groups.get(sub.key, {})
            if job.kind == "leave":
                sub.outbox.cells.pop(sub, None)
                group.pop(sub, None)
                if not group:
                    self._groups.pop(sub.key, None)
                if sub in fresh.get(sub.key, []):
                    fresh[sub.key].remove(sub)
            elif job.kind == "join" or sub in group or not sub.live:  # (resync: still here)
                fresh.setdefault(sub.key, []).append(sub)
        cubes = {c for e in events for c in e["cubes"]}
        structural = any(e.get("commit") is None for e in events)  # rules: flags may change too
        keys = dict.fromkeys([k for k in self._groups if k[0] in cubes] + list(fresh))
        out: list[tuple[Outbox, str, Subscription | None, bool]] = []
        deadline = time.monotonic() + GIVE_WAY_S
        for key in keys:  # a request that came in meanwhile shares the GIL with one read at most
            if (left := deadline - time.monotonic()) > 0:
                self._traffic.idle.wait(left)
            self._update(key, fresh.get(key, []), structural, out)
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for item in out:
            by_loop.setdefault(item[0].loop, []).append(item)
        for loop, batch in by_loop.items():
            delivery = self._deliveries.get(loop)
            if delivery is None:
                delivery = self._deliveries[loop] = _Delivery(loop, self._traffic)
            delivery.add(batch)

    def _update(
        self,
        key: tuple[object, ...],
        newcomers: list[Subscription],
        structural: bool,
        out: list[tuple[Outbox, str, Subscription | None, bool]],
    ) -> None:
        """Read one view once; send each subscriber what changed since its last message."""
        joining = set(newcomers)
        members = [s for s in self._groups.get(key, {}) if s not in joining]
        if not members and not newcomers:
            return
        try:
            body = (newcomers or members)[0].read()
        except (PlancubeError, EngineError) as exc:  # e.g. an element the view shows is gone
            error = error_body(exc)
            for sub in members + newcomers:
                text = dumps({"type": "error", "id": sub.id, "error": error})
                out.append((sub.outbox, text, sub, True))
                sub.outbox.cells.pop(sub, None)
            self._groups.pop(key, None)
            return
        new = _grid(body["values"])
        label = self._label(int(body["commit"]))
        snapshots: dict[str, str] = {}

        def snapshot(sub: Subscription) -> str:
            if sub.id not in snapshots:
                snapshots[sub.id] = dumps({"type": "snapshot", "id": sub.id, "view": body})
            return snapshots[sub.id]

        by_values: dict[int, list[Subscription]] = {}
        for sub in members:
            by_values.setdefault(id(sub.values), []).append(sub)
        for subs in by_values.values():
            old = subs[0].values
            # a snapshot when the view changed shape or rules changed (flags may differ too)
            renew = structural or old is None or old.shape != new.shape
            cells = [] if renew or old is None else changed(old, new)
            if not renew and not cells:
                continue
            if renew or label is None:  # (or no announced commit to name the change by)
                out.extend((s.outbox, snapshot(s), s, True) for s in subs)
                continue
            texts: dict[str, str] = {}
            for s in subs:
                if s.id not in texts:
                    msg = {"type": "cells", "id": s.id, "commit": label, "cells": cells}
                    texts[s.id] = dumps(msg)
                out.append((s.outbox, texts[s.id], s, False))
        for sub in members:
            sub.outbox.cells[sub] = new.size
        joined = []
        for sub in newcomers:
            refusal = _too_many_cells(sub, new.size)
            if refusal is not None:
                out.append((sub.outbox, refusal, sub, True))
                continue
            sub.outbox.cells[sub] = new.size
            out.append((sub.outbox, snapshot(sub), sub, True))
            if sub.live:
                self._groups.setdefault(key, {})[sub] = None
            joined.append(sub)
        for sub in members + joined:
            sub.values = new

    def _label(self, head: int) -> dict[str, Any] | None:
        """The newest announced commit that values read at ``head`` include (a commit made by
        another process is not announced here: the values may be newer, never older)."""
        with self._cond:
            ids = [i for i in self._known if i <= head]
            return self._known[max(ids)] if ids else None


def _too_many_cells(sub: Subscription, cells: int) -> str | None:
    """The error a newcomer gets when its view would take its socket past its cells, or None.

    Checked once the view is read (its size is known only then) and before it is kept: what the
    feed keeps per subscriber, to send only what changed, is about 25 bytes a cell."""
    held = sum(n for s, n in sub.outbox.cells.items() if s is not sub)
    if held + cells <= sub.outbox.max_cells:
        return None
    refusal = FeedLimit(
        f"subscription {sub.id!r} shows {cells:,} cells and this socket's other views "
        f"{held:,}: one socket may watch at most {sub.outbox.max_cells:,} cells "
        f"({FEED_CELLS_SETTING}); narrow the view or unsubscribe another",
        cells=cells,
        held=held,
        limit=sub.outbox.max_cells,
        setting=FEED_CELLS_SETTING,
    )
    return dumps({"type": "error", "id": sub.id, "error": error_body(refusal)})


def _grid(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=object) if isinstance(values, list) else np.asarray(values)


def changed(old: np.ndarray, new: np.ndarray) -> list[dict[str, Any]]:
    """The cells of ``new`` that differ from ``old`` (same shape), as feed cell changes."""
    diff = np.asarray(old != new, dtype=bool)
    rows, cols = np.nonzero(diff)
    picked = new[rows, cols].tolist()
    return [
        {"row": int(r), "col": int(c), "value": v}
        for r, c, v in zip(rows.tolist(), cols.tolist(), picked, strict=True)
    ]


class Feed:
    """Every model's hub; ``publish`` is all the write path does."""

    def __init__(self, limit: int = MAX_QUEUED) -> None:
        self.limit = limit  # messages queued per socket before it is resnapshotted
        self.traffic = Traffic()
        self._hubs: dict[str, Hub] = {}
        self._lock = threading.Lock()

    def hub(self, model: str) -> Hub:
        with self._lock:
            hub = self._hubs.get(model)
            if hub is None:
                hub = self._hubs[model] = Hub(model, self.traffic)
            return hub

    def publish(self, model: str, event: dict[str, Any]) -> None:
        """Announce a commit (``{"commit": ..., "cubes": [...]}``); nobody listening: nothing."""
        hub = self._hubs.get(model)
        if hub is not None:
            hub.publish(event)

    def close(self) -> None:
        with self._lock:
            hubs, self._hubs = list(self._hubs.values()), {}
        for hub in hubs:
            hub.close()


class Traffic:
    """HTTP requests in flight, counted by ``GiveWay`` on the event loop."""

    def __init__(self) -> None:
        self.requests = 0
        self.idle = threading.Event()  # set while there are none (any thread may wait)
        self.idle.set()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []

    def started(self) -> None:
        self.requests += 1
        self.idle.clear()

    def finished(self) -> None:
        self.requests -= 1
        if self.requests <= 0:
            self.idle.set()
            waiters, self._waiters = self._waiters, []
            for loop, callback in waiters:
                with contextlib.suppress(RuntimeError):  # a loop that has closed
                    loop.call_soon_threadsafe(callback)

    def when_idle(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        """Call back on ``loop`` once no request is in flight (event-loop side)."""
        self._waiters.append((loop, callback))


class GiveWay:
    """ASGI middleware that counts HTTP requests in flight, for the feed to give way to.

    The feed's work — reading views in the hub's thread, one send per subscriber on the event
    loop — would otherwise compete with a write for the GIL and the loop; while any request is
    in flight it holds back, for at most ``GIVE_WAY_S`` at a time, so it cannot starve.
    """

    def __init__(self, app: ASGIApp, feed: Feed) -> None:
        self.app = app
        self.feed = feed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.feed.traffic.started()
        try:
            await self.app(scope, receive, send)
        finally:
            self.feed.traffic.finished()
