"""Slack stand-in: people acting. A click on a message's button is a signed block_actions POST to the app,
a slash command a signed form; answers through response_url replace the message or stay ephemeral."""

import json
from urllib.parse import parse_qs

import requests
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from tests.sandbox.conftest import SIGNING_SECRET

BUTTONS = [{"type": "header", "text": {"type": "plain_text", "text": "New invoice 0001"}},
           {"type": "actions", "block_id": "invoice_actions", "elements": [
               {"type": "button", "action_id": "send_reminder", "value": "77",
                "text": {"type": "plain_text", "text": "Send reminder"}},
               {"type": "button", "action_id": "claim", "value": "77", "text": {"type": "plain_text", "text": "Mine"}},
               {"type": "button", "action_id": "open_in_freshbooks", "url": "https://example.com/i/77",
                "text": {"type": "plain_text", "text": "Open in FreshBooks"}}]}]


def _posted(slack, slack_token) -> str:
    client = WebClient(token=slack_token, base_url=f"{slack.url}/api/")
    return client.chat_postMessage(channel="C0SBX0002", text="New invoice 0001", blocks=BUTTONS)["ts"]


def test_the_page_shows_clickable_buttons_and_a_click_is_a_signed_block_actions(slack, slack_token, receiver):
    ts = _posted(slack, slack_token)

    page = requests.get(slack.url).text
    answer = requests.post(f"{slack.url}/_control/interact",
                           json={"channel": "C0SBX0002", "ts": ts, "action_id": "send_reminder"})

    assert "action='/_control/interact'" in page and "data-action-id='send_reminder'" in page
    assert answer.status_code == 200 and answer.json()["status"] == 200
    request = receiver.requests[-1]
    assert request.path == "/slack/interactions/"
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(request.body, dict(request.headers.items()))
    payload = json.loads(parse_qs(request.body.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["team"]["id"] == "T0SANDBOX"
    assert payload["actions"][0] | {"action_ts": "x"} == {
        "action_id": "send_reminder", "block_id": "invoice_actions", "type": "button", "value": "77",
        "action_ts": "x", "text": {"type": "plain_text", "text": "Send reminder"}}
    assert payload["container"] == {"type": "message", "message_ts": ts, "channel_id": "C0SBX0002",
                                    "is_ephemeral": False}


def test_response_url_replaces_the_message_or_stays_ephemeral_and_works_five_times(slack, slack_token, receiver):
    ts = _posted(slack, slack_token)
    requests.post(f"{slack.url}/_control/interact", json={"channel": "C0SBX0002", "ts": ts, "action_id": "claim"})
    url = json.loads(parse_qs(receiver.requests[-1].body.decode())["payload"][0])["response_url"]

    replaced = requests.post(url, json={"replace_original": True, "text": "claimed", "blocks": BUTTONS[:1]})
    note = requests.post(url, json={"response_type": "ephemeral", "text": "only you"})
    for _ in range(3):
        requests.post(url, json={"response_type": "ephemeral", "text": "again"})
    sixth = requests.post(url, json={"response_type": "ephemeral", "text": "too many"})

    assert replaced.status_code == 200 and note.status_code == 200
    message = [m for m in requests.get(f"{slack.url}/_control/messages", params={"channel": "C0SBX0002"}).json()[
        "messages"] if m["ts"] == ts][0]
    assert message["text"] == "claimed" and message["blocks"] == BUTTONS[:1] and "edited" in message
    assert sixth.status_code == 404 and sixth.text == "used_url"
    assert requests.get(f"{slack.url}/_control/interactions").json()["ephemerals"][0]["text"] == "only you"


def test_a_slash_command_is_signed_and_its_answer_shown_as_ephemeral(slack, receiver):
    answer = requests.post(f"{slack.url}/_control/command", json={"text": "unpaid"})

    assert answer.json()["status"] == 200
    request = receiver.requests[-1]
    assert request.path == "/slack/commands/"
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(request.body, dict(request.headers.items()))
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert form["command"] == "/freshbooks" and form["text"] == "unpaid" and form["team_id"] == "T0SANDBOX"
    assert form["response_url"].startswith(slack.url)


def test_views_publish_keeps_the_home_tab(slack, slack_token):
    client = WebClient(token=slack_token, base_url=f"{slack.url}/api/")

    client.views_publish(user_id="U0SANDBOXOWNER", view={"type": "home", "blocks": BUTTONS[:1]})

    homes = requests.get(f"{slack.url}/_control/interactions").json()["home_views"]
    assert homes["U0SANDBOXOWNER"]["blocks"] == BUTTONS[:1]
