"""Fixtures for the stand-in tests: each stand-in served from a thread on a free port, and a tiny receiver
that records what the stand-ins send to "the app"."""

import threading
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from sandbox.freshbooks import FreshBooksApp, FreshBooksConfig
from sandbox.http import App, Request, Response, SandboxServer
from sandbox.slack import SlackApp, SlackConfig
from tests.polling import wait_for as poll

FB_CLIENT_ID = FreshBooksConfig.client_id
FB_CLIENT_SECRET = FreshBooksConfig.client_secret
SLACK_CLIENT_ID = SlackConfig.client_id
SLACK_CLIENT_SECRET = SlackConfig.client_secret
SIGNING_SECRET = "test-signing-secret"


def wait_for(predicate, timeout: float = 3.0, interval: float = 0.02):
    """Poll until predicate() is truthy (the stand-ins send in background threads)."""
    return poll(predicate, timeout=timeout, interval=interval)


class Receiver(App):
    """Plays the app's side: records every request, answers `status`."""

    name = "receiver"

    def __init__(self):
        super().__init__()
        self.requests: list[Request] = []
        self.status = 200
        self.lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
        return Response.json({"ok": True}, self.status)

    def forms(self, name: str | None = None) -> list[dict]:
        with self.lock:
            found = [dict(r.form_pairs()) for r in self.requests]
        return [f for f in found if name is None or f.get("name") == name]


@pytest.fixture
def receiver():
    app = Receiver()
    server = SandboxServer(app).start()
    app.url = server.url
    yield app
    server.stop()


@pytest.fixture
def freshbooks():
    app = FreshBooksApp(FreshBooksConfig())
    app.store.data["settings"]["verify_delay"] = 0.0
    server = SandboxServer(app).start()
    app.url = server.url
    yield app
    server.stop()


@pytest.fixture
def slack(receiver):
    app = SlackApp(SlackConfig(signing_secret=SIGNING_SECRET, events_url=f"{receiver.url}/slack/events/"))
    server = SandboxServer(app).start()
    app.url = server.url
    yield app
    server.stop()


def fb_authorize(freshbooks, redirect_uri="https://app.example/fb/callback", state="st-1", **extra) -> str:
    """Press Allow on the authorize page; the authorization code."""
    answer = requests.post(f"{freshbooks.url}/oauth/authorize", allow_redirects=False, data={
        "client_id": FB_CLIENT_ID, "response_type": "code", "redirect_uri": redirect_uri, "state": state,
        "decision": "allow", **extra})
    assert answer.status_code == 302
    return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))["code"]


def fb_exchange(freshbooks, code: str, redirect_uri="https://app.example/fb/callback") -> requests.Response:
    return requests.post(f"{freshbooks.url}/auth/oauth/token", data={
        "grant_type": "authorization_code", "client_id": FB_CLIENT_ID, "client_secret": FB_CLIENT_SECRET,
        "code": code, "redirect_uri": redirect_uri})


@pytest.fixture
def fb_token(freshbooks) -> dict:
    tokens = fb_exchange(freshbooks, fb_authorize(freshbooks)).json()
    me = requests.get(f"{freshbooks.url}/auth/api/v1/users/me",
                      headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    business = me["response"]["business_memberships"][0]["business"]
    return tokens | {"account_id": business["account_id"], "business_id": business["id"],
                     "headers": {"Authorization": f"Bearer {tokens['access_token']}"}}


@pytest.fixture
def slack_token(slack) -> str:
    return requests.post(f"{slack.url}/_control/tokens", json={}).json()["access_token"]
