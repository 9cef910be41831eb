"""Callbacks: registering (command and button), re-registering only what is missing or stale, resending
verification; the operator commands; tenant isolation and roles on the pages."""

import json
import re

import pytest
from django.core.management import CommandError, call_command

from connector.core.events import WEBHOOK_EVENTS
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection
from tests.freshbooks.conftest import API, make_callback, make_connection

pytestmark = pytest.mark.django_db
CALLBACKS = f"{API}/events/account/p7rQW5/events/callbacks"


def _accept_registrations(fb_api, start=5000):
    ids = iter(range(start, start + 100))
    fb_api.add_callback("POST", CALLBACKS, callback=lambda req: (200, {}, json.dumps(
        {"response": {"result": {"callback": {"callbackid": next(ids), "verified": False,
                                              **json.loads(req.body)["callback"]}}}})))


def test_register_button_adds_only_missing_or_stale_callbacks(owner_client, tenant, connection, fb_api):
    make_callback(connection, "invoice.create", verifier="v", callback_id="1")  # right: kept
    stale = make_callback(connection, "invoice.update", verifier="v", callback_id="2")
    FreshBooksCallback.objects.filter(pk=stale.pk).update(uri="https://old.example.com/webhooks/freshbooks/x/")
    delete = fb_api.delete(f"{CALLBACKS}/2", json={})
    _accept_registrations(fb_api)
    response = owner_client.post("/freshbooks/callbacks/register/", follow=True)
    assert f"Registered {len(WEBHOOK_EVENTS) - 1} callback(s); 1 were already in place" in response.content.decode()
    assert delete.call_count == 1
    stale.refresh_from_db()
    assert stale.uri == tenant.webhook_url and stale.state == "waiting" and stale.verifier == ""
    assert FreshBooksCallback.objects.get(event="invoice.create").state == "verified"


def test_a_refused_registration_is_shown_as_failed_and_retried_next_time(owner_client, tenant, connection, fb_api):
    fb_api.post(CALLBACKS, status=422, json={"errno": 422, "message": "Unrecognized event."})
    page = owner_client.post("/freshbooks/callbacks/register/", follow=True).content.decode()
    assert "could not be registered" in page
    assert FreshBooksCallback.objects.filter(state="failed").count() == len(WEBHOOK_EVENTS)
    fb_api.reset()
    _accept_registrations(fb_api)
    owner_client.post("/freshbooks/callbacks/register/")
    assert FreshBooksCallback.objects.filter(state="waiting").count() == len(WEBHOOK_EVENTS)


def test_resend_verification_button(owner_client, tenant, connection, fb_api):
    callback = make_callback(connection, "bill.create", callback_id="77", state="waiting")
    put = fb_api.put(f"{CALLBACKS}/77", json={})
    page = owner_client.post(f"/freshbooks/callbacks/{callback.pk}/resend/", follow=True).content.decode()
    assert "will send a new verification code" in page
    assert json.loads(put.calls[0].request.body) == {"callback": {"resend": True}}


def test_register_without_connection_says_so(owner_client, tenant, settings_fb):
    page = owner_client.post("/freshbooks/callbacks/register/", follow=True).content.decode()
    assert "Connect FreshBooks first" in page


def test_freshbooks_down_while_registering_is_a_message_not_a_500(owner_client, connection, fb_api):
    fb_api.post(CALLBACKS, status=503, json={})
    response = owner_client.post("/freshbooks/callbacks/register/", follow=True)
    assert response.status_code == 200


def test_another_tenants_callback_is_404(owner_client, other_tenant, settings_fb):
    theirs = make_callback(make_connection(other_tenant), "bill.create", callback_id="9", state="waiting")
    assert owner_client.post(f"/freshbooks/callbacks/{theirs.pk}/resend/").status_code == 404


def test_viewers_see_the_pages_but_cannot_change(viewer_client, tenant, connection):
    ours = make_callback(connection, "bill.create", callback_id="8", state="waiting")
    for url in ("/freshbooks/", "/freshbooks/callbacks/", "/freshbooks/disconnect/"):
        page = viewer_client.get(url)
        assert page.status_code == 200, url
        assert "Resend the code" not in page.content.decode()
        assert "Set up missing notifications" not in page.content.decode()
    for url in ("/freshbooks/callbacks/register/", f"/freshbooks/callbacks/{ours.pk}/resend/"):
        assert viewer_client.post(url).status_code == 403, url


def test_waiting_notifications_say_that_a_reload_shows_the_answer(owner_client, connection):
    make_callback(connection, "invoice.create", callback_id="1", state=FreshBooksCallback.State.WAITING)
    page = owner_client.get("/freshbooks/callbacks/").content.decode()
    assert "FreshBooks usually confirms within a few seconds: reload this page" in page
    assert "Resend the code" in page and "Set up missing notifications" in page

    FreshBooksCallback.objects.update(state=FreshBooksCallback.State.VERIFIED)
    assert "usually confirms" not in owner_client.get("/freshbooks/callbacks/").content.decode()


def test_pages_never_show_secrets(owner_client, tenant, connection):
    make_callback(connection, "invoice.create", verifier="the-secret-verifier", callback_id="1")
    for url in ("/freshbooks/", "/freshbooks/callbacks/", "/freshbooks/disconnect/"):
        page = owner_client.get(url).content.decode()
        for secret in ("the-secret-verifier", "access-1", "refresh-1"):
            assert secret not in page, (url, secret)


def test_overview_shows_refused_webhooks(owner_client, tenant, connection):
    from connector.freshbooks.services import webhook_rejection_record

    webhook_rejection_record(tenant=tenant)
    webhook_rejection_record(tenant=tenant)
    page = owner_client.get("/freshbooks/").content.decode()
    assert "Refused notifications (7 days)</th><td>2" in page


# --- Operator commands ---------------------------------------------------------------------------------

def test_connect_freshbooks_command_stores_tokens_encrypted(tenant, capsys, settings_fb):
    call_command("connect_freshbooks", "--tenant", tenant.slug, "--access-token", "AT", "--refresh-token", "RT",
                 "--expires-in", "3600", "--account-id", "p7rQW5", "--business-id", "14393743")
    connection = FreshBooksConnection.objects.get(tenant=tenant)
    assert (connection.access_token, connection.refresh_token, connection.status) == ("AT", "RT", "active")
    assert "Connected tenant" in capsys.readouterr().out
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM freshbooks_freshbooksconnection")
        assert "AT" not in cursor.fetchone()  # ciphertext only
    with pytest.raises(CommandError):
        call_command("connect_freshbooks", "--tenant", "nope", "--access-token", "AT", "--refresh-token", "RT",
                     "--expires-in", "3600", "--account-id", "a", "--business-id", "b")


def test_register_callbacks_command_registers_and_completes_verification(tenant, connection, fb_api, capsys,
                                                                         monkeypatch):
    """FreshBooks posts each code to the intake while the command waits; the command confirms them."""
    from connector.freshbooks import services
    from connector.freshbooks.management.commands import register_callbacks as command

    monkeypatch.setattr(command, "POLL_INTERVAL", 0.05)
    _accept_registrations(fb_api)
    fb_api.add_callback("PUT", re.compile(CALLBACKS + r"/\d+"), callback=lambda req: (200, {}, "{}"))
    real_register = services.callbacks_register

    def register_then_freshbooks_sends_codes(**kwargs):
        result = real_register(**kwargs)
        for cb in FreshBooksCallback.objects.filter(tenant=tenant):
            services.callback_verification_received(tenant=tenant, callback_id=cb.callback_id,
                                                    verifier=f"code-{cb.callback_id}")
        return result

    monkeypatch.setattr(services, "callbacks_register", register_then_freshbooks_sends_codes)
    call_command("register_callbacks", "--tenant", tenant.slug, "--wait", "5")
    out = capsys.readouterr().out
    assert "all verified" in out
    assert FreshBooksCallback.objects.filter(tenant=tenant, state="verified").count() == len(WEBHOOK_EVENTS)
    puts = [json.loads(c.request.body) for c in fb_api.calls if c.request.method == "PUT"]
    assert len(puts) == len(WEBHOOK_EVENTS) and all(p["callback"]["verifier"].startswith("code-") for p in puts)


def test_register_callbacks_command_fails_when_nothing_verifies(tenant, connection, fb_api, monkeypatch):
    from connector.freshbooks.management.commands import register_callbacks as command

    monkeypatch.setattr(command, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(command, "RESEND_AFTER", 0.1)
    _accept_registrations(fb_api)
    resend = fb_api.add_callback("PUT", re.compile(CALLBACKS + r"/\d+"), callback=lambda req: (200, {}, "{}"))
    with pytest.raises(CommandError, match="not verified"):
        call_command("register_callbacks", "--tenant", tenant.slug, "--wait", "1")
    assert resend.call_count == len(WEBHOOK_EVENTS)  # asked FreshBooks once to send the codes again


def test_register_callbacks_command_without_connection_fails(tenant):
    with pytest.raises(CommandError, match="Connect FreshBooks first"):
        call_command("register_callbacks", "--tenant", tenant.slug)
