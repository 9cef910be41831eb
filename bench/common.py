"""Shared by the stack benchmarks (delivery, e2e_latency, many_channels, soak, ...): start the whole system as real processes
(sandbox/stack.py), set tenants up through the operator commands, use the stack's database from this
process through the Django ORM, and sample the memory of the web and worker process groups.

Each benchmark gets a PostgreSQL database of its own, named after this checkout and the benchmark
(`mlc_<checkout>_<bench>`, dropped and re-created at each run), and a redis-server of its own.
"""

import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from sandbox.stack import PROCFILE_CONCURRENCY, PROCFILE_POOL, PROCFILE_PROCESSES, Stack, StackConfig  # noqa: E402

SLACK_TEAM = "T0SANDBOX"  # the Slack stand-in's only workspace: every tenant installs into it
PASSWORD = "a-long-bench-passphrase"
# the Procfile's worker line (bin/worker)
DEFAULT_POOL, DEFAULT_CONCURRENCY, DEFAULT_PROCESSES = PROCFILE_POOL, PROCFILE_CONCURRENCY, PROCFILE_PROCESSES
RSS_SAMPLE_INTERVAL = 0.25  # seconds between /proc samples of the web and worker process groups


def database_url(bench: str) -> str:
    checkout = "".join(c if c.isalnum() else "_" for c in ROOT.name.lower())
    base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
    return f"{base}/mlc_{checkout}_{bench}"


def start_stack(bench: str, **config) -> Stack:
    stack = Stack(StackConfig(name=f"bench-{bench}", database_url=database_url(bench),
                              log_dir=ROOT / "var" / "bench", **config))
    return stack.start()


def django_setup(stack: Stack) -> None:
    """This process becomes one more client of the stack: same settings, database and Redis."""
    os.environ.update(stack.env())
    import django

    django.setup()


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
            "load_average_1m": round(os.getloadavg()[0], 2), "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 3)


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": round(max(values), 3), "mean": round(statistics.fmean(values), 3)}


def emit(result: dict) -> None:
    """The one JSON line every benchmark ends with."""
    print(json.dumps(result), flush=True)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- tenants ---------------------------------------------------------------------------------------------

@dataclass
class Tenant:
    slug: str
    email: str
    account_id: str
    api: requests.Session
    web_url: str

    def post(self, path: str, **kw) -> requests.Response:
        return self.api.post(f"{self.web_url}{path}", timeout=30, **kw)

    def rule(self, name: str, channel_id: str, **fields) -> dict:
        body = {"name": name, "events": ["invoice.create"], "channel_id": channel_id, **fields}
        response = self.post("/api/v1/rules/", json=body)
        if response.status_code != 201:
            raise RuntimeError(f"rule {name}: {response.status_code} {response.text}")
        return response.json()


def _last_line(completed) -> str:
    return completed.stdout.strip().splitlines()[-1]


def businesses(stack: Stack, count: int) -> list[dict]:
    """The FreshBooks stand-in's identity owns `count` businesses; one per tenant."""
    return stack.freshbooks("POST", "/_control/businesses", json={"count": count})["businesses"]


def tenant_connected(stack: Stack, n: int, business: dict) -> Tenant:
    """A tenant made by the operator commands, connected to one FreshBooks business and to the Slack
    stand-in's workspace, callbacks registered and verified (as tests/e2e/conftest.py does)."""
    email = f"bench-owner{n}@example.com"
    slug = _last_line(stack.manage("createtenant", "--name", f"Bench Business {n}", "--owner", email,
                                   "--password", PASSWORD))
    token = _last_line(stack.manage("apitoken", "--tenant", slug, "--user", email))
    fb = stack.freshbooks("POST", "/_control/tokens")
    stack.manage("connect_freshbooks", "--tenant", slug, "--access-token", fb["access_token"],
                 "--refresh-token", fb["refresh_token"], "--expires-in", str(fb.get("expires_in", 43200)),
                 "--account-id", business["account_id"], "--business-id", str(business["id"]))
    sl = stack.slack("POST", "/_control/tokens")
    stack.manage("connect_slack", "--tenant", slug, "--bot-token", sl["access_token"],
                 "--team-id", sl["team_id"], "--team-name", sl["team_name"])
    stack.manage("register_callbacks", "--tenant", slug)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    return Tenant(slug=slug, email=email, account_id=business["account_id"], api=api, web_url=stack.web_url)


def wait_callbacks_verified(stack: Stack, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        callbacks = stack.freshbooks("GET", "/_control/callbacks").get("callbacks", [])
        if sum(1 for c in callbacks if c.get("verified")) >= count:
            return
        time.sleep(0.25)
    raise RuntimeError("FreshBooks callbacks were not verified in time")


def tenants_connected(stack: Stack, channel_names: list[str], count: int = 1) -> tuple[dict[str, str], list[Tenant]]:
    """The set-up every stack benchmark starts with: Slack channels (name -> id), then `count` tenants,
    each connected to a FreshBooks business of its own and to the Slack workspace, callbacks verified.
    Channels first: the app keeps a workspace's channel list for a while once it has read it."""
    channel_ids = channels_create(stack, channel_names)
    accounts = businesses(stack, count)
    tenants = [tenant_connected(stack, n + 1, accounts[n]) for n in range(count)]
    wait_callbacks_verified(stack, count)
    return channel_ids, tenants


def channels_create(stack: Stack, names: list[str]) -> dict[str, str]:
    """Public channels in the Slack stand-in (the bot is a member); name -> id."""
    ids = {}
    for name in names:
        ids[name] = stack.slack("POST", "/_control/channels", json={"name": name})["channel"]["id"]
    return ids


def messages(stack: Stack, channel_id: str) -> list[dict]:
    return stack.slack("GET", "/_control/messages", params={"channel": channel_id})["messages"]


def event_stages(events, since: float) -> dict[str, float]:
    """Where the time went for these inbound events: when the first and the last were received and the last
    was processed, in seconds after `since` (epoch); a stage none reached is left out."""
    from django.db.models import Max, Min

    stages = events.aggregate(first_received=Min("received_at"), last_received=Max("received_at"),
                              last_processed=Max("processed_at"))
    return {name: moment.timestamp() - since for name, moment in stages.items() if moment is not None}


def delivery_id_of(message: dict) -> int | None:
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    value = payload.get("delivery_id")
    return int(value) if value not in (None, "") else None


def proc_stat(pid: int | str) -> tuple[str, list[str]] | None:
    """A process's command name and the fields of /proc/<pid>/stat after it; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            name, fields = f.read().split(" (", 1)[1].rsplit(")", 1)
    except (OSError, ValueError, IndexError):
        return None
    return name, fields.split()


def cpu_seconds_of(fields: list[str]) -> float:
    """User + system CPU time of a process, from its /proc/<pid>/stat fields (proc_stat)."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pgid_of(pid: int) -> int | None:
    stat = proc_stat(pid)
    return int(stat[1][2]) if stat else None


# --- memory ----------------------------------------------------------------------------------------------

class RssSampler:
    """Peak resident memory of the web (gunicorn master + workers) and worker (Celery main + pool) process
    groups, sampled from /proc/<pid>/status VmRSS. The stack starts each in a session of its own, so the
    group id is the leader's pid; a restarted worker is a new group, followed by name."""

    def __init__(self, stack: Stack | None, groups: tuple[str, ...] = ("web", "worker"), processes=None):
        """`processes`: name -> subprocess.Popen leading each group (default: the stack's, looked up at
        each sample so that a restarted worker is followed)."""
        self.stack, self.groups = stack, groups
        self._processes = processes
        self.peak_total_kb = dict.fromkeys(groups, 0)
        self.peak_process_kb = dict.fromkeys(groups, 0)
        self.processes_max = dict.fromkeys(groups, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _rss_kb(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def sample(self) -> None:
        leaders = {}
        processes = self._processes if self._processes is not None else self.stack.processes
        for name in self.groups:
            proc = processes.get(name)
            if proc is not None and proc.poll() is None:
                leaders[proc.pid] = name
        totals = dict.fromkeys(leaders.values(), 0)
        counts = dict.fromkeys(leaders.values(), 0)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            group = leaders.get(pgid_of(int(entry)))
            if group is None:
                continue
            rss = self._rss_kb(int(entry))
            totals[group] += rss
            counts[group] += 1
            self.peak_process_kb[group] = max(self.peak_process_kb[group], rss)
        for group, total in totals.items():
            self.peak_total_kb[group] = max(self.peak_total_kb[group], total)
            self.processes_max[group] = max(self.processes_max[group], counts[group])
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(RSS_SAMPLE_INTERVAL)

    def cpu_seconds(self) -> dict:
        """CPU time (user + system) used so far by each group's live processes."""
        processes = self._processes if self._processes is not None else self.stack.processes
        leaders = {proc.pid: name for name in self.groups if (proc := processes.get(name)) and proc.poll() is None}
        totals = dict.fromkeys(self.groups, 0.0)
        for entry in filter(str.isdigit, os.listdir("/proc")):
            stat = proc_stat(entry)
            if stat and (group := leaders.get(int(stat[1][2]))):
                totals[group] += cpu_seconds_of(stat[1])
        return totals

    def report(self) -> dict:
        return {group: {"peak_total_mb": round(self.peak_total_kb[group] / 1024, 1),
                        "peak_one_process_mb": round(self.peak_process_kb[group] / 1024, 1),
                        "processes": self.processes_max[group]} for group in self.groups} | {
            "samples": self.samples}
