"""Acting from Slack: signed clicks on invoice messages (Send reminder, Mine), /freshbooks from the ledger,
links between Slack users and members, and refusals that stay polite (never a 500).

FreshBooks is mocked at the transport (`responses`); Slack's Web API and response_url are a local HTTP
server. Tasks run eagerly, in the test, as a worker would run them."""

import hashlib
import hmac
import json
import time
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import responses as responses_lib
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer
from slack_sdk.signature import SignatureVerifier

from audit.models import ActivityLog, Delivery, InboundEvent, InvoiceState
from connector.celery import app as celery_app
from connector.core.crypto import blind_index
from connector.pipeline import slack_actions
from connector.slack.models import InstallationStatus, SlackInstallation
from tenants.invitations import membership_remove
from tenants.models import Role, SlackLinkRequest, SlackUserLink
from tenants.slack_links import slack_link_offer, slack_link_save
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.freshbooks.conftest import ACCOUNT_ID, API, make_connection
from tests.pipeline.conftest import TEAM

pytestmark = pytest.mark.django_db

SECRET = "slack-signing-secret"  # settings_test.SLACK_SIGNING_SECRET
CHANNEL = "C0FIN"
TS = "1767000000.000100"
INVOICE_ID = "2001"
INVOICE_URL = f"{API}/accounting/account/{ACCOUNT_ID}/invoices/invoices/{INVOICE_ID}"


@pytest.fixture(autouse=True)
def _eager_tasks():
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_eager_propagates = False


@pytest.fixture(autouse=True)
def _commit_hooks(django_capture_on_commit_callbacks, monkeypatch):
    """Run on_commit hooks (tasks enqueued after the request's transaction) as a real commit would."""
    global _capture
    _capture = django_capture_on_commit_callbacks
    yield
    _capture = None


_capture = None


@pytest.fixture
def slack_server(settings):
    server = HTTPServer(threaded=True)
    server.start()
    settings.SLACK_API_URL = server.url_for("/api/")
    server.expect_request("/api/chat.postMessage").respond_with_json({"ok": True, "channel": CHANNEL,
                                                                       "ts": "1767000001.000200"})
    server.expect_request("/api/views.publish").respond_with_json({"ok": True})
    server.expect_request("/respond").respond_with_data("ok")
    yield server
    server.clear()
    server.stop()


def calls(server, path):
    return [json.loads(r.get_data(as_text=True)) if r.content_type.startswith("application/json")
            else {**r.form.to_dict()} for r, _ in server.log if r.path == path]


@pytest.fixture
def fb(settings):
    settings.FRESHBOOKS_API_URL = API
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def invoice_object(**overrides):
    data = {"id": int(INVOICE_ID), "invoiceid": int(INVOICE_ID), "invoice_number": "INV-0042",
            "organization": "Globex", "fname": "Hank", "lname": "Scorpio", "customerid": 77,
            "email": "billing@globex.test", "amount": {"amount": "1200.00", "code": "USD"},
            "outstanding": {"amount": "1200.00", "code": "USD"}, "currency_code": "USD", "due_date": "2026-01-10",
            "v3_status": "sent", "status": 2, "vis_state": 0}
    data.update(overrides)
    return {"response": {"result": {"invoice": data}}}


@pytest.fixture
def setup(tenant, slack_server):
    installation = SlackInstallation.objects.create(
        tenant=tenant, team_id=TEAM, team_name="Globex Workspace", bot_user_id="UBOT", bot_id="BBOT",
        scopes="chat:write", bot_token="xoxb-test", installed_at=timezone.now(), status=InstallationStatus.ACTIVE)
    make_connection(tenant)
    event = InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id=INVOICE_ID,
                                        raw_body="x", dedupe_key=f"invoice.create:{INVOICE_ID}")
    delivery = Delivery.objects.create(
        tenant=tenant, inbound_event=event, event_name="invoice.create", object_id=INVOICE_ID, kind="invoice",
        action="created", slack_team_id=TEAM, channel_id=CHANNEL, slack_channel=CHANNEL, slack_ts=TS,
        status=Delivery.Status.POSTED, message_text="New invoice INV-0042",
        message_blocks=[{"type": "header", "text": {"type": "plain_text", "text": "New invoice INV-0042"}},
                        {"type": "actions", "block_id": "invoice_actions", "elements": []}])
    return installation, delivery


def linked(tenant, role, *, slack_user="U0DANA", first_name="Dana"):
    user = UserFactory(first_name=first_name, last_name="")
    MembershipFactory(tenant=tenant, user=user, role=role)
    slack_link_save(tenant=tenant, user=user, team_id=TEAM, slack_user_id=slack_user, linked_by="operator",
                    actor=None)
    return user


def signed(body: bytes, *, timestamp=None, secret=SECRET) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
            "HTTP_X_SLACK_SIGNATURE": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}


def click_payload(server, *, action_id="send_reminder", value=INVOICE_ID, user="U0DANA", team=TEAM, ts=TS):
    return {"type": "block_actions", "team": {"id": team, "domain": "globex"},
            "user": {"id": user, "name": "dana"}, "api_app_id": "A0APP",
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
            "channel": {"id": CHANNEL, "name": "finance"}, "message": {"ts": ts, "text": "New invoice", "blocks": []},
            "response_url": server.url_for("/respond"), "trigger_id": "1.2.3",
            "actions": [{"action_id": action_id, "block_id": "invoice_actions", "value": value, "type": "button",
                         "action_ts": str(time.time())}]}


def click(client, payload, **headers):
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = headers or signed(body)
    with _capture(execute=True):
        return client.post("/slack/interactions/", data=body, content_type="application/x-www-form-urlencoded",
                           **headers)


def command(client, text, *, user="U0DANA", team=TEAM):
    body = urlencode({"command": "/freshbooks", "text": text, "team_id": team, "user_id": user,
                      "channel_id": CHANNEL, "response_url": "https://hooks.slack.com/commands/x"}).encode()
    return client.post("/slack/commands/", data=body, content_type="application/x-www-form-urlencoded",
                       **signed(body))


def emails_sent(fb):
    return [json.loads(c.request.body) for c in fb.calls if c.request.method == "PUT"]


# --- Send reminder --------------------------------------------------------------------------------------------

def test_a_double_click_sends_one_email_one_thread_reply_and_one_activity_entry(client, tenant, setup, fb,
                                                                                slack_server):
    linked(tenant, Role.ADMIN)
    fb.get(INVOICE_URL, json=invoice_object())
    fb.put(INVOICE_URL, json=invoice_object())

    first = click(client, click_payload(slack_server))
    second = click(client, click_payload(slack_server))

    assert first.status_code == 200 and second.status_code == 200
    sent = emails_sent(fb)
    assert len(sent) == 1
    assert sent[0]["invoice"]["action_email"] is True
    assert sent[0]["invoice"]["email_recipients"] == ["billing@globex.test"]
    replies = calls(slack_server, "/api/chat.postMessage")
    assert len(replies) == 1
    assert replies[0]["thread_ts"] == TS and replies[0]["channel"] == CHANNEL
    assert replies[0]["text"] == "Reminder sent to billing@globex.test by Dana"
    entries = ActivityLog.objects.for_tenant(tenant).filter(action="invoice.reminder_sent")
    assert entries.count() == 1
    assert entries.get().details["recipient"] == "billing@globex.test"
    # The second click was told why nothing happened, and only the clicker sees it.
    note = calls(slack_server, "/respond")[-1]
    assert note["response_type"] == "ephemeral" and "at most one a day" in note["text"]


def test_the_slot_is_taken_once_however_many_workers_race(tenant, setup):
    assert slack_actions.reminder_reserve(tenant=tenant, invoice_id=INVOICE_ID) is True
    assert slack_actions.reminder_reserve(tenant=tenant, invoice_id=INVOICE_ID) is False
    InvoiceState.objects.for_tenant(tenant).update(reminder_sent_at=timezone.now() - timedelta(hours=25))
    assert slack_actions.reminder_reserve(tenant=tenant, invoice_id=INVOICE_ID) is True


def test_a_paid_invoice_gets_no_email_and_the_slot_is_given_back(client, tenant, setup, fb, slack_server):
    linked(tenant, Role.OWNER)
    fb.get(INVOICE_URL, json=invoice_object(outstanding={"amount": "0.00", "code": "USD"}, v3_status="paid"))

    click(client, click_payload(slack_server))

    assert emails_sent(fb) == []
    assert calls(slack_server, "/api/chat.postMessage") == []
    assert "nothing outstanding" in calls(slack_server, "/respond")[-1]["text"]
    assert InvoiceState.objects.for_tenant(tenant).get(invoice_id=INVOICE_ID).reminder_sent_at is None


def test_a_viewers_click_is_refused_politely(client, tenant, setup, fb, slack_server):
    linked(tenant, Role.VIEWER)

    response = click(client, click_payload(slack_server))

    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "only owners and admins" in response.json()["text"]
    assert emails_sent(fb) == []
    assert not ActivityLog.objects.for_tenant(tenant).filter(action="invoice.reminder_sent").exists()


def test_an_unlinked_user_gets_a_one_time_link_that_links_them_after_login(client, tenant, setup, slack_server):
    member = UserFactory()
    MembershipFactory(tenant=tenant, user=member, role=Role.ADMIN)

    answer = click(client, click_payload(slack_server, user="U0NEW")).json()

    assert answer["response_type"] == "ephemeral"
    url = answer["text"].split("<", 1)[1].split("|", 1)[0]
    path = url.replace("https://connector.example.com", "")
    assert client.get(path).status_code == 302  # log in first
    client.force_login(member, backend="tenants.auth.EmailBackend")
    assert client.post(path).status_code == 302
    assert SlackUserLink.objects.for_tenant(tenant).get(slack_user_id="U0NEW").user == member
    assert client.post(path).status_code == 410  # one time only
    assert SlackLinkRequest.objects.for_tenant(tenant).get().used_at is not None


def test_an_expired_link_or_a_non_member_links_nobody(client, tenant, setup, slack_server, other_owner):
    late = slack_link_offer(tenant=tenant, team_id=TEAM, slack_user_id="U0LATE")
    SlackLinkRequest.objects.for_tenant(tenant).update(expires_at=timezone.now() - timedelta(seconds=1))
    stranger_link = slack_link_offer(tenant=tenant, team_id=TEAM, slack_user_id="U0STRANGER")
    client.force_login(other_owner, backend="tenants.auth.EmailBackend")

    expired = client.post(late.replace("https://connector.example.com", ""))
    stranger = client.post(stranger_link.replace("https://connector.example.com", ""))

    assert expired.status_code == 410
    assert stranger.status_code == 403 and "not a member" in stranger.content.decode()
    assert not SlackUserLink.objects.exists()


def test_a_reminder_from_someone_demoted_since_the_click_is_not_sent(client, tenant, setup, fb, slack_server):
    dana = linked(tenant, Role.ADMIN)
    fb.get(INVOICE_URL, json=invoice_object())
    slack_actions.reminder_reserve(tenant=tenant, invoice_id=INVOICE_ID)
    tenant.memberships.filter(user=dana).update(role=Role.VIEWER)

    slack_actions.reminder_send.delay(tenant.pk, INVOICE_ID, dana.pk, CHANNEL, TS, slack_server.url_for("/respond"))

    assert emails_sent(fb) == []
    assert InvoiceState.objects.for_tenant(tenant).get(invoice_id=INVOICE_ID).reminder_sent_at is None
    assert "no longer allows" in calls(slack_server, "/respond")[-1]["text"]


@pytest.mark.parametrize("case", ["unsigned", "stale", "wrong_secret"])
def test_unsigned_or_stale_requests_are_refused_with_401(client, tenant, setup, slack_server, case):
    linked(tenant, Role.ADMIN)
    body = urlencode({"payload": json.dumps(click_payload(slack_server))}).encode()
    headers = {"unsigned": {}, "stale": signed(body, timestamp=int(time.time()) - 301),
               "wrong_secret": signed(body, secret="not-the-secret")}[case]

    response = client.post("/slack/interactions/", data=body, content_type="application/x-www-form-urlencoded",
                           **headers)
    command_response = client.post("/slack/commands/", data=b"command=%2Ffreshbooks&team_id=T&user_id=U",
                                   content_type="application/x-www-form-urlencoded", **headers)

    assert response.status_code == 401
    assert command_response.status_code == 401
    assert InvoiceState.objects.count() == 0


def test_an_unknown_team_gets_a_polite_ephemeral_answer(client, setup, slack_server):
    response = click(client, click_payload(slack_server, team="T0STRANGER"))
    answer = command(client, "unpaid", team="T0STRANGER")

    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "not connected to ml-connector" in response.json()["text"]
    assert answer.status_code == 200 and "not connected to ml-connector" in answer.json()["text"]


@pytest.mark.parametrize("body", [b"", b"payload=", b"payload=%7Bnot%20json", b"payload=%5B1%5D",
                                  b"payload=%7B%22type%22%3A%22block_actions%22%7D",
                                  urlencode({"payload": json.dumps({"type": "block_actions", "team": {"id": 5},
                                                                    "user": {}, "actions": [{}]})}).encode(),
                                  b"command=%2Ffreshbooks"])
def test_odd_payloads_answer_400_never_500(client, body):
    path = "/slack/commands/" if body.startswith(b"command") else "/slack/interactions/"
    response = client.post(path, data=body, content_type="application/x-www-form-urlencoded", **signed(body))

    assert response.status_code == 400


def test_a_body_that_is_not_utf8_cannot_be_verified():
    body = b"\xff\xfe"
    ts = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()

    response = Client().post("/slack/interactions/", data=body, content_type="application/x-www-form-urlencoded",
                             HTTP_X_SLACK_REQUEST_TIMESTAMP=ts, HTTP_X_SLACK_SIGNATURE=f"v0={mac}")

    assert response.status_code == 401


def test_a_user_of_tenant_a_cannot_act_on_tenant_bs_invoice(client, tenant, setup, fb, slack_server):
    other = TenantFactory()
    SlackInstallation.objects.create(tenant=other, team_id="T0OTHER", bot_token="xoxb-other",
                                     installed_at=timezone.now(), status=InstallationStatus.ACTIVE)
    attacker = UserFactory()
    MembershipFactory(tenant=other, user=attacker, role=Role.OWNER)
    slack_link_save(tenant=other, user=attacker, team_id="T0OTHER", slack_user_id="U0EVIL", linked_by="operator",
                    actor=None)

    # From their own workspace, naming tenant A's message and invoice:
    own = click(client, click_payload(slack_server, team="T0OTHER", user="U0EVIL"))
    # From tenant A's workspace (a guest there), where they are linked to nobody of tenant A:
    guest = click(client, click_payload(slack_server, user="U0EVIL"))

    assert "could not find that invoice" in own.json()["text"]
    assert "link your Slack account" in guest.json()["text"]
    assert emails_sent(fb) == []
    assert not InvoiceState.objects.for_tenant(other).exists()
    assert InvoiceState.objects.for_tenant(tenant).filter(reminder_sent_at__isnull=False).count() == 0


# --- Mine --------------------------------------------------------------------------------------------------------

def test_claim_rebuilds_the_message_with_who_follows_it_up(client, tenant, setup, slack_server):
    dana = linked(tenant, Role.ADMIN)

    response = click(client, click_payload(slack_server, action_id="claim"))

    assert response.status_code == 200
    rebuilt = calls(slack_server, "/respond")[-1]
    assert rebuilt["replace_original"] is True
    assert {"type": "context", "block_id": "follow_up",
            "elements": [{"type": "mrkdwn", "text": "Dana is following this up"}]} in rebuilt["blocks"]
    assert InvoiceState.objects.for_tenant(tenant).get(invoice_id=INVOICE_ID).claimed_by == dana
    assert ActivityLog.objects.for_tenant(tenant).filter(action="invoice.claimed", target=INVOICE_ID).exists()


# --- /freshbooks ------------------------------------------------------------------------------------------------

def ledger(tenant, n, *, outstanding, due, number=None, status="sent", currency="USD"):
    return InvoiceState.objects.create(
        tenant=tenant, invoice_id=str(n), number=number or f"INV-{n:04d}", client_name=f"Client {n}",
        number_index=blind_index(number or f"INV-{n:04d}"), amount=Decimal(outstanding),
        outstanding=Decimal(outstanding), currency=currency, status=status, due_date=due,
        fetched_at=timezone.now())


def test_unpaid_lists_the_ten_largest_with_totals_from_the_ledger(client, tenant, setup):
    linked(tenant, Role.VIEWER)  # viewers may read
    for n in range(1, 13):
        ledger(tenant, n, outstanding=f"{n * 100}.00", due=date(2026, 12, 1))
    ledger(tenant, 50, outstanding="999999.00", due=date(2026, 12, 1), status="draft")  # not owed yet
    ledger(tenant, 51, outstanding="0.00", due=date(2026, 12, 1), status="paid")

    answer = command(client, "unpaid").json()

    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("*Unpaid: $7,800.00 on 12 invoices*\nLargest 10:\n• *INV-0012* Client 12: "
                                     "$1,200.00 outstanding")
    assert answer["text"].count("\n• ") == 10
    assert "INV-0002" not in answer["text"] and "INV-0050" not in answer["text"]


def test_overdue_says_how_many_days(client, tenant, setup):
    linked(tenant, Role.ADMIN)
    today = timezone.localdate()
    ledger(tenant, 1, outstanding="300.00", due=today - timedelta(days=12))
    ledger(tenant, 2, outstanding="50.00", due=today + timedelta(days=3))

    text = command(client, "overdue").json()["text"]

    assert text.startswith("*Overdue: $300.00 on 1 invoice*")
    assert "*INV-0001* Client 1: $300.00, 12 days overdue" in text
    assert "INV-0002" not in text


def test_invoice_number_gives_its_current_state(client, tenant, setup):
    linked(tenant, Role.ADMIN)
    ledger(tenant, 7, outstanding="80.00", due=timezone.localdate() - timedelta(days=1), number="INV-0042",
           status="partial")

    text = command(client, "invoice INV-0042").json()["text"]
    missing = command(client, "invoice NOPE").json()["text"]

    assert text.startswith("*INV-0042* for Client 7: partial\nTotal $80.00, outstanding $80.00\nDue ")
    assert "(1 day overdue)" in text
    assert missing.startswith("No invoice numbered NOPE")


def test_a_stale_ledger_is_refreshed_from_freshbooks_in_the_background(client, tenant, setup, fb):
    linked(tenant, Role.ADMIN)
    fb.get(f"{API}/accounting/account/{ACCOUNT_ID}/invoices/invoices", json={"response": {"result": {
        "invoices": [invoice_object()["response"]["result"]["invoice"]], "page": 1, "pages": 1, "per_page": 100,
        "total": 1}}})

    answer = command(client, "unpaid").json()  # the refresh task ran (eagerly) before the answer was read
    again = command(client, "unpaid").json()

    assert "*INV-0042* Globex: $1,200.00 outstanding" in answer["text"]
    assert "*INV-0042* Globex: $1,200.00 outstanding" in again["text"]
    assert len([c for c in fb.calls if c.request.method == "GET"]) == 1  # once per stale window


def test_a_full_refresh_marks_invoices_freshbooks_no_longer_lists_as_deleted(tenant, setup, fb):
    ledger(tenant, 9, outstanding="40.00", due=date(2026, 12, 1))
    InvoiceState.objects.for_tenant(tenant).update(fetched_at=timezone.now() - timedelta(hours=1))
    fb.get(f"{API}/accounting/account/{ACCOUNT_ID}/invoices/invoices", json={"response": {"result": {
        "invoices": [invoice_object()["response"]["result"]["invoice"]], "page": 1, "pages": 1, "per_page": 100,
        "total": 1}}})

    assert slack_actions.ledger_refresh(tenant.pk) == 1

    states = dict(InvoiceState.objects.for_tenant(tenant).values_list("invoice_id", "deleted"))
    assert states == {"9": True, INVOICE_ID: False}


def test_a_click_on_open_in_freshbooks_does_nothing_but_answer(client, tenant, setup, fb, slack_server):
    linked(tenant, Role.ADMIN)

    response = click(client, click_payload(slack_server, action_id="open_in_freshbooks"))

    assert response.status_code == 200 and response.content == b""
    assert calls(slack_server, "/respond") == [] and len(fb.calls) == 0
    assert not InvoiceState.objects.exists()


def test_help_and_unknown_words(client, tenant, setup):
    linked(tenant, Role.ADMIN)

    assert "`/freshbooks unpaid`" in command(client, "help").json()["text"]
    assert command(client, "dance").json()["text"].startswith("I did not understand that.")


# --- App Home and the operator command -----------------------------------------------------------------------

def test_app_home_opened_publishes_totals_and_held_messages(client, tenant, setup, slack_server):
    linked(tenant, Role.ADMIN)
    ledger(tenant, 1, outstanding="300.00", due=timezone.localdate() - timedelta(days=2))
    _, delivery = setup
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.HELD, held_reason="is_archived",
                                                   channel_name="finance")
    body = json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": "Ev0HOME", "event_time": 1,
                       "event": {"type": "app_home_opened", "user": "U0DANA", "tab": "home"}}).encode()

    response = client.post("/slack/events/", data=body, content_type="application/json", **signed(body))

    assert response.status_code == 200
    published = calls(slack_server, "/api/views.publish")
    assert len(published) == 1 and published[0]["user_id"] == "U0DANA"
    view = published[0]["view"] if isinstance(published[0]["view"], dict) else json.loads(published[0]["view"])
    text = json.dumps(view)
    assert view["type"] == "home"
    assert "$300.00 on 1 invoice" in text
    assert "#finance is archived" in text and "Channel archived: pick another in the rule" in text
    assert "(<https://connector.example.com/rules/|open>)" in text  # a real link, not escaped text


def test_link_slack_user_command(tenant, setup, capsys):
    user = UserFactory(email="dana@globex.test")
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)

    call_command("link_slack_user", "--tenant", tenant.slug, "--user", "dana@globex.test", "--slack-user", "U0DANA")

    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"Linked dana@globex.test in {tenant.slug} to Slack user U0DANA of workspace {TEAM}."
    assert SlackUserLink.objects.for_tenant(tenant).get(slack_user_id="U0DANA").user == user


def test_link_slack_user_command_errors(tenant, setup):
    with pytest.raises(CommandError, match="not a member"):
        call_command("link_slack_user", "--tenant", tenant.slug, "--user", UserFactory().email,
                     "--slack-user", "U0DANA")
    with pytest.raises(CommandError, match="not a Slack user id"):
        call_command("link_slack_user", "--tenant", tenant.slug, "--user", UserFactory().email, "--slack-user", "dana")


def test_settings_lists_links_and_an_admin_removes_one(client, tenant, setup):
    admin = UserFactory()
    MembershipFactory(tenant=tenant, user=admin, role=Role.ADMIN)
    dana = linked(tenant, Role.VIEWER)
    client.force_login(admin, backend="tenants.auth.EmailBackend")
    session = client.session
    session["tenant_id"] = tenant.pk
    session.save()

    page = client.get("/accounts/settings/").content.decode()
    link = SlackUserLink.objects.for_tenant(tenant).get(user=dana)
    removed = client.post(f"/accounts/settings/slack-links/{link.pk}/remove/")

    assert "Linked Slack users" in page and "U0DANA" in page and dana.email in page
    assert removed.status_code == 302
    assert not SlackUserLink.objects.for_tenant(tenant).exists()
    assert ActivityLog.objects.for_tenant(tenant).filter(action="slack.user_unlinked", target="U0DANA").exists()


def test_removing_a_member_removes_their_slack_link(tenant, setup, owner):
    dana = linked(tenant, Role.ADMIN)

    membership_remove(tenant=tenant, actor=owner, pk=tenant.memberships.get(user=dana).pk)

    assert not SlackUserLink.objects.for_tenant(tenant).exists()


def test_with_the_broker_down_a_click_is_answered_and_the_slot_given_back(client, tenant, setup, fb, slack_server,
                                                                          monkeypatch):
    from kombu.exceptions import OperationalError

    linked(tenant, Role.ADMIN)

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(slack_actions.reminder_send, "delay", unreachable)
    monkeypatch.setattr(slack_actions.slack_respond, "delay", unreachable)

    response = click(client, click_payload(slack_server))

    assert response.status_code == 200
    assert "could not be started" in response.json()["text"]
    assert InvoiceState.objects.for_tenant(tenant).get(invoice_id=INVOICE_ID).reminder_sent_at is None
    assert emails_sent(fb) == []
