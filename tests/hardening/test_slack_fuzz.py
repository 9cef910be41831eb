"""Hypothesis fuzz of the doors Slack and FreshBooks knock on: validly signed Slack events of every shape
(NUL, lone surrogates, huge numbers, NaN, odd JSON types, deep nesting, garbage bytes) and signed
FreshBooks webhooks with hostile fields. Whatever arrives, the answer is never a server error."""

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.core.text import has_forbidden_chars
from connector.freshbooks.signature import signature_compute
from tests.factories import SlackInstallationFactory
from tests.freshbooks.conftest import VERIFIER, connection, settings_fb, verified_callback  # noqa: F401

pytestmark = pytest.mark.django_db

SECRET = "slack-signing-secret"  # settings_test.SLACK_SIGNING_SECRET
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs", "Cc"]), max_size=5),  # lone surrogates and control characters
    st.sampled_from(["T0TEAM", "U0BOT", "T0\x00TEAM", "\ud800", "\udfff", "app_uninstalled", "tokens_revoked"]),
)
numbers = st.one_of(st.integers(min_value=-(10**40), max_value=10**40), st.floats(),
                    st.sampled_from([2**31, 2**63, 10**20, 1e20, -1]))
json_values = st.recursive(st.none() | st.booleans() | numbers | hostile_text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
                           max_leaves=12)
events = st.one_of(
    json_values,
    st.fixed_dictionaries({"type": st.sampled_from(["app_uninstalled", "tokens_revoked"]) | json_values},
                          optional={"tokens": st.one_of(json_values, st.fixed_dictionaries(
                              {"bot": st.lists(hostile_text | json_values, max_size=3) | json_values},
                              optional={"oauth": json_values}))}),
)
payloads = st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification"]) | json_values},
    optional={"team_id": st.just("T0TEAM") | json_values, "event_id": hostile_text | json_values,
              "event_time": numbers | json_values, "event": events, "challenge": json_values},
)


def _json_bytes(value) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: lone surrogates travel as \ud800 escapes


def _nested(depth: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


slack_bodies = st.one_of(
    payloads.map(_json_bytes),
    json_values.map(_json_bytes),
    st.builds(_nested, st.integers(min_value=1, max_value=200_000), st.sampled_from(["[", '{"a":'])),
    st.binary(max_size=200),
)


def _post_slack(client, body: bytes, path: str = "/slack/events/", content_type: str = "application/json"):
    ts = str(int(time.time()))
    # Slack's v0 scheme over the raw bytes (slack-sdk's helper wants text; garbage bytes are not text).
    signature = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return client.post(path, data=body, content_type=content_type,
                       HTTP_X_SLACK_REQUEST_TIMESTAMP=ts, HTTP_X_SLACK_SIGNATURE=signature)


def test_signed_slack_events_of_any_shape_never_error(client, tenant):
    SlackInstallationFactory(tenant=tenant, team_id="T0TEAM", bot_user_id="U0BOT")

    @FUZZ
    @given(body=slack_bodies)
    def run(body):
        assert _post_slack(client, body).status_code < 500

    run()


def _form_body(fields: dict) -> bytes:
    return urlencode(fields, errors="surrogatepass").encode()


def _block_actions(team_id, user_id, value) -> dict:
    return {"type": "block_actions", "team": {"id": team_id}, "user": {"id": user_id, "name": "ann"},
            "actions": [{"action_id": "invoice_claim", "value": value}], "response_url": "",
            "container": {"channel_id": "C0SALES", "message_ts": "1.2"}}


def test_signed_slack_interactions_and_commands_of_any_shape_never_error(client, tenant):
    SlackInstallationFactory(tenant=tenant, team_id="T0TEAM", bot_user_id="U0BOT")

    @FUZZ
    @given(payload=slack_bodies, clicked=st.builds(_block_actions, hostile_text, hostile_text, hostile_text),
           command=st.dictionaries(st.sampled_from(["team_id", "user_id", "command", "text", "channel_id",
                                                    "response_url"]) | hostile_text, hostile_text, max_size=7))
    def run(payload, clicked, command):
        for raw in (payload, json.dumps(clicked).encode()):
            body = _form_body({"payload": raw.decode("utf-8", "surrogateescape")})
            response = _post_slack(client, body, "/slack/interactions/", "application/x-www-form-urlencoded")
            assert response.status_code < 500
        response = _post_slack(client, _form_body(command), "/slack/commands/", "application/x-www-form-urlencoded")
        assert response.status_code < 500

    run()


@pytest.mark.parametrize("team_id", ["T0\x00TEAM", "T0\ud800"])
def test_a_click_with_nul_or_a_lone_surrogate_is_refused(client, tenant, team_id):
    SlackInstallationFactory(tenant=tenant, team_id="T0TEAM", bot_user_id="U0BOT")
    body = _form_body({"payload": json.dumps(_block_actions(team_id, "U1", "1"))})  # the escapes \u0000, \ud800
    response = _post_slack(client, body, "/slack/interactions/", "application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_a_slash_command_with_nul_is_refused(client, tenant):
    SlackInstallationFactory(tenant=tenant, team_id="T0TEAM", bot_user_id="U0BOT")
    body = _form_body({"team_id": "T0TEAM", "user_id": "U1", "command": "/freshbooks", "text": "invoice 1\x00"})
    response = _post_slack(client, body, "/slack/commands/", "application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert b"NUL" in response.content


# Field values a hostile sender puts in a webhook, NUL and lone surrogates included (the intake refuses
# those with a 400: PostgreSQL text cannot hold NUL, and a surrogate is not UTF-8).
webhook_text = st.one_of(st.text(max_size=80),
                         st.text(st.characters(categories=["Cs", "Cc"]), max_size=5),
                         st.sampled_from(["invoice.create", "callback.verify", "payment.update", "99999999999999999999",
                                          "-1", "1e20", "NaN", "", "1\x00", "\ud800", "\udfff"]))
webhook_forms = st.dictionaries(
    st.sampled_from(["name", "object_id", "account_id", "business_id", "identity_id", "user_id", "verifier",
                     "system"]) | webhook_text, webhook_text, max_size=8)


def test_signed_webhooks_with_hostile_fields_never_error(client, verified_callback, settings):  # noqa: F811
    tenant = verified_callback.tenant
    # Many examples are malformed; the per-URL cap on unverified posts (a 429) is not what this test is about.
    settings.FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT = 1_000_000

    @FUZZ
    @given(form=webhook_forms)
    def run(form):
        # Surrogates travel as the bytes a client would send ("surrogatepass"); the signature is over the
        # fields as FreshBooks computes it.
        body = urlencode(form, errors="surrogatepass")
        response = client.post(f"/webhooks/freshbooks/{tenant.webhook_token}/", data=body,
                               content_type="application/x-www-form-urlencoded",
                               HTTP_X_FRESHBOOKS_HMAC_SHA256=signature_compute(form, VERIFIER))
        assert response.status_code < 500
        if any(has_forbidden_chars(text) for pair in form.items() for text in pair):
            assert response.status_code == 400, response.content
            assert response.json()["status"] == "malformed"

    run()
