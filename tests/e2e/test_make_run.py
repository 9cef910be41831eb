"""`make run` as a newcomer, an IDE or a process manager starts it, and stopping it by the PID that was
started: every process it started is gone within 5 s, its ports are free, and it says "stopped"."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sandbox.stack import ROOT, Stack, StackConfig, free_port
from tests.processes import alive, descendants

STOP_WITHIN = 5  # seconds


@pytest.fixture(scope="module")
def redis_url():
    """A redis-server of its own: the unit tests' Redis database may be flushed meanwhile (by tests running
    in parallel with these)."""
    redis = Stack(StackConfig(name="make_run"))  # only for a redis-server of its own
    redis.start_redis()
    yield redis.redis_url
    redis.stop()


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _default_interrupt() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("command", "stop_signal"), [
    ([sys.executable, "bin/run"], signal.SIGINT),
    ([sys.executable, "bin/run"], signal.SIGTERM),
    (["make", "--no-print-directory", "run"], signal.SIGINT),
    (["make", "--no-print-directory", "run"], signal.SIGTERM),
], ids=["bin/run SIGINT", "bin/run SIGTERM", "make run SIGINT", "make run SIGTERM"])
def test_a_signal_to_the_started_pid_stops_everything(command, stop_signal, tmp_path, redis_url):
    ports = {"PORT": free_port(), "SANDBOX_FRESHBOOKS_PORT": free_port(), "SANDBOX_SLACK_PORT": free_port()}
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "MFLAGS", "DJANGO_"))}
    env |= {name: str(port) for name, port in ports.items()} | {
        "DEBUG": "true", "SANDBOX": "true", "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url,  # not the unit tests' broker (pytest set it)
        "SANDBOX_FRESHBOOKS_STATE_FILE": str(tmp_path / "fb.json"),
        "SANDBOX_SLACK_STATE_FILE": str(tmp_path / "slack.json"),
        "WEB_CONCURRENCY": "1", "WORKER_CONCURRENCY": "1",
    }
    log = (tmp_path / "run.log").open("w+")
    # Its own session so that cleanup can reach anything left behind; the signal goes to the PID only.
    # SIGINT as a terminal or an IDE leaves it: a suite started in the background by a non-interactive shell
    # inherits it ignored, and a make that starts with SIGINT ignored keeps ignoring it.
    started = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=_default_interrupt)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert started.poll() is None, f"it ended early:\n{Path(log.name).read_text()}"
            try:
                answers = [requests.get(f"http://127.0.0.1:{port}/", timeout=5) for port in ports.values()]
                if all(answer.status_code < 500 for answer in answers):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"not up within 120 s:\n{Path(log.name).read_text()}"
            time.sleep(0.5)
        time.sleep(1)  # the worker and beat come up alongside: give them a moment to be running too
        processes = descendants(started.pid)
        assert len(processes) >= 5  # web, worker, beat and the two stand-ins at least

        os.kill(started.pid, stop_signal)
        stop_asked = time.monotonic()
        status = started.wait(timeout=STOP_WITHIN + 5)
        while alive(processes) and time.monotonic() - stop_asked < STOP_WITHIN:
            time.sleep(0.1)

        assert alive(processes) == set(), "processes left running"
        assert time.monotonic() - stop_asked <= STOP_WITHIN
        assert [port for port in ports.values() if not port_free(port)] == []
        output = Path(log.name).read_text()
        assert output.rstrip().splitlines()[-1] == "ml-connector stopped."
        assert "Error" not in output.split("ml-connector stopped.")[-1]
        if command[-1] == "bin/run":
            assert status == 0
        else:
            # GNU make re-raises a signal it was sent once its recipe has ended: its own status is the
            # signal's; everything it started has stopped cleanly (the recipe exited 0, no "Error").
            assert status == -stop_signal
    finally:
        if started.poll() is None:
            os.killpg(started.pid, signal.SIGKILL)
        log.close()
