"""People acting in the Slack stand-in: a button click becomes a signed block_actions payload, a slash
command a signed form, both POSTed to the app as Slack sends them, and the app's answers
through response_url land back here (ephemeral notes, the message replaced, or a new message).

Signed with the signing secret the stand-in shares with the app in sandbox mode, like events.
"""

import json
import time
from urllib.parse import urlencode

import requests

from sandbox.slack.events import USER_AGENT, signature
from sandbox.slack.workspace import APP_ID, INSTALLER_USER_ID, SlackError, Workspace

ANSWER_TIMEOUT_SECONDS = 3  # Slack gives interactivity and slash command endpoints 3 seconds
RESPONSE_URL_USES = 5  # "up to 5 times within 30 minutes"
RESPONSE_URL_SECONDS = 30 * 60
KEPT = 200  # interactions, commands and ephemeral notes remembered for the control log and the page
USER_NAME = "sandbox.owner"


def _derived_url(events_url: str | None, path: str) -> str | None:
    """The app's other Slack endpoints sit next to its events URL (…/slack/events/ -> …/slack/<path>/)."""
    if not events_url or "/events/" not in events_url:
        return None
    return events_url.rsplit("/events/", 1)[0] + f"/{path}/"


def endpoint(workspace: Workspace, kind: str) -> str:
    settings = workspace.data["settings"]
    url = settings.get(f"{kind}_url") or _derived_url(settings.get("events_url"), kind)
    if not url:
        raise ValueError(f"no {kind} URL: set {kind}_url (or events_url) in /_control/settings")
    return url


def _response_url(workspace: Workspace, base_url: str, channel_id: str, message_ts: str, user_id: str) -> str:
    token = workspace.store.secret("response", 24)
    with workspace.store.lock:
        workspace.data.setdefault("response_urls", {})[token] = {
            "channel": channel_id, "message_ts": message_ts, "user": user_id, "uses": 0,
            "expires_at": time.time() + RESPONSE_URL_SECONDS}
        workspace.store.changed()
    return f"{base_url.rstrip('/')}/_response/{token}"


def _post_signed(url: str, body: str, signing_secret: str, timestamp: int | None, bad_signature: bool) -> dict:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    secret = signing_secret + ("-wrong" if bad_signature else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT,
               "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(secret, stamp, body)}
    record = {"url": url, "sent_at": time.time(), "status": None, "error": None, "response": None}
    try:
        answer = requests.post(url, data=body.encode(), headers=headers, timeout=ANSWER_TIMEOUT_SECONDS)
        record["status"], record["response"] = answer.status_code, answer.text[:2000]
    except requests.RequestException as error:
        record["error"] = f"{type(error).__name__}: {error}"[:200]
    return record


def _remember(workspace: Workspace, key: str, record: dict) -> None:
    with workspace.store.lock:
        kept = workspace.data.setdefault(key, [])
        kept.append(record)
        del kept[:-KEPT]
        workspace.store.changed()


def click(workspace: Workspace, *, base_url: str, signing_secret: str | None, channel_id: str, message_ts: str,
          action_id: str, user_id: str = INSTALLER_USER_ID, value: str | None = None, timestamp: int | None = None,
          bad_signature: bool = False) -> dict:
    """Click the button `action_id` of a message, as that user: a signed block_actions POST to the app."""
    if not signing_secret:
        raise ValueError("no signing secret: start with --signing-secret or set it in /_control/settings")
    url = endpoint(workspace, "interactions")
    with workspace.store.lock:
        channel = workspace.find_channel(channel_id)
        if channel is None:
            raise SlackError("channel_not_found")
        message = next((m for m in workspace.data["messages"][channel["id"]] if m["ts"] == message_ts), None)
        if message is None:
            raise SlackError("message_not_found")
        element = next((e for b in message.get("blocks") or [] if b.get("type") == "actions"
                        for e in b.get("elements") or [] if e.get("action_id") == action_id), None)
        if element is None:
            raise ValueError(f"the message has no button {action_id!r}")
        block_id = next(b.get("block_id", "") for b in message["blocks"] if element in (b.get("elements") or []))
        team = workspace.data["team"]
        shown = json.loads(json.dumps(message))
    action = {"action_id": action_id, "block_id": block_id, "type": "button", "action_ts": f"{time.time():.6f}",
              "text": element.get("text"), "value": value if value is not None else element.get("value", "")}
    if element.get("url"):
        action["url"] = element["url"]
    payload = {
        "type": "block_actions", "api_app_id": APP_ID, "token": "sandbox-verification-token",
        "team": {"id": team["id"], "domain": team.get("domain", "")},
        "user": {"id": user_id, "username": USER_NAME, "name": USER_NAME, "team_id": team["id"]},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel["id"],
                      "is_ephemeral": False},
        "channel": {"id": channel["id"], "name": channel["name"]}, "message": shown,
        "response_url": _response_url(workspace, base_url, channel["id"], message_ts, user_id),
        "trigger_id": f"{int(time.time())}.sandbox", "actions": [action],
    }
    record = _post_signed(url, urlencode({"payload": json.dumps(payload)}), signing_secret, timestamp,
                          bad_signature)
    record |= {"action_id": action_id, "value": action["value"], "channel": channel["id"], "message_ts": message_ts,
               "user": user_id}
    _remember(workspace, "interactions_sent", record)
    return record


def command(workspace: Workspace, *, base_url: str, signing_secret: str | None, text: str,
            channel_id: str = "", user_id: str = INSTALLER_USER_ID, name: str = "/freshbooks") -> dict:
    """Run a slash command as that user: a signed form POST; the answer (the body) is shown as ephemeral."""
    if not signing_secret:
        raise ValueError("no signing secret: start with --signing-secret or set it in /_control/settings")
    url = endpoint(workspace, "commands")
    team = workspace.data["team"]
    form = {"token": "sandbox-verification-token", "team_id": team["id"], "team_domain": team.get("domain", ""),
            "channel_id": channel_id, "user_id": user_id, "user_name": USER_NAME, "command": name, "text": text,
            "api_app_id": APP_ID, "response_url": _response_url(workspace, base_url, channel_id, "", user_id),
            "trigger_id": f"{int(time.time())}.sandbox"}
    record = _post_signed(url, urlencode(form), signing_secret, None, False) | {"text": text, "user": user_id}
    _remember(workspace, "commands_sent", record)
    if record["status"] == 200:
        try:
            answer = json.loads(record["response"] or "{}")
        except ValueError:
            answer = {"text": record["response"]}
        _remember(workspace, "ephemerals", {"user": user_id, "text": str(answer.get("text") or ""),
                                            "at": time.time(), "via": name})
    return record


def respond(workspace: Workspace, token: str, body: dict) -> tuple[int, str]:
    """What Slack does with a POST to a response_url: (status, body text)."""
    with workspace.store.lock:
        url = workspace.data.get("response_urls", {}).get(token)
        if url is None:
            return 404, "invalid_token"
        if url["expires_at"] < time.time():
            return 404, "expired_url"
        if url["uses"] >= RESPONSE_URL_USES:
            return 404, "used_url"
        url["uses"] += 1
        workspace.store.changed()
    text = str(body.get("text") or "")
    blocks = body.get("blocks")
    if body.get("replace_original") and url["message_ts"]:
        with workspace.store.lock:
            message = next((m for m in workspace.data["messages"].get(url["channel"], [])
                            if m["ts"] == url["message_ts"]), None)
            if message is None:
                return 404, "message_not_found"
            message["text"] = text or message.get("text", "")
            if blocks is not None:
                message["blocks"] = blocks
            message["edited"] = {"user": url["user"], "ts": workspace.next_ts()}
            message["edit_count"] = message.get("edit_count", 0) + 1
            workspace.store.changed()
        return 200, "ok"
    if body.get("response_type") == "in_channel" and url["channel"]:
        with workspace.store.lock:
            channel = workspace.find_channel(url["channel"])
        if channel is None:
            return 404, "channel_not_found"
        parent = None
        if body.get("thread_ts"):
            with workspace.store.lock:
                parent = workspace.thread_parent(channel["id"], body["thread_ts"])
            if parent is None:
                return 404, "thread_not_found"
        workspace.record_message(channel, text, blocks, None, {}, parent)
        return 200, "ok"
    _remember(workspace, "ephemerals", {"user": url["user"], "text": text, "at": time.time(), "via": "response_url"})
    return 200, "ok"
