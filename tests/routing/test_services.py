"""routing.services: validation shared by form and API, writes, activity log, the channel-change signal."""

from decimal import Decimal

import pytest

from audit.activity import activity_verify
from audit.models import ActivityLog
from connector.core.errors import ApplicationError
from connector.slack.models import SlackChannel
from routing import services
from routing.models import Rule
from routing.signals import rule_channel_changed
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db


def valid(**overrides) -> dict:
    return {"name": "Big invoices", "events": ["invoice.create"], "min_amount": Decimal("5000"),
            "channel_id": "C0EXEC", **overrides}


def field_errors(excinfo) -> dict:
    assert excinfo.value.message == "Validation error"
    return excinfo.value.extra["fields"]


def test_create_resolves_the_channel_name_and_appends_to_the_end(tenant, owner, channels):
    # given one rule already
    RuleFactory(tenant=tenant, position=4)
    # when another is created
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
    # then it targets the channel by id with the name Slack knows, and comes last
    assert (rule.channel_id, rule.channel_name, rule.position) == ("C0EXEC", "exec-alerts", 5)
    assert rule.enabled is True and rule.currency is None


def test_create_records_the_activity(tenant, owner, channels):
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
    entry = ActivityLog.objects.for_tenant(tenant).get(action="rule.created")
    assert entry.actor == owner and entry.target == "Big invoices"
    assert entry.details["rule_id"] == rule.pk
    assert entry.details["summary"] == "Invoice created ≥ 5,000.00 USD → #exec-alerts (updates in the card's thread)"
    assert activity_verify(tenant=tenant) is None


@pytest.mark.parametrize("overrides,field,message", [
    ({"name": "  "}, "name", "Give the rule a name."),
    ({"events": []}, "events", "Choose at least one event."),
    ({"events": ["invoice.create", "client.create"]}, "events", "Unknown event: client.create."),
    ({"min_amount": Decimal("10"), "max_amount": Decimal("9.99")}, "max_amount",
     "The maximum must not be below the minimum."),
    ({"min_amount": Decimal("-1")}, "min_amount", "Amounts cannot be negative."),
    ({"min_amount": "lots"}, "min_amount", "Enter an amount such as 5000 or 5000.00."),
    ({"min_amount": Decimal("1.001")}, "min_amount", "Use at most 2 decimal places."),
    ({"currency": "XYZ"}, "currency", "Unknown currency code: XYZ."),
    ({"channel_id": ""}, "channel_id", "Choose a channel of your Slack workspace."),
    ({"channel_id": "C0NOWHERE"}, "channel_id", "Choose a channel of your Slack workspace."),
    ({"has_client": True}, "has_client", "This applies to expenses only"),
    ({"expense_categories_in": ["Travel"]}, "expense_categories_in", "This applies to expenses only"),
    ({"status_changed_only": True}, "status_changed_only", "This applies to update events only"),
    ({"events": ["expense.create"], "min_amount": None, "expense_categories_in": ["Travel"],
      "expense_categories_not_in": ["travel"]}, "expense_categories_not_in",
     "A category cannot be both wanted and excluded."),
    ({"note": "x" * 501}, "note", "Keep this to 500 characters or fewer."),
])
def test_invalid_rules_are_refused_with_a_message_on_the_field(tenant, owner, channels, overrides, field,
                                                               message):
    with pytest.raises(ApplicationError) as excinfo:
        services.rule_create(tenant=tenant, actor=owner, data=valid(**overrides))
    errors = field_errors(excinfo)
    assert list(errors) == [field]
    assert errors[field][0].startswith(message)
    assert not Rule.objects.for_tenant(tenant).exists()
    assert not ActivityLog.objects.for_tenant(tenant).filter(action="rule.created").exists()


def test_every_problem_is_reported_at_once(tenant, owner, channels):
    with pytest.raises(ApplicationError) as excinfo:
        services.rule_create(tenant=tenant, actor=owner, data={"events": [], "currency": "ZZZ"})
    assert set(field_errors(excinfo)) == {"name", "events", "currency", "channel_id"}


def test_a_channel_of_another_tenant_cannot_be_targeted(tenant, owner, channels):
    with pytest.raises(ApplicationError) as excinfo:
        services.rule_create(tenant=tenant, actor=owner, data=valid(channel_id=channels["theirs"]))
    assert field_errors(excinfo) == {"channel_id": ["Choose a channel of your Slack workspace."]}


def test_currency_is_stored_upper_case_and_known_codes_pass(tenant, owner, channels):
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid(currency="eur"))
    assert rule.currency == "EUR"


def test_update_changes_only_the_given_fields_and_records_what_changed(tenant, owner, channels):
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid(note="@cfo"))
    services.rule_update(tenant=tenant, actor=owner, rule=rule, data={"min_amount": Decimal("7500")})
    rule.refresh_from_db()
    assert rule.min_amount == Decimal("7500") and rule.note == "@cfo" and rule.name == "Big invoices"
    entry = ActivityLog.objects.for_tenant(tenant).get(action="rule.changed")
    assert entry.details["changes"] == {"min_amount": ["5000", "7500"]}


def test_update_without_changes_records_nothing(tenant, owner, channels):
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
    services.rule_update(tenant=tenant, actor=owner, rule=rule, data={"name": "Big invoices"})
    assert not ActivityLog.objects.for_tenant(tenant).filter(action="rule.changed").exists()


def test_an_invalid_update_leaves_the_rule_as_it_was(tenant, owner, channels):
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
    with pytest.raises(ApplicationError) as excinfo:
        services.rule_update(tenant=tenant, actor=owner, rule=rule, data={"max_amount": Decimal("10")})
    assert field_errors(excinfo) == {"max_amount": ["The maximum must not be below the minimum."]}
    rule.refresh_from_db()
    assert rule.max_amount is None
    assert rule.min_amount == Decimal("5000")


def test_a_rule_whose_channel_is_gone_can_still_be_disabled(tenant, owner, channels):
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
    # given the channel was archived in Slack (the Slack app no longer lists it)
    SlackChannel.objects.for_tenant(tenant).filter(channel_id="C0EXEC").delete()
    services.rule_set_enabled(tenant=tenant, actor=owner, rule=rule, enabled=False)
    rule.refresh_from_db()
    assert rule.enabled is False and rule.channel_name == "exec-alerts"


def test_changing_the_channel_sends_rule_channel_changed_after_commit(tenant, owner, channels,
                                                                      django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs))

    rule_channel_changed.connect(receiver)
    try:
        rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.rule_update(tenant=tenant, actor=owner, rule=rule, data={"channel_id": "C0TEAM"})
        assert received == []  # not before the change is committed
        for callback in callbacks:
            callback()
    finally:
        rule_channel_changed.disconnect(receiver)
    assert len(received) == 1
    sender, kwargs = received[0]
    assert sender is Rule
    assert kwargs["tenant"] == tenant and kwargs["rule"] == rule
    assert (kwargs["old_channel_id"], kwargs["new_channel_id"], kwargs["new_channel_name"]) == \
        ("C0EXEC", "C0TEAM", "accounting-team")


def test_other_changes_do_not_send_rule_channel_changed(tenant, owner, channels,
                                                        django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    rule_channel_changed.connect(receiver, dispatch_uid="test-other-changes")
    try:
        rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
        with django_capture_on_commit_callbacks(execute=True):
            services.rule_update(tenant=tenant, actor=owner, rule=rule,
                                 data={"name": "Renamed", "channel_id": "C0EXEC"})
    finally:
        rule_channel_changed.disconnect(dispatch_uid="test-other-changes")
    assert received == []


def test_delete_removes_the_rule_and_records_it(tenant, owner, channels):
    rule = services.rule_create(tenant=tenant, actor=owner, data=valid())
    rule_id = rule.pk
    services.rule_delete(tenant=tenant, actor=owner, rule=rule)
    assert not Rule.objects.filter(pk=rule_id).exists()
    entry = ActivityLog.objects.for_tenant(tenant).get(action="rule.deleted")
    assert entry.target == "Big invoices" and entry.details["rule_id"] == rule_id


def test_services_refuse_a_rule_of_another_tenant(tenant, other_tenant, owner, channels):
    theirs = RuleFactory(tenant=other_tenant)
    with pytest.raises(ApplicationError) as excinfo:
        services.rule_update(tenant=tenant, actor=owner, rule=theirs, data={"name": "mine now"})
    assert excinfo.value.status == 404
    with pytest.raises(ApplicationError):
        services.rule_delete(tenant=tenant, actor=owner, rule=theirs)
    assert Rule.objects.filter(pk=theirs.pk, name=theirs.name).exists()


def test_starter_set_creates_the_two_rules_of_the_brief(tenant, owner, channels):
    accounting, big = services.rule_starter_create(tenant=tenant, actor=owner, accounting_channel_id="C0ACCOUNTS",
                                                   exec_channel_id="C0EXEC")
    assert (accounting.events, accounting.channel_name) == (["invoice.create", "payment.create", "bill.create"],
                                                            "accounting")
    assert (big.events, big.min_amount, big.currency, big.channel_name) == \
        (["invoice.create"], Decimal("5000"), None, "exec-alerts")
    assert ActivityLog.objects.for_tenant(tenant).filter(action="rule.created").count() == 2


def test_starter_set_is_all_or_nothing_and_names_the_starter_fields(tenant, owner, channels):
    with pytest.raises(ApplicationError) as excinfo:
        services.rule_starter_create(tenant=tenant, actor=owner, accounting_channel_id="C0ACCOUNTS",
                                     exec_channel_id=channels["theirs"])
    assert field_errors(excinfo) == {"exec_channel_id": ["Choose a channel of your Slack workspace."]}
    assert not Rule.objects.for_tenant(tenant).exists()


def test_starter_set_only_for_a_first_setup(tenant, owner, channels):
    RuleFactory(tenant=tenant)
    with pytest.raises(ApplicationError) as excinfo:
        services.rule_starter_create(tenant=tenant, actor=owner, accounting_channel_id="C0ACCOUNTS",
                                     exec_channel_id="C0EXEC")
    assert excinfo.value.status == 409
    assert Rule.objects.for_tenant(tenant).count() == 1
