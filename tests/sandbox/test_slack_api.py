"""Slack stand-in through slack_sdk.WebClient, the client the app uses: OAuth v2, reading channels,
posting with Slack's validation and rate limit, and injected faults."""

import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.sandbox.conftest import SLACK_CLIENT_ID, SLACK_CLIENT_SECRET

SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Invoice 0000012* from Acme"}}]


def _client(slack, token=None, timeout=5) -> WebClient:
    return WebClient(token=token, base_url=f"{slack.url}/api/", timeout=timeout)


def _error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def _authorize(slack, decision="allow", scope="chat:write,channels:read", state="s-1") -> dict:
    answer = requests.post(f"{slack.url}/oauth/v2/authorize", allow_redirects=False, data={
        "client_id": SLACK_CLIENT_ID, "scope": scope, "redirect_uri": "https://app.example/slack/callback",
        "state": state, "decision": decision})
    assert answer.status_code == 302
    return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))


def _install(slack, scope="chat:write,channels:read") -> dict:
    code = _authorize(slack, scope=scope)["code"]
    return _client(slack).oauth_v2_access(client_id=SLACK_CLIENT_ID, client_secret=SLACK_CLIENT_SECRET,
                                          code=code).data


def _control(slack, endpoint: str, **body) -> dict:
    answer = requests.post(f"{slack.url}/_control/{endpoint}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- OAuth ---------------------------------------------------------------------------------------------

def test_authorize_page_allow_and_cancel(slack):
    page = requests.get(f"{slack.url}/oauth/v2/authorize", params={
        "client_id": SLACK_CLIENT_ID, "scope": "chat:write", "redirect_uri": "https://app.example/cb"})

    assert "Allow" in page.text and "Cancel" in page.text and "Sandbox Workspace" in page.text
    assert set(_authorize(slack)) == {"code", "state"}
    assert _authorize(slack, decision="cancel") == {"error": "access_denied", "state": "s-1"}


def test_oauth_access_with_basic_auth_returns_a_bot_install(slack):
    install = _install(slack)

    assert install["ok"] is True
    assert install["access_token"].startswith("xoxb-sandbox-")
    assert install["token_type"] == "bot"
    assert install["team"] == {"id": "T0SANDBOX", "name": "Sandbox Workspace"}
    assert install["bot_user_id"] and install["app_id"]
    assert install["scope"] == "channels:read,chat:write"
    assert "refresh_token" not in install and install["enterprise"] is None


def test_oauth_code_works_once_and_needs_the_right_secret(slack):
    code = _authorize(slack)["code"]
    client = _client(slack)

    wrong_secret = _error(lambda: client.oauth_v2_access(client_id=SLACK_CLIENT_ID, client_secret="x", code=code))
    client.oauth_v2_access(client_id=SLACK_CLIENT_ID, client_secret=SLACK_CLIENT_SECRET, code=code)
    reused = _error(lambda: client.oauth_v2_access(client_id=SLACK_CLIENT_ID, client_secret=SLACK_CLIENT_SECRET,
                                                   code=code))

    assert wrong_secret.response["error"] == "bad_client_secret"
    assert reused.response.status_code == 200 and reused.response["error"] == "invalid_code"


def test_token_rotation_refresh_tokens_work_once(slack):
    _control(slack, "settings", token_rotation=True)
    install = _install(slack)
    client = _client(slack)

    refreshed = client.oauth_v2_access(client_id=SLACK_CLIENT_ID, client_secret=SLACK_CLIENT_SECRET,
                                       grant_type="refresh_token", refresh_token=install["refresh_token"])
    reused = _error(lambda: client.oauth_v2_access(client_id=SLACK_CLIENT_ID, client_secret=SLACK_CLIENT_SECRET,
                                                   grant_type="refresh_token",
                                                   refresh_token=install["refresh_token"]))

    assert install["access_token"].startswith("xoxe.xoxb-") and install["expires_in"] == 43200
    assert refreshed["refresh_token"] != install["refresh_token"]
    assert reused.response["error"] == "invalid_refresh_token"
    _control(slack, "tokens/expire")
    expired = _error(lambda: _client(slack, refreshed["access_token"]).auth_test())
    assert expired.response["error"] == "token_expired"


def test_auth_test_and_revoke(slack, slack_token):
    client = _client(slack, slack_token)

    identity = client.auth_test()
    client.auth_revoke()
    after = _error(client.auth_test)

    assert (identity["team_id"], identity["user_id"]) == ("T0SANDBOX", "U0SANDBOXBOT")
    assert identity["bot_id"]
    assert after.response["error"] == "token_revoked"


def test_reinstalling_after_revocation_issues_a_new_token(slack):
    first = _install(slack)["access_token"]
    _control(slack, "revoke", send_events=False)

    second = _install(slack)["access_token"]

    assert second != first
    assert _client(slack, second).auth_test()["ok"] is True


def test_unknown_token_and_no_token(slack):
    assert _error(_client(slack, "xoxb-nope").auth_test).response["error"] == "invalid_auth"
    assert _error(_client(slack).auth_test).response["error"] == "not_authed"


# -- channels ------------------------------------------------------------------------------------------

def test_conversations_list_pages_and_hides_private_channels_the_bot_is_not_in(slack, slack_token):
    client = _client(slack, slack_token)

    names = [c["name"] for page in client.conversations_list(types="public_channel,private_channel", limit=2)
             for c in page["channels"]]
    _control(slack, "channels/finance-private/invite")
    after_invite = [c["name"] for c in client.conversations_list(types="private_channel")["channels"]]

    assert names == ["general", "accounting", "exec-alerts", "accounting-team"]
    assert after_invite == ["finance-private"]


def test_conversations_info_and_rename(slack, slack_token):
    client = _client(slack, slack_token)
    _control(slack, "channels/accounting/rename", name="finance")

    info = client.conversations_info(channel="C0SBX0002")["channel"]
    hidden = _error(lambda: client.conversations_info(channel="C0SBX0005"))

    assert (info["name"], info["previous_names"], info["is_member"]) == ("finance", ["accounting"], True)
    assert hidden.response["error"] == "channel_not_found"


# -- posting -------------------------------------------------------------------------------------------

def test_post_and_read_back_with_metadata(slack, slack_token):
    client = _client(slack, slack_token)
    metadata = {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": "d-42"}}

    posted = client.chat_postMessage(channel="C0SBX0002", text="Invoice 0000012", blocks=SECTION,
                                     metadata=metadata)
    with_metadata = client.conversations_history(channel="C0SBX0002", include_all_metadata=True)
    without = client.conversations_history(channel="C0SBX0002")

    assert posted["channel"] == "C0SBX0002" and posted["ts"]
    message = with_metadata["messages"][0]
    assert (message["ts"], message["text"], message["blocks"]) == (posted["ts"], "Invoice 0000012", SECTION)
    assert message["metadata"] == metadata
    assert "metadata" not in without["messages"][0]


def test_history_is_newest_first_with_limits(slack, slack_token):
    _control(slack, "settings", channel_rate_window=0)
    client = _client(slack, slack_token)
    stamps = [client.chat_postMessage(channel="C0SBX0001", text=f"m{n}")["ts"] for n in range(4)]

    newest_two = client.conversations_history(channel="C0SBX0001", limit=2)
    after_first = client.conversations_history(channel="C0SBX0001", oldest=stamps[0])

    assert [m["text"] for m in newest_two["messages"]] == ["m3", "m2"] and newest_two["has_more"] is True
    assert [m["ts"] for m in after_first["messages"]] == stamps[:0:-1]


def test_second_post_in_a_channel_within_a_second_gets_429(slack, slack_token):
    client = _client(slack, slack_token)
    client.chat_postMessage(channel="C0SBX0002", text="first")

    limited = _error(lambda: client.chat_postMessage(channel="C0SBX0002", text="second"))
    other_channel = client.chat_postMessage(channel="C0SBX0003", text="elsewhere")
    time.sleep(1.05)
    later = client.chat_postMessage(channel="C0SBX0002", text="second, later")

    assert limited.response.status_code == 429
    assert limited.response.headers["Retry-After"] == "1"
    assert limited.response.data == {"ok": False, "error": "ratelimited"}
    assert other_channel["ok"] and later["ok"]
    texts = [m["text"] for m in client.conversations_history(channel="C0SBX0002")["messages"]]
    assert texts == ["second, later", "first"]


def test_form_encoded_posts_and_channel_names_work(slack, slack_token):
    answer = requests.post(f"{slack.url}/api/chat.postMessage", headers={"Authorization": f"Bearer {slack_token}"},
                           data={"channel": "#exec-alerts", "text": "hi", "blocks": '[{"type": "divider"}]'})

    assert answer.status_code == 200
    assert answer.json()["ok"] is True and answer.json()["channel"] == "C0SBX0003"


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]},
     "invalid_blocks"),
    ({"text": "x", "blocks": [{"type": "carousel"}]}, "invalid_blocks"),
    ({"text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "no"}}]}, "invalid_blocks"),
    ({"text": "x", "blocks": {"type": "divider"}}, "invalid_blocks_format"),
    ({"text": "x", "metadata": {"event_type": "only_a_type"}}, "invalid_metadata_format"),
    ({"text": "x", "metadata": {"event_payload": {"a": 1}}}, "invalid_metadata_format"),
    ({}, "no_text"),
    ({"text": "x" * 40001}, "msg_too_long"),
])
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_payload_errors(slack, slack_token, kwargs, error):
    raised = _error(lambda: _client(slack, slack_token).chat_postMessage(channel="C0SBX0001", **kwargs))

    assert raised.response.status_code == 200
    assert raised.response["error"] == error


def test_invalid_blocks_say_where(slack, slack_token):
    blocks = [{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]

    raised = _error(lambda: _client(slack, slack_token).chat_postMessage(channel="C0SBX0001", text="x",
                                                                          blocks=blocks))

    assert raised.response["errors"] == ["must be less than 3001 characters [json-pointer:/blocks/1/text/text]"]


def test_destinations_the_bot_cannot_post_to(slack, slack_token):
    client = _client(slack, slack_token)
    _control(slack, "channels/exec-alerts/archive")
    created = _control(slack, "channels", name="quiet", bot_member=False)["channel"]["id"]
    narrow = requests.post(f"{slack.url}/_control/tokens", json={"scopes": "chat:write"}).json()["access_token"]

    archived = _error(lambda: client.chat_postMessage(channel="C0SBX0003", text="x"))
    private = _error(lambda: client.chat_postMessage(channel="C0SBX0005", text="x"))
    unknown = _error(lambda: client.chat_postMessage(channel="C0NOPE", text="x"))
    public_with_scope = client.chat_postMessage(channel=created, text="x")
    not_in = _error(lambda: _client(slack, narrow).chat_postMessage(channel=created, text="y"))

    assert archived.response["error"] == "is_archived"
    assert private.response["error"] == "channel_not_found"
    assert unknown.response["error"] == "channel_not_found"
    assert public_with_scope["ok"] is True
    assert not_in.response["error"] == "not_in_channel"


# -- injected faults -----------------------------------------------------------------------------------

def test_injected_channel_errors_and_server_failures(slack, slack_token):
    client = _client(slack, slack_token)
    _control(slack, "faults", channel="#accounting", error="channel_not_found", count=1)
    _control(slack, "faults", channel="#general", status=503)

    injected = _error(lambda: client.chat_postMessage(channel="C0SBX0002", text="x"))
    recovered = client.chat_postMessage(channel="C0SBX0002", text="x")
    unavailable = _error(lambda: client.chat_postMessage(channel="C0SBX0001", text="x"))

    assert injected.response["error"] == "channel_not_found"
    assert recovered["ok"] is True
    assert unavailable.response.status_code == 503
    assert [m["text"] for m in client.conversations_history(channel="C0SBX0001")["messages"]] == []


def test_workspace_wide_token_revoked(slack, slack_token):
    _control(slack, "faults", error="token_revoked")

    raised = _error(lambda: _client(slack, slack_token).chat_postMessage(channel="C0SBX0002", text="x"))
    requests.delete(f"{slack.url}/_control/faults")

    assert raised.response["error"] == "token_revoked"
    assert _client(slack, slack_token).auth_test()["ok"] is True


def test_timeout_after_accepting_still_posts_the_message(slack, slack_token):
    _control(slack, "faults", channel="#accounting", timeout=1.0, count=1)
    metadata = {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": "d-7"}}

    with pytest.raises(TimeoutError):
        _client(slack, slack_token, timeout=0.3).chat_postMessage(channel="C0SBX0002", text="maybe",
                                                                  metadata=metadata)

    history = _client(slack, slack_token).conversations_history(channel="C0SBX0002", include_all_metadata=True)
    assert history["messages"][0]["metadata"] == metadata


def test_failure_and_rate_limit_rates_are_seeded(slack, slack_token):
    _control(slack, "settings", channel_rate_window=0)

    def outcomes():
        _control(slack, "faults", failure_rate=0.3, ratelimit_rate=0.2, failure_kinds="500,503", seed="s1")
        client = _client(slack, slack_token)
        seen = []
        for n in range(40):
            try:
                client.chat_postMessage(channel="C0SBX0001", text=f"m{n}")
                seen.append(200)
            except SlackApiError as error:
                seen.append(error.response.status_code)
        return seen

    first, second = outcomes(), outcomes()

    assert first == second
    assert {200, 429} <= set(first) and set(first) & {500, 503}
    assert first.count(200) > 15


def test_stats_count_messages_429s_and_duplicates(slack, slack_token):
    client = _client(slack, slack_token)
    metadata = {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": "d-1"}}
    client.chat_postMessage(channel="C0SBX0002", text="x", metadata=metadata)
    _error(lambda: client.chat_postMessage(channel="C0SBX0002", text="x", metadata=metadata))
    _control(slack, "settings", channel_rate_window=0)
    client.chat_postMessage(channel="C0SBX0002", text="x", metadata=metadata)

    stats = requests.get(f"{slack.url}/_control/stats").json()

    assert stats["messages_per_channel"]["#accounting"] == 2
    assert stats["ratelimited"] == 1
    assert stats["duplicates"] == 1 and stats["duplicate_delivery_ids"] == ["C0SBX0002:d-1"]


def test_page_shows_channels_and_rendered_messages(slack, slack_token):
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Payment received"}},
              {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Amount*\n180.00 USD"}]},
              {"type": "context", "elements": [{"type": "mrkdwn", "text": "via ml-connector"}]},
              {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"},
                                                "url": "https://example.com/inv"}]}]
    _client(slack, slack_token).chat_postMessage(channel="C0SBX0002", text="Payment", blocks=blocks)

    page = requests.get(f"{slack.url}/").text

    assert "#accounting" in page and "#finance-private" in page
    assert "<h3>Payment received</h3>" in page
    assert "<b>Amount</b><br>180.00 USD" in page
    assert "href='https://example.com/inv'" in page
    assert "setInterval" in page


def test_reset_restores_the_default_workspace(slack, slack_token):
    client = _client(slack, slack_token)
    client.chat_postMessage(channel="C0SBX0002", text="x")
    _control(slack, "channels", name="extra")

    _control(slack, "reset")

    state = requests.get(f"{slack.url}/_control/state").json()
    assert [c["name"] for c in state["channels"]] == ["general", "accounting", "exec-alerts", "accounting-team",
                                                      "finance-private"]
    assert state["tokens"] == []
    assert requests.get(f"{slack.url}/_control/messages").json()["messages"] == []


def test_post_answer_seconds_holds_each_answer_back(slack, slack_token):
    _control(slack, "settings", post_answer_seconds=0.3)
    client = _client(slack, slack_token)

    started = time.monotonic()
    slow = client.chat_postMessage(channel="C0SBX0002", text="slow")
    took = time.monotonic() - started
    _control(slack, "settings", post_answer_seconds=0)
    history = client.conversations_history(channel="C0SBX0002")["messages"]

    assert slow["ok"] and took >= 0.3
    assert [m["ts"] for m in history] == [slow["ts"]]  # recorded once, answered late
