"""Living cards: the first message about an invoice is its card; later events edit it (coalesced, paced,
within the workspace's edit budget) and reply in its thread when a person should read the change."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import Card, Delivery, DeliveryAttempt, InboundEvent
from connector.core.events import Action, FinancialEvent, Kind
from connector.pipeline import pacing
from connector.pipeline.inbound import deliveries_make
from routing.match import Target
from routing.models import Rule
from tests.pipeline.conftest import TEAM, drain

pytestmark = pytest.mark.django_db

INVOICE_ID = "77"


def invoice(*, status="sent", total="2000.00", outstanding=None, updated="2026-11-28 07:00:00", due="2026-12-28",
            invoice_id=INVOICE_ID):
    outstanding = total if outstanding is None else outstanding
    return {"id": int(invoice_id), "invoiceid": int(invoice_id), "invoice_number": "0000077",
            "organization": "Acme Corporation", "currency_code": "USD", "vis_state": 0,
            "amount": {"amount": total, "code": "USD"}, "outstanding": {"amount": outstanding, "code": "USD"},
            "paid": {"amount": str(Decimal(total) - Decimal(outstanding)), "code": "USD"},
            "v3_status": status, "due_date": due, "updated": updated}


@pytest.fixture
def rule(tenant):
    return Rule.objects.create(tenant=tenant, name="Invoices", channel_id="C1", channel_name="c1",
                               events=["invoice.create", "invoice.update", "payment.create", "invoice.sendByEmail"])


class Story:
    """Events about one invoice, processed as the inbound worker does (rules matched, deliveries made)."""

    def __init__(self, tenant, installation, rule, invoice_id=INVOICE_ID):
        self.tenant, self.installation, self.rule, self.n = tenant, installation, rule, 0
        self.invoice_id = invoice_id

    def event(self, name, *, fetched_invoice, payment_amount=None, changes=None):
        self.n += 1
        kind, action = {"invoice.create": (Kind.INVOICE, Action.CREATED),
                        "invoice.update": (Kind.INVOICE, Action.UPDATED),
                        "invoice.sendByEmail": (Kind.INVOICE, Action.SENT),
                        "payment.create": (Kind.PAYMENT, Action.CREATED)}[name]
        object_id = f"9{self.n}" if kind == Kind.PAYMENT else self.invoice_id
        inbound = InboundEvent.objects.create(tenant=self.tenant, name=name, object_id=object_id, raw_body="",
                                              dedupe_key=f"{name}:{self.invoice_id}:{object_id}:{self.n}",
                                              status=InboundEvent.Status.PROCESSED)
        amount = Decimal(payment_amount) if payment_amount else Decimal(fetched_invoice["amount"]["amount"])
        fin = FinancialEvent(event_name=name, kind=kind, action=action, object_id=object_id, amount=amount,
                             currency="USD", counterparty="Acme Corporation", document_number="0000077",
                             status="" if kind == Kind.PAYMENT else fetched_invoice["v3_status"],
                             payment_method="Credit Card" if kind == Kind.PAYMENT else "",
                             updated=fetched_invoice["updated"], changes=changes or {})
        fetched = {"invoice": fetched_invoice}
        if kind == Kind.PAYMENT:
            fetched["payment"] = {"id": int(object_id), "invoiceid": int(self.invoice_id)}
        target = Target(channel_id="C1", channel_name="c1", rules=[self.rule])
        with transaction.atomic():
            return deliveries_make(inbound, fin, fetched, [target], self.installation)


@pytest.fixture
def story(tenant, installation, rule):
    return Story(tenant, installation, rule)


def card_shown_long_ago(card):
    """Skip the card's edit interval instead of sleeping through it."""
    Card.objects.filter(pk=card.pk).update(shown_at=timezone.now() - timedelta(seconds=11))
    pacing.client().delete(f"mlc:card:{card.pk}")
    Delivery.objects.filter(card=card, slack_action="edit", status="pending").update(next_attempt_at=timezone.now())


def test_first_event_is_the_card_and_a_status_change_edits_it_and_replies_in_its_thread(story, slack):
    # Given an invoice's first message in the channel
    [post] = story.event("invoice.create", fetched_invoice=invoice(status="draft"))
    drain("C1")
    card = Card.objects.get()
    assert post.slack_action == "post" and card.ts == slack.posts[0]["ts"]
    assert slack.posts[0]["text"].startswith("New invoice 0000077")

    # When it is sent (its status changes)
    made = story.event("invoice.update", fetched_invoice=invoice(status="sent", updated="2026-11-28 07:01:00"),
                       changes={"status": ["draft", "sent"]})

    # Then one reply in the card's thread and one edit of the card, not before the card's interval
    assert sorted(d.slack_action for d in made) == ["edit", "reply"]
    drain("C1")
    reply = slack.posts[1]
    assert reply["thread_ts"] == card.ts and reply["text"] == "Status changed from Draft to Sent"
    assert not reply["reply_broadcast"]
    assert slack.updates == []  # the card was shown less than 10 s ago
    card_shown_long_ago(card)
    drain("C1")
    [update] = slack.updates
    assert update["ts"] == card.ts
    assert update["text"] == "Invoice 0000077 for Acme Corporation, $2,000.00, Sent, $2,000.00 outstanding"
    edit = Delivery.objects.get(slack_action="edit")
    assert edit.status == "posted" and edit.slack_ts == card.ts and edit.thread_ts == ""
    assert Delivery.objects.get(slack_action="reply").thread_ts == card.ts


def test_rapid_updates_coalesce_into_one_edit_showing_the_latest_state_and_no_reply_without_status_change(
        story, slack):
    story.event("invoice.create", fetched_invoice=invoice())
    drain("C1")
    for n, total in enumerate(("2100.00", "2200.00", "2300.00"), start=1):
        story.event("invoice.update", fetched_invoice=invoice(total=total, updated=f"2026-11-28 07:0{n}:00"),
                    changes={"amount": ["2000.00", total]})

    edits = Delivery.objects.filter(slack_action="edit")
    assert edits.count() == 1 and not Delivery.objects.filter(slack_action="reply").exists()
    card_shown_long_ago(Card.objects.get())
    drain("C1"), drain("C1")
    [update] = slack.updates
    assert "$2,300.00" in update["text"]
    assert len(slack.posts) == 1  # only the card itself


def test_partial_then_full_payment_reply_with_outstanding_and_a_broadcast_when_settled(story, slack):
    story.event("invoice.create", fetched_invoice=invoice())
    drain("C1")
    card = Card.objects.get()

    story.event("payment.create", payment_amount="1200.00",
                fetched_invoice=invoice(status="partial", outstanding="800.00", updated="2026-11-28 07:01:00"))
    drain("C1")
    story.event("payment.create", payment_amount="800.00",
                fetched_invoice=invoice(status="paid", outstanding="0.00", updated="2026-11-28 07:02:00"))
    drain("C1")

    partly, settled = slack.posts[1], slack.posts[2]
    assert partly["text"] == "Payment of $1,200.00 by credit card, $800.00 outstanding"
    assert partly["thread_ts"] == card.ts and not partly["reply_broadcast"]
    assert settled["text"] == "Payment of $800.00 by credit card, paid in full"
    assert settled["thread_ts"] == card.ts and settled["reply_broadcast"] is True
    card_shown_long_ago(card)
    drain("C1")
    [update] = slack.updates
    assert update["text"] == "Invoice 0000077 for Acme Corporation, $2,000.00, Paid, $0.00 outstanding"


def test_a_payment_on_an_invoice_without_a_card_here_is_a_message_of_its_own(story, slack):
    [post] = story.event("payment.create", payment_amount="100.00",
                         fetched_invoice=invoice(status="partial", outstanding="1900.00"))
    assert post.slack_action == "post" and post.card is None
    drain("C1")
    assert slack.posts[0]["thread_ts"] is None and not Card.objects.exists()


def test_channel_rules_post_every_event_as_its_own_message(story, rule, slack):
    rule.updates = "channel"
    rule.save()
    story.event("invoice.create", fetched_invoice=invoice())
    story.event("invoice.update", fetched_invoice=invoice(status="viewed", updated="2026-11-28 07:01:00"),
                changes={"status": ["sent", "viewed"]})
    story.event("payment.create", payment_amount="2000.00",
                fetched_invoice=invoice(status="paid", outstanding="0.00", updated="2026-11-28 07:02:00"))
    for _ in range(3):
        drain("C1")
    assert len(slack.posts) == 3 and all(p["thread_ts"] is None for p in slack.posts)
    assert set(Delivery.objects.values_list("slack_action", flat=True)) == {"post"}
    assert not Card.objects.exists()


def test_an_edit_answered_message_not_found_forgets_the_card_and_posts_the_latest_state_as_a_new_card(
        story, slack):
    story.event("invoice.create", fetched_invoice=invoice())
    drain("C1")
    old = Card.objects.get()
    story.event("invoice.update", fetched_invoice=invoice(total="2500.00", updated="2026-11-28 07:01:00"),
                changes={"amount": ["2000.00", "2500.00"]})
    card_shown_long_ago(old)
    slack.update_script = ["message_not_found"]

    drain("C1")  # the edit fails: the card is gone from Slack
    drain("C1")  # its latest state goes out as a new card

    edit = Delivery.objects.get(slack_action="edit")
    assert edit.status == "failed" and edit.last_error_code == "message_not_found"
    assert DeliveryAttempt.objects.get(delivery=edit).outcome == "message_gone"
    old.refresh_from_db()
    assert old.forgotten_at is not None
    new = Card.objects.get(forgotten_at__isnull=True)
    assert new.ts == slack.posts[1]["ts"] and slack.posts[1]["thread_ts"] is None
    assert "$2,500.00" in slack.posts[1]["text"]

    # And the next news replies under the new card
    story.event("invoice.update", fetched_invoice=invoice(total="2500.00", status="viewed",
                                                          updated="2026-11-28 07:02:00"),
                changes={"status": ["sent", "viewed"]})
    drain("C1")
    assert slack.posts[2]["thread_ts"] == new.ts


def test_a_429_on_an_edit_holds_the_workspace_edits_for_retry_after_but_not_its_posts(story, slack, make_delivery):
    story.event("invoice.create", fetched_invoice=invoice())
    drain("C1")
    card = Card.objects.get()
    story.event("invoice.update", fetched_invoice=invoice(total="2500.00", updated="2026-11-28 07:01:00"),
                changes={"amount": ["2000.00", "2500.00"]})
    card_shown_long_ago(card)
    slack.update_script = ["429"]

    drain("C1")
    edit = Delivery.objects.get(slack_action="edit")
    assert edit.status == "pending" and edit.next_attempt_at > timezone.now() + timedelta(seconds=5)
    assert pacing.edit_take(TEAM) > 5  # no edit of the workspace before Retry-After (7 s)
    make_delivery("C2")
    drain("C2")
    assert len(slack.posts_to("C2")) == 1  # posts go on


def test_the_workspace_edit_budget_is_shared_and_says_how_long_to_wait(settings):
    pacing.client().flushdb()
    assert [pacing.edit_take(TEAM, per_minute=3) for _ in range(3)] == [0, 0, 0]
    wait = pacing.edit_take(TEAM, per_minute=3)
    assert 60 < wait <= 61  # the window is a little over a minute
    assert pacing.edit_take("TOTHER", per_minute=3) == 0  # another workspace has its own budget


def test_edits_beyond_the_budget_wait_for_it_and_each_card_still_ends_with_its_last_state(
        tenant, installation, rule, slack, monkeypatch):
    monkeypatch.setattr("connector.pipeline.pacing.EDITS_PER_MINUTE", 2)
    # Three invoices, each with a card, each updated twice
    for invoice_id in ("71", "72", "73"):
        s = Story(tenant, installation, rule, invoice_id=invoice_id)
        s.event("invoice.create", fetched_invoice=invoice(invoice_id=invoice_id))
        drain("C1")
        for n, total in enumerate(("2100.00", "2200.00"), start=1):
            s.event("invoice.update", changes={"amount": ["2000.00", total]},
                    fetched_invoice=invoice(total=total, updated=f"2026-11-28 07:0{n}:00", invoice_id=invoice_id))
    for card in Card.objects.all():
        card_shown_long_ago(card)
    for _ in range(6):
        drain("C1")
    assert len(slack.updates) == 2  # the budget: the third card's edit waits for the minute
    waiting = Delivery.objects.get(slack_action="edit", status="pending")
    assert waiting.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert all("$2,200.00" in u["text"] for u in slack.updates)


def _due(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_a_reply_whose_outcome_was_unknown_is_found_in_its_thread_not_posted_twice(story, slack, monkeypatch):
    monkeypatch.setattr("connector.slack.constants.HTTP_TIMEOUT_SECONDS", 1)
    story.event("invoice.create", fetched_invoice=invoice())
    drain("C1")
    card = Card.objects.get()
    slack.script["C1"] = ["timeout"]  # Slack records the reply, its answer never arrives
    [reply] = [d for d in story.event("payment.create", payment_amount="100.00",
                                      fetched_invoice=invoice(status="partial", outstanding="1900.00",
                                                              updated="2026-11-28 07:01:00"))
               if d.slack_action == "reply"]
    drain("C1")
    reply.refresh_from_db()
    assert reply.status == "retrying" and reply.sending_since is not None

    _due(reply)
    drain("C1")

    reply.refresh_from_db()
    assert reply.status == "posted" and reply.thread_ts == card.ts
    assert [p["text"] for p in slack.posts if p["thread_ts"]] == ["Payment of $100.00 by credit card, "
                                                                  "$1,900.00 outstanding"]
    assert slack.replies_calls == 1
    assert reply.attempts.order_by("started_at").last().outcome == "duplicate_found"


def test_a_second_thread_lookup_within_the_minute_waits_keeping_the_reply_maybe_posted(story, slack, monkeypatch):
    monkeypatch.setattr("connector.slack.constants.HTTP_TIMEOUT_SECONDS", 1)
    story.event("invoice.create", fetched_invoice=invoice())
    drain("C1")
    pacing.thread_lookup_take(TEAM)  # the workspace's one lookup of this minute is spent
    slack.script["C1"] = ["timeout"]
    [reply] = [d for d in story.event("payment.create", payment_amount="100.00",
                                      fetched_invoice=invoice(status="partial", outstanding="1900.00",
                                                              updated="2026-11-28 07:01:00"))
               if d.slack_action == "reply"]
    drain("C1")
    _due(reply)

    drain("C1")

    reply.refresh_from_db()
    assert reply.sending_since is not None  # still maybe in Slack: the next try looks first
    assert reply.next_attempt_at > timezone.now() + timedelta(seconds=30)
    assert reply.attempts.order_by("started_at").last().outcome == "rate_limited"
    assert slack.replies_calls == 0 and len([p for p in slack.posts if p["thread_ts"]]) == 1


def test_replaying_a_card_posts_it_as_it_is_now(story, slack, owner, tenant):
    from connector.pipeline.replay import delivery_replay

    [post] = story.event("invoice.create", fetched_invoice=invoice())
    drain("C1")
    story.event("payment.create", payment_amount="2000.00",
                fetched_invoice=invoice(status="paid", outstanding="0.00", updated="2026-11-28 07:01:00"))

    [replay] = delivery_replay(tenant=tenant, delivery=post, actor=owner)

    assert replay.slack_action == "post" and replay.card is None
    assert replay.message_text == "Invoice 0000077 for Acme Corporation, $2,000.00, Paid, $0.00 outstanding"


@pytest.fixture(params=["postgresql", "sqlite"])
def card_write_path(request, monkeypatch):
    """A card opened both ways: one INSERT ... ON CONFLICT (PostgreSQL), and a savepoint around the ORM's insert
    (SQLite)."""
    from django.db import connection

    if request.param == "sqlite":
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return request.param


def test_news_of_a_new_invoice_whose_card_is_already_open_edits_that_card(story, slack, card_write_path):
    # Given an invoice's card, opened by its first create (told twice, as after a FreshBooks re-send)
    [post] = story.event("invoice.create", fetched_invoice=invoice())
    assert post.slack_action == "post" and post.card_id is not None

    # When a second create of the same invoice comes, with a new total
    later = story.event("invoice.create", fetched_invoice=invoice(total="2500.00", updated="2026-11-28 08:00:00"))

    # Then it is news of that card (an edit with the new total), not a second card of the invoice
    assert Card.objects.filter(document_id=INVOICE_ID).count() == 1
    assert [d.slack_action for d in later] == ["edit"] and later[0].card_id == post.card_id
    assert "2,500.00" in later[0].message_text


def test_a_new_invoice_opens_its_card_in_one_statement(story, django_assert_num_queries):
    # One to open the card (no read before it, no savepoint around it), one for its first message, one to point
    # the card at it; the story adds its event's row and a savepoint around the rest (as processing's transaction)
    with django_assert_num_queries(3 + 1 + 2):
        [post] = story.event("invoice.create", fetched_invoice=invoice())
    assert Card.objects.get(document_id=INVOICE_ID).post_delivery_id == post.pk
