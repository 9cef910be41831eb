"""The Slack stand-in's workspace: team, bot, channels, tokens, recorded messages, injected faults and
statistics, as plain JSON-able state."""

import time

from sandbox.store import Store

TEAM_ID = "T0SANDBOX"
TEAM_NAME = "Sandbox Workspace"
TEAM_DOMAIN = "sandbox-workspace"
APP_ID = "A0SANDBOX"
BOT_USER_ID = "U0SANDBOXBOT"
BOT_ID = "B0SANDBOXBOT"
INSTALLER_USER_ID = "U0SANDBOXOWNER"
# Scopes of a token minted through the control endpoint (an "installed" app without the browser dance).
DEFAULT_BOT_SCOPES = ["chat:write", "chat:write.public", "channels:read", "groups:read", "channels:history",
                      "groups:history", "team:read"]
# The default workspace: (name, private, bot is a member).
DEFAULT_CHANNELS = [("general", False, True), ("accounting", False, True), ("exec-alerts", False, True),
                    ("accounting-team", False, True), ("finance-private", True, False)]
CREATED_AT = 1700000000  # fixed creation stamp of the default channels, so a reset is reproducible


def initial_state(seed: str) -> dict:
    data = {
        "counters": {},
        "team": {"id": TEAM_ID, "name": TEAM_NAME, "domain": TEAM_DOMAIN},
        "channels": {},
        "messages": {},
        "codes": {}, "tokens": {}, "refresh_tokens": {},
        "settings": {
            "token_rotation": False,  # oauth.v2.access issues expiring tokens plus refresh tokens
            "channel_rate_window": 1.0,  # seconds between posts to one channel; 0 turns the limit off
            "timeout_seconds": 12.0,  # how long "timeout after accepting" holds the answer back
            "post_answer_seconds": 0.0,  # how long Slack takes to answer an accepted chat.postMessage
            "edit_rate_per_minute": 50.0,  # chat.update is Tier 3 (50+ a minute per workspace); 0 turns it off
            # conversations.replies: 1 a minute for non-Marketplace apps created after 2025-05-29, Tier 3 (50)
            # for Marketplace apps; 0 turns the limit off.
            "replies_rate_per_minute": 1.0,
            # A reply whose thread_ts names no message: False answers thread_not_found; True accepts it and
            # shows it nowhere, as users report of Slack (which of the two Slack does is unverified).
            "orphan_replies": False,
            "events_url": None, "signing_secret": None,
        },
        "faults": {"channels": {}, "workspace": None, "failure_rate": 0.0, "ratelimit_rate": 0.0,
                   "failure_kinds": ["500", "503", "timeout"], "seed": seed},
        "stats": _empty_stats(),
        "events_sent": [],
    }
    for number, (name, private, member) in enumerate(DEFAULT_CHANNELS, start=1):
        channel_id = f"C0SBX{number:04d}"
        data["channels"][channel_id] = _channel(channel_id, name, private, member, CREATED_AT + number)
        data["messages"][channel_id] = []
    data["counters"]["channel"] = len(DEFAULT_CHANNELS)
    return data


def _empty_stats() -> dict:
    return {"posts_accepted": 0, "ratelimited": 0, "random_ratelimited": 0, "failures": {}, "timeouts": 0,
            "duplicates": 0, "duplicate_delivery_ids": [], "calls": {}, "errors": {}, **_thread_stats()}


def _thread_stats() -> dict:
    """Counters of edits, replies and deletions (kept apart from `ratelimited`, the posts' 429s)."""
    return {"replies_accepted": 0, "broadcasts_accepted": 0, "orphan_replies": 0, "edits_accepted": 0,
            "edit_ratelimited": 0, "replies_ratelimited": 0, "messages_deleted": 0}


def _channel(channel_id: str, name: str, private: bool, member: bool, created: int) -> dict:
    return {"id": channel_id, "name": name, "is_private": private, "is_archived": False, "deleted": False,
            "is_general": name == "general", "bot_member": member, "created": created, "previous_names": [],
            "topic": "", "purpose": ""}


class SlackError(Exception):
    """A Web API error: HTTP 200 with {"ok": false, "error": code} plus any extra fields."""

    def __init__(self, code: str, status: int = 200, headers: dict | None = None, **extra):
        super().__init__(code)
        self.code, self.status, self.headers, self.extra = code, status, headers or {}, extra

    def body(self) -> dict:
        return {"ok": False, "error": self.code, **self.extra}


class Workspace:
    def __init__(self, store: Store):
        self.store = store
        self._last_ts = 0.0

    @property
    def data(self) -> dict:
        return self.store.data

    # -- channels ------------------------------------------------------------------------------------

    def channel_view(self, channel: dict) -> dict:
        """A conversation object as conversations.list / info return it."""
        team = self.data["team"]["id"]
        members = 2 + (1 if channel["bot_member"] else 0)
        return {
            "id": channel["id"], "name": channel["name"], "name_normalized": channel["name"],
            "is_channel": True, "is_group": False, "is_im": False, "is_mpim": False,
            "is_private": channel["is_private"], "is_archived": channel["is_archived"],
            "is_general": channel["is_general"], "is_member": channel["bot_member"], "created": channel["created"],
            "creator": INSTALLER_USER_ID, "unlinked": 0, "is_shared": False, "is_org_shared": False,
            "is_ext_shared": False, "is_pending_ext_shared": False, "pending_shared": [],
            "context_team_id": team, "shared_team_ids": [team], "pending_connected_team_ids": [],
            "parent_conversation": None, "updated": channel["created"] * 1000,
            "previous_names": list(channel["previous_names"]), "num_members": members,
            "topic": {"value": channel["topic"], "creator": "", "last_set": 0},
            "purpose": {"value": channel["purpose"], "creator": "", "last_set": 0},
        }

    def find_channel(self, reference: str) -> dict | None:
        """By id, or by name with or without '#'. Deleted channels are gone."""
        reference = str(reference or "").strip()
        channel = self.data["channels"].get(reference)
        if channel is None:
            name = reference.lstrip("#").lower()
            channel = next((c for c in self.data["channels"].values() if c["name"] == name and not c["deleted"]),
                           None)
        if channel is None or channel["deleted"]:
            return None
        return channel

    def channel_create(self, name: str, private: bool = False, bot_member: bool | None = None) -> dict:
        name = name.lstrip("#").strip().lower()
        if not name or len(name) > 80 or any(ch.isspace() or ch in ".,#" for ch in name):
            raise SlackError("invalid_name_specials")
        with self.store.lock:
            if self.find_channel(name):
                raise SlackError("name_taken")
            channel_id = f"C0SBX{self.store.next_id('channel'):04d}"
            channel = _channel(channel_id, name, private, (not private) if bot_member is None else bot_member,
                               int(time.time()))
            self.data["channels"][channel_id] = channel
            self.data["messages"][channel_id] = []
            self.store.changed()
            return channel

    def channel_change(self, reference: str, action: str, params: dict) -> dict:
        with self.store.lock:
            channel = self.find_channel(reference)
            if channel is None:
                raise SlackError("channel_not_found")
            if action == "rename":
                new = str(params.get("name") or "").lstrip("#").strip().lower()
                if not new:
                    raise SlackError("invalid_name_required")
                other = self.find_channel(new)
                if other is not None and other["id"] != channel["id"]:
                    raise SlackError("name_taken")
                if new != channel["name"]:
                    channel["previous_names"].insert(0, channel["name"])
                    channel["name"] = new
            elif action == "archive":
                channel["is_archived"] = True
            elif action == "unarchive":
                channel["is_archived"] = False
            elif action == "delete":
                channel["deleted"] = True
            elif action == "invite":
                channel["bot_member"] = True
            elif action == "kick":
                channel["bot_member"] = False
            else:
                raise SlackError("unknown_action")
            self.store.changed()
            return channel

    # -- tokens --------------------------------------------------------------------------------------

    def token_issue(self, scopes: list[str], client_id: str | None, rotation: bool | None = None,
                    reuse: bool = True) -> dict:
        """A bot token, as an install issues it. Without rotation a reinstall keeps a still-valid token."""
        with self.store.lock:
            if rotation is None:
                rotation = self.data["settings"]["token_rotation"]
            if not rotation and reuse:
                for token, record in self.data["tokens"].items():
                    if not record["revoked"] and record["expires_at"] is None:
                        record["scopes"] = sorted(set(record["scopes"]) | set(scopes))
                        self.store.changed()
                        return {"access_token": token, **record}
            number = self.store.next_id("token")
            secret = self.store.secret("bot-token", 24)
            token = f"xoxe.xoxb-1-{secret}" if rotation else f"xoxb-sandbox-{number}-{secret}"
            record = {"scopes": sorted(set(scopes)), "revoked": False, "client_id": client_id,
                      "created_at": int(time.time()),
                      "expires_at": int(time.time()) + 43200 if rotation else None, "refresh_token": None}
            if rotation:
                refresh = f"xoxe-1-{self.store.secret('refresh-token', 40)}"
                record["refresh_token"] = refresh
                self.data["refresh_tokens"][refresh] = {"used": False, "access_token": token,
                                                        "client_id": client_id}
            self.data["tokens"][token] = record
            self.store.changed()
            return {"access_token": token, **record}

    def token_refresh(self, refresh_token: str, client_id: str) -> dict:
        with self.store.lock:
            record = self.data["refresh_tokens"].get(refresh_token)
            if record is None or record["used"] or record["client_id"] not in (None, client_id):
                raise SlackError("invalid_refresh_token")
            record["used"] = True  # "The refresh token is then revoked"
            old = self.data["tokens"].get(record["access_token"])
            if old is not None and old["revoked"]:
                raise SlackError("invalid_refresh_token")
            scopes = old["scopes"] if old else DEFAULT_BOT_SCOPES
            return self.token_issue(scopes, client_id, rotation=True)

    def token_check(self, token: str | None) -> dict:
        if not token:
            raise SlackError("not_authed")
        workspace_fault = self.data["faults"]["workspace"]
        record = self.data["tokens"].get(token)
        if record is None:
            raise SlackError("invalid_auth")
        if record["revoked"]:
            raise SlackError("token_revoked")
        if workspace_fault:
            raise SlackError(workspace_fault)
        if record["expires_at"] is not None and record["expires_at"] < time.time():
            raise SlackError("token_expired")
        return record

    def revoke_all(self) -> int:
        """Every bot token revoked. (Slack also drops the bot's channel memberships; the stand-in keeps them so
        that a reinstall resumes posting where it stopped.)"""
        with self.store.lock:
            revoked = 0
            for record in self.data["tokens"].values():
                if not record["revoked"]:
                    record["revoked"] = True
                    revoked += 1
            self.store.changed()
            return revoked

    # -- messages ------------------------------------------------------------------------------------

    def next_ts(self) -> str:
        with self.store.lock:
            now = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = now
            return f"{now:.6f}"

    def record_message(self, channel: dict, text: str, blocks: list | None, metadata: dict | None,
                       extra: dict, parent: dict | None = None, orphan: bool = False) -> dict:
        """Record a bot message. With `parent` (found by `thread_parent`) it is a reply in that thread,
        also shown in the channel with extra["reply_broadcast"]; `orphan` is a reply to no message."""
        with self.store.lock:
            message = {"type": "message", "subtype": "bot_message", "text": text, "user": BOT_USER_ID,
                       "bot_id": BOT_ID, "app_id": APP_ID, "team": self.data["team"]["id"], "ts": self.next_ts(),
                       "bot_profile": {"id": BOT_ID, "app_id": APP_ID, "name": "ml-connector", "deleted": False,
                                       "team_id": self.data["team"]["id"]}}
            if blocks:
                message["blocks"] = blocks
            if metadata:
                message["metadata"] = metadata
            for key in ("username", "icon_emoji", "icon_url"):
                if extra.get(key):
                    message[key] = extra[key]
            stats = self.data["stats"]
            if parent is not None:
                self._attach_reply(message, parent)
                _bump(stats, "replies_accepted")
                if _truthy(extra.get("reply_broadcast")):  # Slack marks a reply also sent to the channel so
                    message |= {"subtype": "thread_broadcast", "reply_broadcast": True}
                    _bump(stats, "broadcasts_accepted")
            elif orphan:
                message |= {"thread_ts": str(extra["thread_ts"]), "orphan": True}
                _bump(stats, "orphan_replies")
            self.data["messages"][channel["id"]].append(message)
            stats["posts_accepted"] += 1
            delivery_id = _delivery_id(metadata)
            if delivery_id is not None:
                seen = self.data.setdefault("delivery_ids", {})
                key = f"{channel['id']}:{delivery_id}"
                if key in seen:
                    stats["duplicates"] += 1
                    stats["duplicate_delivery_ids"].append(key)
                seen[key] = message["ts"]
            self.store.changed()
            return message

    @staticmethod
    def _attach_reply(message: dict, parent: dict) -> None:
        """Link a reply to its parent and keep the parent's thread summary (reply_count ...) as Slack does."""
        message["thread_ts"] = parent["ts"]
        message["parent_user_id"] = parent.get("user", "")
        users = parent.setdefault("reply_users", [])
        if message["user"] not in users:
            users.append(message["user"])
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = message["ts"]

    def record_person_message(self, channel: dict, text: str, user: str, parent: dict | None = None) -> dict:
        """A message a person wrote (the app may reply to it but never edit it)."""
        with self.store.lock:
            message = {"type": "message", "text": text, "user": user, "team": self.data["team"]["id"],
                       "ts": self.next_ts()}
            if parent is not None:
                self._attach_reply(message, parent)
            self.data["messages"][channel["id"]].append(message)
            self.store.changed()
            return message

    def find_message(self, channel_id: str, ts, include_deleted: bool = False) -> dict | None:
        """The message with that ts in the channel (newest first: the app mostly touches recent ones)."""
        ts = str(ts or "")
        for message in reversed(self.data["messages"].get(channel_id, [])):
            if message["ts"] == ts:
                return message if include_deleted or not message.get("deleted") else None
        return None

    def thread_parent(self, channel_id: str, thread_ts) -> dict | None:
        """The thread a reply to `thread_ts` goes to: that message, or its parent when it is itself a reply
        (Slack asks for the parent's ts); None when there is no such message."""
        message = self.find_message(channel_id, thread_ts)
        if message is None or message.get("orphan"):
            return None
        if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            return self.find_message(channel_id, message["thread_ts"])
        return message

    def replies(self, channel_id: str, parent_ts: str) -> list[dict]:
        """The live replies in a thread, oldest first."""
        return [m for m in self.data["messages"].get(channel_id, []) if m.get("thread_ts") == parent_ts
                and m["ts"] != parent_ts and not m.get("deleted") and not m.get("orphan")]

    def update_message(self, message: dict, text: str | None, blocks: list | None, metadata) -> dict:
        """Edit in place (chat.update): the ts stays; `blocks` or `metadata` None keeps the old ones, [] / {}
        removes them. Records Slack's `edited` stamp and the stand-in's `edit_count`."""
        with self.store.lock:
            if text is not None:
                message["text"] = text
            if blocks is not None:
                if blocks:
                    message["blocks"] = blocks
                else:
                    message.pop("blocks", None)
            if metadata is not None:
                if metadata:
                    message["metadata"] = metadata
                else:
                    message.pop("metadata", None)
            message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
            message["edit_count"] = message.get("edit_count", 0) + 1
            _bump(self.data["stats"], "edits_accepted")
            self.store.changed()
            return message

    def delete_message(self, channel_id: str, ts: str) -> dict:
        """Someone deletes a message in Slack. A reply leaves its thread; a parent with replies stays as
        Slack's "This message was deleted." tombstone above them."""
        with self.store.lock:
            message = self.find_message(channel_id, ts)
            if message is None:
                raise SlackError("message_not_found")
            message["deleted"] = True
            message["deleted_at"] = time.time()
            parent_ts = message.get("thread_ts")
            if parent_ts and parent_ts != message["ts"] and not message.get("orphan"):
                parent = self.find_message(channel_id, parent_ts, include_deleted=True)
                if parent is not None:
                    left = self.replies(channel_id, parent_ts)
                    parent["reply_count"] = len(left)
                    parent["latest_reply"] = left[-1]["ts"] if left else None
            _bump(self.data["stats"], "messages_deleted")
            self.store.changed()
            return message

    def count_plain(self, key: str) -> None:
        with self.store.lock:
            _bump(self.data["stats"], key)

    def count(self, bucket: str, key: str) -> None:
        with self.store.lock:
            counts = self.data["stats"][bucket]
            counts[key] = counts.get(key, 0) + 1

    def stats(self) -> dict:
        with self.store.lock:
            stats = dict(self.data["stats"])
            stats = _thread_stats() | stats  # a state file from before threads lacks these counters
            live = {c["id"]: sum(1 for m in self.data["messages"][c["id"]] if not m.get("deleted"))
                    for c in self.data["channels"].values()}
            stats["messages_per_channel"] = {f"#{c['name']}": live[c["id"]] for c in self.data["channels"].values()}
            stats["messages_per_channel_id"] = live
            stats["messages_total"] = sum(stats["messages_per_channel_id"].values())
            return stats


def _bump(counters: dict, key: str) -> None:
    counters[key] = counters.get(key, 0) + 1


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def _delivery_id(metadata: dict | None):
    """The app's delivery id from message metadata, wherever it put it (payload or event type)."""
    if not isinstance(metadata, dict):
        return None
    payload = metadata.get("event_payload")
    if isinstance(payload, dict):
        for key in ("delivery_id", "delivery"):
            if payload.get(key) not in (None, ""):
                return str(payload[key])
    return None
