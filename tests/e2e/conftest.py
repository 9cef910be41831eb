"""End-to-end fixtures: the whole system as real processes (sandbox/stack.py) on PostgreSQL and Redis,
with the FreshBooks and Slack stand-ins. One stack per test module; each test gets its own tenant."""

import itertools
import os
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from sandbox.stack import Stack, StackConfig

_tenants = itertools.count(1)


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
    base = urlsplit(os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ml_connector"))
    return urlunsplit(base._replace(path=f"/{base.path.lstrip('/')}_{name}"))


@pytest.fixture(scope="module")
def stack(request):
    name = request.module.__name__.rsplit(".", 1)[-1]
    with Stack(StackConfig(name=name, database_url=stack_database_url(f"e2e_{name}"))) as running:
        yield running


def wait_for(predicate, timeout: float = 30, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


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


@pytest.fixture
def operator(stack):
    n = next(_tenants)
    email = f"owner{n}@example.com"
    slug = last_line(stack.manage("createtenant", "--name", f"E2E Business {n}", "--owner", email,
                                  "--password", "a-long-e2e-passphrase"))
    token = last_line(stack.manage("apitoken", "--tenant", slug, "--user", email))
    return Operator(stack, slug, email, token)


@pytest.fixture
def connected(stack, operator):
    """The operator's tenant connected to both stand-ins by the operator commands, callbacks verified."""
    fb = stack.freshbooks("POST", "/_control/tokens")
    stack.manage("connect_freshbooks", "--tenant", operator.slug, "--access-token", fb["access_token"],
                 "--refresh-token", fb["refresh_token"], "--expires-in", str(fb.get("expires_in", 43200)),
                 "--account-id", fb["account_id"], "--business-id", str(fb["business_id"]))
    sl = stack.slack("POST", "/_control/tokens")
    stack.manage("connect_slack", "--tenant", operator.slug, "--bot-token", sl["access_token"],
                 "--team-id", sl["team_id"], "--team-name", sl["team_name"])
    stack.manage("register_callbacks", "--tenant", operator.slug)
    operator.account_id = fb["account_id"]
    return operator


def channel_id(stack, name: str) -> str:
    for channel in stack.slack("GET", "/_control/channels")["channels"]:
        if channel["name"] == name:
            return channel["id"]
    raise KeyError(name)


def messages(stack, channel: str) -> list[dict]:
    return stack.slack("GET", "/_control/messages", params={"channel": channel})["messages"]
