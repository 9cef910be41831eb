"""Slack stand-in, threads and edits, through slack_sdk.WebClient as the app calls it: chat.update (the ts
stays, Slack's errors, Tier 3 budget per workspace), replies with thread_ts and reply_broadcast (paced like
posts), conversations.history (the channel) against conversations.replies (a thread, 1 call a minute by
default), deleting a message, and the control API tests read all of it from."""

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

ACCOUNTING = "C0SBX0002"
SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Invoice 0000012* Sent, $2,000.00 outstanding"}}]
PAID = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Invoice 0000012* Paid"}}]
METADATA = {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": "41"}}


def _client(slack, token) -> WebClient:
    return WebClient(token=token, base_url=f"{slack.url}/api/", timeout=5)


def _error(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def _control(slack, endpoint: str, **body) -> dict:
    answer = requests.post(f"{slack.url}/_control/{endpoint}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _inspect(slack, **query) -> list[dict]:
    return requests.get(f"{slack.url}/_control/messages", params=query).json()["messages"]


def _stats(slack) -> dict:
    return requests.get(f"{slack.url}/_control/stats").json()


@pytest.fixture
def client(slack, slack_token) -> WebClient:
    _control(slack, "settings", channel_rate_window=0, replies_rate_per_minute=0)
    return _client(slack, slack_token)


@pytest.fixture
def card(client) -> str:
    return client.chat_postMessage(channel=ACCOUNTING, text="Invoice 0000012", blocks=SECTION,
                                   metadata=METADATA)["ts"]


# -- chat.update -------------------------------------------------------------------------------------------

def test_update_edits_the_message_in_place_and_keeps_its_ts(slack, client, card):
    updated = client.chat_update(channel=ACCOUNTING, ts=card, text="Invoice 0000012 paid", blocks=PAID)

    history = client.conversations_history(channel=ACCOUNTING, include_all_metadata=True)["messages"]
    assert (updated["ts"], updated["channel"], updated["text"]) == (card, ACCOUNTING, "Invoice 0000012 paid")
    assert [(m["ts"], m["text"], m["blocks"]) for m in history] == [(card, "Invoice 0000012 paid", PAID)]
    assert history[0]["edited"]["user"] == "U0SANDBOXBOT" and float(history[0]["edited"]["ts"]) > float(card)
    assert history[0]["metadata"] == METADATA  # left out of the edit: kept
    [shown] = _inspect(slack, channel=ACCOUNTING)
    assert (shown["edit_count"], shown["edited"], shown["thread_ts"]) == (1, history[0]["edited"], None)
    assert _stats(slack)["edits_accepted"] == 1


def test_update_replaces_or_removes_metadata(slack, client, card):
    newer = {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": "42"}}

    client.chat_update(channel=ACCOUNTING, ts=card, text="v2", metadata=newer)
    replaced = _inspect(slack, channel=ACCOUNTING)[0]
    client.chat_update(channel=ACCOUNTING, ts=card, text="v3", metadata={})
    removed = _inspect(slack, channel=ACCOUNTING)[0]

    assert replaced["metadata"] == newer and replaced["blocks"] == SECTION  # blocks left out: kept
    assert "metadata" not in removed and removed["edit_count"] == 2


def test_update_errors_as_slack_answers_them(slack, client, card):
    other = client.chat_postMessage(channel=ACCOUNTING, text="Invoice 0000013")["ts"]
    person = _control(slack, "messages", channel="accounting", text="I paid it yesterday")["message"]["ts"]
    _control(slack, f"messages/{ACCOUNTING}/{card}/delete")
    _control(slack, "channels", name="closed")
    _control(slack, "channels/closed/archive")

    def code(**kwargs):
        return _error(lambda: client.chat_update(**({"text": "x"} | kwargs))).response["error"]

    assert code(channel=ACCOUNTING, ts=card) == "message_not_found"  # deleted in Slack
    assert code(channel=ACCOUNTING, ts="1700000000.000001") == "message_not_found"
    assert code(channel=ACCOUNTING, ts=person) == "cant_update_message"
    assert code(channel="C0NOPE", ts=person) == "channel_not_found"
    assert code(channel="C0SBX0005", ts=person) == "channel_not_found"  # private, the bot is not in it
    assert code(channel="closed", ts=person) == "is_inactive"
    assert code(channel=ACCOUNTING, ts=other, text="") == "no_text"
    assert code(channel=ACCOUNTING, ts=other, blocks=[{"type": "nope"}]) == "invalid_blocks"
    assert [(m["text"], m["edit_count"]) for m in _inspect(slack, channel=ACCOUNTING)] == [
        ("Invoice 0000013", 0), ("I paid it yesterday", 0)]


def test_update_token_errors(slack, client, card):
    narrow = requests.post(f"{slack.url}/_control/tokens", json={"scopes": "channels:read"}).json()["access_token"]

    assert _error(lambda: _client(slack, "xoxb-nope").chat_update(channel=ACCOUNTING, ts=card, text="x")
                  ).response["error"] == "invalid_auth"
    assert _error(lambda: _client(slack, None).chat_update(channel=ACCOUNTING, ts=card, text="x")
                  ).response["error"] == "not_authed"
    scope = _error(lambda: _client(slack, narrow).chat_update(channel=ACCOUNTING, ts=card, text="x")).response
    assert (scope["error"], scope["needed"]) == ("missing_scope", "chat:write")
    _control(slack, "revoke", send_events=False)
    assert _error(lambda: client.chat_update(channel=ACCOUNTING, ts=card, text="x")
                  ).response["error"] == "token_revoked"


def test_update_over_the_tier_3_budget_gets_429_counted_apart_from_posts(slack, client):
    _control(slack, "settings", edit_rate_per_minute=3, channel_rate_window=1)
    card = client.chat_postMessage(channel=ACCOUNTING, text="v0")["ts"]

    accepted = [client.chat_update(channel=ACCOUNTING, ts=card, text=f"v{n}")["ok"] for n in range(3)]
    limited = _error(lambda: client.chat_update(channel=ACCOUNTING, ts=card, text="v4"))

    assert accepted == [True, True, True]  # within the post's second: edits are not paced per channel
    assert limited.response.status_code == 429 and limited.response["error"] == "ratelimited"
    assert limited.response.headers["Retry-After"] == "20"  # a minute's budget of 3 refills one every 20 s
    stats = _stats(slack)
    assert (stats["edit_ratelimited"], stats["ratelimited"], stats["edits_accepted"]) == (1, 0, 3)
    assert _inspect(slack, channel=ACCOUNTING)[0]["text"] == "v2"


def test_default_edit_budget_is_50_a_minute(slack, client, card):
    for n in range(50):
        client.chat_update(channel=ACCOUNTING, ts=card, text=f"v{n}")

    limited = _error(lambda: client.chat_update(channel=ACCOUNTING, ts=card, text="one too many"))

    assert limited.response.status_code == 429 and int(limited.response.headers["Retry-After"]) >= 1
    assert _stats(slack)["edit_ratelimited"] == 1


def test_channel_faults_answer_edits_only_when_asked(slack, client, card):
    _control(slack, "faults", channel="accounting", error="is_archived")  # posts only, as before
    edited = client.chat_update(channel=ACCOUNTING, ts=card, text="still editable")
    _control(slack, "faults", channel="accounting", status=503, method="chat.update", count=1)
    unavailable = _error(lambda: client.chat_update(channel=ACCOUNTING, ts=card, text="x"))

    assert edited["ok"] is True
    assert unavailable.response.status_code == 503
    assert client.chat_update(channel=ACCOUNTING, ts=card, text="after the fault")["ok"] is True


# -- threads ---------------------------------------------------------------------------------------------

def test_replies_go_in_the_thread_and_a_broadcast_also_in_the_channel(slack, client, card):
    reply = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="Sent by email")
    broadcast = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="Paid in full",
                                        reply_broadcast=True)

    history = client.conversations_history(channel=ACCOUNTING)["messages"]
    thread = client.conversations_replies(channel=ACCOUNTING, ts=card)["messages"]

    assert [m["text"] for m in history] == ["Paid in full", "Invoice 0000012"]  # newest first, no plain reply
    parent = history[1]
    assert (parent["thread_ts"], parent["reply_count"], parent["latest_reply"]) == (card, 2, broadcast["ts"])
    assert (history[0]["subtype"], history[0]["thread_ts"]) == ("thread_broadcast", card)
    assert [(m["ts"], m["text"]) for m in thread] == [
        (card, "Invoice 0000012"), (reply["ts"], "Sent by email"), (broadcast["ts"], "Paid in full")]
    assert all(m["thread_ts"] == card for m in thread)
    assert "reply_broadcast" not in history[0]  # Slack says it with the subtype
    shown = _inspect(slack, channel=ACCOUNTING)
    assert [(m["thread_ts"], m["reply_broadcast"], m["reply_count"]) for m in shown] == [
        (None, False, 2), (card, False, 0), (card, True, 0)]
    stats = _stats(slack)
    assert (stats["replies_accepted"], stats["broadcasts_accepted"]) == (2, 1)


def test_a_reply_to_a_reply_joins_the_parents_thread(client, card):
    first = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="one")["ts"]

    second = client.chat_postMessage(channel=ACCOUNTING, thread_ts=first, text="two")

    assert second["message"]["thread_ts"] == card
    assert len(client.conversations_replies(channel=ACCOUNTING, ts=first)["messages"]) == 3


def test_a_reply_to_no_message_is_thread_not_found_or_an_orphan(slack, client, card):
    _control(slack, f"messages/{ACCOUNTING}/{card}/delete")

    missing = _error(lambda: client.chat_postMessage(channel=ACCOUNTING, thread_ts="1700000000.000001", text="x"))
    deleted = _error(lambda: client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="x"))
    _control(slack, "settings", orphan_replies=True)
    orphan = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="lost")

    assert missing.response["error"] == deleted.response["error"] == "thread_not_found"
    assert orphan["ok"] is True
    assert client.conversations_history(channel=ACCOUNTING)["messages"] == []
    assert [(m["text"], m["orphan"]) for m in _inspect(slack, channel=ACCOUNTING, thread_ts=card)] == [
        ("lost", True)]
    assert _stats(slack)["orphan_replies"] == 1


def test_replies_are_paced_with_the_channels_posts(slack, client, card):
    _control(slack, "settings", channel_rate_window=1)
    client.chat_postMessage(channel=ACCOUNTING, text="another card")

    limited = _error(lambda: client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="reply"))

    assert limited.response.status_code == 429 and limited.response.headers["Retry-After"] == "1"
    assert _stats(slack)["ratelimited"] == 1 and _stats(slack)["replies_accepted"] == 0


def test_conversations_replies_pages_and_filters(client, card):
    stamps = [client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text=f"r{n}")["ts"] for n in range(3)]

    first = client.conversations_replies(channel=ACCOUNTING, ts=card, limit=2)
    rest = client.conversations_replies(channel=ACCOUNTING, ts=card, limit=2,
                                        cursor=first["response_metadata"]["next_cursor"])
    newer = client.conversations_replies(channel=ACCOUNTING, ts=card, oldest=stamps[0])
    missing = _error(lambda: client.conversations_replies(channel=ACCOUNTING, ts="1700000000.000001"))

    assert [m["text"] for m in first["messages"]] == ["Invoice 0000012", "r0"] and first["has_more"] is True
    assert [m["text"] for m in rest["messages"]] == ["r1", "r2"] and rest["has_more"] is False
    assert [m["text"] for m in newer["messages"]] == ["Invoice 0000012", "r1", "r2"]
    assert missing.response["error"] == "thread_not_found"


def test_conversations_replies_is_one_call_a_minute_by_default(slack, slack_token):
    client = _client(slack, slack_token)
    card = client.chat_postMessage(channel=ACCOUNTING, text="card")["ts"]

    read = client.conversations_replies(channel=ACCOUNTING, ts=card)
    limited = _error(lambda: client.conversations_replies(channel=ACCOUNTING, ts=card))
    _control(slack, "settings", replies_rate_per_minute=50)  # a Marketplace app: Tier 3
    again = client.conversations_replies(channel=ACCOUNTING, ts=card)

    assert read["ok"] and again["ok"]
    assert limited.response.status_code == 429 and 1 <= int(limited.response.headers["Retry-After"]) <= 60
    stats = _stats(slack)
    assert (stats["replies_ratelimited"], stats["ratelimited"], stats["edit_ratelimited"]) == (1, 0, 0)


# -- deleting and inspecting -----------------------------------------------------------------------------

def test_deleting_a_reply_and_a_parent_with_replies(slack, client, card):
    kept = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="kept")["ts"]
    gone = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="gone")["ts"]

    _control(slack, f"messages/{ACCOUNTING}/{gone}/delete")
    after_reply = client.conversations_history(channel=ACCOUNTING)["messages"][0]
    _control(slack, f"messages/{ACCOUNTING}/{card}/delete")
    tombstone = client.conversations_history(channel=ACCOUNTING)["messages"]
    thread = client.conversations_replies(channel=ACCOUNTING, ts=card)["messages"]
    again = requests.post(f"{slack.url}/_control/messages/{ACCOUNTING}/{card}/delete")

    assert (after_reply["reply_count"], after_reply["latest_reply"]) == (1, kept)
    assert [(m["subtype"], m["text"]) for m in tombstone] == [("tombstone", "This message was deleted.")]
    assert [m["ts"] for m in thread] == [card, kept]
    assert (again.status_code, again.json()["error"]) == (400, "message_not_found")
    assert [m["ts"] for m in _inspect(slack, channel=ACCOUNTING)] == [kept]
    assert [m["deleted"] for m in _inspect(slack, channel=ACCOUNTING, include_deleted=1)] == [True, False, True]
    assert _stats(slack)["messages_deleted"] == 2


def test_control_api_reads_a_thread_the_channel_flow_and_one_message(slack, client, card):
    reply = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="Payment of $1,200.00")["ts"]
    broadcast = client.chat_postMessage(channel=ACCOUNTING, thread_ts=card, text="Paid", reply_broadcast=True)["ts"]
    client.chat_update(channel=ACCOUNTING, ts=card, text="Invoice 0000012 Paid", blocks=PAID)

    in_thread = _inspect(slack, channel=ACCOUNTING, thread_ts=card)
    top_level = _inspect(slack, channel="#accounting", top_level=1)
    one = requests.get(f"{slack.url}/_control/messages/{ACCOUNTING}/{card}").json()
    unknown = requests.get(f"{slack.url}/_control/messages/{ACCOUNTING}/1700000000.000001")

    assert [m["ts"] for m in in_thread] == [reply, broadcast]
    assert [m["ts"] for m in top_level] == [card, broadcast]
    assert (one["message"]["text"], one["message"]["blocks"], one["message"]["edit_count"]) == (
        "Invoice 0000012 Paid", PAID, 1)
    assert one["message"]["metadata"] == METADATA and one["message"]["reply_count"] == 2
    assert [m["text"] for m in one["replies"]] == ["Payment of $1,200.00", "Paid"]
    assert unknown.status_code == 404 and unknown.json()["error"] == "message_not_found"
