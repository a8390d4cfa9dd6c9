"""The change feed: commits fan out to the live connections that watch the model.

Writes run in worker threads; live connections are coroutines on the event loop. ``publish``
is called from a writer's thread after the commit is durable and applied to the engine, and hands
the event to every subscriber's asyncio queue through ``call_soon_threadsafe``. What a subscriber
then sends (the changed cells of its view, totals included) is worked out by the connection
itself, against the engine, so the feed carries only "model M moved to commit N in cubes C".
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    model: str
    queue: asyncio.Queue[dict[str, Any]]
    loop: asyncio.AbstractEventLoop


class Feed:
    def __init__(self) -> None:
        self._subscribers: dict[int, Subscriber] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def subscribe(self, model: str) -> Subscriber:
        sub = Subscriber(next(self._ids), model, asyncio.Queue(), asyncio.get_running_loop())
        with self._lock:
            self._subscribers[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.pop(sub.id, None)

    def publish(self, model: str, event: dict[str, Any]) -> None:
        with self._lock:
            targets = [s for s in self._subscribers.values() if s.model == model]
        for sub in targets:
            try:
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, event)
            except RuntimeError:  # the subscriber's loop has closed
                self.unsubscribe(sub)
