"""Signed Events API calls from the Slack stand-in to the app: v0 signatures over
"v0:{timestamp}:{body}" with the signing secret, as Slack sends them."""

import hashlib
import hmac
import json
import time

import requests

from sandbox.slack.workspace import APP_ID, BOT_USER_ID, INSTALLER_USER_ID, Workspace

EVENT_TIMEOUT_SECONDS = 3  # Slack gives an events endpoint 3 seconds to answer
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
VERIFICATION_TOKEN = "sandbox-verification-token"  # the deprecated `token` field every payload still carries
EVENT_TYPES = ("app_uninstalled", "tokens_revoked", "url_verification")
EVENTS_KEPT = 200  # how many sent events the control log remembers


def signature(signing_secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def build_payload(workspace: Workspace, event_type: str, team_id: str | None = None) -> dict:
    team = team_id or workspace.data["team"]["id"]
    now = time.time()
    if event_type == "url_verification":
        return {"token": VERIFICATION_TOKEN, "challenge": workspace.store.secret("challenge", 40),
                "type": "url_verification"}
    if event_type == "app_uninstalled":
        event = {"type": "app_uninstalled", "event_ts": f"{now:.6f}"}
    elif event_type == "tokens_revoked":
        # "Each key contains an array of user IDs, not the actual token strings"
        event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [BOT_USER_ID]}, "event_ts": f"{now:.6f}"}
    else:
        raise ValueError(f"unknown event type {event_type}; use one of {', '.join(EVENT_TYPES)}")
    number = workspace.store.next_id("event")
    return {"token": VERIFICATION_TOKEN, "team_id": team, "api_app_id": APP_ID, "event": event,
            "type": "event_callback", "event_id": f"Ev0SBX{number:06d}", "event_time": int(now),
            "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": INSTALLER_USER_ID,
                                "is_bot": False, "is_enterprise_install": False}],
            "is_ext_shared_channel": False}


def send_event(workspace: Workspace, event_type: str, events_url: str | None, signing_secret: str | None,
               team_id: str | None = None, timestamp: int | None = None, bad_signature: bool = False) -> dict:
    """POST one signed event to the app and record what happened."""
    if not events_url:
        raise ValueError("no events URL: start with --events-url or POST /_control/settings {\"events_url\": ...}")
    if not signing_secret:
        raise ValueError("no signing secret: start with --signing-secret or set it in /_control/settings")
    payload = build_payload(workspace, event_type, team_id)
    body = json.dumps(payload)
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    secret = signing_secret + ("-wrong" if bad_signature else "")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature(secret, stamp, body)}
    record = {"type": event_type, "event_id": payload.get("event_id"), "url": events_url, "sent_at": time.time(),
              "status": None, "error": None, "response": None}
    try:
        answer = requests.post(events_url, data=body.encode(), headers=headers, timeout=EVENT_TIMEOUT_SECONDS)
        record["status"], record["response"] = answer.status_code, answer.text[:200]
        if event_type == "url_verification":
            record["challenge_ok"] = payload["challenge"] in answer.text
    except requests.RequestException as error:
        record["error"] = f"{type(error).__name__}: {error}"[:200]
    with workspace.store.lock:
        sent = workspace.data["events_sent"]
        sent.append(record)
        del sent[:-EVENTS_KEPT]
        workspace.store.changed()
    return record | {"payload": payload}
