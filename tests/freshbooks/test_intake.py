"""The intake view: 404 / 413 / 429 / 401 (counted) / ignored / duplicate /
persisted and enqueued on commit; the callback.verify handshake; no FreshBooks call on the request path."""

import json
from unittest import mock

import pytest
from django.db import connection as db
from django.db import connections
from django.forms.models import model_to_dict
from django.utils import timezone

from audit.models import InboundEvent
from connector.core.redis_client import redis_quick
from connector.freshbooks.models import FreshBooksCallback, WebhookRejection
from connector.freshbooks.normalise import normalise_inbound
from connector.freshbooks.selectors import webhook_rejections_recent
from connector.pipeline import doorbell, inbox, intake
from tests.freshbooks.conftest import API, OTHER_VERIFIER, VERIFIER, load_fixture, make_callback

pytestmark = pytest.mark.django_db

CREATE = "name=invoice.create&object_id=29618&account_id=p7rQW5&business_id=14393743&identity_id=1&user_id=1"
UPDATE = "name=invoice.update&object_id=29618&account_id=p7rQW5&business_id=14393743&identity_id=1&user_id=1"


def test_unknown_token_is_404_and_stores_nothing(post_webhook, tenant, verified_callback):
    response = post_webhook(tenant, CREATE, token="not-a-real-token")
    assert response.status_code == 404
    assert not InboundEvent.objects.exists()


def test_body_over_64_kib_is_413(post_webhook, tenant, verified_callback):
    body = CREATE + "&padding=" + "x" * (64 * 1024)
    assert post_webhook(tenant, body).status_code == 413
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("header", [None, "", "AAAA", "/S03vyYmI7CekM4YXBHUhs9o5rnMtqGLrW3aA8S9gPc="])
def test_missing_or_wrong_signature_is_401_counted_and_nothing_processed(post_webhook, tenant, verified_callback,
                                                                         header):
    response = post_webhook(tenant, CREATE, verifier=None, signature=header)
    assert response.status_code == 401
    assert not InboundEvent.objects.exists()
    assert webhook_rejections_recent(tenant=tenant) == 1


def test_rejections_are_counted_per_tenant_per_day(post_webhook, tenant, other_tenant, verified_callback):
    for _ in range(3):
        post_webhook(tenant, CREATE, verifier="not-the-verifier")
    assert WebhookRejection.objects.get(tenant=tenant).count == 3
    assert webhook_rejections_recent(tenant=other_tenant) == 0


def test_a_signature_made_with_another_tenants_verifier_is_rejected(post_webhook, tenant, other_tenant,
                                                                    verified_callback, settings_fb):
    from tests.freshbooks.conftest import make_connection

    make_callback(make_connection(other_tenant), "invoice.create", verifier=OTHER_VERIFIER)
    assert post_webhook(tenant, CREATE, verifier=OTHER_VERIFIER).status_code == 401


def test_a_waiting_callback_does_not_make_a_signature_valid(post_webhook, tenant, connection):
    make_callback(connection, "invoice.create", verifier="", state=FreshBooksCallback.State.WAITING)
    assert post_webhook(tenant, CREATE, verifier="").status_code == 401


def test_the_verifier_of_another_callback_of_the_tenant_also_verifies(post_webhook, tenant, connection):
    # the body does not say which callback fired: the one for the event is tried first, then the others
    make_callback(connection, "invoice.create", verifier=VERIFIER)
    make_callback(connection, "payment.create", verifier=OTHER_VERIFIER)
    body = CREATE.replace("invoice.create", "payment.create")
    assert post_webhook(tenant, body, verifier=VERIFIER).status_code == 200
    assert post_webhook(tenant, CREATE, verifier=OTHER_VERIFIER).status_code == 200


def test_a_signed_create_is_persisted_encrypted_and_enqueued_on_commit(post_webhook, tenant, verified_callback,
                                                                       django_capture_on_commit_callbacks):
    with mock.patch.object(intake, "inbox_push") as enqueue, \
            django_capture_on_commit_callbacks(execute=True), \
            mock.patch("requests.adapters.HTTPAdapter.send", side_effect=AssertionError("no HTTP on intake")):
        response = post_webhook(tenant, CREATE)
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert (event.tenant, event.name, event.object_id, event.account_id) == (tenant, "invoice.create", "29618", "p7rQW5")
    assert event.status == InboundEvent.Status.RECEIVED and event.signature_valid
    assert event.raw_body == CREATE and event.dedupe_key == "invoice.create:29618"
    enqueue.assert_called_once_with(tenant.pk, event.pk)
    with db.cursor() as cursor:
        cursor.execute("SELECT raw_body FROM audit_inboundevent WHERE id = %s", [event.pk])
        assert "invoice.create" not in cursor.fetchone()[0]  # encrypted at rest


def test_the_intakes_row_is_the_row_the_orm_would_have_made(post_webhook, tenant, verified_callback):
    # the intake writes its INSERT itself (one statement, no savepoint): every other column must still
    # get its model default, and the timestamps the time of arrival
    with mock.patch.object(intake, "inbox_push"):
        before = timezone.now()
        assert post_webhook(tenant, CREATE).status_code == 200
    event = InboundEvent.objects.get()
    made = InboundEvent.objects.create(tenant=tenant, name=event.name, object_id="1", account_id=event.account_id,
                                       business_id=event.business_id, raw_body=CREATE, dedupe_key="other")
    ignored = {"id", "object_id", "dedupe_key", "created_at", "updated_at", "received_at"}
    assert ({k: v for k, v in model_to_dict(event).items() if k not in ignored}
            == {k: v for k, v in model_to_dict(made).items() if k not in ignored})
    assert before <= event.created_at == event.updated_at == event.received_at <= made.created_at


@pytest.mark.django_db(transaction=True)
def test_a_webhook_arriving_on_a_database_connection_that_died_is_still_persisted(post_webhook, tenant,
                                                                                   verified_callback):
    # the intake skips Django's SELECT 1 check of a kept connection: its INSERT must survive a dead one
    with mock.patch.object(intake, "inbox_push") as enqueue:
        assert post_webhook(tenant, CREATE).status_code == 200
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:  # e.g. PostgreSQL restarted, or an idle timeout
                cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        finally:
            other.close()
        response = post_webhook(tenant, CREATE.replace("29618", "29619"))
    assert response.status_code == 200 and response.json()["status"] == "received"
    assert InboundEvent.objects.filter(object_id="29619").get().pk == response.json()["id"]
    assert enqueue.call_count == 2


def test_the_inbox_rings_one_drain_task_per_burst_and_the_drain_hands_every_id_to_process_event():
    with mock.patch.object(inbox.app, "send_task") as send, \
            mock.patch.object(inbox.app.tasks[doorbell.PROCESS_EVENT], "apply_async") as process:
        for event_id in (11, 12, 13):
            inbox.inbox_push(7, event_id)
        assert send.call_args_list == [mock.call(inbox.DRAIN_INBOX, args=(7,))]  # one ring for the burst
        send.reset_mock()
        assert inbox.drain_inbox.run(7) == 3
        assert [c.args[0] for c in process.call_args_list] == [(11,), (12,), (13,)]
        assert len({id(c.kwargs["producer"]) for c in process.call_args_list}) == 1  # over one connection
        send.reset_mock()
        inbox.inbox_push(7, 14)  # the drain silenced the doorbell: the next push rings again
        assert send.call_args_list == [mock.call(inbox.DRAIN_INBOX, args=(7,))]


def test_a_broker_failure_does_not_fail_the_push_and_the_next_push_rings_again():
    with mock.patch.object(inbox.app, "send_task", side_effect=ConnectionError("broker down")):
        inbox.inbox_push(8, 21)  # logged; the sweep re-enqueues `received` events
    with mock.patch.object(inbox.app, "send_task") as send:
        inbox.inbox_push(8, 22)
    send.assert_called_once_with(inbox.DRAIN_INBOX, args=(8,))


def test_a_redis_failure_does_not_fail_the_push():
    with mock.patch.object(redis_quick(), "pipeline", side_effect=__import__("redis").ConnectionError("down")), \
            mock.patch.object(inbox.app, "send_task") as send:
        inbox.inbox_push(9, 31)
    send.assert_not_called()


def test_an_unhandled_event_is_200_and_recorded_as_ignored(post_webhook, tenant, verified_callback,
                                                           django_capture_on_commit_callbacks):
    body = CREATE.replace("invoice.create", "client.update")
    with mock.patch.object(intake, "inbox_push") as enqueue, django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(tenant, body)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.IGNORED and event.name == "client.update"
    enqueue.assert_not_called()


def test_a_webhook_claiming_an_event_only_the_product_makes_is_not_processed(post_webhook, tenant, verified_callback,
                                                                             django_capture_on_commit_callbacks):
    # invoice.overdue comes from the daily scan; FreshBooks has no such webhook, so a post naming it is ignored.
    body = CREATE.replace("invoice.create", "invoice.overdue")
    with mock.patch.object(intake, "inbox_push") as enqueue, django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(tenant, body)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert InboundEvent.objects.get().status == InboundEvent.Status.IGNORED
    enqueue.assert_not_called()


def test_the_same_create_five_times_gives_one_inbound_event(post_webhook, tenant, verified_callback,
                                                            django_capture_on_commit_callbacks):
    with mock.patch.object(intake, "inbox_push") as enqueue, django_capture_on_commit_callbacks(execute=True):
        answers = [post_webhook(tenant, CREATE) for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert [a.json()["status"] for a in answers] == ["received"] + ["duplicate"] * 4
    assert InboundEvent.objects.count() == 1
    assert enqueue.call_count == 1


def test_the_same_update_five_times_normalises_to_one_dedupe_key(post_webhook, tenant, connection, fb_api):
    make_callback(connection, "invoice.update", verifier=VERIFIER)
    for _ in range(5):
        assert post_webhook(tenant, UPDATE).status_code == 200
    rows = list(InboundEvent.objects.for_tenant(tenant))
    assert len(rows) == 5 and all(r.dedupe_key is None for r in rows)  # updates dedupe once fetched
    invoice = load_fixture("invoice.update")["responses"][0]
    fb_api.get(API + invoice["path"], json=invoice["json"])
    keys = {normalise_inbound(inbound_event=r).dedupe_key for r in rows}
    assert keys == {"invoice.update:29618:2019-05-01 12:00:03:57df710738db5302"}


def test_over_the_rate_limit_is_429(post_webhook, tenant, verified_callback, settings):
    settings.FRESHBOOKS_WEBHOOK_RATE_LIMIT = 2
    codes = [post_webhook(tenant, CREATE.replace("29618", str(i))).status_code for i in range(4)]
    assert codes == [200, 200, 429, 429]
    assert InboundEvent.objects.count() == 2


def test_get_is_not_allowed_and_csrf_is_not_required(client, tenant, verified_callback):
    assert client.get(f"/webhooks/freshbooks/{tenant.webhook_token}/").status_code == 405
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(f"/webhooks/freshbooks/{tenant.webhook_token}/", data=CREATE,
                           content_type="application/x-www-form-urlencoded",
                           HTTP_X_FRESHBOOKS_HMAC_SHA256=__import__("tests.freshbooks.conftest", fromlist=["signed"]).signed(CREATE))
    assert response.status_code == 200


# --- The callback.verify handshake ---------------------------------------------------------------------

def _verify_body(callback_id: str, code: str) -> str:
    return f"user_id=1&name=callback.verify&verifier={code}&object_id={callback_id}&account_id=p7rQW5"


@pytest.mark.parametrize("signed_with_its_code", [False, True])
def test_verify_for_our_callback_is_put_back_and_stored_only_once_accepted(
        post_webhook, tenant, connection, fb_api, django_capture_on_commit_callbacks, signed_with_its_code):
    callback = make_callback(connection, "invoice.create", callback_id="778599",
                             state=FreshBooksCallback.State.WAITING)
    put = fb_api.put(f"{API}/events/account/p7rQW5/events/callbacks/778599",
                     json={"response": {"result": {"callback": {"callbackid": 778599, "verified": True}}}})
    body = _verify_body("778599", "xf8pxDkZfSXuak7S4qaGQBvxArpMvqR")
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(tenant, body, verifier="xf8pxDkZfSXuak7S4qaGQBvxArpMvqR" if signed_with_its_code else None)
    assert response.status_code == 200
    assert put.call_count == 0  # nothing sent to FreshBooks on the request path
    callback.refresh_from_db()
    assert callback.state == FreshBooksCallback.State.WAITING and callback.verifier == ""
    delay.assert_called_once_with(callback.pk)

    from connector.freshbooks.tasks import callback_confirm

    assert callback_confirm.run(callback.pk) == "verified"
    assert json.loads(put.calls[0].request.body) == {"callback": {"verifier": "xf8pxDkZfSXuak7S4qaGQBvxArpMvqR"}}
    assert put.calls[0].request.headers["Authorization"] == "Bearer access-1"
    callback.refresh_from_db()
    assert callback.state == FreshBooksCallback.State.VERIFIED
    assert callback.verifier == "xf8pxDkZfSXuak7S4qaGQBvxArpMvqR" and callback.pending_verifier == ""
    # from now on, events signed with that code are accepted
    assert post_webhook(tenant, CREATE, verifier="xf8pxDkZfSXuak7S4qaGQBvxArpMvqR").status_code == 200


def test_a_verifier_freshbooks_refuses_is_not_stored(post_webhook, tenant, connection, fb_api):
    callback = make_callback(connection, "invoice.create", callback_id="778599",
                             state=FreshBooksCallback.State.WAITING)
    fb_api.put(f"{API}/events/account/p7rQW5/events/callbacks/778599", status=422,
               json={"errno": 422, "message": "Invalid verifier"})
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay"):
        post_webhook(tenant, _verify_body("778599", "forged"), verifier=None)
    from connector.freshbooks.tasks import callback_confirm

    callback_confirm.run(callback.pk)
    callback.refresh_from_db()
    assert callback.verifier == "" and callback.pending_verifier == ""
    assert callback.state == FreshBooksCallback.State.WAITING and "refused" in callback.last_error


def test_an_unsolicited_verify_changes_nothing(post_webhook, tenant, other_tenant, connection, fb_api, settings_fb):
    from tests.freshbooks.conftest import make_connection

    theirs = make_callback(make_connection(other_tenant), "invoice.create", callback_id="555",
                           state=FreshBooksCallback.State.WAITING)
    ours = make_callback(connection, "invoice.create", verifier=VERIFIER, callback_id="2001")
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay") as delay:
        for callback_id in ("999999", "555"):  # unknown, and another tenant's callback
            response = post_webhook(tenant, _verify_body(callback_id, "attacker-code"), verifier=None)
            assert response.status_code == 200 and response.json()["status"] == "verification_ignored"
    delay.assert_not_called()
    assert len(fb_api.calls) == 0
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert theirs.pending_verifier == "" and ours.verifier == VERIFIER and ours.pending_verifier == ""


def test_a_forged_verify_for_a_verified_callback_keeps_the_accepted_verifier(post_webhook, tenant, connection, fb_api):
    ours = make_callback(connection, "invoice.create", verifier=VERIFIER, callback_id="2001")
    fb_api.put(f"{API}/events/account/p7rQW5/events/callbacks/2001", status=422, json={"errno": 422, "message": "no"})
    with mock.patch("connector.freshbooks.tasks.callback_confirm.delay"):
        post_webhook(tenant, _verify_body("2001", "attacker-code"), verifier=None)
    from connector.freshbooks.tasks import callback_confirm

    callback_confirm.run(ours.pk)
    ours.refresh_from_db()
    assert ours.verifier == VERIFIER and ours.state == FreshBooksCallback.State.VERIFIED
