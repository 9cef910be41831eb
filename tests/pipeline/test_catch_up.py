"""Catch-up reads: FreshBooks' lists (mocked at the transport) paged through from a day before the
watermark; changes no webhook brought go through the pipeline once (source=poll), history never does;
429 backs the tenant off; the read repairs lost callbacks; the command prints its counts."""

import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.utils import timezone

from audit.models import Delivery, InboundEvent
from connector.core.events import SUPPORTED_EVENTS
from connector.freshbooks.errors import RateLimited
from connector.freshbooks.models import CatchUpState, FreshBooksCallback
from connector.pipeline.catch_up import EASTERN, catch_up_run, catch_up_state, stamp_moment
from connector.pipeline.inbound import inbound_process
from routing.models import Rule
from tests.freshbooks.conftest import ACCOUNT_ID, API, VERIFIER, make_callback, make_connection, signed
from tests.pipeline.conftest import handed_to_processing

pytestmark = pytest.mark.django_db

# The moment the tenant connected FreshBooks in these tests: three hours ago.
CONNECTED = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
LIST_PATHS = {"invoice": "invoices/invoices", "payment": "payments/payments", "bill": "bills/bills",
              "expense": "expenses/expenses"}


def eastern(moment: datetime) -> str:
    return moment.astimezone(EASTERN).strftime("%Y-%m-%d %H:%M:%S")


class FakeFreshBooks:
    """FreshBooks' list and callback endpoints over a dict of objects, as reference §8 describes them:
    date-only updated_min / updated_max, at most 100 a page, an empty page past the last."""

    def __init__(self, rsps, connection):
        self.objects: dict[str, list[dict]] = {kind: [] for kind in LIST_PATHS}
        self.requests: list[tuple[str, dict]] = []
        self.throttle: dict | None = None  # {"retry_after": "120"}: answer the next list with 429
        self.lost_callbacks: set[str] = set()
        self.created_callbacks: list[dict] = []
        self.connection = connection
        base = f"{API}/accounting/account/{ACCOUNT_ID}/"
        for kind, path in LIST_PATHS.items():
            rsps.add_callback("GET", re.compile(re.escape(base + path) + r"(\?.*)?$"),
                              callback=self._lister(kind))
        callbacks = f"{API}/events/account/{ACCOUNT_ID}/events/callbacks"
        rsps.add_callback("GET", re.compile(re.escape(callbacks) + r"(\?.*)?$"), callback=self._callbacks)
        rsps.add_callback("POST", callbacks, callback=self._callback_create)
        rsps.add_callback("DELETE", re.compile(re.escape(callbacks) + r"/\d+$"), callback=lambda r: (204, {}, ""))

    def add(self, kind: str, object_id: int, updated: datetime, created: datetime | None = None, **fields):
        obj = {"id": object_id, "updated": eastern(updated), "vis_state": 0, **fields}
        if kind == "invoice":
            obj.update(invoiceid=object_id, invoice_number=f"{object_id:07d}", organization="Acme Corporation",
                       amount={"amount": "180.00", "code": "USD"}, v3_status="draft",
                       created_at=eastern(created or updated))
        self.objects[kind].append(obj)
        return obj

    def _lister(self, kind: str):
        def answer(request):
            query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
            self.requests.append((kind, query))
            if self.throttle is not None:
                headers = {"Retry-After": self.throttle["retry_after"]} if self.throttle.get("retry_after") else {}
                return 429, headers, json.dumps({"errno": 429, "message": "Too Many Requests"})
            low, high = query.get("search[updated_min]", ""), query.get("search[updated_max]", "9999")
            found = [o for o in self.objects[kind] if low <= o["updated"][:10] <= high]
            page, per_page = int(query.get("page", 1)), min(int(query.get("per_page", 15)), 100)
            pages = max(1, -(-len(found) // per_page))
            chunk = found[(page - 1) * per_page: page * per_page]
            return 200, {}, json.dumps({"response": {"result": {
                f"{kind}s": chunk, "page": page, "pages": pages, "per_page": per_page, "total": len(found)}}})
        return answer

    def _callbacks(self, request):
        ours = FreshBooksCallback.objects.filter(connection=self.connection).exclude(callback_id="")
        listed = [{"callbackid": int(c.callback_id), "event": c.event, "uri": c.uri, "verified": True}
                  for c in ours if c.callback_id not in self.lost_callbacks]
        return 200, {}, json.dumps({"response": {"result": {"callbacks": listed, "page": 1, "pages": 1,
                                                            "per_page": 100, "total": len(listed)}}})

    def _callback_create(self, request):
        body = json.loads(request.body)["callback"]
        created = {"callbackid": 900 + len(self.created_callbacks), "event": body["event"], "uri": body["uri"],
                   "verified": False}
        self.created_callbacks.append(created)
        return 200, {}, json.dumps({"response": {"result": {"callback": created}}})


@pytest.fixture
def connection(tenant, settings):
    settings.FRESHBOOKS_API_URL = API
    connection = make_connection(tenant)
    type(connection).objects.filter(pk=connection.pk).update(created_at=CONNECTED)
    connection.refresh_from_db()
    for number, event in enumerate(SUPPORTED_EVENTS):
        make_callback(connection, event, verifier=VERIFIER, callback_id=str(5000 + number))
    return connection


@pytest.fixture
def books(connection):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeFreshBooks(rsps, connection)


def run(tenant, **kwargs):
    enqueued = []
    with TestCase.captureOnCommitCallbacks(execute=True):  # enqueued once the events are committed
        result = catch_up_run(tenant=tenant, enqueue=enqueued.extend, **kwargs)
    return result, enqueued


def poll_events(tenant):
    return list(InboundEvent.objects.for_tenant(tenant).filter(source=InboundEvent.Source.POLL).order_by("id"))


def test_pages_through_every_list_a_hundred_at_a_time(tenant, books):
    for number in range(250):
        books.add("invoice", 1000 + number, CONNECTED + timedelta(minutes=number))

    result, enqueued = run(tenant)

    invoice_pages = [q for kind, q in books.requests if kind == "invoice"]
    assert [(q["page"], q["per_page"]) for q in invoice_pages] == [("1", "100"), ("2", "100"), ("3", "100")]
    assert {kind for kind, _ in books.requests} == set(LIST_PATHS)  # invoices, payments, bills, expenses
    assert (result.read, result.new, result.already_seen) == (250, 250, 0)
    events = poll_events(tenant)
    assert len(events) == 250 and enqueued == [e.pk for e in events]
    assert {e.name for e in events} == {"invoice.create"}
    assert events[0].dedupe_key == f"invoice.create:{events[0].object_id}"


def test_reads_from_a_day_before_the_watermark_in_new_york_dates(tenant, books, connection):
    run(tenant)
    # The day before the connection's date in New York.
    first = (CONNECTED.astimezone(EASTERN).date() - timedelta(days=1)).isoformat()
    assert {q["search[updated_min]"] for _, q in books.requests} == {first}

    state = CatchUpState.objects.get(connection=connection)
    assert state.watermark > CONNECTED  # moved to the start of the read
    books.requests.clear()
    run(tenant)
    expected = (state.watermark.astimezone(EASTERN).date() - timedelta(days=1)).isoformat()
    assert {q["search[updated_min]"] for _, q in books.requests} == {expected}


def test_history_is_never_posted_but_a_change_after_connecting_is(tenant, books):
    books.add("invoice", 1, CONNECTED - timedelta(hours=3))  # before connecting, inside the overlap
    books.add("invoice", 2, CONNECTED + timedelta(minutes=5), created=CONNECTED - timedelta(days=40))
    books.add("invoice", 3, CONNECTED + timedelta(minutes=6))

    result, _ = run(tenant)

    assert (result.read, result.new, result.already_seen) == (3, 2, 1)
    assert [(e.object_id, e.name) for e in poll_events(tenant)] == [("2", "invoice.update"), ("3", "invoice.create")]


def test_backfill_since_a_date_includes_history(tenant, books):
    books.add("invoice", 1, CONNECTED - timedelta(days=3))
    books.add("invoice", 2, CONNECTED - timedelta(days=30))

    result, _ = run(tenant, since=(CONNECTED - timedelta(days=5)).date())

    assert {q["search[updated_min]"] for _, q in books.requests} == {(CONNECTED - timedelta(days=5)).date().isoformat()}
    assert (result.read, result.new) == (1, 1)  # the stand-in of FreshBooks filters the older one out
    assert [e.object_id for e in poll_events(tenant)] == ["1"]


@pytest.fixture
def routed(tenant, connection, installation):
    return Rule.objects.create(tenant=tenant, name="Invoices", events=["invoice.create", "invoice.update"],
                               channel_id="CACC", channel_name="accounting")


def test_a_change_is_fed_once_and_the_late_webhooks_are_duplicates(client, tenant, books, routed):
    books.add("invoice", 29618, CONNECTED + timedelta(minutes=5))
    result, _ = run(tenant)
    assert result.new == 1
    (event,) = poll_events(tenant)
    inbound_process(inbound_event_id=event.pk)  # the listed object is reported: no second fetch
    assert Delivery.objects.for_tenant(tenant).count() == 1

    again, _ = run(tenant)
    assert (again.read, again.new, again.already_seen) == (1, 0, 1)

    # The webhooks FreshBooks dropped arrive late: the create is refused at the door, the update (same
    # state as reported) is processed as a duplicate. Nothing more is posted.
    with handed_to_processing() as handed, TestCase.captureOnCommitCallbacks(execute=True):
        for name in ("invoice.create", "invoice.update"):
            body = f"name={name}&object_id=29618&account_id={ACCOUNT_ID}&business_id=14393743"
            response = client.post(f"/webhooks/freshbooks/{tenant.webhook_token}/", data=body,
                                   content_type="application/x-www-form-urlencoded",
                                   HTTP_X_FRESHBOOKS_HMAC_SHA256=signed(body))
            assert response.status_code == 200
    assert response.json()["status"] == "received"
    late_update = InboundEvent.objects.for_tenant(tenant).get(name="invoice.update")
    assert late_update.source == InboundEvent.Source.WEBHOOK
    assert handed == [late_update.pk]  # the refused create is not handed on
    with responses.RequestsMock() as rsps:
        rsps.add("GET", f"{API}/accounting/account/{ACCOUNT_ID}/invoices/invoices/29618",
                 json={"response": {"result": {"invoice": books.objects["invoice"][0]}}})
        inbound_process(inbound_event_id=late_update.pk)
    late_update.refresh_from_db()
    assert late_update.status == InboundEvent.Status.DUPLICATE
    assert Delivery.objects.for_tenant(tenant).count() == 1


def test_a_newer_stamp_is_a_new_change_and_the_same_stamp_is_not(tenant, books, routed):
    invoice = books.add("invoice", 29618, CONNECTED + timedelta(minutes=5))
    run(tenant)
    inbound_process(inbound_event_id=poll_events(tenant)[0].pk)

    invoice.update(updated=eastern(CONNECTED + timedelta(minutes=9)), v3_status="sent")
    result, _ = run(tenant)

    assert result.new == 1
    update = poll_events(tenant)[-1]
    assert update.name == "invoice.update"
    inbound_process(inbound_event_id=update.pk)
    update.refresh_from_db()
    assert update.status == InboundEvent.Status.PROCESSED
    assert update.financial_event["changes"] == {"status": ["draft", "sent"]}
    assert run(tenant)[0].new == 0


def test_an_event_still_in_flight_is_left_to_its_webhook(client, tenant, books, routed):
    books.add("invoice", 29618, CONNECTED + timedelta(minutes=5))
    InboundEvent.objects.create(tenant=tenant, name="invoice.update", object_id="29618", raw_body="",
                                status=InboundEvent.Status.RECEIVED)

    result, _ = run(tenant)

    assert (result.read, result.new) == (1, 0)


def test_rate_limited_read_backs_the_tenant_off_and_keeps_its_watermark(tenant, books, connection):
    books.throttle = {"retry_after": "120"}
    with pytest.raises(RateLimited):
        run(tenant)
    state = CatchUpState.objects.get(connection=connection)
    assert state.watermark == CONNECTED
    assert state.failures == 1
    assert timedelta(seconds=110) < state.backoff_until - timezone.now() <= timedelta(seconds=120)
    assert "Too Many Requests" in state.last_error

    books.throttle = {}  # no Retry-After: the backoff doubles per failure
    with pytest.raises(RateLimited):
        run(tenant)
    state.refresh_from_db()
    assert state.failures == 2
    assert timedelta(seconds=110) < state.backoff_until - timezone.now() <= timedelta(seconds=120)

    books.throttle = None
    run(tenant)
    state.refresh_from_db()
    assert (state.failures, state.backoff_until, state.last_error) == (0, None, "")


def test_the_read_registers_again_a_callback_freshbooks_lost(tenant, books, connection):
    lost = FreshBooksCallback.objects.get(connection=connection, event="payment.create")
    books.lost_callbacks.add(lost.callback_id)

    run(tenant)

    assert [c["event"] for c in books.created_callbacks] == ["payment.create"]
    lost.refresh_from_db()
    assert lost.state == FreshBooksCallback.State.WAITING and lost.callback_id == "900"


def test_a_callback_never_verified_is_registered_again_after_the_grace(tenant, books, connection):
    waiting = FreshBooksCallback.objects.get(connection=connection, event="bill.create")
    FreshBooksCallback.objects.filter(pk=waiting.pk).update(
        state=FreshBooksCallback.State.WAITING, updated_at=timezone.now() - timedelta(hours=1))
    run(tenant)
    assert [c["event"] for c in books.created_callbacks] == ["bill.create"]


def test_stamps_are_new_york_time_and_bills_utc():
    two_pm_utc = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 09:00 in New York (EST)
    assert stamp_moment("invoice", "2026-03-03 09:00:00") == two_pm_utc
    assert stamp_moment("bill", "2026-03-03 14:00:00") == two_pm_utc
    assert stamp_moment("invoice", "not a stamp") is None


def test_command_prints_the_counts_on_its_last_line(tenant, books):
    books.add("invoice", 1, CONNECTED - timedelta(hours=1))
    books.add("invoice", 2, CONNECTED + timedelta(hours=1))
    out = io.StringIO()
    with handed_to_processing() as handed, TestCase.captureOnCommitCallbacks(execute=True):
        call_command("catch_up", "--tenant", tenant.slug, stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "read 2, new 1, already seen 1"
    assert handed == [InboundEvent.objects.get(object_id="2").pk]


def test_command_refuses_bad_input_and_reports_freshbooks_errors(tenant, books):
    with pytest.raises(CommandError, match="No tenant"):
        call_command("catch_up", "--tenant", "nobody")
    with pytest.raises(CommandError, match="--since must be a date"):
        call_command("catch_up", "--tenant", tenant.slug, "--since", "yesterday")
    with pytest.raises(CommandError, match="future"):
        call_command("catch_up", "--tenant", tenant.slug, "--since", (date.today() + timedelta(days=2)).isoformat())
    books.throttle = {"retry_after": "30"}
    with pytest.raises(CommandError, match="Too Many Requests"):
        call_command("catch_up", "--tenant", tenant.slug)


def test_command_needs_a_connected_freshbooks(tenant):
    with pytest.raises(CommandError, match="not connected"):
        call_command("catch_up", "--tenant", tenant.slug)


def test_state_starts_at_the_connection(connection):
    state = catch_up_state(connection=connection)
    assert state.history_before == state.watermark == CONNECTED
