"""Slack fixtures: a local HTTP server standing in for slack.com/api (slack-sdk uses urllib, so it is
pointed there through base_url), an installation, and signal recorders."""

import json

import pytest

from connector.slack.signals import installation_reactivated, installation_revoked
from tests.factories import SlackInstallationFactory


@pytest.fixture
def slack_api(httpserver, settings):
    """The stand-in for https://slack.com/api/: expect requests on it with httpserver.expect_request."""
    settings.SLACK_API_URL = httpserver.url_for("/api/")
    return httpserver


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def installation(tenant):
    return SlackInstallationFactory(tenant=tenant)


def request_args(request) -> dict:
    """A Slack API request's arguments, whether sent as JSON or as a form."""
    if request.content_type and request.content_type.startswith("application/json"):
        return json.loads(request.get_data(as_text=True))
    request.get_data()  # cached, so the form below parses what was received
    return {**request.args.to_dict(), **request.form.to_dict()}  # urlencoded or multipart


class SignalRecorder:
    def __init__(self, signal):
        self.calls: list[dict] = []
        self._signal = signal
        signal.connect(self._receive, weak=False)

    def _receive(self, sender, **kwargs):
        self.calls.append({"sender": sender, **kwargs})

    def disconnect(self):
        self._signal.disconnect(self._receive)


@pytest.fixture
def revoked_signals():
    recorder = SignalRecorder(installation_revoked)
    yield recorder
    recorder.disconnect()


@pytest.fixture
def reactivated_signals():
    recorder = SignalRecorder(installation_reactivated)
    yield recorder
    recorder.disconnect()
