"""Pipeline fixtures: a tenant with Slack installed, deliveries waiting, Slack served by a local HTTP server."""

import contextlib
import json
import threading
import time
from unittest import mock

import pytest
from django.utils import timezone

from audit.models import Delivery, InboundEvent
from connector.pipeline import doorbell, inbox, pacing

TEAM = "T0TEST"


def drain(channel: str = "C1"):
    """Drain a channel as the worker would once its pace allows: tests skip the wait instead of sleeping
    (the channel's 1 s slot and the workspace's per-second cap are cleared first)."""
    from connector.pipeline.delivery import channel_drain_once

    r = pacing.client()
    r.delete(f"mlc:pace:{TEAM}:{channel}", *r.keys(f"mlc:teamcap:{TEAM}:*"))
    return channel_drain_once(team_id=TEAM, channel_id=channel)


@contextlib.contextmanager
def handed_to_processing():
    """The ids handed to process_event, in order, through the tenants' inboxes (connector/pipeline/inbox.py):
    no message reaches the broker, and the drain tasks the inboxes rang run here as a worker would run
    them, once the block ends."""
    handed: list[int] = []
    with mock.patch.object(inbox.app, "send_task") as ring, \
            mock.patch.object(inbox.app.tasks[doorbell.PROCESS_EVENT], "apply_async") as process:
        yield handed
        while ring.call_args_list:
            rung, ring.call_args_list = ring.call_args_list, []
            for call in rung:
                inbox.drain_inbox.run(*call.kwargs["args"])
        handed += [call.args[0][0] for call in process.call_args_list]


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    r = pacing.client()
    r.flushdb()
    yield
    r.flushdb()


@pytest.fixture
def installation(tenant):
    from connector.slack.models import InstallationStatus, SlackInstallation

    return SlackInstallation.objects.create(
        tenant=tenant, team_id=TEAM, team_name="Test Workspace", bot_user_id="UBOT", bot_id="BBOT",
        scopes="chat:write,chat:write.public,channels:read,groups:read,channels:history,groups:history",
        bot_token="xoxb-test-token", installed_at=timezone.now(), status=InstallationStatus.ACTIVE,
    )


class FakeSlack:
    """Slack's Web API on a local port (pytest-httpserver), scripted per channel, recording posts."""

    def __init__(self, httpserver):
        self.server = httpserver
        self.posts: list[dict] = []
        self.script: dict[str, list] = {}  # channel -> list of responses to give, in order (then ok)
        self.lock = threading.Lock()
        httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_handler(self._post)
        httpserver.expect_request("/api/conversations.history").respond_with_handler(self._history)
        httpserver.expect_request("/api/conversations.info").respond_with_handler(self._info)
        httpserver.expect_request("/api/chat.update", method="POST").respond_with_handler(self._update)
        httpserver.expect_request("/api/conversations.replies").respond_with_handler(self._replies)
        self.usable: dict[str, bool] = {}
        self.updates: list[dict] = []  # chat.update calls that worked
        self.update_script: list[str] = []  # answers to give chat.update, in order (then ok)
        self.replies_calls = 0

    def _update(self, request):
        from werkzeug import Response

        body = json.loads(request.get_data() or b"{}")
        with self.lock:
            action = self.update_script.pop(0) if self.update_script else "ok"
            if action == "ok":
                self.updates.append({"channel": body.get("channel"), "ts": body.get("ts"), "text": body.get("text"),
                                     "blocks": body.get("blocks")})
        if action == "429":
            return Response(json.dumps({"ok": False, "error": "ratelimited"}), status=429,
                            headers={"Retry-After": "7"}, content_type="application/json")
        if action != "ok":
            return Response(json.dumps({"ok": False, "error": action}), content_type="application/json")
        return Response(json.dumps({"ok": True, "channel": body.get("channel"), "ts": body.get("ts")}),
                        content_type="application/json")

    def _replies(self, request):
        from werkzeug import Response

        thread = request.values.get("ts")
        with self.lock:
            self.replies_calls += 1
            messages = [dict(m) for m in self.posts if m.get("thread_ts") == thread]
        return Response(json.dumps({"ok": True, "messages": messages, "has_more": False}),
                        content_type="application/json")

    def _post(self, request):
        from werkzeug import Response

        body = json.loads(request.get_data() or b"{}")
        channel = body.get("channel")
        with self.lock:
            queued = self.script.get(channel) or []
            action = queued.pop(0) if queued else "ok"
            message = {"channel": channel, "text": body.get("text"), "blocks": body.get("blocks"),
                       "metadata": body.get("metadata"), "ts": f"{time.time():.6f}",
                       "thread_ts": body.get("thread_ts"), "reply_broadcast": body.get("reply_broadcast")}
            if action in ("ok", "timeout", "slow"):
                self.posts.append(message)
        if action == "slow":
            time.sleep(0.5)  # a slow answer, well within the client's timeout
            action = "ok"
        if action == "ok":
            return Response(json.dumps({"ok": True, "channel": channel, "ts": message["ts"]}),
                            content_type="application/json")
        if action == "timeout":
            time.sleep(3)  # longer than the client's timeout in tests: the post happened, the answer is lost
            return Response(json.dumps({"ok": True, "channel": channel, "ts": message["ts"]}),
                            content_type="application/json")
        if action == "429":
            return Response(json.dumps({"ok": False, "error": "ratelimited"}), status=429,
                            headers={"Retry-After": "3"}, content_type="application/json")
        if action == "500":
            return Response("upstream broke", status=500)
        return Response(json.dumps({"ok": False, "error": action}), content_type="application/json")

    def _history(self, request):
        from werkzeug import Response

        channel = request.values.get("channel")
        with self.lock:
            messages = [dict(m) for m in reversed(self.posts) if m["channel"] == channel]
        return Response(json.dumps({"ok": True, "messages": messages, "has_more": False}),
                        content_type="application/json")

    def _info(self, request):
        from werkzeug import Response

        channel = request.values.get("channel")
        if not self.usable.get(channel, True):
            return Response(json.dumps({"ok": False, "error": "channel_not_found"}), content_type="application/json")
        return Response(json.dumps({"ok": True, "channel": {"id": channel, "name": channel.lower(),
                                                            "is_archived": False, "is_member": True,
                                                            "is_private": False}}),
                        content_type="application/json")

    def posts_to(self, channel):
        return [p for p in self.posts if p["channel"] == channel]


@pytest.fixture
def slack(settings):
    from pytest_httpserver import HTTPServer

    # Threaded: a post that "times out" must not block the history lookup that follows it.
    server = HTTPServer(threaded=True)
    server.start()
    settings.SLACK_API_URL = server.url_for("/api/")
    yield FakeSlack(server)
    server.clear()
    server.stop()


@pytest.fixture(params=["postgresql", "sqlite"])
def head_read(request, monkeypatch):
    """The channel head read both ways: its SQL written out (PostgreSQL), and through the ORM (SQLite)."""
    from django.db import connection

    from audit import ledger
    from connector.pipeline import order

    if request.param == "sqlite":
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return lambda channel_id: ledger.channel_head(team_id=TEAM, channel_id=channel_id, unread=order.unread())


@pytest.fixture
def make_delivery(tenant):
    counter = {"n": 0}

    def make(channel_id="C1", *, status=Delivery.Status.PENDING, team_id=TEAM, text=None):
        counter["n"] += 1
        n = counter["n"]
        event = InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id=str(1000 + n),
                                            raw_body=f"name=invoice.create&object_id={1000 + n}",
                                            dedupe_key=f"invoice.create:{1000 + n}",
                                            status=InboundEvent.Status.PROCESSED)  # as it is once it has deliveries
        return Delivery.objects.create(
            tenant=tenant, inbound_event=event, event_name="invoice.create", object_id=str(1000 + n),
            kind="invoice", action="created", slack_team_id=team_id, channel_id=channel_id,
            channel_name=channel_id.lower(), status=status, message_text=text or f"Invoice {n} created",
            message_blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text or f"Invoice {n}"}}],
        )

    return make
