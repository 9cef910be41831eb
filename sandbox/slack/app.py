"""The Slack stand-in's HTTP surface: OAuth v2, the Web API methods the app uses, controls and a page.

Web API errors answer HTTP 200 with {"ok": false, "error": ...} as Slack does; only rate limits (429) and
injected server failures (5xx) use other statuses."""

import base64
import binascii
import hmac
import json
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sandbox.http import App, HttpError, Request, Response, add_query
from sandbox.slack import interactions
from sandbox.slack.blocks import MESSAGE_TEXT_MAX, validate_blocks
from sandbox.slack.events import EVENT_TYPES, send_event
from sandbox.slack.pages import authorize_page, home_page, message_page
from sandbox.slack.threads import MinuteBudget, api_view, channel_flow, control_view
from sandbox.slack.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_BOT_SCOPES,
    INSTALLER_USER_ID,
    SlackError,
    Workspace,
    initial_state,
)
from sandbox.store import Store

CODE_SECONDS = 600  # Slack's OAuth codes expire after 10 minutes
ROTATING_TOKEN_SECONDS = 43200  # "With token rotation, it expires every 12 hours."
HISTORY_LIMIT_DEFAULT = 100
HISTORY_LIMIT_MAX = 999
REPLIES_LIMIT_MAX = 1000
FAULT_METHODS = ("chat.postMessage", "chat.update", "*")  # which calls a channel fault answers
LIST_LIMIT_DEFAULT = 100
LIST_LIMIT_MAX = 1000  # "Must be an integer under 1000" (1000 itself is refused)
CONVERSATION_TYPES = {"public_channel", "private_channel", "mpim", "im"}
FAILURE_KINDS = ("500", "503", "timeout")
# Body Slack sends with an injected server failure. A JSON body keeps slack_sdk's error readable.
SERVER_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "request_timeout"}


@dataclass
class SlackConfig:
    client_id: str = "sandbox-slack-client-id"
    client_secret: str = "sandbox-slack-client-secret"
    signing_secret: str = "sandbox-signing-secret"
    events_url: str | None = None
    app_name: str = "ml-connector"
    state_file: str | None = None
    seed: str = "sandbox"
    token_rotation: bool = False


class SlackApp(App):
    name = "slack"

    def __init__(self, config: SlackConfig | None = None):
        super().__init__()
        self.config = config or SlackConfig()
        self.store = Store(self._initial, self.config.state_file, f"slack:{self.config.seed}")
        self.workspace = Workspace(self.store)
        with self.store.lock:  # flags win over a state file's settings
            settings = self.data["settings"]
            for key, value in initial_state(self.config.seed)["settings"].items():
                settings.setdefault(key, value)  # settings added since the state file was written
            settings["signing_secret"] = self.config.signing_secret
            settings["events_url"] = self.config.events_url or settings["events_url"]
            settings["token_rotation"] = self.config.token_rotation or settings["token_rotation"]
        self._rate_lock = threading.Lock()
        self._last_post: dict[str, float] = {}  # channel id -> monotonic time of its last accepted post
        self._rng = random.Random(self.data["faults"]["seed"])
        self._edit_budget = MinuteBudget()  # chat.update, Tier 3, per workspace
        self._replies_budget = MinuteBudget()  # conversations.replies
        self._methods = {
            "api.test": self.api_test, "oauth.v2.access": self.oauth_access, "auth.test": self.auth_test,
            "auth.revoke": self.auth_revoke, "conversations.list": self.conversations_list,
            "conversations.info": self.conversations_info, "conversations.history": self.conversations_history,
            "conversations.join": self.conversations_join, "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update, "conversations.replies": self.conversations_replies,
            "views.publish": self.views_publish,
        }
        self._routes()

    def _initial(self) -> dict:
        data = initial_state(self.config.seed)
        data["settings"]["events_url"] = self.config.events_url
        data["settings"]["signing_secret"] = self.config.signing_secret
        data["settings"]["token_rotation"] = self.config.token_rotation
        return data

    @property
    def data(self) -> dict:
        return self.store.data

    def start_background(self) -> None:
        self.store.start()

    def stop_background(self) -> None:
        self.store.stop()

    def _routes(self) -> None:
        add = self.router.add
        add("/", ("GET",), self.home)
        add("/oauth/v2/authorize", ("GET", "POST"), self.authorize)
        add("/api/{method}", ("GET", "POST"), self.api)
        add("/_control/state", ("GET",), self.control_state)
        add("/_control/reset", ("POST",), self.control_reset)
        add("/_control/settings", ("POST",), self.control_settings)
        add("/_control/tokens", ("POST",), self.control_token_mint)
        add("/_control/tokens/expire", ("POST",), self.control_token_expire)
        add("/_control/revoke", ("POST",), self.control_revoke)
        add("/_control/uninstall", ("POST",), self.control_uninstall)
        add("/_control/channels", ("GET", "POST"), self.control_channels)
        add("/_control/channels/{channel}/{action}", ("POST",), self.control_channel_change)
        add("/_control/faults", ("GET", "POST", "DELETE"), self.control_faults)
        add("/_control/faults/clear", ("POST",), self.control_faults_clear)
        add("/_control/stats", ("GET",), self.control_stats)
        add("/_control/messages", ("GET", "POST"), self.control_messages)
        add("/_control/messages/{channel}/{ts}", ("GET",), self.control_message)
        add("/_control/messages/{channel}/{ts}/delete", ("POST",), self.control_message_delete)
        add("/_control/events", ("GET", "POST"), self.control_events)
        add("/_control/interact", ("POST",), self.control_interact)
        add("/_control/command", ("POST",), self.control_command)
        add("/_control/interactions", ("GET",), self.control_interactions)
        add("/_response/{token}", ("POST",), self.response_url)

    # -- OAuth v2 ------------------------------------------------------------------------------------

    def authorize(self, request: Request) -> Response:
        params = request.params()
        if not hmac.compare_digest(str(params.get("client_id") or ""), self.config.client_id):
            return Response.html(message_page("Something went wrong", "invalid_client_id: this link names an "
                                              "app the Sandbox Workspace does not know."), 400)
        redirect_uri = str(params.get("redirect_uri") or "")
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return Response.html(message_page("Something went wrong", "bad_redirect_uri: this link has no "
                                              "redirect_uri, so there is nowhere to return to."), 400)
        scopes = [s for s in str(params.get("scope") or "").replace(" ", ",").split(",") if s]
        state = params.get("state")
        if not scopes and not params.get("user_scope"):
            return Response.redirect(add_query(redirect_uri, {"error": "invalid_scope", "state": state}))
        if request.method == "GET":
            return Response.html(authorize_page(self.config.app_name, self.data["team"], params, scopes))
        if params.get("decision") != "allow":
            return Response.redirect(add_query(redirect_uri, {"error": "access_denied", "state": state}))
        with self.store.lock:
            code = f"{self.store.next_id('code')}.{self.store.secret('code', 32)}"
            self.data["codes"][code] = {"client_id": params["client_id"], "redirect_uri": redirect_uri,
                                        "scopes": scopes, "expires_at": time.time() + CODE_SECONDS, "used": False}
            self.store.changed()
        return Response.redirect(add_query(redirect_uri, {"code": code, "state": state}))

    def oauth_access(self, request: Request, params: dict) -> Response:
        basic = request.basic_auth()
        client_id = basic[0] if basic else str(params.get("client_id") or "")
        client_secret = basic[1] if basic else str(params.get("client_secret") or "")
        if not hmac.compare_digest(client_id, self.config.client_id):
            raise SlackError("invalid_client_id")
        if not hmac.compare_digest(client_secret, self.config.client_secret):
            raise SlackError("bad_client_secret")
        grant = params.get("grant_type") or "authorization_code"
        if grant == "refresh_token":
            issued = self.workspace.token_refresh(str(params.get("refresh_token") or ""), client_id)
        elif grant == "authorization_code":
            with self.store.lock:
                code = self.data["codes"].get(str(params.get("code") or ""))
                if code is None or code["used"] or code["expires_at"] < time.time() or code["client_id"] != client_id:
                    raise SlackError("invalid_code")
                if params.get("redirect_uri") and params["redirect_uri"] != code["redirect_uri"]:
                    raise SlackError("bad_redirect_uri")
                code["used"] = True
                self.store.changed()
            issued = self.workspace.token_issue(code["scopes"], client_id)
        else:
            raise SlackError("invalid_grant_type")
        team = self.data["team"]
        body = {"ok": True, "app_id": APP_ID, "authed_user": {"id": INSTALLER_USER_ID},
                "scope": ",".join(issued["scopes"]), "token_type": "bot", "access_token": issued["access_token"],
                "bot_user_id": BOT_USER_ID, "team": {"id": team["id"], "name": team["name"]}, "enterprise": None,
                "is_enterprise_install": False}
        if issued["refresh_token"]:
            body["expires_in"] = max(0, issued["expires_at"] - int(time.time()))
            body["refresh_token"] = issued["refresh_token"]
        return Response.json(body)

    # -- Web API -------------------------------------------------------------------------------------

    def api(self, request: Request) -> Response:
        method = request.path_params["method"]
        self.workspace.count("calls", method)
        handler = self._methods.get(method)
        try:
            if handler is None:
                raise SlackError("unknown_method")
            try:
                params = request.params()
            except HttpError:
                raise SlackError("invalid_json") from None
            return handler(request, params)
        except SlackError as error:
            self.workspace.count("errors", error.code)
            return Response.json(error.body(), error.status, error.headers)

    def _auth(self, request: Request, params: dict, scope: str | None = None) -> dict:
        record = self.workspace.token_check(request.bearer_token() or params.get("token"))
        if scope and scope not in record["scopes"]:
            raise SlackError("missing_scope", needed=scope, provided=",".join(record["scopes"]))
        return record

    def api_test(self, request: Request, params: dict) -> Response:
        return Response.json({"ok": True, "args": {k: v for k, v in params.items() if k != "token"}})

    def auth_test(self, request: Request, params: dict) -> Response:
        self._auth(request, params)
        team = self.data["team"]
        return Response.json({"ok": True, "url": f"https://{team['domain']}.slack.com/", "team": team["name"],
                              "user": self.config.app_name, "team_id": team["id"], "user_id": BOT_USER_ID,
                              "bot_id": BOT_ID, "is_enterprise_install": False})

    def auth_revoke(self, request: Request, params: dict) -> Response:
        token = request.bearer_token() or params.get("token")
        self._auth(request, params)
        if _truthy(params.get("test")):
            return Response.json({"ok": True, "revoked": False})
        with self.store.lock:
            self.data["tokens"][token]["revoked"] = True
            self.store.changed()
        # Slack tells the app through the Events API too.
        if self.data["settings"]["events_url"]:
            threading.Thread(target=self._send_quietly, args=("tokens_revoked",), daemon=True).start()
        return Response.json({"ok": True, "revoked": True})

    def _send_quietly(self, event_type: str) -> None:
        try:
            settings = self.data["settings"]
            send_event(self.workspace, event_type, settings["events_url"], settings["signing_secret"])
        except Exception:
            self.log.exception("sending %s failed", event_type)

    def _visible_channel(self, params: dict, record: dict, read_scope: tuple[str, str]) -> dict:
        """The channel named by `channel`, as the bot may see it (private ones only as a member)."""
        channel = self.workspace.find_channel(params.get("channel"))
        if channel is None or (channel["is_private"] and not channel["bot_member"]):
            raise SlackError("channel_not_found")
        scope = read_scope[1] if channel["is_private"] else read_scope[0]
        if scope not in record["scopes"]:
            raise SlackError("missing_scope", needed=scope, provided=",".join(record["scopes"]))
        return channel

    def conversations_list(self, request: Request, params: dict) -> Response:
        record = self._auth(request, params)
        types = [t.strip() for t in str(params.get("types") or "public_channel").split(",") if t.strip()]
        if not types or any(t not in CONVERSATION_TYPES for t in types):
            raise SlackError("invalid_types")
        for kind, scope in (("public_channel", "channels:read"), ("private_channel", "groups:read")):
            if kind in types and scope not in record["scopes"]:
                raise SlackError("missing_scope", needed=scope, provided=",".join(record["scopes"]))
        limit = _int(params.get("limit"), LIST_LIMIT_DEFAULT)
        if limit < 1 or limit >= LIST_LIMIT_MAX + 1:
            raise SlackError("invalid_limit")
        start = _cursor_offset(params.get("cursor"))
        exclude_archived = _truthy(params.get("exclude_archived"))
        with self.store.lock:
            channels = [c for c in self.data["channels"].values() if not c["deleted"]
                        and ("private_channel" if c["is_private"] else "public_channel") in types
                        and (not c["is_private"] or c["bot_member"])
                        and not (exclude_archived and c["is_archived"])]
            page = [self.workspace.channel_view(c) for c in channels[start:start + limit]]
        more = start + limit < len(channels)
        return Response.json({"ok": True, "channels": page,
                              "response_metadata": {"next_cursor": _cursor(start + limit) if more else ""}})

    def conversations_info(self, request: Request, params: dict) -> Response:
        record = self._auth(request, params)
        with self.store.lock:
            channel = self._visible_channel(params, record, ("channels:read", "groups:read"))
            return Response.json({"ok": True, "channel": self.workspace.channel_view(channel)})

    def conversations_join(self, request: Request, params: dict) -> Response:
        self._auth(request, params, "channels:join")
        with self.store.lock:
            channel = self.workspace.find_channel(params.get("channel"))
            if channel is None or (channel["is_private"] and not channel["bot_member"]):
                raise SlackError("channel_not_found")
            if channel["is_archived"]:
                raise SlackError("is_archived")
            channel["bot_member"] = True
            self.store.changed()
            return Response.json({"ok": True, "channel": self.workspace.channel_view(channel)})

    def conversations_history(self, request: Request, params: dict) -> Response:
        record = self._auth(request, params)
        with self.store.lock:
            channel = self._visible_channel(params, record, ("channels:history", "groups:history"))
            if not channel["bot_member"]:
                raise SlackError("not_in_channel")
            # newest first; replies stay in their threads unless also sent to the channel
            messages = list(reversed(channel_flow(self.data["messages"][channel["id"]])))
        body = self._message_page(_between(messages, params), params, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX)
        return Response.json(body | {"pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0})

    def chat_post_message(self, request: Request, params: dict) -> Response:
        record = self._auth(request, params, "chat:write")
        reference = params.get("channel")
        if not reference:
            raise SlackError("channel_not_found")
        channel, fault, failed = self._writable_channel(reference, "chat.postMessage")
        if failed is not None:
            return failed
        if channel["is_archived"]:
            raise SlackError("is_archived")
        if not channel["bot_member"] and "chat:write.public" not in record["scopes"]:
            raise SlackError("not_in_channel")
        timeout = float(fault["timeout"]) if fault is not None and fault.get("timeout") else 0.0
        chance = self._roll()
        if chance == "ratelimit":
            self.workspace.count_plain("random_ratelimited")
            raise self._ratelimited(1)
        if chance in ("500", "503"):
            self.workspace.count("failures", chance)
            return _server_error(int(chance))
        if chance == "timeout":
            timeout = float(self.data["settings"]["timeout_seconds"])
        text, blocks, metadata = self._validated_content(params)
        parent, orphan = self._thread_for(channel, params.get("thread_ts"))
        self._take_channel_slot(channel["id"])  # replies count against the channel's 1 a second too
        message = self.workspace.record_message(channel, text, blocks, metadata, params, parent, orphan,
                                                broadcast=_truthy(params.get("reply_broadcast")))
        response = Response.json({"ok": True, "channel": channel["id"], "ts": message["ts"], "message": message})
        if timeout:
            # "Timeout after accepting": the message is posted, the answer arrives after the client gave up.
            self.workspace.count_plain("timeouts")
            response.delay_before_send = timeout
        else:
            # Slack's own answer time (recorded at once, answered later), for throughput benchmarks.
            response.delay_before_send = float(self.data["settings"].get("post_answer_seconds") or 0)
        return response

    def _writable_channel(self, reference, method: str) -> tuple[dict, dict | None, Response | None]:
        """The channel a post or edit names and the fault injected there for `method` (its timeout applies
        later), with the injected server error to answer, if any. Raises the injected error code, or
        channel_not_found for a channel the bot cannot see."""
        with self.store.lock:
            channel = self.workspace.find_channel(reference)
            fault = self._channel_fault(channel["id"], method) if channel else None
        if fault is not None and fault.get("error"):
            raise SlackError(fault["error"])
        if fault is not None and fault.get("status"):
            self.workspace.count("failures", str(fault["status"]))
            return channel, fault, _server_error(int(fault["status"]))
        if channel is None or (channel["is_private"] and not channel["bot_member"]):
            raise SlackError("channel_not_found")
        return channel, fault, None

    def _thread_for(self, channel: dict, thread_ts) -> tuple[dict | None, bool]:
        """(parent, orphan) of a post: no thread_ts is a top-level message; one naming no message answers
        thread_not_found, or with the orphan_replies setting is accepted and shown nowhere."""
        if thread_ts in (None, ""):
            return None, False
        with self.store.lock:
            parent = self.workspace.thread_parent(channel["id"], thread_ts)
        if parent is not None:
            return parent, False
        if self.data["settings"].get("orphan_replies"):
            return None, True
        raise SlackError("thread_not_found")

    def chat_update(self, request: Request, params: dict) -> Response:
        """Edit a message the app posted; the ts stays. Tier 3 per workspace: every call counts, as Slack
        counts requests, whatever their answer."""
        self._auth(request, params, "chat:write")
        wait = self._edit_budget.take(float(self.data["settings"].get("edit_rate_per_minute", 50) or 0))
        if wait is not None:
            self.workspace.count_plain("edit_ratelimited")
            raise SlackError("ratelimited", status=429, headers={"Retry-After": str(wait)})
        channel, fault, failed = self._writable_channel(params.get("channel"), "chat.update")
        if failed is not None:
            return failed
        if channel["is_archived"]:
            raise SlackError("is_inactive")  # "cannot be edited within a frozen, archived or deleted channel"
        with self.store.lock:
            message = self.workspace.find_message(channel["id"], params.get("ts"))
            if message is None or message.get("orphan"):
                raise SlackError("message_not_found")
            if message.get("bot_id") != BOT_ID:
                raise SlackError("cant_update_message")  # a person's message
        text, blocks, metadata = self._validated_update(params)
        message = self.workspace.update_message(message, text, blocks, metadata)
        shown = {k: v for k, v in message.items() if k in ("type", "subtype", "text", "user", "bot_id", "app_id",
                                                            "team", "blocks", "metadata", "edited", "thread_ts")}
        response = Response.json({"ok": True, "channel": channel["id"], "ts": message["ts"],
                                  "text": message["text"], "message": shown})
        if fault is not None and fault.get("timeout"):
            self.workspace.count_plain("timeouts")
            response.delay_before_send = float(fault["timeout"])  # edited, answered after the client gave up
        return response

    def _validated_update(self, params: dict) -> tuple[str | None, list | None, dict | None]:
        """chat.update's content, checked as a post's. None means "keep": metadata left out keeps the
        message's and an empty object removes it (Slack's documented rule); blocks are treated alike."""
        text = params.get("text")
        text = None if text is None else str(text)
        blocks = _parsed_blocks(params.get("blocks"))
        markdown_text = params.get("markdown_text")
        _check_text(text or "", blocks, markdown_text, params.get("attachments"))
        raw = params.get("metadata")
        metadata = {} if raw in ({}, "{}") else _parsed_metadata(raw)
        return (str(markdown_text) if text is None and markdown_text else text), blocks, metadata

    def conversations_replies(self, request: Request, params: dict) -> Response:
        """A thread: its parent first, then the replies oldest first. Rate limited per the
        replies_rate_per_minute setting (1 a minute for non-Marketplace apps)."""
        record = self._auth(request, params)
        wait = self._replies_budget.take(float(self.data["settings"].get("replies_rate_per_minute", 1) or 0))
        if wait is not None:
            self.workspace.count_plain("replies_ratelimited")
            raise SlackError("ratelimited", status=429, headers={"Retry-After": str(wait)})
        with self.store.lock:
            channel = self._visible_channel(params, record, ("channels:history", "groups:history"))
            if not channel["bot_member"]:
                raise SlackError("not_in_channel")
            parent = self.workspace.find_message(channel["id"], params.get("ts"), include_deleted=True)
            if parent is not None and parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
                parent = self.workspace.find_message(channel["id"], parent["thread_ts"], include_deleted=True)
            if parent is None or parent.get("orphan") or (parent.get("deleted") and not parent.get("reply_count")):
                raise SlackError("thread_not_found")
            replies = self.workspace.replies(channel["id"], parent["ts"])
        return Response.json(self._message_page([parent, *_between(replies, params)], params, REPLIES_LIMIT_MAX,
                                                REPLIES_LIMIT_MAX))

    def _message_page(self, messages: list, params: dict, default_limit: int, max_limit: int) -> dict:
        """One page of messages as conversations.history and .replies answer it: `limit` (clamped), the
        offset cursor, metadata when include_all_metadata is set."""
        limit = min(max(_int(params.get("limit"), default_limit), 1), max_limit)
        start = _cursor_offset(params.get("cursor"))
        with_metadata = _truthy(params.get("include_all_metadata"))
        with self.store.lock:
            shown = [api_view(m, with_metadata) for m in messages[start:start + limit]]
        more = start + limit < len(messages)
        body = {"ok": True, "messages": shown, "has_more": more}
        if more:
            body["response_metadata"] = {"next_cursor": _cursor(start + limit)}
        return body

    def _validated_content(self, params: dict) -> tuple[str, list | None, dict | None]:
        text = params.get("text")
        text = "" if text is None else str(text)
        blocks = _parsed_blocks(params.get("blocks"))
        markdown_text = params.get("markdown_text")
        _check_text(text, blocks, markdown_text, params.get("attachments"))
        return text or str(markdown_text or ""), blocks, _parsed_metadata(params.get("metadata"))

    def _ratelimited(self, retry_after: int) -> SlackError:
        self.workspace.count_plain("ratelimited")
        return SlackError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})

    def _take_channel_slot(self, channel_id: str) -> None:
        """Slack's one message per second per channel: a second post within the window gets a 429."""
        window = float(self.data["settings"]["channel_rate_window"] or 0)
        if window <= 0:
            return
        with self._rate_lock:
            now = time.monotonic()
            last = self._last_post.get(channel_id)
            if last is not None and now - last < window:
                raise self._ratelimited(max(1, int(-(-(window - (now - last)) // 1))))
            self._last_post[channel_id] = now

    def _channel_fault(self, channel_id: str, method: str) -> dict | None:
        faults = self.data["faults"]["channels"]
        fault = faults.get(channel_id)
        if fault is None or fault.get("method", "chat.postMessage") not in (method, "*"):
            return None
        if fault.get("remaining") is not None:
            fault["remaining"] -= 1
            if fault["remaining"] <= 0:
                del faults[channel_id]
        self.store.changed()
        return dict(fault)

    def _roll(self) -> str | None:
        faults = self.data["faults"]
        ratelimit, failure = float(faults["ratelimit_rate"] or 0), float(faults["failure_rate"] or 0)
        if not ratelimit and not failure:
            return None
        with self.store.lock:
            roll = self._rng.random()
            if roll < ratelimit:
                return "ratelimit"
            if roll < ratelimit + failure:
                kinds = faults["failure_kinds"] or list(FAILURE_KINDS)
                return kinds[self._rng.randrange(len(kinds))]
        return None

    # -- control -------------------------------------------------------------------------------------

    def _control(self, request: Request, work) -> Response:
        params = request.params()
        try:
            result, status = work(params), 200
        except SlackError as error:
            result, status = {"ok": False, "error": error.code}, 400
        except (ValueError, KeyError, TypeError) as error:
            result, status = {"ok": False, "error": f"bad parameter: {error}"}, 400
        if request.from_browser_form():
            return Response.redirect(str(params.get("next") or "/"), 303)
        return Response.json(result, status)

    def control_state(self, request: Request) -> Response:
        with self.store.lock:
            data = self.data
            return Response.json({
                "team": data["team"], "app_id": APP_ID, "bot_user_id": BOT_USER_ID, "bot_id": BOT_ID,
                "client_id": self.config.client_id,
                "channels": [self.workspace.channel_view(c) | {"deleted": c["deleted"]}
                             for c in data["channels"].values()],
                "tokens": [{"token": t, "scopes": r["scopes"], "revoked": r["revoked"], "expires_at": r["expires_at"]}
                           for t, r in data["tokens"].items()],
                "settings": {k: v for k, v in data["settings"].items() if k != "signing_secret"},
                "faults": data["faults"],
            })

    def control_reset(self, request: Request) -> Response:
        def work(params):
            self.store.reset()
            with self._rate_lock:
                self._last_post.clear()
            self._edit_budget.reset()
            self._replies_budget.reset()
            self._rng = random.Random(self.data["faults"]["seed"])
            return {"ok": True}
        return self._control(request, work)

    def control_settings(self, request: Request) -> Response:
        def work(params):
            with self.store.lock:
                settings = self.data["settings"]
                for key in ("events_url", "signing_secret", "interactions_url", "commands_url"):
                    if params.get(key) not in (None, ""):
                        settings[key] = str(params[key])
                if "token_rotation" in params:
                    settings["token_rotation"] = _truthy(params["token_rotation"])
                for key in ("channel_rate_window", "timeout_seconds", "post_answer_seconds",
                            "edit_rate_per_minute", "replies_rate_per_minute"):
                    if params.get(key) not in (None, ""):
                        settings[key] = max(0.0, float(params[key]))
                if "orphan_replies" in params:
                    settings["orphan_replies"] = _truthy(params["orphan_replies"])
                # a new limit starts with a full minute's budget
                if params.get("edit_rate_per_minute") not in (None, ""):
                    self._edit_budget.reset()
                if params.get("replies_rate_per_minute") not in (None, ""):
                    self._replies_budget.reset()
                self.store.changed()
                return {"ok": True, "settings": {k: v for k, v in settings.items() if k != "signing_secret"}}
        return self._control(request, work)

    def control_token_mint(self, request: Request) -> Response:
        """A bot token without the browser dance, as an install would issue it."""
        def work(params):
            scopes = params.get("scopes") or params.get("scope") or DEFAULT_BOT_SCOPES
            if isinstance(scopes, str):
                scopes = [s for s in scopes.replace(" ", ",").split(",") if s]
            issued = self.workspace.token_issue(list(scopes), self.config.client_id, reuse=False)
            team = self.data["team"]
            return {"ok": True, "access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
                    "expires_at": issued["expires_at"], "scope": ",".join(issued["scopes"]),
                    "team_id": team["id"], "team_name": team["name"], "bot_user_id": BOT_USER_ID, "bot_id": BOT_ID}
        return self._control(request, work)

    def control_token_expire(self, request: Request) -> Response:
        def work(params):
            with self.store.lock:
                expired = 0
                for token, record in self.data["tokens"].items():
                    if record["expires_at"] is not None and params.get("token") in (None, "", token):
                        record["expires_at"] = int(time.time()) - 1
                        expired += 1
                self.store.changed()
                return {"ok": True, "expired": expired}
        return self._control(request, work)

    def _maybe_send(self, params: dict, event_types: list[str]) -> list[dict]:
        if not _truthy(params.get("send_events", True)) or not self.data["settings"]["events_url"]:
            return []
        settings = self.data["settings"]
        results = []
        for event_type in event_types:
            results.append(send_event(self.workspace, event_type, settings["events_url"],
                                      settings["signing_secret"]))
        return results

    def control_revoke(self, request: Request) -> Response:
        """Revoke every bot token (an admin removing the bot) and tell the app with tokens_revoked."""
        def work(params):
            revoked = self.workspace.revoke_all()
            return {"ok": True, "revoked": revoked, "events": self._maybe_send(params, ["tokens_revoked"])}
        return self._control(request, work)

    def control_uninstall(self, request: Request) -> Response:
        """Uninstall the app: tokens revoked, then tokens_revoked and app_uninstalled sent."""
        def work(params):
            revoked = self.workspace.revoke_all()
            events = self._maybe_send(params, ["tokens_revoked", "app_uninstalled"])
            return {"ok": True, "revoked": revoked, "events": events}
        return self._control(request, work)

    def control_channels(self, request: Request) -> Response:
        if request.method == "GET":
            with self.store.lock:
                return Response.json({"channels": [self.workspace.channel_view(c) | {"deleted": c["deleted"]}
                                                   for c in self.data["channels"].values()]})

        def work(params):
            member = params.get("bot_member")
            channel = self.workspace.channel_create(str(params.get("name") or ""), _truthy(params.get("is_private")),
                                                    None if member in (None, "") else _truthy(member))
            return {"ok": True, "channel": self.workspace.channel_view(channel)}
        return self._control(request, work)

    def control_channel_change(self, request: Request) -> Response:
        def work(params):
            channel = self.workspace.channel_change(request.path_params["channel"], request.path_params["action"],
                                                    params)
            return {"ok": True, "channel": self.workspace.channel_view(channel) | {"deleted": channel["deleted"]}}
        return self._control(request, work)

    def control_faults(self, request: Request) -> Response:
        if request.method == "GET":
            return Response.json(self.data["faults"])
        if request.method == "DELETE":
            return self.control_faults_clear(request)

        def work(params):
            with self.store.lock:
                faults = self.data["faults"]
                for key in ("failure_rate", "ratelimit_rate"):
                    if params.get(key) not in (None, ""):
                        value = float(params[key])
                        if not 0 <= value <= 1:
                            raise ValueError(f"{key} must be between 0 and 1")
                        faults[key] = value
                if faults["failure_rate"] + faults["ratelimit_rate"] > 1:
                    raise ValueError("failure_rate + ratelimit_rate must not exceed 1")
                if params.get("failure_kinds"):
                    kinds = params["failure_kinds"]
                    kinds = kinds.split(",") if isinstance(kinds, str) else list(kinds)
                    if any(k not in FAILURE_KINDS for k in kinds):
                        raise ValueError(f"failure_kinds must be among {', '.join(FAILURE_KINDS)}")
                    faults["failure_kinds"] = kinds
                if params.get("seed") not in (None, ""):
                    faults["seed"] = str(params["seed"])
                    self._rng = random.Random(faults["seed"])
                if params.get("channel"):
                    self._set_channel_fault(faults, params)
                elif params.get("error"):
                    faults["workspace"] = str(params["error"])  # e.g. token_revoked, account_inactive
                elif "workspace" in params and not params["workspace"]:
                    faults["workspace"] = None
                self.store.changed()
                return {"ok": True, "faults": faults}
        return self._control(request, work)

    def control_faults_clear(self, request: Request) -> Response:
        def work(params):
            with self.store.lock:
                faults = self.data["faults"]
                faults.update(channels={}, workspace=None, failure_rate=0.0, ratelimit_rate=0.0)
                self.store.changed()
                return {"ok": True, "faults": faults}
        return self._control(request, work)

    def _set_channel_fault(self, faults: dict, params: dict) -> None:
        channel = self.workspace.find_channel(params["channel"])
        if channel is None:
            raise SlackError("channel_not_found")
        if _truthy(params.get("clear")):
            faults["channels"].pop(channel["id"], None)
            return
        fault = {"error": None, "status": None, "timeout": None}
        kind = str(params.get("kind") or "")  # the page's single select: an error code, 500, 503 or timeout
        if kind.isdigit():
            params = params | {"status": kind}
        elif kind == "timeout":
            params = params | {"timeout": True}
        elif kind:
            params = params | {"error": kind}
        if params.get("error"):
            fault["error"] = str(params["error"])
        elif params.get("status"):
            fault["status"] = int(params["status"])
            if fault["status"] < 500:
                raise ValueError("status must be a 5xx (use error for Slack's ok:false errors, 429 comes by itself)")
        elif params.get("timeout") not in (None, ""):
            timeout = params["timeout"]
            fault["timeout"] = float(self.data["settings"]["timeout_seconds"]) if timeout is True or \
                str(timeout).lower() in ("true", "yes", "on") else float(timeout)
        else:
            raise ValueError("a channel fault needs error, status or timeout")
        fault["method"] = str(params.get("method") or "chat.postMessage")
        if fault["method"] not in FAULT_METHODS:
            raise ValueError(f"method must be one of {', '.join(FAULT_METHODS)}")
        count = params.get("count")
        fault["remaining"] = None if count in (None, "", 0, "0") else int(count)
        faults["channels"][channel["id"]] = fault

    def control_stats(self, request: Request) -> Response:
        return Response.json(self.workspace.stats())

    def control_messages(self, request: Request) -> Response:
        """GET: recorded messages, oldest first (?channel=&since_ts=&thread_ts=&top_level=&include_deleted=).
        POST {channel, text, user?, thread_ts?}: a person writes a message (the app cannot edit it)."""
        if request.method == "POST":
            return self._control(request, self._person_writes)
        query = request.query
        with self.store.lock:
            if query.get("channel"):
                channel = self.workspace.find_channel(query["channel"])
                if channel is None:
                    return Response.json({"ok": False, "error": "channel_not_found"}, 404)
                channels = [channel]
            else:
                channels = list(self.data["channels"].values())
            since = float(query.get("since_ts") or 0)
            thread_ts = query.get("thread_ts")
            top_level, deleted = _truthy(query.get("top_level")), _truthy(query.get("include_deleted"))
            messages = []
            for channel in channels:
                recorded = self.data["messages"][channel["id"]]
                if top_level:
                    recorded = [m for m in channel_flow(recorded) if not m.get("deleted")]
                for message in recorded:
                    shown = control_view(message, channel)
                    if float(message["ts"]) <= since or (message.get("deleted") and not deleted):
                        continue
                    if thread_ts and shown["thread_ts"] != thread_ts:
                        continue
                    messages.append(shown)
        messages.sort(key=lambda m: float(m["ts"]))
        return Response.json({"ok": True, "messages": messages})

    def _person_writes(self, params: dict) -> dict:
        with self.store.lock:
            channel = self.workspace.find_channel(params.get("channel"))
            if channel is None:
                raise SlackError("channel_not_found")
            parent = None
            if params.get("thread_ts"):
                parent = self.workspace.thread_parent(channel["id"], params["thread_ts"])
                if parent is None:
                    raise SlackError("thread_not_found")
            message = self.workspace.record_person_message(channel, str(params.get("text") or ""),
                                                           str(params.get("user") or INSTALLER_USER_ID), parent)
            return {"ok": True, "message": control_view(message, channel)}

    def control_message(self, request: Request) -> Response:
        """One message as it is now (deleted ones too) and the replies in its thread, oldest first."""
        with self.store.lock:
            channel = self.workspace.find_channel(request.path_params["channel"])
            if channel is None:
                return Response.json({"ok": False, "error": "channel_not_found"}, 404)
            message = self.workspace.find_message(channel["id"], request.path_params["ts"], include_deleted=True)
            if message is None:
                return Response.json({"ok": False, "error": "message_not_found"}, 404)
            replies = self.workspace.replies(channel["id"], message["ts"])
            return Response.json({"ok": True, "message": control_view(message, channel),
                                  "replies": [control_view(m, channel) for m in replies]})

    def control_message_delete(self, request: Request) -> Response:
        """Someone deletes the message in Slack: chat.update on it then answers message_not_found."""
        def work(params):
            with self.store.lock:
                channel = self.workspace.find_channel(request.path_params["channel"])
                if channel is None:
                    raise SlackError("channel_not_found")
                message = self.workspace.delete_message(channel["id"], request.path_params["ts"])
                return {"ok": True, "message": control_view(message, channel)}
        return self._control(request, work)

    def control_events(self, request: Request) -> Response:
        if request.method == "GET":
            return Response.json({"events": self.data["events_sent"]})

        def work(params):
            event_type = str(params.get("type") or "")
            if event_type not in EVENT_TYPES:
                raise ValueError(f"type must be one of {', '.join(EVENT_TYPES)}")
            settings = self.data["settings"]
            timestamp = int(params["timestamp"]) if params.get("timestamp") not in (None, "") else None
            return send_event(self.workspace, event_type, params.get("events_url") or settings["events_url"],
                              params.get("signing_secret") or settings["signing_secret"],
                              team_id=params.get("team_id"), timestamp=timestamp,
                              bad_signature=_truthy(params.get("bad_signature")))
        return self._control(request, work)

    # -- people acting: button clicks, slash commands, response_url, App Home ----------------------

    @staticmethod
    def _base_url(request: Request) -> str:
        return f"http://{request.header('host') or '127.0.0.1'}"

    def control_interact(self, request: Request) -> Response:
        """Click a message's button: ?channel=&ts=&action_id=[&user=&value=]."""
        def work(params):
            settings = self.data["settings"]
            return interactions.click(
                self.workspace, base_url=self._base_url(request), signing_secret=settings["signing_secret"],
                channel_id=str(params["channel"]), message_ts=str(params["ts"]), action_id=str(params["action_id"]),
                user_id=str(params.get("user") or INSTALLER_USER_ID), value=params.get("value"),
                timestamp=int(params["timestamp"]) if params.get("timestamp") not in (None, "") else None,
                bad_signature=_truthy(params.get("bad_signature")))
        return self._control(request, work)

    def control_command(self, request: Request) -> Response:
        """Run a slash command: ?text=unpaid[&user=&channel=&command=/freshbooks]."""
        def work(params):
            return interactions.command(
                self.workspace, base_url=self._base_url(request),
                signing_secret=self.data["settings"]["signing_secret"], text=str(params.get("text") or ""),
                channel_id=str(params.get("channel") or ""), user_id=str(params.get("user") or INSTALLER_USER_ID),
                name=str(params.get("command") or "/freshbooks"))
        return self._control(request, work)

    def control_interactions(self, request: Request) -> Response:
        with self.store.lock:
            return Response.json({"interactions": self.data.get("interactions_sent", []),
                                  "commands": self.data.get("commands_sent", []),
                                  "ephemerals": self.data.get("ephemerals", []),
                                  "home_views": self.data.get("home_views", {})})

    def response_url(self, request: Request) -> Response:
        try:
            body = request.json()
        except HttpError:
            return Response.json({"ok": False, "error": "invalid_json"}, 400)
        if not isinstance(body, dict):
            return Response.json({"ok": False, "error": "invalid_payload"}, 400)
        status, text = interactions.respond(self.workspace, request.path_params["token"], body)
        return Response.html(text, status)

    def views_publish(self, request: Request, params: dict) -> Response:
        self._auth(request, params)
        view = params.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise SlackError("invalid_arguments") from None
        if not params.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        errors = validate_blocks(view.get("blocks") or [])
        if errors:
            raise SlackError("invalid_blocks", errors=errors)
        with self.store.lock:
            self.data.setdefault("home_views", {})[str(params["user_id"])] = view
            self.store.changed()
        return Response.json({"ok": True, "view": {"id": "V0SANDBOX", **view}})

    # -- page ----------------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        with self.store.lock:
            return Response.html(home_page(self, fragment=request.query.get("fragment") == "1"))


def _parsed_blocks(blocks) -> list | None:
    """`blocks` as JSON text or a list, checked as Slack's Block Kit validation would."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks) if blocks.strip() else None
        except ValueError:
            raise SlackError("invalid_blocks_format") from None
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if blocks:
        errors = validate_blocks(blocks)
        if errors:
            raise SlackError("invalid_blocks", errors=errors,
                             response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
    return blocks


def _check_text(text: str, blocks: list | None, markdown_text, attachments) -> None:
    if not (text or blocks or attachments or markdown_text):
        raise SlackError("no_text")
    if markdown_text and (text or blocks):
        raise SlackError("markdown_text_conflict")
    if len(text) > MESSAGE_TEXT_MAX:
        raise SlackError("msg_too_long")


def _parsed_metadata(metadata) -> dict | None:
    """Message metadata: an object with a non-empty event_type and an object event_payload."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else None
        except ValueError:
            raise SlackError("invalid_metadata_format") from None
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str) or \
            not metadata["event_type"] or not isinstance(metadata.get("event_payload"), dict):
        raise SlackError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def _between(messages: list[dict], params: dict) -> list[dict]:
    """The messages after `oldest` and before `latest` (both excluded unless `inclusive`)."""
    inclusive = _truthy(params.get("inclusive"))
    for key, error, keep in (("oldest", "invalid_ts_oldest", lambda ts, bound: ts > bound),
                             ("latest", "invalid_ts_latest", lambda ts, bound: ts < bound)):
        value = params.get(key)
        if value in (None, ""):
            continue
        try:
            bound = float(value)
        except (TypeError, ValueError):
            raise SlackError(error) from None
        messages = [m for m in messages if keep(float(m["ts"]), bound) or (inclusive and m["ts"] == str(value))]
    return messages


def _server_error(status: int) -> Response:
    return Response.json({"ok": False, "error": SERVER_ERRORS.get(status, "internal_error")}, status)


def _truthy(value) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _cursor_offset(cursor) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if kind != "offset":
            raise ValueError(cursor)
        return max(0, int(number))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
