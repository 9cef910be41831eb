"""Connecting FreshBooks end to end with `responses`: authorize redirect, callback, identity with two
businesses and the picker, refusal, forged or replayed state, provider failures; disconnect."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from audit.models import ActivityLog, InboundEvent
from connector.core.events import WEBHOOK_EVENTS
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection
from tests.freshbooks.conftest import API, make_callback

pytestmark = pytest.mark.django_db

TOKEN_URL = f"{API}/auth/oauth/token"
ME_URL = f"{API}/auth/api/v1/users/me"
CALLBACKS_URL = f"{API}/events/account/{{}}/events/callbacks"
TOKENS = {"access_token": "acc-A", "refresh_token": "ref-A", "token_type": "Bearer", "expires_in": 43200,
          "created_at": 1_900_000_000}


def _me(*businesses):
    return {"response": {"identity_id": 12345, "email": "ann@example.com", "business_memberships": [
        {"id": 140130 + i, "role": "owner", "business": {"id": bid, "business_uuid": "u", "name": name, "account_id": acc}}
        for i, (bid, name, acc) in enumerate(businesses)]}}


def _start(client) -> str:
    response = client.post("/freshbooks/connect/")
    assert response.status_code == 302
    return response["Location"]


def _register_all(fb_api, account="ABC123"):
    ids = iter(range(1000, 2000))
    fb_api.add_callback("POST", CALLBACKS_URL.format(account), callback=lambda req: (
        200, {}, json.dumps({"response": {"result": {"callback": {
            "callbackid": next(ids), "verified": False, **json.loads(req.body)["callback"]}}}})))


def test_one_click_connect_redirects_to_freshbooks_with_a_state(owner_client, tenant, settings_fb):
    page = owner_client.get("/freshbooks/").content.decode()
    # The FreshBooks page explains what connecting does, and its button posts straight to the sign-in.
    assert "never changes anything in FreshBooks" in page
    assert '<form method="post" action="/freshbooks/connect/"' in page and "csrfmiddlewaretoken" in page
    assert owner_client.get("/freshbooks/connect/")["Location"] == "/freshbooks/"  # an old bookmark
    location = _start(owner_client)
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.freshbooks.com/oauth/authorize"
    query = parse_qs(parts.query)
    assert query["client_id"] == ["fb-client-id"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["https://connector.example.com/freshbooks/callback/"]
    assert "user:invoices:read" in query["scope"][0].split()
    assert len(query["state"][0]) >= 32


def test_full_flow_with_two_businesses_lets_the_user_choose(owner_client, owner, tenant, fb_api, settings_fb):
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    fb_api.post(TOKEN_URL, json=TOKENS)
    fb_api.get(ME_URL, json=_me((111, "Alpha Design", "AAA111"), (439000, "Commonwealth Systems", "ABC123")))
    _register_all(fb_api)

    response = owner_client.get("/freshbooks/callback/", {"code": "the-code", "state": state})
    assert response.status_code == 302 and response["Location"] == "/freshbooks/choose-business/"
    exchange = parse_qs(fb_api.calls[0].request.body)
    assert exchange["grant_type"] == ["authorization_code"] and exchange["code"] == ["the-code"]
    assert exchange["redirect_uri"] == ["https://connector.example.com/freshbooks/callback/"]
    assert fb_api.calls[1].request.headers["Authorization"] == "Bearer acc-A"
    assert not FreshBooksConnection.objects.exists()
    session_blob = json.dumps(dict(owner_client.session))
    assert "acc-A" not in session_blob and "ref-A" not in session_blob  # tokens sealed in the session

    picker = owner_client.get("/freshbooks/choose-business/").content.decode()
    assert "Alpha Design" in picker and "Commonwealth Systems" in picker
    assert owner_client.post("/freshbooks/choose-business/", {"business_id": "nope"}).status_code == 400
    response = owner_client.post("/freshbooks/choose-business/", {"business_id": "439000"})
    assert response.status_code == 302 and response["Location"] == "/freshbooks/callbacks/"

    connection = FreshBooksConnection.objects.get(tenant=tenant)
    assert (connection.account_id, connection.business_id, connection.business_name) == \
        ("ABC123", "439000", "Commonwealth Systems")
    assert (connection.access_token, connection.refresh_token, connection.identity_id) == ("acc-A", "ref-A", "12345")
    assert connection.expires_at.timestamp() == 1_900_000_000 + 43200
    assert connection.connected_by == owner and connection.status == "active"
    # callbacks registered automatically, one per supported event, at the tenant's webhook URL
    registered = [json.loads(c.request.body)["callback"] for c in fb_api.calls if c.request.method == "POST"
                  and "/events/" in c.request.url]
    assert sorted(r["event"] for r in registered) == sorted(WEBHOOK_EVENTS)
    assert {r["uri"] for r in registered} == {f"https://connector.example.com/webhooks/freshbooks/{tenant.webhook_token}/"}
    assert FreshBooksCallback.objects.filter(tenant=tenant, state="waiting").count() == len(WEBHOOK_EVENTS)
    assert owner_client.get("/freshbooks/choose-business/").status_code == 400  # pending tokens used up
    page = owner_client.get("/freshbooks/callbacks/").content.decode()
    assert "Waiting for verification" in page and tenant.webhook_url in page


def test_single_business_connects_straight_away(owner_client, tenant, fb_api, settings_fb):
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    fb_api.post(TOKEN_URL, json=TOKENS)
    fb_api.get(ME_URL, json=_me((439000, "Commonwealth Systems", "ABC123")))
    _register_all(fb_api)
    response = owner_client.get("/freshbooks/callback/", {"code": "c", "state": state})
    assert response["Location"] == "/freshbooks/callbacks/"
    assert FreshBooksConnection.objects.get(tenant=tenant).business_name == "Commonwealth Systems"


def test_refused_consent_shows_a_page_and_connects_nothing(owner_client, tenant, fb_api, settings_fb):
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    response = owner_client.get("/freshbooks/callback/", {"error": "access_denied", "state": state})
    assert response.status_code == 400
    page = response.content.decode()
    assert "You did not allow access" in page and "Try again" in page
    assert not fb_api.calls and not FreshBooksConnection.objects.exists()


@pytest.mark.parametrize("forged", ["attacker-state", ""])
def test_a_forged_state_is_refused_without_calling_freshbooks(owner_client, tenant, fb_api, settings_fb, forged):
    _start(owner_client)
    response = owner_client.get("/freshbooks/callback/", {"code": "c", "state": forged})
    assert response.status_code == 400 and "not valid any more" in response.content.decode()
    assert not fb_api.calls and not FreshBooksConnection.objects.exists()


def test_a_state_works_once_and_only_in_the_browser_that_started(owner_client, client, tenant, fb_api, settings_fb):
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    fb_api.post(TOKEN_URL, json=TOKENS)
    fb_api.get(ME_URL, json=_me((439000, "C", "ABC123")))
    _register_all(fb_api)
    assert owner_client.get("/freshbooks/callback/", {"code": "c", "state": state}).status_code == 302
    replay = owner_client.get("/freshbooks/callback/", {"code": "c", "state": state})
    assert replay.status_code == 400


def test_another_session_cannot_use_the_state(owner_client, tenant, admin_user, fb_api, settings_fb):
    from django.test import Client

    from tenants.middleware import SESSION_KEY

    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    other = Client()
    other.force_login(admin_user, backend="tenants.auth.EmailBackend")
    session = other.session
    session[SESSION_KEY] = tenant.pk
    session.save()
    assert other.get("/freshbooks/callback/", {"code": "c", "state": state}).status_code == 400
    assert not fb_api.calls


@pytest.mark.parametrize(("token_answer", "status", "text"), [
    ({"status": 400, "json": {"error": "invalid_grant"}}, 400, "did not accept the sign-in"),
    ({"status": 503, "json": {}}, 502, "could not be reached"),
    ({"body": requests.ConnectionError("down")}, 502, "could not be reached"),
    ({"status": 200, "body": "not json"}, 502, "reported a problem"),
])
def test_provider_failures_are_pages_not_500s(owner_client, tenant, fb_api, settings_fb, token_answer, status, text):
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    fb_api.add("POST", TOKEN_URL, **token_answer)
    response = owner_client.get("/freshbooks/callback/", {"code": "c", "state": state})
    assert response.status_code == status and text in response.content.decode()
    assert not FreshBooksConnection.objects.exists()


def test_identity_failure_and_no_business_are_pages(owner_client, tenant, fb_api, settings_fb):
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    fb_api.post(TOKEN_URL, json=TOKENS)
    fb_api.get(ME_URL, json=_me())
    response = owner_client.get("/freshbooks/callback/", {"code": "c", "state": state})
    assert response.status_code == 400 and "No FreshBooks business" in response.content.decode()


def test_viewers_cannot_connect_or_finish_a_connection(viewer_client, tenant, settings_fb):
    page = viewer_client.get("/freshbooks/").content.decode()  # they may read what connecting does
    assert "never changes anything in FreshBooks" in page and 'action="/freshbooks/connect/"' not in page
    assert viewer_client.post("/freshbooks/connect/").status_code == 403
    assert viewer_client.get("/freshbooks/callback/", {"code": "c", "state": "s"}).status_code == 403


def test_reconnecting_after_needs_reauth_updates_in_place(owner_client, tenant, fb_api, connection):
    FreshBooksConnection.objects.filter(pk=connection.pk).update(status="needs_reauth", status_reason="x",
                                                                 account_id="ABC123", business_id="439000")
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    fb_api.post(TOKEN_URL, json=TOKENS)
    fb_api.get(ME_URL, json=_me((439000, "C", "ABC123")))
    _register_all(fb_api)
    owner_client.get("/freshbooks/callback/", {"code": "c", "state": state})
    assert FreshBooksConnection.objects.count() == 1
    connection.refresh_from_db()
    assert connection.status == "active" and connection.access_token == "acc-A" and connection.status_reason == ""


# --- Disconnect ----------------------------------------------------------------------------------------

def test_disconnect_asks_first_then_removes_callbacks_revokes_and_keeps_history(owner_client, tenant, fb_api,
                                                                                connection):
    make_callback(connection, "invoice.create", verifier="v", callback_id="2001")
    InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="1", raw_body="x")
    page = owner_client.get("/freshbooks/disconnect/").content.decode()
    assert "Disconnect FreshBooks?" in page and "audit trail" in page
    delete = fb_api.delete(f"{API}/events/account/p7rQW5/events/callbacks/2001", status=200, json={})
    revoke = fb_api.post(f"{API}/auth/oauth/revoke", json={})

    response = owner_client.post("/freshbooks/disconnect/")
    assert response.status_code == 302
    assert delete.call_count == 1 and revoke.call_count == 1
    assert json.loads(revoke.calls[0].request.body)["token"] == "refresh-1"
    connection.refresh_from_db()
    assert connection.status == "disconnected" and connection.access_token == "" and connection.refresh_token == ""
    assert not FreshBooksCallback.objects.filter(tenant=tenant).exists()
    assert InboundEvent.objects.filter(tenant=tenant).count() == 1
    assert ActivityLog.objects.filter(tenant=tenant, action="freshbooks.disconnected").exists()


def test_disconnect_still_disconnects_when_freshbooks_cannot_revoke(owner_client, tenant, fb_api, connection):
    fb_api.post(f"{API}/auth/oauth/revoke", status=404, json={})
    response = owner_client.post("/freshbooks/disconnect/", follow=True)
    assert response.status_code == 200 and "did not confirm the access was revoked" in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == "disconnected"


def test_viewer_cannot_disconnect(viewer_client, connection):
    assert viewer_client.post("/freshbooks/disconnect/").status_code == 403
    connection.refresh_from_db()
    assert connection.status == "active"


@pytest.mark.parametrize(("tenant_zone", "business_zone", "expected"), [
    ("UTC", "America/Vancouver", "America/Vancouver"),  # still the default: take the business's
    ("Europe/Paris", "America/Vancouver", "Europe/Paris"),  # chosen by the tenant: kept
    ("UTC", "Mars/Olympus_Mons", "UTC"),  # not a known zone: ignored
    ("UTC", None, "UTC"),  # FreshBooks gave none
])
def test_connecting_takes_the_businesss_time_zone_when_the_tenant_has_none(
        owner_client, tenant, fb_api, settings_fb, tenant_zone, business_zone, expected):
    tenant.time_zone = tenant_zone
    tenant.save()
    me = _me((439000, "Commonwealth Systems", "ABC123"))
    if business_zone:
        me["response"]["business_memberships"][0]["business"]["timezone"] = business_zone
    state = parse_qs(urlsplit(_start(owner_client)).query)["state"][0]
    fb_api.post(TOKEN_URL, json=TOKENS)
    fb_api.get(ME_URL, json=me)
    _register_all(fb_api)

    owner_client.get("/freshbooks/callback/", {"code": "c", "state": state})

    tenant.refresh_from_db()
    assert tenant.time_zone == expected
    assert FreshBooksConnection.objects.filter(tenant=tenant).exists()
