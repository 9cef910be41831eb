"""Polling for tests that watch other threads or processes: wait until a condition holds, or fail."""

import time


def wait_for(predicate, timeout: float = 30, interval: float = 0.25, message: str = "condition"):
    """The first truthy value of predicate(), polled every `interval` seconds for up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
