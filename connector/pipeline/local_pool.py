"""Work a worker process runs on its own pool instead of sending it through the broker: the drains it
schedules for later, and the events of an inbox slice it took.

Each Celery message cost the worker more CPU (publish, receive, the unacknowledged-message bookkeeping, the
ack) than the drain it carried, and about a third of an event's processing. In the Procfile's worker (the
threads pool) a drain due later is kept here, in a heap watched by one thread, and handed to the worker's
pool at its due time; an inbox slice's events are handed to the pool as its share of threads allows.

Nothing is lost with the process: the database is the truth. A drain's claim in Redis lasts only until its
due time plus its lease (pacing.claim_drain), after which the next kick or the sweep schedules it again; an
event left `received` is queued again by the sweep. A worker that stops warmly gives back what has not
started (`local_pool_stop`): the drains to the broker, the events to their inboxes.

Elsewhere (web, beat, other pools, tests) no local pool runs, and `drain_later` and `events_here` say so:
the caller sends Celery tasks.
"""

import collections
import functools
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


@dataclass(frozen=True)
class Stopped:
    """What had not started when the local pool stopped: drains earliest first, events by tenant in order."""

    drains: list[DueDrain]
    events: dict[int, list[int]]


class LocalPool:
    """`run_drain(team_id, channel_id, claim)` and `run_event(inbound_event_id)` run through `submit` (the
    worker's pool); one thread waits for the earliest due drain.

    Events, and drains due now, start only while fewer than `share` pieces of this pool's work run (the rest
    of the events wait here, in order; a drain due now that finds no room goes to the broker, for any worker):
    the threads beyond the share are kept for the broker's tasks and for drains coming due, which are handed
    to the pool whatever runs, since a paced post late by a moment delays every later post of its channel."""

    def __init__(self, *, submit: Callable[[Callable[[], None]], object], share: int,
                 run_drain: Callable[[str, str, str], None], run_event: Callable[[int], None]):
        self._submit = submit
        self._share = max(1, share)
        self._run_drain = run_drain
        self._run_event = run_event
        self._heap: list[DueDrain] = []
        self._seq = itertools.count()
        # Events not started: seq -> (tenant, event, what to call as it starts); the first `_unhanded` seqs
        # in order are not yet handed to the pool.
        self._queued: dict[int, tuple[int, int, Callable[[], None] | None]] = {}
        self._unhanded: collections.deque[int] = collections.deque()
        self._busy = 0  # events and drains handed to the pool and not finished
        self._lock = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._timers, name="local-pool-timers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def drain_later(self, team_id: str, channel_id: str, claim: str, countdown: float) -> bool:
        """Keep the drain until due; False once stopping (the caller sends it to the broker)."""
        drain = DueDrain(time.monotonic() + countdown, next(self._seq), team_id, channel_id, claim)
        with self._lock:
            if self._stopping:
                return False
            heapq.heappush(self._heap, drain)
            if self._heap[0] is drain:
                self._lock.notify()
        return True

    def events_here(self, tenant_id: int, inbound_event_ids: list[int], *, last_started: Callable[[], None]) -> bool:
        """Process these events on the pool, started in this order; `last_started()` runs when the last
        starts. False once stopping."""
        with self._lock:
            if self._stopping:
                return False
            for n, pk in enumerate(inbound_event_ids, start=1):
                seq = next(self._seq)
                self._queued[seq] = (tenant_id, pk, last_started if n == len(inbound_event_ids) else None)
                self._unhanded.append(seq)
        self._feed()
        return True

    def drain_now(self, team_id: str, channel_id: str, claim: str) -> bool:
        """Run the drain on the pool now, if this pool's share has room; False when it has none."""
        with self._lock:
            if self._stopping or self._room() <= 0:
                return False
            self._busy += 1
        self._hand_drain(team_id, channel_id, claim)
        return True

    def events_room(self) -> int:
        """How many more events would start now (none wait for a thread)."""
        with self._lock:
            return self._room()

    def _room(self) -> int:
        return max(0, self._share - self._busy - len(self._unhanded))

    def stop(self) -> Stopped:
        with self._lock:
            self._stopping = True
            self._lock.notify()
        self._thread.join()
        with self._lock:
            drains, self._heap = sorted(self._heap), []
            queued, self._queued = self._queued, {}
            self._unhanded.clear()
        events: dict[int, list[int]] = {}
        for _seq, (tenant_id, pk, _) in sorted(queued.items()):
            events.setdefault(tenant_id, []).append(pk)
        return Stopped(drains=drains, events=events)

    def _feed(self) -> None:
        with self._lock:
            handing = []
            while self._unhanded and self._busy < self._share and not self._stopping:
                handing.append(self._unhanded.popleft())
                self._busy += 1
        for seq in handing:
            if not self._hand(functools.partial(self._event, seq)):
                with self._lock:  # left in _queued: given back when the worker stops
                    self._busy -= 1

    def _event(self, seq: int) -> None:
        try:
            with self._lock:
                taken = self._queued.pop(seq, None)
            if taken is None:  # given back by stop(), which rang for it
                return
            _, pk, last_started = taken
            if last_started is not None:
                last_started()
            self._run_event(pk)
        finally:
            self._finished()

    def _finished(self) -> None:
        with self._lock:
            self._busy -= 1
        self._feed()  # the room it leaves may start an event waiting

    def _timers(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (not self._heap or self._heap[0].due > time.monotonic()):
                    self._lock.wait(timeout=self._heap[0].due - time.monotonic() if self._heap else None)
                if self._stopping:
                    return
                due = []
                while self._heap and self._heap[0].due <= time.monotonic():
                    due.append(heapq.heappop(self._heap))
                self._busy += len(due)
            for drain in due:
                self._hand_drain(drain.team_id, drain.channel_id, drain.claim)

    def _hand_drain(self, team_id: str, channel_id: str, claim: str) -> None:
        if not self._hand(functools.partial(self._drain, team_id, channel_id, claim)):
            with self._lock:
                self._busy -= 1

    def _drain(self, team_id: str, channel_id: str, claim: str) -> None:
        try:
            self._run_drain(team_id, channel_id, claim)
        finally:
            self._finished()

    def _hand(self, work: Callable[[], None]) -> bool:
        try:
            self._submit(work)
        except Exception:  # the pool is shutting down: the sweep finds the work again
            logger.exception("local_pool.submit_failed")
            return False
        return True


_running: LocalPool | None = None


def local_pool_start(pool: LocalPool) -> None:
    global _running
    pool.start()
    _running = pool


def local_pool_stop() -> Stopped:
    """Stop this process's local pool; returns what had not started (for the broker and the inboxes)."""
    global _running
    pool, _running = _running, None
    return pool.stop() if pool is not None else Stopped(drains=[], events={})


def events_room() -> int:
    """How many more events this process's local pool would start now (0 when it runs none)."""
    pool = _running
    return pool.events_room() if pool is not None else 0


def drain_now(team_id: str, channel_id: str, claim: str) -> bool:
    """Run this drain on this process's pool now, when it runs a local pool with room; False otherwise."""
    pool = _running
    return pool is not None and pool.drain_now(team_id, channel_id, claim)


def drain_later(team_id: str, channel_id: str, claim: str, countdown: float) -> bool:
    """Keep this drain in the process until due, when this process runs a local pool; False when it does not."""
    pool = _running
    return pool is not None and pool.drain_later(team_id, channel_id, claim, countdown)


def events_here(tenant_id: int, inbound_event_ids: list[int], *, last_started: Callable[[], None]) -> bool:
    """Process these events on this process's pool, when it runs a local pool; False when it does not."""
    pool = _running
    return pool is not None and pool.events_here(tenant_id, inbound_event_ids, last_started=last_started)
