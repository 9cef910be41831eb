"""The API client: typed errors, timeouts, refresh shortly before expiry and once on a 401, under a row
lock so that two workers spend a single-use refresh token once (PostgreSQL, two threads)."""

import json
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses as responses_lib
from django.db import connections
from django.utils import timezone

from audit.models import ActivityLog
from connector.freshbooks import client as fb
from connector.freshbooks.errors import AuthorizationLost, FreshBooksBug, NotFound, RateLimited, Transient
from connector.freshbooks.models import FreshBooksConnection
from tests.freshbooks.conftest import API, make_connection

INVOICE_URL = f"{API}/accounting/account/p7rQW5/invoices/invoices/1"
TOKEN_URL = f"{API}/auth/oauth/token"
INVOICE = {"response": {"result": {"invoice": {"id": 1, "invoice_number": "0001"}}}}


def _token_answer(access: str, refresh: str, expires_in: int = 43200) -> dict:
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": expires_in,
            "created_at": int(time.time()), "scope": " ".join(fb.SCOPES)}


@pytest.mark.django_db
def test_a_fresh_token_is_used_as_is(connection, fb_api):
    fb_api.get(INVOICE_URL, json=INVOICE)
    assert fb.FreshBooksClient(connection).object_get("invoice", "1")["invoice_number"] == "0001"
    assert fb_api.calls[0].request.headers["Authorization"] == "Bearer access-1"


@pytest.mark.django_db
def test_a_token_about_to_expire_is_refreshed_first_and_the_new_pair_saved(tenant, settings_fb, fb_api):
    connection = make_connection(tenant, expires_at=timezone.now() + timedelta(minutes=2))
    fb_api.post(TOKEN_URL, json=_token_answer("access-2", "refresh-2"))
    fb_api.get(INVOICE_URL, json=INVOICE)
    fb.FreshBooksClient(connection).object_get("invoice", "1")
    sent = parse_qs(fb_api.calls[0].request.body)
    assert sent["grant_type"] == ["refresh_token"] and sent["refresh_token"] == ["refresh-1"]
    assert sent["client_id"] == ["fb-client-id"] and sent["client_secret"] == ["fb-client-secret"]
    assert fb_api.calls[1].request.headers["Authorization"] == "Bearer access-2"
    connection.refresh_from_db()
    assert (connection.access_token, connection.refresh_token) == ("access-2", "refresh-2")
    assert connection.expires_at > timezone.now() + timedelta(hours=11)


@pytest.mark.django_db
def test_a_401_refreshes_once_and_retries(connection, fb_api):
    fb_api.get(INVOICE_URL, status=401, json={"errno": 401, "message": "invalid_token"})
    fb_api.post(TOKEN_URL, json=_token_answer("access-2", "refresh-2"))
    fb_api.get(INVOICE_URL, json=INVOICE)
    assert fb.FreshBooksClient(connection).object_get("invoice", "1")["id"] == 1
    assert [c.request.method for c in fb_api.calls] == ["GET", "POST", "GET"]


@pytest.mark.django_db
def test_a_refused_refresh_marks_the_connection_for_the_user(connection, fb_api):
    fb_api.get(INVOICE_URL, status=401, json={})
    fb_api.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "revoked"})
    with pytest.raises(AuthorizationLost):
        fb.FreshBooksClient(connection).object_get("invoice", "1")
    connection.refresh_from_db()
    assert connection.status == FreshBooksConnection.Status.NEEDS_REAUTH
    assert "renew" in connection.status_reason
    assert ActivityLog.objects.filter(tenant=connection.tenant, action="freshbooks.needs_reconnect").exists()
    with pytest.raises(AuthorizationLost):  # and stops calling FreshBooks until the user reconnects
        fb.FreshBooksClient(connection).object_get("invoice", "1")
    assert len(fb_api.calls) == 2


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "body", "headers", "error"), [
    (404, {"response": {"errors": [{"errno": 1012, "message": "Invoice not found."}]}}, {}, NotFound),
    (200, {"response": {"errors": [{"errno": 1011, "message": "Deleted."}]}}, {}, NotFound),
    (429, {}, {"Retry-After": "17"}, RateLimited),
    (429, {}, {}, RateLimited),
    (500, {}, {}, Transient),
    (503, {}, {}, Transient),
    (403, {"message": "missing scope user:invoices:read"}, {}, FreshBooksBug),
    (422, {"errno": 422, "message": "bad"}, {}, FreshBooksBug),
])
def test_answers_map_to_typed_errors(connection, fb_api, status, body, headers, error):
    fb_api.get(INVOICE_URL, status=status, json=body, headers=headers)
    with pytest.raises(error) as caught:
        fb.FreshBooksClient(connection).object_get("invoice", "1")
    if error is RateLimited:
        assert caught.value.retry_after == (17 if headers else None)


@pytest.mark.django_db
@pytest.mark.parametrize("exc", [requests.ConnectTimeout("slow"), requests.ReadTimeout("slow"),
                                 requests.ConnectionError("reset")])
def test_timeouts_and_connection_failures_are_transient(connection, fb_api, exc):
    fb_api.get(INVOICE_URL, body=exc)
    with pytest.raises(Transient):
        fb.FreshBooksClient(connection).object_get("invoice", "1")


@pytest.mark.django_db
def test_every_request_has_a_timeout(connection, monkeypatch):
    seen = {}

    def fake_request(session, method, url, **kwargs):
        seen.update(kwargs)
        raise requests.ConnectionError("stop")

    monkeypatch.setattr(fb.requests.Session, "request", fake_request)
    with pytest.raises(Transient):
        fb.FreshBooksClient(connection).object_get("invoice", "1")
    assert seen["timeout"] == (fb.CONNECT_TIMEOUT, fb.READ_TIMEOUT)


@pytest.mark.django_db
def test_each_thread_reuses_one_session_that_keeps_no_cookies(connection, fb_api):
    fb_api.get(INVOICE_URL, json=INVOICE, headers={"Set-Cookie": "sid=tenant-a; Path=/"})
    fb.FreshBooksClient(connection).object_get("invoice", "1")
    other = []
    thread = threading.Thread(target=lambda: other.append(fb._session()))
    thread.start()
    thread.join()

    mine = fb._session()
    assert fb._session() is mine and other[0] is not mine  # one per thread, kept for the next call
    assert list(mine.cookies) == []  # nothing one tenant's answer set reaches the next call


@pytest.mark.django_db
def test_a_non_json_answer_is_a_bug(connection, fb_api):
    fb_api.get(INVOICE_URL, body="<html>oops</html>", status=200)
    with pytest.raises(FreshBooksBug):
        fb.FreshBooksClient(connection).object_get("invoice", "1")


# --- Two workers, one refresh token ---------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_use_the_refresh_token_once(tenant, settings_fb):
    connection = make_connection(tenant, expires_at=timezone.now() - timedelta(minutes=1))
    used = []
    spent: set[str] = set()
    lock = threading.Lock()

    def token_endpoint(request):
        refresh = parse_qs(request.body)["refresh_token"][0]
        with lock:
            used.append(refresh)
            reused = refresh in spent
            spent.add(refresh)
        time.sleep(0.3)  # a slow FreshBooks widens the window in which a second worker could slip in
        if reused:  # FreshBooks' refresh tokens work once
            return 400, {}, json.dumps({"error": "invalid_grant"})
        n = len(used)
        return 200, {}, json.dumps(_token_answer(f"access-{n + 1}", f"refresh-{n + 1}"))

    def invoice_endpoint(request):
        ok = request.headers["Authorization"] == "Bearer access-2"
        return (200, {}, json.dumps(INVOICE)) if ok else (401, {}, "{}")

    results, errors = [], []
    barrier = threading.Barrier(2)

    def worker():
        try:
            stale = FreshBooksConnection.objects.get(pk=connection.pk)  # each worker loads its own copy
            barrier.wait()
            results.append(fb.FreshBooksClient(stale).object_get("invoice", "1")["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with responses_lib.RequestsMock() as rsps:
        rsps.add_callback("POST", TOKEN_URL, callback=token_endpoint)
        rsps.add_callback("GET", INVOICE_URL, callback=invoice_endpoint)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

    assert not errors, errors
    assert results == [1, 1]
    assert used == ["refresh-1"]  # one refresh, with the original token, for both workers
    connection.refresh_from_db()
    assert (connection.access_token, connection.refresh_token, connection.status) == ("access-2", "refresh-2", "active")
