"""Requests Slack sends when people act (button clicks, slash commands): signature check and parsing into
plain values. No decision here; the pipeline decides what an action means for a tenant.

Both kinds are form-encoded and signed like events (v0 HMAC-SHA256 of "v0:{timestamp}:{raw body}",
5 minutes of clock skew at most), checked with slack-sdk's SignatureVerifier on the raw bytes.
"""

from dataclasses import dataclass, field
from urllib.parse import parse_qs

from django.conf import settings
from slack_sdk.signature import SignatureVerifier

from connector.core.text import any_forbidden_chars, json_loads_bounded
from connector.slack import constants


class SlackRequestRefused(Exception):
    """The request is not one to act on; `status` is the HTTP answer (401 unsigned, 400 unreadable, ...)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Interaction:
    """One block_actions click (the first action of the payload; Slack sends one per click)."""

    team_id: str
    user_id: str
    user_name: str
    action_id: str
    value: str
    channel_id: str  # the message's channel, "" for clicks outside a message (App Home)
    message_ts: str
    response_url: str
    message: dict = field(default_factory=dict)  # the message as Slack shows it (blocks, text)


@dataclass(frozen=True)
class Command:
    team_id: str
    user_id: str
    command: str
    text: str
    channel_id: str
    response_url: str


def verified_body(request) -> bytes:
    """The raw body of a request Slack signed, or SlackRequestRefused (413, 503, 401)."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > constants.MAX_EVENT_BODY_BYTES:
        raise SlackRequestRefused(413, "body too large")
    body = request.body
    if len(body) > constants.MAX_EVENT_BODY_BYTES:
        raise SlackRequestRefused(413, "body too large")
    if not settings.SLACK_SIGNING_SECRET:
        raise SlackRequestRefused(503, "SLACK_SIGNING_SECRET is not configured")
    try:
        valid = SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(body, dict(request.headers))
    except (TypeError, ValueError):  # a timestamp header that is not a number
        valid = False
    if not valid:
        raise SlackRequestRefused(401, "bad or stale signature")
    return body


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SlackRequestRefused(400, "not a form") from exc
    return {key: values[0] for key, values in pairs.items() if values}


def _text(value, limit: int = 255) -> str:
    return value[:limit] if isinstance(value, str) else ""


def interaction_parse(body: bytes) -> Interaction | None:
    """The click in an interaction payload; None for payload types we do not act on (answered 200)."""
    raw = _form(body).get("payload")
    if raw is None:
        raise SlackRequestRefused(400, "no payload field")
    try:
        payload = json_loads_bounded(raw)
    except ValueError as exc:
        raise SlackRequestRefused(400, "payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SlackRequestRefused(400, "payload is not an object")
    if any_forbidden_chars(payload):  # "\u0000" or a lone "\ud800" escape: no text we store may hold them
        raise SlackRequestRefused(400, "payload holds NUL or a lone surrogate")
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    team, user = payload.get("team"), payload.get("user")
    if not (isinstance(actions, list) and actions and isinstance(actions[0], dict)
            and isinstance(team, dict) and isinstance(user, dict)):
        raise SlackRequestRefused(400, "block_actions without team, user or actions")
    action = actions[0]
    if not isinstance(team.get("id"), str) or not team["id"] or not isinstance(user.get("id"), str) \
            or not user["id"]:
        raise SlackRequestRefused(400, "block_actions without a team or user id")
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    return Interaction(
        team_id=_text(team.get("id"), 32), user_id=_text(user.get("id"), 32),
        user_name=_text(user.get("name") or user.get("username")), action_id=_text(action.get("action_id")),
        value=_text(action.get("value"), 64), channel_id=_text(container.get("channel_id") or channel.get("id"), 32),
        message_ts=_text(container.get("message_ts") or message.get("ts"), 32),
        response_url=_text(payload.get("response_url"), 1000), message=message,
    )


def command_parse(body: bytes) -> Command:
    form = _form(body)
    if any_forbidden_chars(form):
        raise SlackRequestRefused(400, "slash command holds NUL or a lone surrogate")
    if not form.get("team_id") or not form.get("user_id") or not form.get("command"):
        raise SlackRequestRefused(400, "slash command without team, user or command")
    return Command(team_id=_text(form["team_id"], 32), user_id=_text(form["user_id"], 32),
                   command=_text(form["command"], 64), text=_text(form.get("text"), 500).strip(),
                   channel_id=_text(form.get("channel_id"), 32), response_url=_text(form.get("response_url"), 1000))
