"""The Procfile's `worker`: one Celery worker process per CPU core (WORKER_PROCESSES), each running its tasks
on WORKER_CONCURRENCY threads, with a PostgreSQL connection pool as large as its thread pool.

Why several processes: a task mostly waits for Slack, so threads keep many posts in flight, but all the
threads of one process share one core (the GIL); a second core needs a second process. Why a connection
pool: Celery's Django fixup closes the task's database connection after every task (celery/fixups/django.py),
so without one each task opened a new PostgreSQL connection, whose backend process costs PostgreSQL more CPU
than the task's queries; with Django's pool (psycopg_pool), closing hands the connection back instead, and the
pool bounds the process's connections.

One process: this program becomes the Celery worker (same PID, signals go straight to it). Several: it starts
them in their own process groups, passes each signal it gets (SIGTERM, SIGINT, SIGQUIT, SIGHUP) to every
one exactly once, and exits when they have; if one exits by itself, it stops the others and exits with that
status, so the process manager above (honcho, systemd, a container runtime) sees the failure.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys

WORKER_POOL = "threads"
DEFAULT_CONCURRENCY = 24
MAX_DEFAULT_PROCESSES = 4  # one per core up to 4; past that, size it (README, Scaling and operations)
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


def worker_processes() -> int:
    configured = os.environ.get("WORKER_PROCESSES", "").strip()
    if configured:
        processes = int(configured)
        if processes < 1:
            raise SystemExit("WORKER_PROCESSES must be 1 or more")
        return processes
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_PROCESSES))


def worker_concurrency() -> int:
    concurrency = int(os.environ.get("WORKER_CONCURRENCY", "").strip() or DEFAULT_CONCURRENCY)
    if concurrency < 1:
        raise SystemExit("WORKER_CONCURRENCY must be 1 or more")
    return concurrency


def worker_environment(concurrency: int) -> dict[str, str]:
    """What a worker process adds to its environment: a database pool for its threads (connector/settings.py
    reads DATABASE_POOL_MAX_SIZE), unless the operator chose a size (0: no pool)."""
    return {"DATABASE_POOL_MAX_SIZE": os.environ.get("DATABASE_POOL_MAX_SIZE", "").strip() or str(concurrency)}


def worker_argv(*, concurrency: int, hostname: str | None = None, extra: list[str] | tuple[str, ...] = (),
                pool: str = WORKER_POOL) -> list[str]:
    argv = [sys.executable, "-m", "celery", "-A", "connector", "worker", "--loglevel", "INFO", "--pool", pool,
            "--concurrency", str(concurrency)]
    return argv + (["--hostname", hostname] if hostname else []) + list(extra)


def _die_with_parent() -> None:
    """In each child before exec: SIGTERM when this supervisor dies, even by SIGKILL (Linux)."""
    # Not Linux: a killed supervisor leaves its workers to the process manager.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def supervise(argvs: list[list[str]], env: dict[str, str]) -> int:
    children = [subprocess.Popen(argv, env=env, process_group=0, preexec_fn=_die_with_parent)  # noqa: S603
                for argv in argvs]
    # Reaped only by os.wait below (never by Popen.poll), so a pid still here is ours to signal.
    running = {child.pid: child for child in children}
    stopping = False

    def forward(signum, _frame):
        nonlocal stopping
        stopping = True
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    status = 0
    while running:
        pid, wait_status = os.wait()
        child = running.pop(pid, None)
        if child is None:
            continue
        child.returncode = os.waitstatus_to_exitcode(wait_status)
        if not stopping:  # one died by itself: stop the rest, report its status
            stopping, status = True, _exit_status(child.returncode) or 1
            print(f"worker: process {pid} exited with {child.returncode}; stopping the others", flush=True)
            forward(signal.SIGTERM, None)
    if status == 0:
        status = max((_exit_status(c.returncode) for c in children if c.returncode), default=0)
    return status


def _exit_status(returncode: int) -> int:
    """As a shell reports it: 128 + the signal for a process killed by one."""
    return returncode if returncode >= 0 else 128 - returncode


def main(extra: list[str]) -> int:
    processes, concurrency = worker_processes(), worker_concurrency()
    env = {**os.environ, **worker_environment(concurrency)}
    if processes == 1:
        argv = worker_argv(concurrency=concurrency, extra=extra)
        os.execve(argv[0], argv, env)  # noqa: S606 (fixed arguments)
    print(f"worker: {processes} Celery processes of {concurrency} threads each", flush=True)
    return supervise([worker_argv(concurrency=concurrency, hostname=f"worker{n}@%h", extra=extra)
                      for n in range(1, processes + 1)], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
