"""routing.selectors: rule lists and the preview of a draft rule over stored events."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import InboundEvent
from routing.models import Rule
from routing.selectors import PREVIEW_EVENT_LIMIT, rule_list, rule_preview, rules_enabled
from tests.factories import RuleFactory, draft_rule, financial_event

pytestmark = pytest.mark.django_db


def stored_event(tenant, name="invoice.create", minutes_ago=0, **fields):
    event = financial_event(name, **fields)
    row = InboundEvent.objects.create(tenant=tenant, name=name, object_id=event.object_id, raw_body="name=" + name,
                                      status=InboundEvent.Status.PROCESSED, financial_event=event.to_dict())
    InboundEvent.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(minutes=minutes_ago))
    return row


def test_rule_list_is_the_tenants_rules_in_order(tenant, other_tenant):
    second = RuleFactory(tenant=tenant, position=2)
    first = RuleFactory(tenant=tenant, position=1)
    RuleFactory(tenant=other_tenant, position=0)
    assert list(rule_list(tenant=tenant)) == [first, second]


def test_rules_enabled_leaves_out_disabled_rules(tenant):
    on = RuleFactory(tenant=tenant)
    RuleFactory(tenant=tenant, enabled=False)
    assert rules_enabled(tenant=tenant) == [on]


def test_preview_shows_the_matching_events_newest_first_and_where_they_go(tenant):
    old_big = stored_event(tenant, minutes_ago=30, object_id="1", amount="9000", currency="USD")
    stored_event(tenant, minutes_ago=20, object_id="2", amount="100", currency="USD")
    new_big = stored_event(tenant, minutes_ago=10, object_id="3", amount="5000", currency="USD")
    stored_event(tenant, minutes_ago=5, object_id="4", amount="7000", currency="EUR")
    draft = draft_rule(tenant=tenant, min_amount="5000", channel_id="C0EXEC", channel_name="exec-alerts")

    preview = rule_preview(tenant=tenant, draft=draft)

    assert preview.checked == 4
    assert [m.inbound_event_id for m in preview.matches] == [new_big.pk, old_big.pk]
    assert {(m.channel_id, m.channel_name) for m in preview.matches} == {("C0EXEC", "exec-alerts")}
    assert not Rule.objects.for_tenant(tenant).exists()  # nothing saved


def test_preview_lists_where_the_other_rules_send_the_same_event(tenant):
    RuleFactory(tenant=tenant, channel_id="C0ACCOUNTS", channel_name="accounting")
    RuleFactory(tenant=tenant, channel_id="C0OFF", channel_name="off", enabled=False)
    stored_event(tenant, amount="6000", currency="USD")
    draft = draft_rule(tenant=tenant, min_amount="5000", channel_id="C0ACCOUNTS", channel_name="accounting")

    [m] = rule_preview(tenant=tenant, draft=draft).matches

    assert m.other_channels == [("C0ACCOUNTS", "accounting")]
    assert m.also_sent_there  # still one message there


def test_preview_of_an_edited_rule_leaves_out_its_saved_version(tenant):
    saved = RuleFactory(tenant=tenant, channel_id="C0OLD", channel_name="old")
    stored_event(tenant)
    draft = draft_rule(tenant=tenant, id=saved.pk, channel_id="C0NEW", channel_name="new")
    [m] = rule_preview(tenant=tenant, draft=draft).matches
    assert m.other_channels == []


def test_preview_judges_a_disabled_draft_as_if_enabled(tenant):
    stored_event(tenant)
    preview = rule_preview(tenant=tenant, draft=draft_rule(tenant=tenant, enabled=False))
    assert len(preview.matches) == 1 and preview.draft_disabled


def test_preview_reads_only_this_tenants_normalised_events(tenant, other_tenant):
    stored_event(other_tenant)
    InboundEvent.objects.create(tenant=tenant, name="invoice.create", object_id="9", raw_body="x",
                                status=InboundEvent.Status.RECEIVED)  # not normalised yet
    preview = rule_preview(tenant=tenant, draft=draft_rule(tenant=tenant))
    assert (preview.checked, preview.matches) == (0, [])


def test_preview_replays_at_most_the_latest_200_events(tenant):
    for i in range(PREVIEW_EVENT_LIMIT + 5):
        stored_event(tenant, minutes_ago=PREVIEW_EVENT_LIMIT + 5 - i, object_id=str(i))
    preview = rule_preview(tenant=tenant, draft=draft_rule(tenant=tenant))
    assert preview.checked == PREVIEW_EVENT_LIMIT == 200
    assert {m.event.object_id for m in preview.matches} == {str(i) for i in range(5, PREVIEW_EVENT_LIMIT + 5)}
