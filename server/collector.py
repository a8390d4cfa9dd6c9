"""Python's cyclic garbage collector, paused while big request bodies are parsed."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_pauses = 0  # parses under way with the cyclic garbage collector paused
_resume = True  # whether the collector was on when the first of them began
_pauses_lock = threading.Lock()


@contextmanager
def collections_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a big body (a model file, a write batch) is
    parsed (in every thread: it is one collector), back on when the last parse under way ends.

    A parse makes millions of objects (for YAML a node, its marks, then the value, per scalar,
    for a write batch a dict, a list and a model per cell), and each
    of Python's full collections walks every live object while holding the GIL: parsing 2 MB of
    YAML in a worker thread made collections of up to a second, in which /api/health and every
    other request waited. The nodes are freed by reference counting as soon as the value is
    built, or live on in the batch (they hold no cycles, but for a YAML alias inside its own
    anchor, which is refused).
    """
    global _pauses, _resume
    with _pauses_lock:
        if _pauses == 0:
            _resume = gc.isenabled()  # (a collector someone else turned off stays off)
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pauses_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
