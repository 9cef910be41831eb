"""Threads, edits and per-method limits of the Slack stand-in: what a channel shows (top-level messages and
replies also sent to the channel), a thread (parent and replies), messages as the Web API returns them and as
the control API shows them, and Slack's per-minute method budgets (chat.update is Tier 3)."""

import math
import threading
import time

# Fields the stand-in keeps on a message for itself; the Web API never returns them.
INTERNAL_FIELDS = ("edit_count", "deleted", "deleted_at", "orphan", "reply_broadcast")
TOMBSTONE_TEXT = "This message was deleted."


class MinuteBudget:
    """A Slack method tier: `per_minute` calls a minute, refilled evenly, bursts up to `per_minute` tolerated
    (a token bucket). One per method for the whole workspace, as Slack counts "per method per workspace"."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._at = 0.0

    def take(self, per_minute: float) -> int | None:
        """None when the call may go ahead, else the seconds to wait (the 429's Retry-After)."""
        if per_minute <= 0:
            return None
        with self._lock:
            now = time.monotonic()
            tokens = per_minute if self._tokens is None else \
                min(per_minute, self._tokens + (now - self._at) * per_minute / 60)
            self._at = now
            if tokens >= 1:
                self._tokens = tokens - 1
                return None
            self._tokens = tokens
            return max(1, math.ceil((1 - tokens) * 60 / per_minute))

    def reset(self) -> None:
        with self._lock:
            self._tokens = None


def is_reply(message: dict) -> bool:
    return bool(message.get("thread_ts")) and message["thread_ts"] != message["ts"]


def in_channel_flow(message: dict) -> bool:
    """Shown in the channel itself (conversations.history): a top-level message or a reply also sent to the
    channel; a deleted one only as the tombstone above its remaining replies."""
    if message.get("orphan"):
        return False
    if message.get("deleted"):
        return not is_reply(message) and bool(message.get("reply_count"))
    return not is_reply(message) or bool(message.get("reply_broadcast"))


def api_view(message: dict, with_metadata: bool) -> dict:
    """A message as conversations.history / replies return it: a parent with replies carries its own ts as
    thread_ts; a deleted parent is Slack's tombstone."""
    if message.get("deleted"):
        return {"type": "message", "subtype": "tombstone", "text": TOMBSTONE_TEXT, "user": "USLACKBOT",
                "ts": message["ts"], "thread_ts": message["ts"], "reply_count": message.get("reply_count", 0),
                "latest_reply": message.get("latest_reply"), "hidden": True}
    shown = {k: v for k, v in message.items() if k not in INTERNAL_FIELDS and (with_metadata or k != "metadata")}
    if message.get("reply_count"):
        shown["thread_ts"] = message["ts"]
    else:
        for key in ("reply_count", "reply_users", "reply_users_count", "latest_reply"):
            shown.pop(key, None)
    return shown


def channel_flow(messages: list[dict]) -> list[dict]:
    """The messages a channel shows, oldest first."""
    return [m for m in messages if in_channel_flow(m)]


def control_view(message: dict, channel: dict) -> dict:
    """A message as the control API shows it to tests: every field, plus the thread and edit facts with
    explicit defaults (thread_ts is the parent's ts for a reply and null otherwise)."""
    return message | {
        "channel": channel["id"], "channel_name": channel["name"],
        "thread_ts": message.get("thread_ts") if is_reply(message) else None,
        "reply_broadcast": bool(message.get("reply_broadcast")), "reply_count": message.get("reply_count", 0),
        "edited": message.get("edited"), "edit_count": message.get("edit_count", 0),
        "deleted": bool(message.get("deleted")), "orphan": bool(message.get("orphan")),
    }
