"""Running the slow account operations (argon2, database writes) away from the screen.

A job is a function of the :class:`~kiosk.store.Store`. ``submit`` returns at once; the
flow collects finished jobs with ``poll`` on its own thread. The store is single-threaded
(its SQLite connection belongs to the thread that opened it), so :class:`ThreadJobs`
opens it on its one worker thread, from the factory it is given, and runs every job
there in order. :class:`InlineJobs` runs each job at once on the caller's thread: the
flow tests use it to run the journeys deterministically, with no screen and no threads.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

Job = Callable[[Any], Any]  # store -> result


@dataclass(frozen=True)
class Done:
    token: Any
    value: Any = None
    error: BaseException | None = None


class Jobs(Protocol):
    def submit(self, token: Any, job: Job) -> None: ...

    def poll(self) -> list[Done]: ...

    @property
    def busy_since(self) -> float | None:
        """``time.monotonic()`` when the job under way started; None while idle (the
        daemon's watchdog stops when a job runs far longer than any should)."""

    def close(self, timeout: float = 10.0) -> bool:
        """Finish what was submitted and close the store; False if that took longer
        than ``timeout`` seconds."""


class InlineJobs:
    def __init__(self, open_store: Callable[[], Any]) -> None:
        self.store = open_store()
        self._done: collections.deque[Done] = collections.deque()

    def submit(self, token: Any, job: Job) -> None:
        try:
            self._done.append(Done(token, job(self.store)))
        except Exception as err:  # noqa: BLE001 - handed to the flow, which explains it
            self._done.append(Done(token, error=err))

    def poll(self) -> list[Done]:
        done = list(self._done)
        self._done.clear()
        return done

    @property
    def busy_since(self) -> float | None:
        return None  # a job runs inside ``submit``

    def close(self, timeout: float = 10.0) -> bool:
        self.store.close()
        return True


class ThreadJobs:
    """One worker thread that owns the store and runs jobs in submission order."""

    def __init__(self, open_store: Callable[[], Any], on_done: Callable[[], None] | None = None) -> None:
        self._open_store = open_store
        self._on_done = on_done  # e.g. wake the UI loop
        self._todo: queue.Queue[tuple[Any, Job] | None] = queue.Queue()
        self._done: collections.deque[Done] = collections.deque()
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._busy = threading.Event()
        self._busy_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="store-jobs", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            raise self._open_error

    def _run(self) -> None:
        try:
            store = self._open_store()
        except BaseException as err:  # noqa: BLE001 - re-raised on the caller's thread
            self._open_error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self._todo.get()
                if item is None:
                    return
                token, job = item
                self._busy_since = time.monotonic()
                self._busy.set()
                try:
                    done = Done(token, job(store))
                except Exception as err:  # noqa: BLE001 - handed to the flow
                    done = Done(token, error=err)
                self._done.append(done)
                self._busy.clear()
                self._busy_since = None
                if self._on_done is not None:
                    self._on_done()
        finally:
            store.close()

    def submit(self, token: Any, job: Job) -> None:
        self._todo.put((token, job))

    def poll(self) -> list[Done]:
        done = []
        while self._done:
            done.append(self._done.popleft())
        return done

    @property
    def idle(self) -> bool:
        return self._todo.empty() and not self._busy.is_set()

    @property
    def busy_since(self) -> float | None:
        """``time.monotonic()`` when the job under way started; None while idle (the
        daemon's watchdog stops when a job runs far longer than any should)."""
        return self._busy_since

    def close(self, timeout: float = 10.0) -> bool:
        """Finish the job under way (and any queued), then close the store. False if the
        thread was still running after ``timeout`` (its transaction is then either
        committed later or rolled back when the process ends)."""
        if self._thread.is_alive():
            self._todo.put(None)
            self._thread.join(timeout)
        return not self._thread.is_alive()
