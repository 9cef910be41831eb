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
            "duplicates": 0, "duplicate_delivery_ids": [], "calls": {}, "errors": {}}


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
                       extra: dict) -> dict:
        with self.store.lock:
            message = {"type": "message", "subtype": "bot_message", "text": text, "user": BOT_USER_ID,
                       "bot_id": BOT_ID, "app_id": APP_ID, "team": self.data["team"]["id"], "ts": self.next_ts(),
                       "bot_profile": {"id": BOT_ID, "app_id": APP_ID, "name": "ml-connector", "deleted": False,
                                       "team_id": self.data["team"]["id"]}}
            if blocks:
                message["blocks"] = blocks
            if metadata:
                message["metadata"] = metadata
            for key in ("thread_ts", "username", "icon_emoji", "icon_url"):
                if extra.get(key):
                    message[key] = extra[key]
            self.data["messages"][channel["id"]].append(message)
            stats = self.data["stats"]
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

    def count_plain(self, key: str) -> None:
        with self.store.lock:
            self.data["stats"][key] += 1

    def count(self, bucket: str, key: str) -> None:
        with self.store.lock:
            counts = self.data["stats"][bucket]
            counts[key] = counts.get(key, 0) + 1

    def stats(self) -> dict:
        with self.store.lock:
            stats = dict(self.data["stats"])
            stats["messages_per_channel"] = {
                f"#{c['name']}": len(self.data["messages"][c["id"]]) for c in self.data["channels"].values()}
            stats["messages_per_channel_id"] = {
                c["id"]: len(self.data["messages"][c["id"]]) for c in self.data["channels"].values()}
            stats["messages_total"] = sum(stats["messages_per_channel_id"].values())
            return stats


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
