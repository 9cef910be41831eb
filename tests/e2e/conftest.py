"""End-to-end fixtures: the whole system as real processes (sandbox/stack.py) on PostgreSQL and Redis,
with the FreshBooks and Slack stand-ins. One stack serves every module that takes the `stack` fixture (a module
needing other settings defines its own, from `stack_config`); each test gets its own tenant, and starts from
fresh stand-in accounts (`stand_ins_fresh`)."""

import itertools
import json
import os
import re
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from sandbox.stack import ROOT, Stack, StackConfig
from tests.e2e.browser import Browser
from tests.mail import signup_link_path
from tests.polling import wait_for  # noqa: F401 - the e2e and browser tests take it from here

_tenants = itertools.count(1)
PASSWORD = "a-long-e2e-passphrase"  # every e2e user's


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed end-to-end test also shows what the system held: the tenant's unfinished events and
    deliveries, and the worker's last log lines (CI keeps nothing else of a run)."""
    report = (yield).get_result()
    stack, operator = item.funcargs.get("stack"), item.funcargs.get("operator")
    if report.when == "call" and report.failed and isinstance(stack, Stack) and operator is not None:
        report.sections.append(("what the stack held", _stack_state(stack, operator.slug)))


def _stack_state(stack: Stack, slug: str) -> str:
    queries = {
        "events not final": "SELECT e.id, e.name, e.status, e.attempts, e.received_at, e.next_attempt_at "
                            "FROM audit_inboundevent e JOIN tenants_tenant t ON t.id = e.tenant_id "
                            "WHERE t.slug = %s AND e.status IN ('received', 'retrying', 'held') ORDER BY e.id",
        "deliveries not posted": "SELECT d.id, d.inbound_event_id, d.status, d.channel_id, d.slack_action, "
                                 "d.attempt_count, d.next_attempt_at, d.sending_since, d.held_reason, "
                                 "d.last_error_code FROM audit_delivery d JOIN tenants_tenant t ON t.id = d.tenant_id "
                                 "WHERE t.slug = %s AND d.status <> 'posted' ORDER BY d.id",
    }
    lines = []
    try:
        with psycopg.connect(stack.config.database_url) as db:
            for title, sql in queries.items():
                lines += [f"{title}:"] + [f"  {row}" for row in db.execute(sql, (slug,))]
    except psycopg.Error as exc:
        lines.append(f"database unreadable: {exc}")
    worker = [line for line in stack.log_text("worker").splitlines()
              if line.startswith("[") and not line.endswith(" received") and " succeeded in " not in line]
    return "\n".join(lines + ["worker log, last lines:"] + worker[-40:])


@pytest.fixture(autouse=True)
def _no_network():
    """Processes here talk over loopback only; the unit tests' socket guard is not needed (and would
    get in the way of nothing, but keep the e2e tests independent of it)."""
    yield


def stack_database_url(name: str) -> str:
    """A database of its own per stack, named after the test database (so parallel checkouts never meet)
    and the test worker (so parallel workers never meet)."""
    base = urlsplit(os.environ["DATABASE_URL"])  # the test database (connector/settings_test.py)
    return urlunsplit(base._replace(path=f"/{base.path.lstrip('/')}_{name}{_WORKER}"))


_WORKER = f"_{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else ""


# The beat sweeps every few seconds (production: every minute) and leaves fresh work alone for a few seconds
# (production: a minute): what the tests wait for after a loss comes in seconds; the behaviour is the same.
SWEEP_SECONDS = 5
SWEEP_GRACE_SECONDS = 10


def stack_config(name: str, **kwargs) -> StackConfig:
    """An end-to-end stack's settings: its own database (named after `name`) and the short sweep."""
    return StackConfig(name=f"{name}{_WORKER}", database_url=stack_database_url(f"e2e_{name}"),
                       sweep_seconds=SWEEP_SECONDS, sweep_grace_seconds=SWEEP_GRACE_SECONDS, **kwargs)


@pytest.fixture(scope="session")
def shared_stack():
    """Started by the first module that needs it, stopped at the end of the session."""
    with Stack(stack_config("shared")) as running:
        yield running


@pytest.fixture(scope="module")
def stack(shared_stack):
    """The running system for this module's tests: the shared stack, whole again if a module before stopped
    one of its processes."""
    shared_stack.revive()
    return shared_stack


class Operator:
    """A tenant set up through the operator commands and the REST API (the browser story is elsewhere)."""

    def __init__(self, stack: Stack, slug: str, email: str, api_token: str):
        self.stack, self.slug, self.email = stack, slug, email
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Token {api_token}"

    def get(self, path, **kw):
        return self.api.get(f"{self.stack.web_url}{path}", timeout=10, **kw)

    def post(self, path, **kw):
        return self.api.post(f"{self.stack.web_url}{path}", timeout=10, **kw)

    def patch(self, path, **kw):
        return self.api.patch(f"{self.stack.web_url}{path}", timeout=10, **kw)

    def deliveries(self, **params):
        response = self.get("/api/v1/deliveries/", params={"limit": 500, **params})
        response.raise_for_status()
        return response.json()["results"]


def last_line(completed) -> str:
    return completed.stdout.strip().splitlines()[-1]


def stand_ins_fresh(stack) -> str:
    """Each test starts from a fresh FreshBooks account (so no earlier test's callbacks receive its events,
    and, its account ids and tokens being new, no earlier test's tenant can read it in a catch-up) and a
    Slack workspace without faults or pending revocations. Slack keeps its messages: tests look at those
    posted after the returned ts."""
    stack.freshbooks("POST", "/_control/reset", json={"seed": f"e2e-{uuid.uuid4().hex}"})
    stack.freshbooks("DELETE", "/_control/faults")
    stack.slack("DELETE", "/_control/faults")
    stack.slack("POST", "/_control/settings", json={"channel_rate_window": 1.0})
    return f"{time.time():.6f}"


# Runs several operator commands in one Python process (each `manage.py` start costs seconds). Each
# argument may name an earlier command's last line of output as {command_name}.
_BATCH = """
import io, json, sys
import django
django.setup()
from django.core.management import call_command
last = {}
for argv in json.loads(sys.argv[1]):
    argv = [a.format(**last) for a in argv]
    out = io.StringIO()
    call_command(*argv, stdout=out)
    lines = out.getvalue().strip().splitlines()
    last[argv[0]] = lines[-1] if lines else ""
print(json.dumps(last))
"""


def manage_batch(stack, *commands: list[str]) -> dict[str, str]:
    """The operator commands, in order, in one process; each command's last line of output by name."""
    completed = subprocess.run([sys.executable, "-c", _BATCH, json.dumps(commands)], cwd=ROOT, env=stack.env(),
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(last_line(completed))


def _connect_commands(stack, tenant: str) -> tuple[list[list[str]], str]:
    """The operator commands connecting `tenant` to both stand-ins (fresh tokens), and the FreshBooks
    account id."""
    fb = stack.freshbooks("POST", "/_control/tokens")
    sl = stack.slack("POST", "/_control/tokens")
    return [["connect_freshbooks", "--tenant", tenant, "--access-token", fb["access_token"],
             "--refresh-token", fb["refresh_token"], "--expires-in", str(fb.get("expires_in", 43200)),
             "--account-id", fb["account_id"], "--business-id", str(fb["business_id"])],
            ["connect_slack", "--tenant", tenant, "--bot-token", sl["access_token"],
             "--team-id", sl["team_id"], "--team-name", sl["team_name"]],
            ["register_callbacks", "--tenant", tenant]], fb["account_id"]


@pytest.fixture
def operator(request, stack):
    since = stand_ins_fresh(stack)
    n = next(_tenants)
    email = f"owner{n}@example.com"
    commands = [["createtenant", "--name", f"E2E Business {n}", "--owner", email, "--password", PASSWORD],
                ["apitoken", "--tenant", "{createtenant}", "--user", email]]
    connecting = "connected" in request.fixturenames  # then in the same process (each start costs seconds)
    if connecting:
        connect, account_id = _connect_commands(stack, "{createtenant}")
        commands += connect
    out = manage_batch(stack, *commands)
    operator = Operator(stack, out["createtenant"], email, out["apitoken"])
    operator.since_ts = since
    if connecting:
        operator.account_id = account_id
    return operator


@pytest.fixture
def connected(stack, operator):
    """The operator's tenant connected to both stand-ins by the operator commands, callbacks verified."""
    if not hasattr(operator, "account_id"):  # not done with the tenant's creation (`operator` alone asked)
        commands, operator.account_id = _connect_commands(stack, operator.slug)
        manage_batch(stack, *commands)
    return operator


def channel_id(stack, name: str) -> str:
    for channel in stack.slack("GET", "/_control/channels")["channels"]:
        if channel["name"] == name:
            return channel["id"]
    raise KeyError(name)


def messages(stack, channel: str, since_ts: str | None = None) -> list[dict]:
    params = {"channel": channel} | ({"since_ts": since_ts} if since_ts else {})
    return stack.slack("GET", "/_control/messages", params=params)["messages"]


# --- A person at a browser ----------------------------------------------------------------------------

def sign_up(stack, business_name: str, email: str, *, from_mailbox_page: bool = False) -> Browser:
    """Signs up through /accounts/signup/ like a browser (CSRF token from the form), then opens the link
    emailed to `email` (from the stack's mail files, or the sandbox's mailbox page as a newcomer does),
    chooses the password there (the sign-up form asks none) and finishes signing up: logged in after."""
    browser = Browser(stack.web_url)
    browser.get("/accounts/signup/")
    page = browser.submit(button="Email me a sign-up link", data={"business_name": business_name, "email": email,
                                                         "base_currency": "USD"})
    assert page.status_code == 200 and "Check your email" in page.text, (page.url, page.text[:2000])
    if from_mailbox_page:
        mailbox = browser.follow("sandbox mailbox")
        assert f"To {email}" in mailbox.text, mailbox.text[:3000]
        link = signup_link_path(mailbox.text)  # the newest email comes first
    else:
        [mail] = stack.emails(to=email)
        link = signup_link_path(mail.body)
    assert "Choose your password" in browser.get(link).text
    page = browser.submit(button="Finish signing up", data={"password": PASSWORD})
    assert page.status_code == 200 and page.url.endswith("/dashboard/"), (page.url, page.text[:2000])
    return browser


def connect_freshbooks(browser: Browser, stack, business_name: str | None = None, *, from_dashboard=False):
    """One click on "Connect FreshBooks" (the dashboard's step, or the FreshBooks page) -> the stand-in's
    authorize page -> Allow -> back to the app (choosing `business_name` when the login has several) -> the
    callbacks page."""
    browser.get("/dashboard/" if from_dashboard else "/freshbooks/")
    page = browser.submit(button="Connect FreshBooks")
    assert page.url.startswith(f"{stack.freshbooks_url}/oauth/authorize"), page.url
    assert "Authorize" in page.text
    page = browser.submit(button="Allow")
    if "Which business?" in page.text:
        assert business_name, "the login has several businesses: say which"
        value = re.search(r'value="([^"]+)"[^>]*>\s*' + re.escape(business_name), page.text)
        assert value, f"{business_name} not offered"
        page = browser.submit(button="Connect this business", data={"business_id": value.group(1)})
    assert page.status_code == 200 and page.url.endswith("/freshbooks/callbacks/"), (page.url, page.text[:2000])
    return page


def callbacks_verified(browser: Browser) -> bool:
    """The app's callbacks page lists every callback, each Verified."""
    page = browser.get("/freshbooks/callbacks/")
    states = re.findall(r'data-label="State">\s*<span class="badge[^"]*">([^<]+)</span>', page.text)
    return bool(states) and all(state == "Verified" for state in states)


def add_to_slack(browser: Browser, stack, *, again: bool = False, from_dashboard: bool = False):
    """One click on "Add to Slack" (the dashboard's step, or the Slack page) -> the stand-in's authorize page
    -> Allow -> back to the app."""
    browser.get("/dashboard/" if from_dashboard else "/slack/")
    page = browser.submit(button="Add to Slack again" if again else "Add to Slack")
    assert page.url.startswith(f"{stack.slack_url}/oauth/v2/authorize"), page.url
    page = browser.submit(button="Allow")
    assert page.status_code == 200 and page.url.endswith("/slack/"), (page.url, page.text[:2000])
    assert "Connected to" in page.text, page.text[:3000]
    return page
