"""`make run` with no provider credentials (bin/run): both stand-ins start with web, worker and beat, and the
README's five steps work as written: sign up, connect FreshBooks, add to Slack, accept the starter rules,
press "Create a sample invoice" and see the message on the Slack stand-in's page."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import requests

from sandbox.stack import ENCRYPTION_KEY, ROOT, SECRET_KEY, Stack, StackConfig, free_port
from tests.e2e.conftest import (
    add_to_slack,
    callbacks_verified,
    channel_id,
    connect_freshbooks,
    messages,
    sign_up,
    wait_for,
)

START_TIMEOUT = 90  # seconds for bin/run to migrate a new SQLite database and start five processes
PROVIDER_SETTINGS = ("FRESHBOOKS_", "SLACK_", "SANDBOX", "PUBLIC_BASE_URL", "DATABASE_URL", "REDIS_URL",
                     "CELERY_BROKER_URL", "DJANGO_", "TEST_", "PORT", "EMAIL_")


@dataclass
class Running:
    """The addresses `make run` printed, and the stand-ins' controls (what tests/e2e/conftest.py uses)."""

    web_url: str
    freshbooks_url: str
    slack_url: str

    def freshbooks(self, method: str, path: str, **kwargs) -> dict:
        return requests.request(method, f"{self.freshbooks_url}{path}", timeout=10, **kwargs).json()

    def slack(self, method: str, path: str, **kwargs) -> dict:
        return requests.request(method, f"{self.slack_url}{path}", timeout=10, **kwargs).json()


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sandbox-mode")
    redis = Stack(StackConfig(name="sandbox_mode"))  # only for a redis-server of its own
    redis.start_redis()
    ports = {name: free_port() for name in ("PORT", "SANDBOX_FRESHBOOKS_PORT", "SANDBOX_SLACK_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_SETTINGS)}
    env.update({name: str(port) for name, port in ports.items()})
    env.update({"DEBUG": "true", "SECRET_KEY": SECRET_KEY, "ENCRYPTION_KEYS": ENCRYPTION_KEY,
                "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}", "REDIS_URL": redis.redis_url,
                "SANDBOX_FRESHBOOKS_STATE_FILE": str(tmp / "freshbooks.json"),
                "SANDBOX_SLACK_STATE_FILE": str(tmp / "slack.json"), "EMAIL_FILE_PATH": str(tmp / "mailbox"),
                "PYTHONUNBUFFERED": "1"})
    log = tmp / "make-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "bin/run"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    running = Running(f"http://127.0.0.1:{ports['PORT']}", f"http://127.0.0.1:{ports['SANDBOX_FRESHBOOKS_PORT']}",
                      f"http://127.0.0.1:{ports['SANDBOX_SLACK_PORT']}")
    running.log = log
    try:
        try:
            for url in (f"{running.web_url}/healthz", f"{running.freshbooks_url}/_control/state",
                        f"{running.slack_url}/_control/state"):
                wait_for(lambda url=url: proc.poll() is None and _answers(url), timeout=START_TIMEOUT, message=url)
            wait_for(lambda: "connected to Redis" in log.read_text(errors="replace"), timeout=START_TIMEOUT,
                     message="the worker")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; bin/run said:\n{log.read_text(errors='replace')[-3000:]}") from None
        yield running
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: honcho stops every process
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        redis.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_five_steps_of_the_readme_work_in_sandbox_mode(make_run):
    banner = make_run.log.read_text(errors="replace")
    assert "SANDBOX MODE" in banner
    assert all(url in banner for url in (make_run.web_url, make_run.freshbooks_url, make_run.slack_url))
    since = f"{time.time():.6f}"

    # 1. Sign up, and open the link in the email from the sandbox mailbox (it is in the log too).
    browser = sign_up(make_run, "Corner Bakery", "bakery@example.com", from_mailbox_page=True)
    assert "Subject: Confirm your email to finish signing up" in make_run.log.read_text(errors="replace")
    # 2. Dashboard: Connect FreshBooks > Allow.
    browser.get("/dashboard/")
    connect_freshbooks(browser, make_run, from_dashboard=True)
    wait_for(lambda: callbacks_verified(browser), timeout=30, message="the callbacks verified")
    # 3. Dashboard: Add to Slack > Allow.
    browser.get("/dashboard/")
    add_to_slack(browser, make_run, from_dashboard=True)
    # 4. Dashboard: Create a rule > Create these two rules.
    browser.get("/dashboard/")
    browser.follow("Create a rule")
    assert "Starter rules created" in browser.submit(button="Create these two rules").text
    # 5. The FreshBooks stand-in's page: Create a sample invoice; the Slack stand-in's page shows it.
    browser.get(f"{make_run.freshbooks_url}/")
    browser.submit(button="Create a sample invoice")
    accounting = channel_id(make_run, "accounting")
    [message] = wait_for(lambda: messages(make_run, accounting, since), timeout=60, message="the message")
    assert message["text"].startswith("New invoice")
    assert message["blocks"][0]["text"]["text"] in browser.get(f"{make_run.slack_url}/").text
