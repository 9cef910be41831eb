"""Drains a worker process schedules for later, kept in the process and run on its own pool when due.

A paced channel's next post is due about a second after its last; sent to the broker as a Celery ETA
message, each such drain cost the worker more CPU (publish, receive, the unacknowledged-message
bookkeeping, the ack) than the drain itself. In the Procfile's worker (the threads pool) the drain is
instead kept here, in a heap watched by one thread, and handed to the worker's pool at its due time.

Nothing is lost with the process: the database is the truth and the drain's claim in Redis only lasts until
its due time plus its lease (pacing.claim_drain), after which the next kick or the sweep schedules it
again. A worker that stops warmly hands what is still waiting to the broker (`stop` returns it).

Elsewhere (web, beat, other pools, tests) none runs, and `schedule` says so: the caller sends an ETA task.
"""

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class DueDrain:
    due: float  # time.monotonic()
    seq: int  # keeps drains due at the same moment in the order they were scheduled
    team_id: str = field(compare=False)
    channel_id: str = field(compare=False)
    claim: str = field(compare=False)  # the drain's claim token (pacing.claim_drain)

    def countdown(self) -> float:
        return max(0.0, self.due - time.monotonic())


class DrainTimers:
    """One thread waiting for the earliest due drain; `run(team_id, channel_id, claim)` is called for it
    through `submit` (the worker's pool), never in this thread."""

    def __init__(self, *, run: Callable[[str, str, str], None], submit: Callable[[Callable[[], None]], object]):
        self._run = run
        self._submit = submit
        self._heap: list[DueDrain] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="drain-timers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, team_id: str, channel_id: str, claim: str, countdown: float) -> bool:
        """Keep the drain until due; False once stopping (the caller sends it to the broker)."""
        drain = DueDrain(time.monotonic() + countdown, next(self._seq), team_id, channel_id, claim)
        with self._wake:
            if self._stopping:
                return False
            heapq.heappush(self._heap, drain)
            if self._heap[0] is drain:
                self._wake.notify()
        return True

    def stop(self) -> list[DueDrain]:
        """Stop handing out drains; returns those still waiting, earliest first."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()
        with self._wake:
            waiting, self._heap = sorted(self._heap), []
        return waiting

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (not self._heap or self._heap[0].due > time.monotonic()):
                    self._wake.wait(timeout=self._heap[0].due - time.monotonic() if self._heap else None)
                if self._stopping:
                    return
                due = []
                while self._heap and self._heap[0].due <= time.monotonic():
                    due.append(heapq.heappop(self._heap))
            for drain in due:
                self._hand(drain)

    def _hand(self, drain: DueDrain) -> None:
        try:
            self._submit(lambda: self._run(drain.team_id, drain.channel_id, drain.claim))
        except Exception:  # the pool is shutting down: its claim expires and the sweep schedules it again
            logger.exception("drain_timers.submit_failed", extra={"channel": drain.channel_id})


_running: DrainTimers | None = None


def drain_timers_start(timers: DrainTimers) -> None:
    global _running
    timers.start()
    _running = timers


def drain_timers_stop() -> list[DueDrain]:
    """Stop this process's timers; returns the drains still waiting (for the broker)."""
    global _running
    timers, _running = _running, None
    return timers.stop() if timers is not None else []


def drain_later(team_id: str, channel_id: str, claim: str, countdown: float) -> bool:
    """Keep this drain in the process until due, when this process runs timers; False when it does not."""
    timers = _running
    return timers is not None and timers.add(team_id, channel_id, claim, countdown)
