"""Group commit: writers of one model who arrive while a commit is under way share the next one.

Commits of a model are serialized (the conflict check and the commit order need it), and each
costs a transaction's fixed price: its statements, a durable flush, an engine update and
consolidated rules recomputed. Paid once per writer, that price caps a model at a few dozen
writes a second however many planners wait. So writers queue here, and whoever finds nobody
committing leads: it takes everyone queued (up to ``MAX_GROUP_CELLS``), commits them together —
one transaction, each writer still its own commit with its own id and conflict check — answers
them all, and hands the lead to the first writer that queued meanwhile. Nobody waits for more
than the commit in progress plus their own group; alone, a writer commits at once.

There is no committer thread: the leader is a request's own thread, so an idle model costs
nothing and a failure surfaces in the request that runs into it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_GROUP_CELLS = 50_000  # a group stops growing past this many cells (a bigger batch: alone)


@dataclass(eq=False)
class Pending:
    """One writer's place in line: what to commit and, once answered, the answer."""

    request: Any
    size: int = 1  # cells, to bound a group
    result: Any = None
    error: BaseException | None = None
    answered: bool = False
    # set when answered, or when handed the lead of the next group (then not answered yet)
    _wake: threading.Event = field(default_factory=threading.Event)

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.answered = result, error, True
        self._wake.set()


class CommitQueue:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: list[Pending] = []
        self._leading = False  # while True, the lead passes from group to group

    def submit(self, item: Pending, commit: Callable[[Sequence[Pending]], None]) -> Any:
        """Commit ``item`` in the next group, ``commit`` answering every item of a group
        (``Pending.finish``); return its result or raise its error."""
        with self._mutex:
            self._waiting.append(item)
            lead = not self._leading
            self._leading = True
        if not lead:
            item._wake.wait()
            lead = not item.answered
        if lead:  # ``item`` is first in line, so in the group it leads
            self._lead(commit)
        if item.error is not None:
            raise item.error
        return item.result

    def _lead(self, commit: Callable[[Sequence[Pending]], None]) -> None:
        with self._mutex:
            group = [self._waiting.pop(0)]
            size = group[0].size
            while self._waiting and size + self._waiting[0].size <= MAX_GROUP_CELLS:
                group.append(self._waiting.pop(0))
                size += group[-1].size
        try:
            commit(group)
        except BaseException as exc:  # every writer of the group hears of it
            for item in group:
                if not item.answered:
                    item.finish(error=exc)
        finally:
            for item in group:  # one that ``commit`` left unanswered would wait for ever
                if not item.answered:
                    item.finish(error=RuntimeError("the group commit did not answer this write"))
            with self._mutex:
                if self._waiting:  # the first in line leads the next group
                    self._waiting[0]._wake.set()
                else:
                    self._leading = False
