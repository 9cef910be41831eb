"""Gunicorn reads this file from the working directory (Procfile `web`, the stack, the benchmarks): the
access log and gunicorn's own errors go through a logger that redacts webhook tokens from paths."""

import sys

logger_class = "connector.core.access_log.RedactingLogger"


# A request mostly waits on PostgreSQL and Redis. When its answer comes, its thread needs the GIL back, which a
# thread running Python gives up only every switch interval (5 ms by default): with 4 threads, a webhook
# could wait several such turns. At 1 ms, bench/intake.py (closed loop, 2 workers x 4 threads, side by side
# in one run) answered 695 and 834 requests/s with p99 48 and 42 ms, against 589 and 586/s with p99 56 and
# 65 ms at 5 ms.
GIL_SWITCH_INTERVAL_S = 0.001


def post_fork(server, worker):
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
