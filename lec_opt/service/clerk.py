"""The service's one writer: a thread that does every write in the order it was asked for.

No two writes race (SQLite has one writer anyway, and interval t clears from t - 1's SoC). Readings
posted while the clerk is busy wait in its queue and are then stored together, in one transaction
(group commit): the cost of a commit is shared by the posts of a busy moment, and each poster is
answered after that commit, so a reading acknowledged is a reading stored. Any other write (a
deadline, a correction, a token) is done alone, in its turn.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from lec_opt.service.readings import Posted

log = logging.getLogger(__name__)
MAX_POSTS_PER_COMMIT = 1000  # a busy queue is stored in commits of at most this many posts


@dataclass
class Task:
    """A write other than readings, done alone; ``future`` gets its return value or its error."""

    run: Callable[[], Any]
    future: Future = field(default_factory=Future)


class Clerk:
    """The writer thread: ``store(posts)`` stores a batch of posts (and answers them), tasks run alone."""

    def __init__(self, store: Callable[[list[Posted]], None]) -> None:
        self._store = store
        self._queue: queue.SimpleQueue[Posted | Task | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="lec-opt-clerk", daemon=True)

    def start(self) -> None:
        """Start taking writes."""
        self._thread.start()

    def stop(self) -> None:
        """Finish the writes already asked for, then stop."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def post(self, posted: Posted) -> Future:
        """Queue a post's readings; its future gets the answer once they are stored (and cleared, if due)."""
        self._queue.put(posted)
        return posted.future

    def later(self, run: Callable[[], Any]) -> None:
        """Run ``run`` in the clerk's turn; nobody waits for it (an error it raises is logged)."""
        task = Task(run)
        task.future.add_done_callback(_log_error)
        self._queue.put(task)

    def call(self, run: Callable[[], Any]) -> Any:
        """Run ``run`` in the clerk's turn and return its value (or raise its error); blocks the caller."""
        task = Task(run)
        self._queue.put(task)
        return task.future.result()

    def _work(self) -> None:
        held: Posted | Task | None = self._queue.get()
        while held is not None:
            if isinstance(held, Task):
                _settle(held)
                held = self._queue.get()
                continue
            batch = [held]
            held = None
            while len(batch) < MAX_POSTS_PER_COMMIT:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, Posted):
                    held = nxt if nxt is not None else _STOP
                    break
                batch.append(nxt)
            store_or_fail(self._store, batch)
            if held is None:
                held = self._queue.get()
            elif held is _STOP:
                held = None


def store_or_fail(store: Callable[[list[Posted]], None], batch: list[Posted]) -> None:
    """``store(batch)``; an error it lets out goes to every post it left unanswered (the clerk goes on)."""
    try:
        store(batch)
    except BaseException as err:  # noqa: BLE001 - each poster gets the error; the clerk takes the next writes
        for posted in batch:
            if not posted.future.done():
                posted.future.set_exception(err)


def _settle(task: Task) -> None:
    try:
        task.future.set_result(task.run())
    except BaseException as err:  # noqa: BLE001 - handed to the caller waiting on the future
        task.future.set_exception(err)


def _log_error(future: Future) -> None:
    if future.exception() is not None:
        log.error("a write of the clerk failed", exc_info=future.exception())


_STOP = Task(lambda: None)  # the stop mark met while gathering a batch: store the batch, then stop
