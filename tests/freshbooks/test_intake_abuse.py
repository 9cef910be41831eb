"""The intake under abuse: junk cannot spend a tenant's cap, unsolicited verification codes change nothing,
hostile characters answer 400 and store nothing, tokens never reach a log line, kept verifiers follow
every change at once, and arbitrary form fields never make a 5xx."""

import logging
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qsl, quote

import pytest
from django.test import Client
from django.utils import timezone
from gunicorn.config import Config
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from audit.models import InboundEvent
from connector.core.access_log import RedactingLogger
from connector.core.logging import JsonFormatter
from connector.core.redis_client import redis_quick
from connector.freshbooks import services, verifier_cache
from connector.freshbooks.errors import RateLimited
from connector.freshbooks.lifecycle import connection_mark_needs_reauth
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection, WebhookRejection
from connector.freshbooks.signature import signature_compute
from connector.freshbooks.tasks import callback_confirm
from connector.freshbooks.verifier_cache import verifiers_changed
from connector.pipeline import doorbell, inbox
from tests.freshbooks.conftest import API, OTHER_VERIFIER, VERIFIER, make_callback, make_connection, signed

pytestmark = pytest.mark.django_db

CREATE = "name=invoice.create&object_id={}&account_id=p7rQW5&business_id=14393743&identity_id=1&user_id=1"


def _verify_body(callback_id: str, code: str) -> str:
    return f"user_id=1&name=callback.verify&verifier={code}&object_id={callback_id}&account_id=p7rQW5"


# --- Caps: only verified traffic counts against the tenant's ----------------------------------------

def test_unsigned_posts_beyond_their_limit_do_not_stop_the_tenants_signed_webhooks(
        post_webhook, tenant, verified_callback, settings, django_capture_on_commit_callbacks):
    settings.FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT = 5
    settings.FRESHBOOKS_WEBHOOK_RATE_LIMIT = 10
    junk = [post_webhook(tenant, CREATE.format(i), verifier=None).status_code for i in range(20)]
    forged = [post_webhook(tenant, CREATE.format(i), verifier="guessed").status_code for i in range(5)]
    assert junk == [401] * 5 + [429] * 15 and forged == [429] * 5
    assert WebhookRejection.objects.get(tenant=tenant).count == 5  # beyond the limit, no database write

    with mock.patch.object(inbox.app, "send_task"):  # the ring for the drain below
        with django_capture_on_commit_callbacks(execute=True):
            answers = [post_webhook(tenant, CREATE.format(1000 + i)) for i in range(10)]
        assert [a.status_code for a in answers] == [200] * 10
        assert [a.json()["status"] for a in answers] == ["received"] * 10
        events = list(InboundEvent.objects.for_tenant(tenant).order_by("id"))
        assert [e.object_id for e in events] == [str(1000 + i) for i in range(10)]
    with mock.patch.object(inbox.app.tasks[doorbell.PROCESS_EVENT], "apply_async") as process:
        assert inbox.drain_inbox.run(tenant.pk) == 10  # every one handed to processing
    assert [c.args[0][0] for c in process.call_args_list] == [e.pk for e in events]
    # the verified cap is the tenant's own, and still holds
    assert post_webhook(tenant, CREATE.format(2000)).status_code == 429


def test_the_unverified_limit_is_per_url(post_webhook, tenant, other_tenant, verified_callback, settings):
    settings.FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT = 2
    for i in range(5):
        post_webhook(tenant, CREATE.format(i), verifier=None)
    make_callback(make_connection(other_tenant), "invoice.create", verifier=OTHER_VERIFIER)
    assert post_webhook(other_tenant, CREATE.format(1), verifier=None).status_code == 401


# --- callback.verify ----------------------------------------------------------------------------------

def test_a_burst_of_unsolicited_verifies_leaves_the_verifier_intact_and_makes_no_put(
        post_webhook, tenant, connection, fb_api, django_capture_on_commit_callbacks, settings):
    settings.FRESHBOOKS_CALLBACK_VERIFY_LIMIT = 20
    ours = make_callback(connection, "invoice.create", verifier=VERIFIER, callback_id="2001")
    put = fb_api.put(f"{API}/events/account/p7rQW5/events/callbacks/2001", status=422,
                     json={"errno": 422, "message": "no"})
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        codes = [post_webhook(tenant, _verify_body("2001", f"attacker-{i}"), verifier=None).status_code
                 for i in range(30)]
    assert codes == [200] * 20 + [429] * 10
    delay.assert_not_called()
    callback_confirm.run(ours.pk)
    assert put.call_count == 0
    ours.refresh_from_db()
    assert ours.verifier == VERIFIER and ours.pending_verifier == "" and ours.state == FreshBooksCallback.State.VERIFIED
    assert post_webhook(tenant, CREATE.format(1)).status_code == 200


def test_later_codes_never_displace_the_pending_one_and_one_put_a_minute_at_most(
        post_webhook, tenant, connection, fb_api, django_capture_on_commit_callbacks):
    callback = make_callback(connection, "invoice.create", callback_id="778599", state=FreshBooksCallback.State.WAITING)
    put = fb_api.put(f"{API}/events/account/p7rQW5/events/callbacks/778599",
                     json={"response": {"result": {"callback": {"callbackid": 778599, "verified": True}}}})
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        first = post_webhook(tenant, _verify_body("778599", "genuine-code"), verifier=None)
        later = [post_webhook(tenant, _verify_body("778599", f"attacker-{i}"), verifier=None) for i in range(10)]
    assert first.json()["status"] == "verification_received"
    assert {a.json()["status"] for a in later} == {"verification_ignored"}
    delay.assert_called_once_with(callback.pk)
    callback.refresh_from_db()
    assert callback.pending_verifier == "genuine-code"

    callback = services.callback_verification_confirm(callback=callback)
    assert callback.state == FreshBooksCallback.State.VERIFIED and callback.verifier == "genuine-code"
    # a resend brings a new code: it is taken, but its PUT waits for the minute to pass
    FreshBooksCallback.objects.filter(pk=callback.pk).update(verification_requested_at=timezone.now())
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay"), \
            django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(tenant, _verify_body("778599", "resent-code"),
                            verifier=None).json()["status"] == "verification_received"
    with pytest.raises(RateLimited) as waited:
        services.callback_verification_confirm(callback=callback)
    assert 0 < waited.value.retry_after <= services.VERIFY_PUT_INTERVAL
    assert put.call_count == 1
    callback.refresh_from_db()
    assert callback.verifier == "genuine-code" and callback.pending_verifier == "resent-code"


# --- Hostile characters and lengths -------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    CREATE.format("%00"),
    CREATE.format("1").replace("p7rQW5", "p7r%00QW5"),
    CREATE.format("1").replace("invoice.create", "invoice.create%00"),
    CREATE.format("1") + "&extra%00=1",
    CREATE.format("%ED%A0%80"),  # a lone surrogate, UTF-8 encoded
    CREATE.format("%FF"),  # not UTF-8
    CREATE.format("1" * 65),
    CREATE.format("1").replace("p7rQW5", "a" * 33),
    _verify_body("%00", "v"),
    _verify_body("1", "v%00"),
    _verify_body("1" * 33, "v"),
    _verify_body("2001", "%ED%B0%80"),
])
@pytest.mark.parametrize("signed_body", [True, False])
def test_nul_surrogates_and_over_long_fields_answer_400_and_store_nothing(post_webhook, tenant, verified_callback,
                                                                          body, signed_body, fb_api):
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay") as delay:
        response = post_webhook(tenant, body, signature=_raw_signature(body) if signed_body else None,
                                verifier=None)
    assert response.status_code == 400
    assert response.json()["status"] == "malformed" and response.json()["error"]
    assert not InboundEvent.objects.exists() and not WebhookRejection.objects.exists()
    delay.assert_not_called()
    verified_callback.refresh_from_db()
    assert verified_callback.pending_verifier == "" and verified_callback.verifier == VERIFIER


def _raw_signature(body: str) -> str:
    """The signature FreshBooks would compute over the fields as Python parses them (lenient), so that
    a signed body is refused for its content, not for its signature."""
    return signature_compute(dict(parse_qsl(body, keep_blank_values=True)), VERIFIER)


def test_a_raw_nul_byte_in_the_body_is_400(client, tenant, verified_callback):
    body = CREATE.format("1\x00").encode()
    response = client.post(f"/webhooks/freshbooks/{tenant.webhook_token}/", data=body,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and not InboundEvent.objects.exists()


@pytest.mark.parametrize("token", ["%00", "abc%ED%A0%80", "a" * 200, "with space", "%FF"])
def test_odd_tokens_are_404_without_a_query(client, token, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.post(f"/webhooks/freshbooks/{token}/", data=CREATE.format(1),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 404


# --- Tokens never reach a log line --------------------------------------------------------------------

def test_djangos_4xx_warning_names_the_path_without_the_token(post_webhook, tenant, verified_callback, caplog):
    caplog.set_level(logging.INFO)
    assert post_webhook(tenant, CREATE.format(1), verifier=None).status_code == 401
    assert post_webhook(tenant, CREATE.format("%00")).status_code == 400
    warnings = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in warnings] == ["Unauthorized: /webhooks/freshbooks/<redacted>/",
                                                 "Bad Request: /webhooks/freshbooks/<redacted>/"]
    assert tenant.webhook_token not in caplog.text
    assert all(tenant.webhook_token not in JsonFormatter().format(r) for r in caplog.records)


def test_gunicorns_access_log_line_is_redacted():
    cfg = Config()
    cfg.set("accesslog", "-")
    log = RedactingLogger(cfg)
    token = "Zq3xY9abcdEFGH_ijkl-mnopQRSTuvwxYZ0123456789"
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": f"/webhooks/freshbooks/{token}/", "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": f"/webhooks/freshbooks/{token}/", "QUERY_STRING": "", "REMOTE_ADDR": "10.0.0.1",
               "HTTP_REFERER": f"https://example.com/webhooks/freshbooks/{token}/"}
    response = mock.Mock(status="401 Unauthorized", sent=30, headers=[])
    with mock.patch.object(log.access_log, "info") as info:
        log.access(response, mock.Mock(headers=[]), environ, timedelta(milliseconds=3))
    fmt, atoms = info.call_args.args
    line = fmt % atoms
    assert token not in line and '"POST /webhooks/freshbooks/<redacted>/ HTTP/1.1" 401' in line


# --- Kept verifiers follow every change ------------------------------------------------------------------

def test_a_deleted_callback_stops_verifying_at_once(post_webhook, tenant, verified_callback):
    assert post_webhook(tenant, CREATE.format(1)).status_code == 200  # now kept in process
    verified_callback.delete()
    assert post_webhook(tenant, CREATE.format(2)).status_code == 401


def test_a_newly_verified_callback_verifies_at_once(post_webhook, tenant, connection):
    make_callback(connection, "invoice.create", verifier=VERIFIER)
    assert post_webhook(tenant, CREATE.format(1), verifier=OTHER_VERIFIER).status_code == 401
    make_callback(connection, "payment.create", verifier=OTHER_VERIFIER)
    assert post_webhook(tenant, CREATE.format(2), verifier=OTHER_VERIFIER).status_code == 200


def test_a_connection_needing_reauth_or_disconnected_stops_verifying(post_webhook, tenant, connection,
                                                                     verified_callback):
    assert post_webhook(tenant, CREATE.format(1)).status_code == 200
    connection_mark_needs_reauth(connection=connection, reason="refresh refused")
    assert post_webhook(tenant, CREATE.format(2)).status_code == 401


def test_a_new_webhook_token_retires_the_old_url_at_once(post_webhook, tenant, verified_callback):
    old = tenant.webhook_token
    assert post_webhook(tenant, CREATE.format(1), token=old).status_code == 200
    tenant.set_webhook_token()
    tenant.save()
    assert post_webhook(tenant, CREATE.format(2), token=old).status_code == 404
    assert post_webhook(tenant, CREATE.format(3)).status_code == 200


def test_a_change_announced_by_another_process_is_seen(post_webhook, tenant, connection, verified_callback):
    """Another process changed the rows (no signal here) and bumped the version: this one reloads."""
    assert post_webhook(tenant, CREATE.format(1)).status_code == 200
    FreshBooksConnection.objects.filter(pk=connection.pk).update(status=FreshBooksConnection.Status.DISCONNECTED)
    verifiers_changed(tenant.pk)
    assert post_webhook(tenant, CREATE.format(2)).status_code == 401


def test_a_version_lost_by_redis_trusts_kept_verifiers_only_briefly(post_webhook, tenant, connection,
                                                                      verified_callback, monkeypatch):
    assert post_webhook(tenant, CREATE.format(1)).status_code == 200
    FreshBooksConnection.objects.filter(pk=connection.pk).update(status=FreshBooksConnection.Status.DISCONNECTED)
    redis_quick().delete(verifier_cache.version_key(tenant.pk))  # Redis restarted empty, the change unannounced
    monkeypatch.setattr(verifier_cache, "FALLBACK_AGE", 0)
    assert post_webhook(tenant, CREATE.format(2)).status_code == 401


# --- The fast path ------------------------------------------------------------------------------------

def test_webhooks_skip_sessions_and_csrf_but_keep_the_security_headers(tenant, verified_callback):
    strict = Client(enforce_csrf_checks=True)
    body = CREATE.format(1)
    with mock.patch("django.contrib.sessions.middleware.SessionMiddleware.process_request") as sessions:
        response = strict.post(f"/webhooks/freshbooks/{tenant.webhook_token}/", data=body,
                               content_type="application/x-www-form-urlencoded",
                               HTTP_X_FRESHBOOKS_HMAC_SHA256=signed(body))
    assert response.status_code == 200
    sessions.assert_not_called()
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert strict.get(f"/webhooks/freshbooks/{tenant.webhook_token}/").status_code == 405


def test_a_host_outside_allowed_hosts_is_still_refused(client, tenant, verified_callback):
    body = CREATE.format(1)
    response = client.post(f"/webhooks/freshbooks/{tenant.webhook_token}/", data=body, HTTP_HOST="evil.example",
                           content_type="application/x-www-form-urlencoded", HTTP_X_FRESHBOOKS_HMAC_SHA256=signed(body))
    assert response.status_code == 400 and not InboundEvent.objects.exists()


# --- Fuzz: arbitrary form fields, signed and unsigned: never a 5xx ------------------------------------

_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("\x00\ud800\udfff\uffff\u202e%&=+;é€😀"), max_size=20),
    st.just("x" * 70_000), st.just("9" * 40), st.sampled_from(["invoice.create", "callback.verify", "payment.create"]),
)


def _encode(value: str) -> str:
    # surrogates cannot be UTF-8: sent the way a client would, as the bytes "surrogatepass" makes
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])
@given(fields=st.lists(st.tuples(st.sampled_from(["name", "object_id", "account_id", "business_id", "verifier",
                                                  "identity_id", "user_id"]) | st.text(max_size=10), _text),
                       max_size=8),
       sign=st.booleans(), raw=st.booleans(), charset=st.sampled_from(["", "; charset=latin-1", "; charset=utf-16"]))
def test_arbitrary_form_fields_never_make_a_server_error(client, tenant, verified_callback, fields, sign, raw, charset):
    if raw:  # the bytes as they come, not percent-encoded
        body = "&".join(f"{k}={v}" for k, v in fields).encode("utf-8", "surrogatepass")
    else:
        body = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in fields).encode()
    headers = {}
    if sign:
        headers["HTTP_X_FRESHBOOKS_HMAC_SHA256"] = signature_compute(
            {k: v for k, v in fields}, VERIFIER) if all("\x00" not in k for k, _ in fields) else "AAAA"
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay"), \
            mock.patch.object(inbox.app, "send_task"):
        response = client.generic("POST", f"/webhooks/freshbooks/{tenant.webhook_token}/", data=body,
                                  content_type="application/x-www-form-urlencoded" + charset, **headers)
    assert response.status_code < 500, response.content
    assert response.status_code in (200, 400, 401, 413, 429)


def test_a_pending_code_freshbooks_never_answered_for_gives_way_after_a_while(
        post_webhook, tenant, connection, django_capture_on_commit_callbacks):
    callback = make_callback(connection, "invoice.create", callback_id="778599", state=FreshBooksCallback.State.WAITING)
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        post_webhook(tenant, _verify_body("778599", "first-code"), verifier=None)
        FreshBooksCallback.objects.filter(pk=callback.pk).update(
            updated_at=timezone.now() - services.VERIFY_PENDING_STALE - timedelta(minutes=1))
        answer = post_webhook(tenant, _verify_body("778599", "newer-code"), verifier=None)
    assert answer.json()["status"] == "verification_received" and delay.call_count == 2
    callback.refresh_from_db()
    assert callback.pending_verifier == "newer-code"


def test_asking_freshbooks_to_resend_lets_the_new_code_replace_a_pending_one(
        post_webhook, tenant, connection, fb_api, django_capture_on_commit_callbacks):
    callback = make_callback(connection, "invoice.create", verifier=VERIFIER, callback_id="2001")
    fb_api.put(f"{API}/events/account/p7rQW5/events/callbacks/2001",
               json={"response": {"result": {"callback": {"callbackid": 2001, "verified": True}}}})
    FreshBooksCallback.objects.filter(pk=callback.pk).update(pending_verifier="attacker-code")
    services.callback_resend_verification(tenant=tenant, callback=callback)
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay"), \
            django_capture_on_commit_callbacks(execute=True):
        answer = post_webhook(tenant, _verify_body("2001", "resent-code"), verifier=None)
    assert answer.json()["status"] == "verification_received"
    callback.refresh_from_db()
    assert callback.pending_verifier == "resent-code" and callback.verifier == VERIFIER  # until FreshBooks accepts
    callback = services.callback_verification_confirm(callback=callback)
    assert callback.verifier == "resent-code"
    assert post_webhook(tenant, CREATE.format(1), verifier="resent-code").status_code == 200
