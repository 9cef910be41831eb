"""Racing two callers: what two workers or two browsers doing the same thing at the same moment get."""

import threading

from django.db import connection


def at_once(call, times: int = 2, timeout: float = 20) -> list:
    """`call()` in `times` threads released together; their results (an exception is a result too), in the
    order they finished. Each thread closes its own database connection."""
    barrier, results, lock = threading.Barrier(times), [], threading.Lock()

    def run():
        try:
            barrier.wait(timeout)
            result = call()
        except Exception as exc:  # the race's loser may raise: that is what is compared
            result = exc
        finally:
            connection.close()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
