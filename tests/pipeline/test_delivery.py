"""Posting deliveries: outcomes by Slack's error class, pacing, exactly-once after unknown outcomes."""

import time

import pytest
from django.db import DatabaseError
from django.utils import timezone

from audit import ledger
from audit.models import Delivery, DeliveryAttempt, HeldReason, InboundEvent
from connector.pipeline import order, pacing
from connector.pipeline.delivery import channel_drain_once
from connector.pipeline.policy import CLAIM_LEASE
from connector.pipeline.resume import resume_channel_holds, resume_slack_holds
from connector.pipeline.sweep import sweep_run
from routing.models import Rule
from tests.pipeline.conftest import TEAM, drain

pytestmark = pytest.mark.django_db


def make_due(*deliveries):
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(next_attempt_at=timezone.now())


def test_posted_delivery_stores_channel_and_ts_and_carries_its_id_in_metadata(installation, slack, make_delivery):
    delivery = make_delivery("C1", text="Invoice 0042 created: 6,000.00 USD")
    result = channel_drain_once(team_id=TEAM, channel_id="C1")
    delivery.refresh_from_db()
    assert result.posted == 1
    assert delivery.status == Delivery.Status.POSTED
    assert delivery.slack_ts == slack.posts[0]["ts"] and delivery.slack_channel == "C1"
    assert slack.posts[0]["text"] == "Invoice 0042 created: 6,000.00 USD"
    assert slack.posts[0]["metadata"]["event_payload"]["delivery_id"] == delivery.pk
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == DeliveryAttempt.Outcome.POSTED and attempt.duration_ms >= 0


def test_one_post_per_second_per_channel_but_other_channels_go_at_once(installation, slack, make_delivery):
    make_delivery("C1"), make_delivery("C1"), make_delivery("C2")
    first = channel_drain_once(team_id=TEAM, channel_id="C1")
    second = channel_drain_once(team_id=TEAM, channel_id="C1")  # within the same second
    other = channel_drain_once(team_id=TEAM, channel_id="C2")
    assert first.posted == 1 and second.posted == 0
    assert 0 < second.again_in <= 1.0  # told when to come back, nobody slept
    assert other.posted == 1
    assert len(slack.posts_to("C1")) == 1 and len(slack.posts_to("C2")) == 1


def test_channel_posts_oldest_first(installation, slack, make_delivery):
    ids = [make_delivery("C1", text=f"msg {i}").pk for i in range(3)]
    for _ in ids:
        drain("C1")
    assert [p["text"] for p in slack.posts_to("C1")] == ["msg 0", "msg 1", "msg 2"]
    assert set(Delivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"posted"}


def test_channel_posts_in_the_order_freshbooks_sent_the_events_not_the_order_they_were_processed(
        installation, slack, tenant):
    # Given two webhooks received in order whose processing finished the other way round (concurrent
    # workers), so the second event's delivery was made first
    first, second = (InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id=n, raw_body="",
                                                 dedupe_key=f"invoice.create:{n}", status=InboundEvent.Status.PROCESSED)
                     for n in ("1", "2"))
    for event, text in ((second, "second event"), (first, "first event")):
        Delivery.objects.create(tenant=tenant, inbound_event=event, event_name="invoice.create",
                                object_id=event.object_id, kind="invoice", action="created", slack_team_id=TEAM,
                                channel_id="C1", channel_name="c1", message_text=text,
                                message_blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])

    # When the channel drains
    drain("C1"), drain("C1")

    # Then the first event is posted first
    assert [p["text"] for p in slack.posts_to("C1")] == ["first event", "second event"]


def test_429_parks_the_channel_until_retry_after(installation, slack, make_delivery):
    delivery = make_delivery("C1")
    slack.script["C1"] = ["429"]
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING
    assert pacing.parked_for(TEAM, "C1") > 2
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.outcome == "rate_limited" and attempt.retry_after == 3 and attempt.http_status == 429
    assert drain("C1").posted == 0  # parked: no post, told to come back later
    assert pacing.parked_for(TEAM, "C2") == 0  # other channels are not parked


def test_a_workspace_parked_by_slack_posts_in_none_of_its_channels_until_the_park_ends(installation, slack,
                                                                                        make_delivery):
    # Given a 429 for the whole workspace (Retry-After 5 s) and a post waiting in another channel
    make_delivery("C2")
    pacing.park(TEAM, "C1", 5, whole_team=True)

    # Then that channel posts nothing and comes back when the park ends
    result = drain("C2")
    assert result.posted == 0 and 4 < result.again_in <= 5 and slack.posts_to("C2") == []

    # And the park took nothing from the channel's pace: once it ends, the post goes at once (drained without
    # clearing the channel's slot first)
    pacing.client().delete(f"mlc:park:{TEAM}")
    assert channel_drain_once(team_id=TEAM, channel_id="C2").posted == 1


def test_next_post_in_a_channel_waits_a_full_second_after_slack_answered_a_slow_one(installation, slack,
                                                                                    make_delivery):
    # Given a channel with two waiting messages, and Slack slow to answer the first post (0.5 s)
    make_delivery("C1"), make_delivery("C1")
    slack.script["C1"] = ["slow"]
    # When the first is posted
    first = drain("C1")
    # Then the channel's next slot opens a full second after Slack's answer, not after the slot was taken
    # (else a fast second post could reach Slack less than a second after a slow first one: a 429)
    assert first.posted == 1
    assert pacing.take_slot(TEAM, "C1") > 0.9
    assert 0.9 <= first.again_in <= 1.0  # the drain comes back when the slot opens, not to be told to wait


def test_a_post_slower_than_the_interval_holds_its_channels_slot_until_slack_answers(monkeypatch):
    # (a shorter interval, to keep the test quick)
    monkeypatch.setattr(pacing, "CHANNEL_INTERVAL_MS", 200)
    monkeypatch.setattr(pacing, "SLOT_HOLD_MS", 5000)
    assert pacing.take_slot(TEAM, "C1") == 0
    time.sleep(0.3)  # the post has not reached Slack yet, a whole interval after its slot was taken
    wait = pacing.take_slot(TEAM, "C1")
    assert 0 < wait <= 0.2  # still taken; the next drain looks again within an interval
    pacing.slot_restart(TEAM, "C1")  # Slack answered: the next post may go an interval later
    assert pacing.take_slot(TEAM, "C1") > 0
    time.sleep(0.25)
    assert pacing.take_slot(TEAM, "C1") == 0


def test_a_drain_that_loses_its_delivery_to_another_worker_gives_the_slot_back(installation, slack, make_delivery,
                                                                                monkeypatch):
    make_delivery("C1")
    monkeypatch.setattr(ledger, "delivery_take", lambda delivery, lease: None)  # taken meanwhile elsewhere
    assert drain("C1").posted == 0
    assert pacing.take_slot(TEAM, "C1") == 0  # the channel's next post need not wait


@pytest.mark.django_db(transaction=True)
def test_a_channel_posts_while_another_worker_holds_its_tenant_row(installation, slack, make_delivery, tenant):
    import threading

    from django.db import connection, transaction

    from tenants.models import Tenant

    # Given a waiting delivery, and another worker holding a lock on the tenant's row (claiming a
    # delivery of another channel of the same tenant, or recording an activity)
    delivery = make_delivery("C1")
    locked, release = threading.Event(), threading.Event()

    def hold_tenant_row():
        with transaction.atomic():
            Tenant.objects.select_for_update().get(pk=tenant.pk)
            locked.set()
            release.wait(10)
        connection.close()

    other = threading.Thread(target=hold_tenant_row)
    other.start()
    assert locked.wait(10)
    try:
        # When the channel is drained
        result = channel_drain_once(team_id=TEAM, channel_id="C1")
    finally:
        release.set()
        other.join()
    # Then the delivery is posted: the claim locks the delivery's row only
    delivery.refresh_from_db()
    assert result.posted == 1 and delivery.status == Delivery.Status.POSTED


def test_a_rate_limited_message_keeps_its_place_at_the_head_of_the_channel(installation, slack, make_delivery):
    # Given two messages for one channel, and Slack answering 429 (Retry-After 3 s) to the first post
    first, second = make_delivery("C1", text="first"), make_delivery("C1", text="second")
    slack.script["C1"] = ["429"]
    drain("C1")
    # When the park ends and the channel is drained twice
    pacing.client().delete(f"mlc:park:{TEAM}:C1")
    drain("C1")
    drain("C1")
    # Then they were posted in order: the rate limited one did not lose its place
    assert [p["text"] for p in slack.posts_to("C1")] == ["first", "second"]
    assert set(Delivery.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"posted"}


def test_transient_failure_retries_with_backoff_then_posts(installation, slack, make_delivery):
    delivery = make_delivery("C1")
    slack.script["C1"] = ["500", "service_unavailable"]
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RETRYING
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 3 <= wait <= 7  # about 5 s
    make_due(delivery)
    drain("C1")
    delivery.refresh_from_db()
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 20 <= wait <= 40  # about 30 s
    make_due(delivery)
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED
    assert list(delivery.attempts.values_list("outcome", flat=True)) == ["transient", "transient", "posted"]
    assert len(slack.posts_to("C1")) == 1


def test_a_rate_limit_does_not_count_as_a_failure_in_the_backoff(installation, slack, make_delivery):
    delivery = make_delivery("C1")
    slack.script["C1"] = ["429", "500"]
    drain("C1")  # rate limited: parked, no failure
    pacing.client().delete(*pacing.client().keys("mlc:park:*"))
    drain("C1")  # the first real failure
    delivery.refresh_from_db()
    assert list(delivery.attempts.values_list("outcome", flat=True)) == ["rate_limited", "transient"]
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 3 <= wait <= 7  # the first step of the schedule (about 5 s), not the second (30 s)


def test_transient_failures_give_up_after_24_hours(installation, slack, make_delivery):
    delivery = make_delivery("C1")
    first = timezone.now() - timezone.timedelta(hours=23, minutes=59)
    Delivery.objects.filter(pk=delivery.pk).update(first_attempt_at=first, attempt_count=11,
                                                   status=Delivery.Status.RETRYING)
    for _ in range(11):  # eleven failures so far: the next wait (4 h) would end past the 24 h limit
        DeliveryAttempt.objects.create(tenant=delivery.tenant, delivery=delivery, started_at=first,
                                       outcome=DeliveryAttempt.Outcome.TRANSIENT, error_code="internal_error")
    slack.script["C1"] = ["500"]
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED


def test_payload_bug_fails_at_once_and_is_never_retried(installation, slack, make_delivery):
    delivery = make_delivery("C1")
    slack.script["C1"] = ["invalid_blocks"]
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.last_error_code == "invalid_blocks"
    assert drain("C1").posted == 0
    assert delivery.attempts.count() == 1


def test_channel_not_found_holds_that_channel_then_rule_fix_posts_in_order(installation, slack, make_delivery):
    held = [make_delivery("C1", text=f"held {i}") for i in range(3)]
    elsewhere = make_delivery("C2", text="elsewhere")
    slack.script["C1"] = ["channel_not_found"]
    drain("C1")
    statuses = set(Delivery.objects.filter(pk__in=[d.pk for d in held])
                   .values_list("status", "held_reason", "last_error_code"))
    assert statuses == {("held", HeldReason.CHANNEL_UNUSABLE, "channel_not_found")}
    assert drain("C1").posted == 0  # nothing is retried while held
    assert drain("C2").posted == 1
    assert Delivery.objects.get(pk=elsewhere.pk).status == "posted"

    released = resume_channel_holds(tenant=held[0].tenant, old_channel_id="C1", new_channel_id="C9",
                                    new_channel_name="finance")
    assert released == 3
    for _ in held:
        drain("C9")
    assert [p["text"] for p in slack.posts_to("C9")] == ["held 0", "held 1", "held 2"]


def test_a_release_racing_another_moves_only_what_is_still_held(installation, slack, make_delivery):
    # The sweep finds the broken channel usable and releases its holds in place while the rule's new channel
    # releases them too: both read the same held rows. The first release wins; the second neither moves nor
    # un-claims what the first let go (a claimed post keeps its lease: no second post while it is in flight).
    held = [make_delivery("C1", text=f"held {i}") for i in range(2)]
    slack.script["C1"] = ["channel_not_found"]
    drain("C1")
    read_by_sweep = list(ledger.deliveries_held(tenant=held[0].tenant, reasons=[HeldReason.CHANNEL_UNUSABLE]))
    assert resume_channel_holds(tenant=held[0].tenant, old_channel_id="C1", new_channel_id="C9") == 2
    claim = ledger.delivery_claim(delivery_id=held[0].pk, lease=CLAIM_LEASE)
    assert claim is not None
    assert [ledger.delivery_release(d) for d in read_by_sweep] == [False, False]
    assert {(d.channel_id, d.next_attempt_at is not None) for d in Delivery.objects.filter(pk__in=[h.pk for h in held])} \
        == {("C9", True), ("C9", False)}  # the claimed one keeps its lease
    assert ledger.delivery_claim(delivery_id=held[0].pk, lease=CLAIM_LEASE) is None


def test_posts_held_after_their_rule_moved_follow_it_at_the_next_sweep(installation, slack, make_delivery, tenant):
    # The rule was pointed at C9 while these were on their way to C1: its release found nothing held yet.
    rule = Rule.objects.create(tenant=tenant, name="Invoices", events=["invoice.create"], channel_id="C9",
                               channel_name="finance")
    held = [make_delivery("C1", text=f"held {i}") for i in range(2)]
    Delivery.objects.filter(pk__in=[d.pk for d in held]).update(rule_ids=[rule.pk])
    slack.script["C1"] = ["channel_not_found"]
    drain("C1")
    assert {d.status for d in Delivery.objects.filter(pk__in=[d.pk for d in held])} == {Delivery.Status.HELD}

    assert sweep_run().holds_released == 2
    assert set(Delivery.objects.filter(pk__in=[d.pk for d in held]).values_list("status", "channel_id",
                                                                               "channel_name")) \
        == {(Delivery.Status.PENDING, "C9", "finance")}
    drain("C9")
    drain("C9")
    assert [p["text"] for p in slack.posts_to("C9")] == ["held 0", "held 1"]
    assert slack.posts_to("C1") == []  # the old channel is not probed nor posted to again


def test_posts_held_for_a_channel_their_rule_still_names_wait_for_the_channel(installation, slack, make_delivery,
                                                                              tenant):
    rule = Rule.objects.create(tenant=tenant, name="Invoices", events=["invoice.create"], channel_id="C1")
    delivery = make_delivery("C1")
    Delivery.objects.filter(pk=delivery.pk).update(rule_ids=[rule.pk])
    slack.script["C1"] = ["channel_not_found"]
    drain("C1")
    slack.usable["C1"] = False
    assert sweep_run().channels_probed == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.channel_id) == (Delivery.Status.HELD, "C1")


def reinstall(installation):
    """The app installed again, saved as every reinstall saves it (connector.slack.lifecycle.installation_save)."""
    from connector.slack.models import InstallationStatus

    installation.refresh_from_db()
    installation.status, installation.status_reason = InstallationStatus.ACTIVE, ""
    installation.revoked_at, installation.installed_at = None, timezone.now()
    installation.save()


def test_token_revoked_holds_the_tenant_until_reinstall(installation, slack, make_delivery, tenant):
    from connector.slack.models import InstallationStatus

    deliveries = [make_delivery("C1"), make_delivery("C2"), make_delivery("C3")]
    slack.script["C1"] = ["token_revoked"]
    drain("C1")
    assert set(Delivery.objects.filter(tenant=tenant).values_list("status", flat=True)) == {"held"}
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.REVOKED
    assert drain("C2").posted == 0

    reinstall(installation)
    assert resume_slack_holds(tenant=tenant) == 3
    for d in deliveries:
        drain(d.channel_id)
    assert set(Delivery.objects.filter(tenant=tenant).values_list("status", flat=True)) == {"posted"}


def test_work_held_after_the_app_was_uninstalled_from_our_ui_resumes_on_reinstall(installation, slack,
                                                                                 make_delivery):
    # Given the app removed from our UI (status reason "uninstalled", not a Slack code) with work waiting
    from connector.slack.lifecycle import installation_mark_revoked

    installation_mark_revoked(installation=installation, reason="uninstalled")
    delivery = make_delivery("C1")
    drain("C1")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.held_reason) == (Delivery.Status.HELD, HeldReason.SLACK_ACCESS_LOST)
    assert delivery.last_error_code == "token_revoked"
    # When Slack is installed again, then it is released and posted
    reinstall(installation)
    assert resume_slack_holds(tenant=delivery.tenant) == 1
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED and delivery.held_reason == "" and not delivery.last_error_code


def test_unknown_outcome_is_checked_in_history_and_never_posted_twice(installation, slack, make_delivery, settings,
                                                                       monkeypatch):
    from connector.slack import constants

    monkeypatch.setattr(constants, "HTTP_TIMEOUT_SECONDS", 1)
    delivery = make_delivery("C1")
    slack.script["C1"] = ["timeout"]
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RETRYING and delivery.sending_since is not None
    assert len(slack.posts_to("C1")) == 1  # Slack did take it

    make_due(delivery)
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED
    assert len(slack.posts_to("C1")) == 1  # found in history, not posted again
    assert list(delivery.attempts.values_list("outcome", flat=True)) == ["unknown", "duplicate_found"]


def test_a_post_comes_back_for_the_channel_when_its_next_delivery_is_due(installation, slack, make_delivery,
                                                                         write_path):
    # Given a channel with a post due now behind the one being posted, and another channel's post
    first, second = make_delivery("C1"), make_delivery("C1")
    make_delivery("C2")

    # Then the drain comes back when the channel's slot opens, for the second
    result = drain("C1")
    assert result.posted == 1 and 0.9 <= result.again_in <= 1.0

    # When the second must wait 30 s, a third 10 s, and a fourth is due now
    ledger.delivery_postpone(Delivery.objects.get(pk=second.pk), in_seconds=30)
    third, fourth = make_delivery("C1"), make_delivery("C1")
    ledger.delivery_postpone(Delivery.objects.get(pk=third.pk), in_seconds=10)

    # Then the fourth goes, and the drain comes back for the third's time, the soonest
    result = drain("C1")
    assert result.posted == 1 and 9 <= result.again_in <= 10

    # And after a post that leaves nothing waiting, nothing comes back
    Delivery.objects.filter(pk__in=[second.pk, third.pk]).update(status=Delivery.Status.FAILED)
    fifth = make_delivery("C1")
    result = drain("C1")
    assert result.posted == 1 and result.again_in is None
    for delivery in (first, fourth, fifth):
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.POSTED
        assert list(delivery.attempts.values_list("outcome", flat=True)) == ["posted"]
    assert [p["channel"] for p in slack.posts] == ["C1", "C1", "C1"]


def test_a_crashed_worker_claim_is_retried_after_the_lease_with_a_history_check(installation, slack, make_delivery):
    delivery = make_delivery("C1")
    claimed = ledger.delivery_claim(delivery_id=delivery.pk, lease=CLAIM_LEASE)  # ... and the worker dies
    assert claimed is not None
    assert drain("C1").posted == 0  # leased: nobody else takes it meanwhile
    make_due(delivery)  # the lease ran out
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED
    assert len(slack.posts_to("C1")) == 1


@pytest.fixture(params=["postgresql", "sqlite"])
def write_path(request, monkeypatch):
    """A post's record written both ways: one statement written out (PostgreSQL), and through the ORM (SQLite)."""
    from django.db import connection

    if request.param == "sqlite":
        monkeypatch.setattr(connection, "vendor", "sqlite")
    return request.param


@pytest.fixture
def attempts_refused():
    """The database refuses every new attempt row (a trigger), as a full disk or a lost connection would;
    calling the fixture's value lifts the refusal."""
    from django.db import connection

    table = DeliveryAttempt._meta.db_table

    def allow():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP TRIGGER IF EXISTS refuse_attempt ON "{table}"')
            cursor.execute("DROP FUNCTION IF EXISTS refuse_attempt()")

    with connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION refuse_attempt() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RAISE EXCEPTION 'attempt row refused'; END $$")
        cursor.execute(f'CREATE TRIGGER refuse_attempt BEFORE INSERT ON "{table}" '
                       "FOR EACH ROW EXECUTE FUNCTION refuse_attempt()")
    yield allow
    allow()


# Committed as in production (the claim before the post, the record after it in its own statement): inside a
# test's transaction the refused record would abort the claim's transaction with it.
@pytest.mark.django_db(transaction=True)
def test_a_posted_status_is_never_saved_without_its_attempt(installation, slack, make_delivery, write_path,
                                                            attempts_refused):
    # Given a post Slack accepted, whose attempt cannot be recorded (the database refuses the row)
    delivery = make_delivery("C1")
    with pytest.raises(DatabaseError):
        drain("C1")
    attempts_refused()

    # Then the delivery is not shown posted without an attempt: its status change went with the attempt,
    # and its sending mark stays, so the next try looks in the channel's history instead of posting again
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PENDING and delivery.sending_since is not None
    assert not delivery.attempts.exists() and len(slack.posts_to("C1")) == 1
    make_due(delivery)
    drain("C1")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.POSTED and len(slack.posts_to("C1")) == 1
    assert list(delivery.attempts.values_list("outcome", flat=True)) == ["duplicate_found"]


def test_an_uninstall_saved_by_another_process_holds_the_next_post(installation, slack, make_delivery, tenant):
    from connector.slack import installation_cache
    from connector.slack.models import InstallationStatus, SlackInstallation

    first = make_delivery("C1")
    drain("C1")
    first.refresh_from_db()
    assert first.status == Delivery.Status.POSTED
    # Another process (the web, told by Slack that the app was uninstalled) saves the installation revoked:
    # its save announces the change in Redis, which this process reads before trusting its copy.
    SlackInstallation.objects.filter(pk=installation.pk).update(
        status=InstallationStatus.REVOKED, status_reason="app_uninstalled", revoked_at=timezone.now())
    pacing.client().set(installation_cache.installations.version_key(tenant.pk), "changed-by-another-process")
    second = make_delivery("C1")
    drain("C1")
    second.refresh_from_db()
    assert (second.status, second.held_reason) == (Delivery.Status.HELD, HeldReason.SLACK_ACCESS_LOST)
    assert len(slack.posts_to("C1")) == 1


def test_a_delivery_claimed_or_moved_after_it_was_read_is_not_taken_as_read(installation, make_delivery, tenant):
    first, second = make_delivery("C1"), make_delivery("C1")
    # Two workers read the same head of the channel; one takes it, the other's take finds it changed.
    read_by_a = ledger.delivery_head(team_id=TEAM, channel_id="C1", unread=order.unread())
    read_by_b = ledger.delivery_head(team_id=TEAM, channel_id="C1", unread=order.unread())
    assert read_by_a.pk == read_by_b.pk == first.pk
    assert ledger.delivery_take(read_by_a, lease=CLAIM_LEASE) is not None
    assert ledger.delivery_take(read_by_b, lease=CLAIM_LEASE) is None
    # A delivery read, then held for its channel and released to another (a rule's channel fixed) before
    # the take: the take refuses the stale copy, so nothing is posted to the old channel.
    read = ledger.delivery_head(team_id=TEAM, channel_id="C1", unread=order.unread())
    assert read.pk == second.pk
    ledger.delivery_hold(tenant=tenant, reason=HeldReason.CHANNEL_UNUSABLE, team_id=TEAM, channel_id="C1")
    ledger.deliveries_release(held=Delivery.objects.filter(pk=second.pk), channel_id="C2")
    assert ledger.delivery_take(read, lease=CLAIM_LEASE) is None
    assert ledger.delivery_head(team_id=TEAM, channel_id="C2", unread=order.unread()).pk == second.pk


def test_the_channel_head_is_its_soonest_due_edit_else_its_oldest_post(installation, make_delivery, head_read):
    now = timezone.now()
    post, _later_post = make_delivery("C1"), make_delivery("C1")
    late_edit, early_edit, waiting_edit = make_delivery("C1"), make_delivery("C1"), make_delivery("C1")
    for edit, due in ((late_edit, -1), (early_edit, -10), (waiting_edit, 60)):
        Delivery.objects.filter(pk=edit.pk).update(slack_action=Delivery.SlackAction.EDIT,
                                                   next_attempt_at=now + timezone.timedelta(seconds=due))
    assert head_read("C1").pk == early_edit.pk
    ledger.delivery_postpone(early_edit, in_seconds=60)
    assert head_read("C1").pk == late_edit.pk
    ledger.delivery_postpone(late_edit, in_seconds=60)
    # Edits that must wait do not hold the channel's posts back.
    assert head_read("C1").pk == post.pk


def test_the_channel_head_comes_as_a_claim_reads_it(installation, make_delivery, head_read):
    delivery = make_delivery("C1")
    head = head_read("C1")
    assert head.pk == delivery.pk and head.tenant == delivery.tenant and head.tenant.slug == delivery.tenant.slug
    assert head.event_received_at == delivery.inbound_event.received_at
    assert (head.message_text, head.message_blocks, head.amount) == (delivery.message_text, delivery.message_blocks,
                                                                   delivery.amount)
    assert head_read("C2") is None


def test_a_drain_without_edits_reads_the_channel_head_once(installation, slack, make_delivery):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_delivery("C1"), make_delivery("C1")
    with CaptureQueriesContext(connection) as captured:
        assert drain("C1").posted == 1
    head_reads = [q for q in captured.captured_queries  # the ORM's read, or the one written out (PostgreSQL)
                  if q["sql"].startswith(('SELECT "audit_delivery"."id"', 'SELECT d."id"'))]
    assert len(head_reads) == 1
