"""End-to-end fixtures: the whole system as real processes (sandbox/stack.py) on PostgreSQL and Redis,
with the FreshBooks and Slack stand-ins. One stack per test module; each test gets its own tenant."""

import itertools
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

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


@pytest.fixture(autouse=True)
def _no_network():
    """Processes here talk over loopback only; the unit tests' socket guard is not needed (and would
    get in the way of nothing, but keep the e2e tests independent of it)."""
    yield


def stack_database_url(name: str) -> str:
    """A database of its own per stack, named after the test database (so parallel checkouts never meet)."""
    base = urlsplit(os.environ["DATABASE_URL"])  # the test database (connector/settings_test.py)
    return urlunsplit(base._replace(path=f"/{base.path.lstrip('/')}_{name}"))


@pytest.fixture(scope="module")
def stack(request):
    name = request.module.__name__.rsplit(".", 1)[-1]
    with Stack(StackConfig(name=name, database_url=stack_database_url(f"e2e_{name}"))) as running:
        yield running




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
    """Each test starts from a fresh FreshBooks account (so no earlier test's callbacks receive its events)
    and a Slack workspace without faults or pending revocations. Slack keeps its messages: tests look at
    those posted after the returned ts."""
    stack.freshbooks("POST", "/_control/reset")
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


@pytest.fixture
def operator(stack):
    since = stand_ins_fresh(stack)
    n = next(_tenants)
    email = f"owner{n}@example.com"
    out = manage_batch(stack, ["createtenant", "--name", f"E2E Business {n}", "--owner", email, "--password", PASSWORD],
                       ["apitoken", "--tenant", "{createtenant}", "--user", email])
    operator = Operator(stack, out["createtenant"], email, out["apitoken"])
    operator.since_ts = since
    return operator


@pytest.fixture
def connected(stack, operator):
    """The operator's tenant connected to both stand-ins by the operator commands, callbacks verified."""
    fb = stack.freshbooks("POST", "/_control/tokens")
    sl = stack.slack("POST", "/_control/tokens")
    manage_batch(stack,
                 ["connect_freshbooks", "--tenant", operator.slug, "--access-token", fb["access_token"],
                  "--refresh-token", fb["refresh_token"], "--expires-in", str(fb.get("expires_in", 43200)),
                  "--account-id", fb["account_id"], "--business-id", str(fb["business_id"])],
                 ["connect_slack", "--tenant", operator.slug, "--bot-token", sl["access_token"],
                  "--team-id", sl["team_id"], "--team-name", sl["team_name"]],
                 ["register_callbacks", "--tenant", operator.slug])
    operator.account_id = fb["account_id"]
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
    page = browser.submit(button="Create account", data={"business_name": business_name, "email": email,
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
