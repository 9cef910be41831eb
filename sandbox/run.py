"""`make run` (through bin/run): check Redis, migrate, then start the Procfile's web, worker and beat with
honcho. With no provider credentials (FRESHBOOKS_CLIENT_ID and SLACK_CLIENT_ID both empty in the
environment and in .env) it runs in sandbox mode: both stand-ins start alongside, and the app is pointed
at them, so the whole product can be tried without any account.

`plan()` decides, from the environment and .env, without side effects; `main()` acts on the plan.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from honcho import manager as honcho_manager
from honcho.environ import expand_processes, parse_procfile
from honcho.environ import parse as parse_env
from honcho.manager import Manager
from honcho.printer import Printer

from sandbox.freshbooks.app import FreshBooksConfig
from sandbox.slack.app import SlackConfig

ROOT = Path(__file__).resolve().parent.parent
# Development binds to loopback: DEBUG pages list every URL and must not reach the network. The Procfile
# itself defaults to 0.0.0.0 because platforms that run it (Heroku-style routers, containers) connect
# from outside the process's host; `make run` passes HOST, so set HOST=0.0.0.0 to expose a dev server.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8000  # the Procfile's web port when PORT is unset
DEFAULT_FRESHBOOKS_PORT = 8101  # the stand-ins' usual ports (sandbox/README.md)
DEFAULT_SLACK_PORT = 8102
CREDENTIALS = ("FRESHBOOKS_CLIENT_ID", "SLACK_CLIENT_ID")  # either set: the real providers are meant
SANDBOX_PROCFILE = "var/Procfile.sandbox"  # the Procfile plus the two stand-ins, written at each start
# Sandbox mode reads FreshBooks every 2 minutes unless CATCH_UP_INTERVAL_MINUTES says otherwise, so that
# dropping the stand-in's webhooks shows the catch-up at work without a quarter-hour wait.
SANDBOX_CATCH_UP_MINUTES = "2"
STATE_FILES = {"freshbooks": "var/sandbox-freshbooks.json", "slack": "var/sandbox-slack.json"}
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")  # noqa: S104 - recognised, not bound to
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
SANDBOX_EMAIL_BACKEND = "connector.core.mailbox.SandboxEmailBackend"
SANDBOX_MAILBOX_DIR = "var/mailbox"  # EMAIL_FILE_PATH unless set: the sandbox mailbox's messages
METRICS_DIR = "var/prometheus"  # PROMETHEUS_MULTIPROC_DIR unless set: the processes' metrics samples


def metrics_dir_empty(path: Path) -> None:
    """prometheus-client's multiprocess directory must start empty: samples of processes from an earlier
    run would be added to this run's."""
    path.mkdir(parents=True, exist_ok=True)
    for sample in path.glob("*.db"):
        sample.unlink()


@dataclass
class Plan:
    sandbox: bool
    web_url: str
    web_port: int
    host: str = DEFAULT_HOST  # where the web server listens (HOST); the stand-ins always listen on loopback
    env: dict[str, str] = field(default_factory=dict)  # set for every process (sandbox mode only)
    extra_processes: dict[str, str] = field(default_factory=dict)  # Procfile lines added to the three
    ports: dict[str, int] = field(default_factory=dict)  # name -> port that must be free
    stand_in_urls: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_dotenv(path: Path) -> dict[str, str]:
    """.env as honcho and django-environ read it (KEY=VALUE lines, optional quotes, # comments)."""
    try:
        return dict(parse_env(path.read_text()))
    except OSError:
        return {}


def plan(environ: Mapping[str, str], dotenv: Mapping[str, str], python: str = sys.executable) -> Plan:
    def get(name: str) -> str:
        return (environ.get(name) or dotenv.get(name) or "").strip()

    web_port = int(get("PORT") or DEFAULT_WEB_PORT)
    host = get("HOST") or DEFAULT_HOST
    local_url = f"http://{'127.0.0.1' if host in WILDCARD_HOSTS else host}:{web_port}"
    forced = get("SANDBOX").lower()
    configured = [name for name in CREDENTIALS if get(name)]
    if forced in FALSE or (forced not in TRUE and configured):
        missing = [name for name in CREDENTIALS if name not in configured]
        notes = [f"{name} is empty: that provider cannot be connected (see README, Configuration)."
                 for name in missing]
        return Plan(sandbox=False, web_port=web_port, host=host, ports={"web (PORT)": web_port},
                    web_url=get("PUBLIC_BASE_URL") or local_url, notes=notes)

    web_url = (get("PUBLIC_BASE_URL") or local_url).rstrip("/")
    fb_port = int(get("SANDBOX_FRESHBOOKS_PORT") or DEFAULT_FRESHBOOKS_PORT)
    slack_port = int(get("SANDBOX_SLACK_PORT") or DEFAULT_SLACK_PORT)
    fb_url, slack_url = f"http://127.0.0.1:{fb_port}", f"http://127.0.0.1:{slack_port}"
    fb, slack = FreshBooksConfig(), SlackConfig()
    env = {
        "PUBLIC_BASE_URL": web_url,
        "FRESHBOOKS_CLIENT_ID": fb.client_id, "FRESHBOOKS_CLIENT_SECRET": fb.client_secret,
        "FRESHBOOKS_AUTH_URL": fb_url, "FRESHBOOKS_API_URL": fb_url,
        "SLACK_CLIENT_ID": slack.client_id, "SLACK_CLIENT_SECRET": slack.client_secret,
        "SLACK_SIGNING_SECRET": slack.signing_secret, "SLACK_API_URL": f"{slack_url}/api/",
        "SLACK_OAUTH_URL": f"{slack_url}/oauth/v2/authorize",
        # The stand-ins read these (sandbox/cli.py): ports, kept state, and where Slack's events go.
        "SANDBOX_FRESHBOOKS_PORT": str(fb_port),
        "SANDBOX_FRESHBOOKS_STATE_FILE": get("SANDBOX_FRESHBOOKS_STATE_FILE") or STATE_FILES["freshbooks"],
        "SANDBOX_SLACK_PORT": str(slack_port),
        "SANDBOX_SLACK_STATE_FILE": get("SANDBOX_SLACK_STATE_FILE") or STATE_FILES["slack"],
        "SANDBOX_SLACK_EVENTS_URL": f"{web_url}/slack/events/",
        "SANDBOX_SLACK_SIGNING_SECRET": slack.signing_secret,
        "CATCH_UP_INTERVAL_MINUTES": get("CATCH_UP_INTERVAL_MINUTES") or SANDBOX_CATCH_UP_MINUTES,
        # Email (the sign-up link, invitations, password resets) goes to this log and to the mailbox page
        # {web_url}/sandbox/mailbox/ (DEBUG only), unless .env or the environment chose a backend.
        "EMAIL_BACKEND": get("EMAIL_BACKEND") or SANDBOX_EMAIL_BACKEND,
        "EMAIL_FILE_PATH": get("EMAIL_FILE_PATH") or str(ROOT / SANDBOX_MAILBOX_DIR),
    }
    return Plan(sandbox=True, web_url=web_url, web_port=web_port, host=host, env=env,
                extra_processes={"freshbooks": f"{python} -m sandbox.freshbooks",
                                 "slack": f"{python} -m sandbox.slack"},
                ports={"web (PORT)": web_port, "FreshBooks stand-in (SANDBOX_FRESHBOOKS_PORT)": fb_port,
                       "Slack stand-in (SANDBOX_SLACK_PORT)": slack_port},
                stand_in_urls={"freshbooks": fb_url, "slack": slack_url})


def banner(p: Plan) -> str:
    if not p.sandbox:
        lines = [f"ml-connector: web on {p.web_url}/ , worker and beat (Ctrl-C stops them all).", *p.notes]
        return "\n".join(lines) + "\n"
    fb, slack, app = p.stand_in_urls["freshbooks"], p.stand_in_urls["slack"], p.web_url
    return f"""
================================================================================================
 ml-connector in SANDBOX MODE: no FreshBooks or Slack credentials are set, so two local stand-ins
 play FreshBooks and Slack. Nothing leaves this machine.

   ml-connector          {app}/
   FreshBooks stand-in   {fb}/     (make invoices, bills and expenses here)
   Slack stand-in        {slack}/     (the messages arrive here)

 Try it in five steps (README.md says more):
   1. Open {app}/accounts/signup/ and sign up, then open the link in the email (it is on
      {app}/sandbox/mailbox/ and printed in this log) and choose your password there.
   2. Dashboard: Connect FreshBooks > Allow.
   3. Dashboard: Add to Slack > Allow.
   4. Dashboard: Create a rule > Create these two rules.
   5. On {fb}/ press "Create a sample invoice", then watch #accounting on {slack}/.

 Ctrl-C stops everything. Set FRESHBOOKS_CLIENT_ID and SLACK_CLIENT_ID (README) for the real services.
================================================================================================
"""


def busy_ports(ports: Mapping[str, int], host: str = DEFAULT_HOST) -> list[str]:
    busy = []
    for name, port in ports.items():
        with socket.socket() as s:
            # As the servers bind: a port left in TIME_WAIT by a previous run is free, a listening one is not.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("" if host in WILDCARD_HOSTS else host, port))
            except OSError:
                busy.append(f"{name} {port}")
    return busy


def sandbox_procfile(p: Plan, procfile: str) -> str:
    lines = ["# Written by bin/run at each start: the Procfile plus the stand-ins. Edit the Procfile instead.",
             procfile.rstrip("\n")]
    lines += [f"{name}: {command}" for name, command in p.extra_processes.items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    os.chdir(ROOT)
    dotenv = read_dotenv(ROOT / ".env")
    p = plan(os.environ, dotenv)
    busy = busy_ports(p.ports, p.host)
    if busy:
        print(f"\nml-connector cannot start: port{'s' if len(busy) > 1 else ''} already in use: "
              f"{', '.join(busy)}.\nStop what uses {'them' if len(busy) > 1 else 'it'}, or choose others, "
              "for example:  PORT=8010 SANDBOX_FRESHBOOKS_PORT=8111 SANDBOX_SLACK_PORT=8112 make run\n",
              file=sys.stderr)
        return 1
    python = sys.executable
    # What the processes see: .env, then the environment over it (as the app's settings read them), then
    # the stand-ins' addresses in sandbox mode. The Procfile's commands live next to this interpreter.
    env = {**dotenv, **os.environ, **p.env, "HOST": p.host,
           "PATH": os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")])}
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        env["PROMETHEUS_MULTIPROC_DIR"] = str(ROOT / METRICS_DIR)
    metrics_dir_empty(Path(env["PROMETHEUS_MULTIPROC_DIR"]))
    # Asked to stop while checking or migrating (SIGTERM as Ctrl-C): stop there, just as cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for step in ([python, "bin/check-redis"], [python, "manage.py", "migrate", "--noinput"]):
            if subprocess.run(step, env=env).returncode:  # noqa: S603 - the project's own scripts
                return 1
    except KeyboardInterrupt:
        print("ml-connector stopped.", flush=True)
        return 0
    procfile = (ROOT / "Procfile").read_text()
    if p.sandbox:
        (ROOT / "var").mkdir(exist_ok=True)
        procfile = sandbox_procfile(p, procfile)
        (ROOT / SANDBOX_PROCFILE).write_text(procfile)
    print(banner(p), flush=True)
    return supervise(procfile, env, p.web_port)


# honcho reports a stop it was asked for (SIGINT, SIGTERM) with these codes; a process that ended by
# itself gives its own exit status instead.
ASKED_TO_STOP = {130, 143}


def supervise(procfile: str, env: Mapping[str, str], web_port: int) -> int:
    """Run the Procfile's processes with honcho's manager until they end or we are asked to stop.

    Asked to stop (SIGINT, SIGTERM or SIGHUP to this process, Ctrl-C, or `make run`'s make being
    interrupted): every process gets SIGTERM, those still running after KILL_WAIT seconds get SIGKILL,
    and we say "stopped" and exit 0. A process ending by itself stops the others and exits non-zero."""
    honcho_manager.KILL_WAIT = KILL_WAIT
    manager = Manager(Printer(sys.stdout))
    for process in expand_processes(parse_procfile(procfile).processes, env=dict(env), port=web_port):
        manager.add_process(process.name, process.cmd, quiet=process.quiet, env={**env, **process.env})
    # honcho's manager handles SIGINT and SIGTERM; a hang-up (terminal closed) is a request to stop too.
    signal.signal(signal.SIGHUP, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    watch_interrupted_make()
    manager.loop()
    if manager.returncode in ASKED_TO_STOP:
        print("ml-connector stopped.", flush=True)
        return 0
    print(f"ml-connector stopped: a process exited with status {manager.returncode}.", file=sys.stderr)
    return manager.returncode or 1


KILL_WAIT = 3  # seconds between SIGTERM and SIGKILL: all is gone well within 5 s of the request


def watch_interrupted_make() -> None:
    """`make run` started us. GNU make passes SIGTERM on to its recipe but not SIGINT: interrupted by
    its PID alone (as IDEs and process managers do), make waits inside its signal handler for us to
    end, which never comes. While make is in that handler the signal is blocked in its mask (Linux
    /proc/<pid>/status, SigBlk), so watch for that and stop as if we had been sent the signal.
    make itself then re-raises the signal, so its own exit status is 130 (143): that part is make's."""
    parent = os.getppid()
    status_file = Path(f"/proc/{parent}/status")
    try:
        if Path(f"/proc/{parent}/comm").read_text().strip() not in ("make", "gmake"):
            return
    except OSError:
        return
    stop_signals = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGHUP - 1))

    def watch():
        while True:
            time.sleep(0.2)
            try:
                fields = dict(line.split(":\t", 1) for line in status_file.read_text().splitlines()
                              if ":\t" in line)
            except OSError:  # make is gone: nobody is left to stop us
                blocked = stop_signals
            else:
                blocked = int(fields.get("SigBlk", "0"), 16)
            if blocked & stop_signals or os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="make-watch", daemon=True).start()
