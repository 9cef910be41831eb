"""In-memory state for a stand-in: one lock, plain JSON-able data, optionally saved to a file so a
restart keeps it."""

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable

# How often a dirty state is written to its file. Writing on every change would make the stand-ins
# slow under benchmark load; a restart loses at most this much.
SAVE_INTERVAL_SECONDS = 0.5

log = logging.getLogger("sandbox.store")


class Store:
    """Holds `data` (a dict of JSON values). Change it only inside `with store.lock:` and call
    `store.changed()` afterwards."""

    def __init__(self, initial: Callable[[], dict], path: str | None = None, seed: str = "sandbox"):
        self.lock = threading.RLock()
        self.path = path
        self.seed = seed
        self._initial = initial
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        self.data = self._load() or initial()

    def _load(self) -> dict | None:
        if not self.path or not os.path.exists(self.path):
            return None
        with open(self.path, encoding="utf-8") as handle:
            data = json.load(handle)
        log.info("state loaded from %s", self.path)
        return data

    def reset(self) -> None:
        with self.lock:
            self.data = self._initial()
            self.changed()

    def next_id(self, kind: str, start: int = 1) -> int:
        """Deterministic ids: a counter per kind."""
        with self.lock:
            counters = self.data.setdefault("counters", {})
            counters[kind] = counters.get(kind, start - 1) + 1
            return counters[kind]

    def secret(self, kind: str, length: int = 32) -> str:
        """A token that is the same in every run with the same seed, yet not guessable from its id."""
        number = self.next_id(f"secret:{kind}")
        digest = hashlib.sha256(f"{self.seed}:{kind}:{number}".encode()).hexdigest()
        return digest[:length]

    def changed(self) -> None:
        if self.path:
            self._dirty.set()

    def save(self) -> None:
        if not self.path:
            return
        with self.lock:
            text = json.dumps(self.data)
            self._dirty.clear()
        directory = os.path.dirname(os.path.abspath(self.path))
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".state-")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, self.path)

    def _save_loop(self) -> None:
        while not self._stop.is_set():
            if self._dirty.wait(timeout=SAVE_INTERVAL_SECONDS) and not self._stop.is_set():
                self.save()
                self._stop.wait(SAVE_INTERVAL_SECONDS)

    def start(self) -> None:
        if self.path and self._saver is None:
            self._stop.clear()
            self._saver = threading.Thread(target=self._save_loop, name="state-saver", daemon=True)
            self._saver.start()

    def stop(self) -> None:
        self._stop.set()
        if self._saver is not None:
            self._dirty.set()  # wakes the saver so it sees the stop
            self._saver.join(timeout=2)
            self._saver = None
        self.save()
