"""The Procfile's worker (bin/worker, connector/workers.py): how many Celery processes, with what database pool,
and a supervisor that stops them all on one signal and reports a process that died by itself."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from connector.workers import worker_argv, worker_environment, worker_processes
from tests.polling import wait_for
from tests.processes import alive

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for a Celery process: writes its pid, counts the signals it gets, exits 0 half a second after
# the first (as a warm shutdown would), or with the code it is told to.
CHILD = """
import os, signal, sys, time
got = []
signal.signal(signal.SIGTERM, lambda n, f: got.append(n))
signal.signal(signal.SIGINT, lambda n, f: got.append(n))
out = sys.argv[1]
open(out + ".pid", "w").write(str(os.getpid()))
if len(sys.argv) > 2:
    time.sleep(0.3)
    sys.exit(int(sys.argv[2]))
while not got:
    time.sleep(0.01)
time.sleep(0.5)
open(out + ".signals", "w").write(",".join(map(str, got)))
"""


def _children(tmp_path, *codes) -> list[list[str]]:
    return [[sys.executable, "-c", CHILD, str(tmp_path / f"child{n}"), *([str(code)] if code is not None else [])]
            for n, code in enumerate(codes)]


def _supervisor(tmp_path, argvs) -> subprocess.Popen:
    script = f"import sys; from connector.workers import supervise; sys.exit(supervise({argvs!r}, dict(__import__('os').environ)))"
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)


def test_one_process_per_core_up_to_four_unless_set(monkeypatch):
    monkeypatch.delenv("WORKER_PROCESSES", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert worker_processes() == 2
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert worker_processes() == 4
    monkeypatch.setenv("WORKER_PROCESSES", "6")
    assert worker_processes() == 6
    monkeypatch.setenv("WORKER_PROCESSES", "0")
    with pytest.raises(SystemExit):
        worker_processes()


def test_each_process_gets_a_database_pool_as_large_as_its_threads(monkeypatch):
    monkeypatch.delenv("DATABASE_POOL_MAX_SIZE", raising=False)
    assert worker_environment(24) == {"DATABASE_POOL_MAX_SIZE": "24"}
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "10")
    assert worker_environment(24) == {"DATABASE_POOL_MAX_SIZE": "10"}
    monkeypatch.setenv("DATABASE_POOL_MAX_SIZE", "0")  # the operator wants none
    assert worker_environment(24) == {"DATABASE_POOL_MAX_SIZE": "0"}
    argv = worker_argv(concurrency=24, hostname="worker2@%h")
    assert argv[argv.index("--pool") + 1] == "threads" and argv[argv.index("--concurrency") + 1] == "24"
    assert argv[-2:] == ["--hostname", "worker2@%h"]


def test_the_settings_turn_a_pool_size_into_django_s_connection_pool():
    # The test settings run without one (persistent connections, as web): the pool is the worker's.
    assert "pool" not in settings.DATABASES["default"].get("OPTIONS", {})
    env = {**os.environ, "DATABASE_POOL_MAX_SIZE": "7", "DATABASE_URL": "postgres://u@127.0.0.1:5432/x",
           "DJANGO_SETTINGS_MODULE": "connector.settings", "DEBUG": "true"}
    shown = subprocess.run([sys.executable, "-c", "from django.conf import settings as s; d = s.DATABASES['default'];"
                            " print(d['CONN_MAX_AGE'], d['OPTIONS']['pool']['max_size'])"],
                           env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert shown.stdout.split() == ["0", "7"]


def test_a_signal_to_the_supervisor_reaches_every_process_once_and_it_exits_0(tmp_path):
    supervisor = _supervisor(tmp_path, _children(tmp_path, None, None))
    try:
        wait_for(lambda: all((tmp_path / f"child{n}.pid").exists() for n in range(2)), timeout=10)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) == 0
    finally:
        supervisor.kill()
    for n in range(2):
        assert (tmp_path / f"child{n}.signals").read_text() == str(int(signal.SIGTERM))


def test_a_process_that_dies_by_itself_stops_the_others_and_the_supervisor_reports_it(tmp_path):
    supervisor = _supervisor(tmp_path, _children(tmp_path, None, 3))
    try:
        assert supervisor.wait(timeout=10) == 3
    finally:
        supervisor.kill()
    assert (tmp_path / "child0.signals").read_text() == str(int(signal.SIGTERM))  # stopped, not left running


def test_processes_die_with_a_killed_supervisor(tmp_path):
    supervisor = _supervisor(tmp_path, _children(tmp_path, None))
    # The stand-in creates its pid file, then writes it: wait for the number, not the file.
    child = int(wait_for(lambda: (tmp_path / "child0.pid").exists() and (tmp_path / "child0.pid").read_text(),
                         timeout=10))
    supervisor.kill()
    supervisor.wait(timeout=5)
    assert wait_for(lambda: (tmp_path / "child0.signals").read_text() if (tmp_path / "child0.signals").exists()
                    else None, timeout=5) == str(int(signal.SIGTERM))

    assert wait_for(lambda: not alive({child}), timeout=5)  # gone, or a zombie left for its adopter to reap


def test_bin_worker_runs_two_celery_workers_and_stops_them_on_sigterm(tmp_path):
    env = {**os.environ, "WORKER_PROCESSES": "2", "WORKER_CONCURRENCY": "2", "DJANGO_SETTINGS_MODULE": "connector.settings",
           "DEBUG": "true", "DATABASE_URL": os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "REDIS_URL": settings.REDIS_URL}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        # A queue of its own: these workers must not take tasks other tests leave in the test broker.
        worker = subprocess.Popen([sys.executable, "bin/worker", "--without-mingle", "--without-gossip", "--queues",
                                   f"bin-worker-test-{os.getpid()}"], cwd=ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: log.read_text().count("ml-connector worker connected to Redis") == 2, timeout=60)
            text = log.read_text()
            assert "worker: 2 Celery processes of 2 threads each" in text
            assert "worker1@" in text and "worker2@" in text
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        finally:
            worker.kill()
    assert log.read_text().count("Warm shutdown") == 2
