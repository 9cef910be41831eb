"""The whole system as real processes: both stand-ins, gunicorn, Celery worker and beat, PostgreSQL and a
Redis of its own. Used by the end-to-end tests, the benchmarks and the fault soak.

A stack gets its own PostgreSQL database and its own redis-server on a free port, so it can be killed,
restarted and flushed without touching anything else on the machine.
"""

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

from connector.core.mailbox import Mail, read_mailbox
from connector.workers import (
    WORKER_POOL,
    worker_argv,
    worker_concurrency,
    worker_environment,
    worker_processes,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
START_TIMEOUT = 60  # seconds for a process to become ready
# Fixed keys so a stack's processes share them; a stack never holds real data.
SECRET_KEY = "stack-secret-key-not-for-production-0123456789abcdefghij"
ENCRYPTION_KEY = "Udo6FXIdww1OjgGLuj0kDRkghFclvysBDlhHaatEtN0="
ACTIVITY_CHAIN_KEY = "test-activity-chain-key"  # as connector.settings_test, so tests can verify the chain
SIGNING_SECRET = "sandbox-signing-secret"
METRICS_TOKEN = "stack-metrics-token"  # GET /metrics with `Authorization: Bearer <this>`
FRESHBOOKS_CLIENT = ("sandbox-freshbooks-client-id", "sandbox-freshbooks-client-secret")
SLACK_CLIENT = ("sandbox-slack-client-id", "sandbox-slack-client-secret")


# The Procfile's worker (bin/worker): this many Celery processes of this many threads each, with a database
# pool per process; the stacks run each of those processes themselves, so a test can kill or restart one.
PROCFILE_POOL, PROCFILE_CONCURRENCY, PROCFILE_PROCESSES = WORKER_POOL, worker_concurrency(), worker_processes()


def checkout_database_url(name: str) -> str:
    """A PostgreSQL database named after this checkout (mlc_<checkout>_<name>), on TEST_DATABASE_URL's server:
    two checkouts sharing one server never meet."""
    checkout = "".join(c if c.isalnum() else "_" for c in ROOT.name.lower())
    base = urlsplit(os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres")
    return urlunsplit(base._replace(path=f"/mlc_{checkout}_{name}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = START_TIMEOUT, ok=(200,)) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code in ok:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s ({last})")


@dataclass
class StackConfig:
    name: str = "stack"
    database_url: str = field(default_factory=lambda: checkout_database_url("stack"))
    worker_pool: str = PROCFILE_POOL
    worker_concurrency: int = PROCFILE_CONCURRENCY
    workers: int = 1  # Celery worker processes, as if on as many machines ("worker", "worker-2", ...)
    web_workers: int = 2
    web_threads: int = 4  # as the Procfile's web line
    webs: int = 1  # gunicorn masters sharing the web port (SO_REUSEPORT), as if behind one load balancer
    freshbooks_args: list[str] = field(default_factory=list)
    slack_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    log_dir: Path = ROOT / "var" / "stack"
    # The beat's sweep for lost work and its look for catch-up slots (production: every 60 s), and how long
    # the sweep leaves fresh work alone (60 s): None keeps production's. The e2e tests shorten both so that
    # recovery shows in seconds; the benchmarks keep production's.
    sweep_seconds: float | None = None
    sweep_grace_seconds: float | None = None


class Stack:
    """Start with `start()`, stop with `stop()` (also a context manager)."""

    def __init__(self, config: StackConfig | None = None):
        self.config = config or StackConfig()
        self.redis_port = free_port()
        self.web_port = free_port()
        self.freshbooks_port = free_port()
        self.slack_port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, list[str]] = {}  # how each process was started, to start it again
        self.config.log_dir.mkdir(parents=True, exist_ok=True)

    # --- addresses --------------------------------------------------------------------------------
    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def freshbooks_url(self) -> str:
        return f"http://127.0.0.1:{self.freshbooks_port}"

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.slack_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        """The app's environment: production settings pointed at the stand-ins."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "connector.settings", "DEBUG": "false", "SECRET_KEY": SECRET_KEY,
            "ENCRYPTION_KEYS": ENCRYPTION_KEY, "ACTIVITY_CHAIN_KEY": ACTIVITY_CHAIN_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PUBLIC_BASE_URL": self.web_url, "CSRF_TRUSTED_ORIGINS": self.web_url,
            "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0", "DATABASE_URL": self.config.database_url, "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url, "LOG_LEVEL": "INFO",
            "FRESHBOOKS_CLIENT_ID": FRESHBOOKS_CLIENT[0], "FRESHBOOKS_CLIENT_SECRET": FRESHBOOKS_CLIENT[1],
            "FRESHBOOKS_AUTH_URL": self.freshbooks_url, "FRESHBOOKS_API_URL": self.freshbooks_url,
            "SLACK_CLIENT_ID": SLACK_CLIENT[0], "SLACK_CLIENT_SECRET": SLACK_CLIENT[1],
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": f"{self.slack_url}/api/",
            "SLACK_OAUTH_URL": f"{self.slack_url}/oauth/v2/authorize", "PYTHONUNBUFFERED": "1",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir), "METRICS_TOKEN": METRICS_TOKEN,
            # Email (sign-up links, invitations, password resets) lands in files the tests read (emails()).
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
        })
        if self.config.sweep_seconds is not None:
            env["BEAT_SWEEP_SECONDS"] = str(self.config.sweep_seconds)
        if self.config.sweep_grace_seconds is not None:
            env["PIPELINE_SWEEP_GRACE_SECONDS"] = str(self.config.sweep_grace_seconds)
        env.update(self.config.extra_env)
        return env

    @property
    def metrics_dir(self) -> Path:
        return self.config.log_dir / f"{self.config.name}-prometheus"

    @property
    def mail_dir(self) -> Path:
        return self.config.log_dir / f"{self.config.name}-mail"

    def emails(self, to: str | None = None) -> list[Mail]:
        """The emails the app sent since this stack started, newest first (only those to `to`, if given)."""
        return [mail for mail in read_mailbox(self.mail_dir) if to is None or mail.to == to]

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> "Stack":
        try:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
            self.metrics_dir.mkdir(parents=True)
            shutil.rmtree(self.mail_dir, ignore_errors=True)
            self.start_redis()
            self._prepare_database()
            self._spawn("freshbooks", [sys.executable, "-m", "sandbox.freshbooks", "--port", str(self.freshbooks_port),
                                       *self.config.freshbooks_args])
            self._spawn("slack", [sys.executable, "-m", "sandbox.slack", "--port", str(self.slack_port),
                                  "--events-url", f"{self.web_url}/slack/events/",
                                  "--signing-secret", SIGNING_SECRET, *self.config.slack_args])
            for web in self.web_names:
                self._spawn(web, [str(BIN / "gunicorn"), "connector.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
                                  "--workers", str(self.config.web_workers), "--threads", str(self.config.web_threads),
                                  "--timeout", "30", "--access-logfile", "-",  # as the Procfile: access lines
                                  *(["--reuse-port"] if self.config.webs > 1 else [])])
            for worker in self.worker_names:
                self.start_worker(worker)
            self._spawn("beat", [str(BIN / "celery"), "-A", "connector", "beat", "--loglevel", "INFO",
                                 "--schedule", str(self.config.log_dir / f"{self.config.name}-beat-schedule")])
            _wait_http(f"{self.freshbooks_url}/_control/state")
            _wait_http(f"{self.slack_url}/_control/state")
            _wait_http(f"{self.web_url}/healthz")
            for worker in self.worker_names:
                self.wait_worker_ready(worker)
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def revive(self) -> None:
        """Starts again every process of the stack that has exited (say a test stopped Redis and then failed),
        so that a stack shared by several tests leaves each of them a whole system."""
        exited = [name for name, proc in self.processes.items() if proc.poll() is not None]
        if "redis" in exited:
            self.start_redis()
        for name in exited:
            if name in self.worker_names:
                self.start_worker(name)
            elif name != "redis":
                self._spawn(name, self.argv[name])
        _wait_http(f"{self.freshbooks_url}/_control/state")
        _wait_http(f"{self.slack_url}/_control/state")
        _wait_http(f"{self.web_url}/healthz")
        for name in exited:
            if name in self.worker_names:
                self.wait_worker_ready(name)

    def stop(self) -> None:
        # Every client at once (each takes a few seconds to shut down cleanly), then Redis after them.
        clients = [name for name in reversed(list(self.processes)) if name != "redis"]
        for name in clients:
            self._signal(name, signal.SIGTERM)
        for name in clients:
            self._reap(name)
        self._terminate("redis")
        self.processes.clear()

    # --- pieces -----------------------------------------------------------------------------------
    def _log(self, name: str):
        return open(self.config.log_dir / f"{self.config.name}-{name}.log", "ab")  # noqa: SIM115 - kept by Popen

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self._log(name)
        log.write(f"\n--- {time.strftime('%H:%M:%S')} starting {name}: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, cwd=ROOT, env={**self.env(), **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name], self.argv[name] = proc, argv
        return proc

    def _terminate(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        self._signal(name, sig)
        self._reap(name, timeout)

    def _signal(self, name: str, sig: int) -> None:
        proc = self.processes.get(name)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)

    def _reap(self, name: str, timeout: float = 15) -> None:
        """Waits for the signalled process; SIGKILL (its whole group) if it takes longer than `timeout`."""
        proc = self.processes.get(name)
        if proc is None:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def log_text(self, name: str) -> str:
        path = self.config.log_dir / f"{self.config.name}-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_redis(self) -> None:
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self._spawn("redis", [redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"])
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def restart_redis(self) -> None:
        """Redis goes away and comes back empty: the queue and the pacing state are lost."""
        self.stop_redis()
        self.start_redis()

    def stop_redis(self) -> None:
        """Redis dies (SIGKILL) and stays down until start_redis(), which brings it back empty."""
        self._terminate("redis", signal.SIGKILL)

    @property
    def worker_names(self) -> list[str]:
        return ["worker", *(f"worker-{n}" for n in range(2, self.config.workers + 1))]

    @property
    def web_names(self) -> list[str]:
        return ["web", *(f"web-{n}" for n in range(2, self.config.webs + 1))]

    def worker_argv(self, name: str = "worker") -> list[str]:
        return worker_argv(concurrency=self.config.worker_concurrency, pool=self.config.worker_pool,
                           hostname=f"{self.config.name}-{name}-{time.monotonic_ns()}@%h")

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        # As bin/worker starts each of its processes; an old-style prefork pool runs without a database pool.
        pool_env = worker_environment(self.config.worker_concurrency) if self.config.worker_pool == WORKER_POOL else {}
        return self._spawn(name, self.worker_argv(name), extra_env=pool_env)

    def wait_worker_ready(self, name: str = "worker", timeout: float = START_TIMEOUT) -> None:
        marker = "ml-connector worker connected to Redis"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text(name).rsplit("starting worker", 1)[-1].count(marker):
                return
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n" + self.log_text(name)[-3000:])
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not connect to Redis in time")

    def worker_exited(self, name: str = "worker") -> bool:
        proc = self.processes.get(name)
        return proc is None or proc.poll() is not None

    def kill_worker(self, name: str = "worker") -> None:
        """SIGKILL the worker and all its pool processes, mid-task."""
        self._terminate(name, signal.SIGKILL)

    def restart_worker(self, name: str = "worker") -> None:
        self.kill_worker(name)
        self.start_worker(name)
        self.wait_worker_ready(name)

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env(), check=check,
                              capture_output=True, text=True, timeout=300)

    def _prepare_database(self) -> None:
        """A new, migrated database: a copy of a migrated template (CREATE DATABASE ... TEMPLATE takes a
        fraction of a second, migrating takes many), and the static files collected once per process."""
        parts = urlsplit(self.config.database_url)
        dbname = parts.path.lstrip("/")
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        template = migrated_template(admin_url, self.env())
        with psycopg.connect(admin_url, autocommit=True) as conn:
            _drop_database(conn, dbname)
            with _template_lock(conn, template):
                _disconnect(conn, template)
                conn.execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
        collect_static(self.env())

    # --- stand-in controls ------------------------------------------------------------------------
    def freshbooks(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, f"{self.freshbooks_url}{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else {}

    def slack(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, f"{self.slack_url}{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else {}


# --- Databases and static files, prepared once ---------------------------------------------------------------

@functools.cache
def migrations_fingerprint() -> str:
    """What the migrated schema depends on: this checkout's migration files and the installed packages (whose
    apps have migrations too). A template made from another fingerprint is made again."""
    digest = hashlib.sha256()
    for path in sorted(_migration_files()):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    for dist in sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()):
        digest.update(dist.encode())
    return digest.hexdigest()


def _migration_files() -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("var", "node_modules", "__pycache__")]
        if os.path.basename(folder) == "migrations":
            found += [Path(folder) / f for f in files if f.endswith(".py")]
    return found


def template_name() -> str:
    checkout = "".join(c if c.isalnum() else "_" for c in ROOT.name.lower())
    return f"mlc_{checkout}_stack_template"


def _disconnect(conn, dbname: str) -> None:
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                 "AND pid <> pg_backend_pid()", [dbname])


def _drop_database(conn, dbname: str) -> None:
    _disconnect(conn, dbname)
    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')


@contextlib.contextmanager
def _template_lock(conn, template: str):
    """One process at a time makes or copies the template (parallel test workers share it)."""
    conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [template])
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", [template])


def migrated_template(admin_url: str, env: dict[str, str]) -> str:
    """The name of a database migrated to this checkout's migrations, made (by `migrate`) only when the one
    left by an earlier run was made from other migrations. Its comment holds the fingerprint it was made
    from, written only once the migration succeeded."""
    template, fingerprint = template_name(), migrations_fingerprint()
    with psycopg.connect(admin_url, autocommit=True) as conn, _template_lock(conn, template):
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           [template]).fetchone()
        if row is not None and row[0] == fingerprint:
            return template
        _drop_database(conn, template)
        conn.execute(f'CREATE DATABASE "{template}"')
        template_url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{template}"))
        _run_manage(["migrate", "--noinput"], env | {"DATABASE_URL": template_url})
        conn.execute(f"COMMENT ON DATABASE \"{template}\" IS '{fingerprint}'")
    return template


def _run_manage(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


_static_collected = False


def collect_static(env: dict[str, str]) -> None:
    """`collectstatic` into this checkout's STATIC_ROOT once per process (every stack serves the same files);
    a file lock keeps parallel test workers from writing it at the same time."""
    global _static_collected  # noqa: PLW0603 - once per process
    if _static_collected:
        return
    lock_path = ROOT / "var" / "collectstatic.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _run_manage(["collectstatic", "--noinput"], env)
    _static_collected = True
