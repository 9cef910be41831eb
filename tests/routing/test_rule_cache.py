"""routing.rule_cache: the rules the pipeline matches against follow every change, in any process."""

import pytest

from connector.core.redis_client import redis_quick
from routing.models import Rule
from routing.rule_cache import rules, rules_enabled_cached
from tests.factories import RuleFactory

pytestmark = pytest.mark.django_db


def test_a_rule_changed_in_this_process_applies_to_the_next_read(tenant):
    first = RuleFactory(tenant=tenant)
    assert rules_enabled_cached(tenant=tenant) == [first]
    second = RuleFactory(tenant=tenant)
    assert rules_enabled_cached(tenant=tenant) == [first, second]
    first.enabled = False
    first.save()
    assert rules_enabled_cached(tenant=tenant) == [second]
    second.delete()
    assert rules_enabled_cached(tenant=tenant) == []


def test_a_rule_disabled_by_another_process_applies_to_the_next_read(tenant, other_tenant):
    mine, theirs = RuleFactory(tenant=tenant), RuleFactory(tenant=other_tenant)
    assert rules_enabled_cached(tenant=tenant) == [mine]
    assert rules_enabled_cached(tenant=other_tenant) == [theirs]
    # Another process (the web) saves the rule disabled: its save announces the change in Redis.
    Rule.objects.filter(pk=mine.pk).update(enabled=False)
    redis_quick().set(rules.version_key(tenant.pk), "changed-by-another-process")
    assert rules_enabled_cached(tenant=tenant) == []
    assert rules_enabled_cached(tenant=other_tenant) == [theirs]
