"""routing.match: which channels an event reaches. Pure: no database."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.core.events import SUPPORTED_EVENTS
from routing.match import match, rule_matches
from tests.factories import draft_rule, financial_event

USD = "USD"


def channels_of(targets):
    return [t.channel_name for t in targets]


# --- The product brief's examples ------------------------------------------------------------------


@pytest.fixture
def brief_rules():
    return [
        draft_rule(name="Money in", events=["invoice.create", "payment.create"],
                   channel_id="C0ACCOUNTS", channel_name="accounting"),
        draft_rule(name="Big invoices", events=["invoice.create"], min_amount="5000",
                   channel_id="C0EXEC", channel_name="exec-alerts"),
        draft_rule(name="Bills", events=["bill.create", "bill.update", "bill.delete"],
                   channel_id="C0TEAM", channel_name="accounting-team"),
        draft_rule(name="Skip internal expenses", events=["expense.create"], has_client=True,
                   channel_id="C0BILLABLE", channel_name="billable-expenses"),
    ]


def test_an_invoice_of_6000_usd_goes_to_accounting_and_exec_alerts(brief_rules):
    # given the brief's rules, when a 6,000 USD invoice is created
    targets = match(brief_rules, financial_event("invoice.create", amount="6000", currency="USD"),
                    base_currency=USD)
    # then it reaches #accounting and #exec-alerts, once each
    assert channels_of(targets) == ["accounting", "exec-alerts"]


def test_an_invoice_of_4000_usd_goes_only_to_accounting(brief_rules):
    targets = match(brief_rules, financial_event("invoice.create", amount="4000", currency="USD"),
                    base_currency=USD)
    assert channels_of(targets) == ["accounting"]


@pytest.mark.parametrize("name", ["bill.create", "bill.update", "bill.delete"])
@pytest.mark.parametrize("amount,currency", [("12.50", "USD"), ("90000", "CAD"), (None, None)])
def test_any_bill_goes_to_accounting_team(brief_rules, name, amount, currency):
    targets = match(brief_rules, financial_event(name, amount=amount, currency=currency, counterparty="Acme"),
                    base_currency=USD)
    assert channels_of(targets) == ["accounting-team"]


def test_an_expense_without_a_client_is_skipped_by_the_skip_internal_expenses_rule(brief_rules):
    internal = financial_event("expense.create", amount="80", currency="USD", has_client=False)
    billable = financial_event("expense.create", amount="80", currency="USD", has_client=True,
                               client_name="Acme")
    assert match(brief_rules, internal, base_currency=USD) == []
    assert channels_of(match(brief_rules, billable, base_currency=USD)) == ["billable-expenses"]


def test_an_invoice_in_eur_does_not_trip_a_usd_threshold(brief_rules):
    # given a 5,000 threshold in the tenant's base currency (USD), when a 6,000 EUR invoice comes
    targets = match(brief_rules, financial_event("invoice.create", amount="6000", currency="EUR"),
                    base_currency=USD)
    # then only the rule without an amount bound takes it
    assert channels_of(targets) == ["accounting"]


def test_a_threshold_in_an_explicit_currency_ignores_the_base_currency():
    rule = draft_rule(min_amount="5000", currency="EUR")
    assert rule_matches(rule, financial_event(amount="6000", currency="EUR"), base_currency=USD)
    assert not rule_matches(rule, financial_event(amount="6000", currency="USD"), base_currency=USD)


# --- One target per channel; disabled rules -----------------------------------------------------------


def test_one_target_per_channel_listing_every_rule_that_chose_it():
    a = draft_rule(name="a", channel_id="C1", channel_name="one")
    b = draft_rule(name="b", channel_id="C2", channel_name="two")
    c = draft_rule(name="c", channel_id="C1", channel_name="one", min_amount="1")
    targets = match([a, b, c], financial_event(amount="10", currency="USD"), base_currency=USD)
    assert [(t.channel_id, [r.name for r in t.rules]) for t in targets] == [("C1", ["a", "c"]), ("C2", ["b"])]


def test_a_disabled_rule_never_matches():
    rule = draft_rule(enabled=False)
    assert match([rule], financial_event(amount="10", currency="USD"), base_currency=USD) == []


def test_no_rules_no_targets():
    assert match([], financial_event(), base_currency=USD) == []


# --- Each condition -------------------------------------------------------------------------------------


def test_events_must_include_the_event_name():
    rule = draft_rule(events=["invoice.create", "invoice.sendByEmail"])
    assert rule_matches(rule, financial_event("invoice.sendByEmail"), base_currency=USD)
    assert not rule_matches(rule, financial_event("invoice.update"), base_currency=USD)
    assert not rule_matches(draft_rule(events=[]), financial_event(), base_currency=USD)


@pytest.mark.parametrize("amount,expected", [
    ("99.99", False), ("100.00", True), ("100", True), ("250", True), ("500.00", True), ("500.01", False),
])
def test_amount_bounds_are_inclusive(amount, expected):
    rule = draft_rule(min_amount="100", max_amount="500")
    assert rule_matches(rule, financial_event(amount=amount, currency="USD"), base_currency=USD) is expected


def test_an_event_without_an_amount_does_not_meet_an_amount_bound():
    assert not rule_matches(draft_rule(max_amount="100"), financial_event(currency="USD"), base_currency=USD)
    assert rule_matches(draft_rule(), financial_event(currency="USD"), base_currency=USD)


def test_a_currency_alone_filters_by_currency():
    rule = draft_rule(currency="EUR")
    assert rule_matches(rule, financial_event(amount="1", currency="eur"), base_currency=USD)
    assert not rule_matches(rule, financial_event(amount="1", currency="USD"), base_currency=USD)
    assert not rule_matches(rule, financial_event(), base_currency=USD)


def test_without_currency_or_bounds_every_currency_matches():
    rule = draft_rule()
    for currency in ("USD", "EUR", "JPY", None):
        assert rule_matches(rule, financial_event(amount="1", currency=currency), base_currency=USD)


def test_counterparty_contains_is_case_insensitive():
    rule = draft_rule(counterparty_contains="acme")
    assert rule_matches(rule, financial_event(counterparty="ACME Widgets Ltd"), base_currency=USD)
    assert not rule_matches(rule, financial_event(counterparty="Globex"), base_currency=USD)
    assert not rule_matches(rule, financial_event(counterparty=""), base_currency=USD)


def test_expense_category_in_and_not_in():
    wanted = draft_rule(events=["expense.create"], expense_categories_in=["Travel", "Meals"])
    unwanted = draft_rule(events=["expense.create"], expense_categories_not_in=["office supplies"])
    travel = financial_event("expense.create", category="travel")
    office = financial_event("expense.create", category="Office Supplies")
    uncategorised = financial_event("expense.create", category="")
    assert rule_matches(wanted, travel, base_currency=USD)
    assert not rule_matches(wanted, office, base_currency=USD)
    assert not rule_matches(wanted, uncategorised, base_currency=USD)
    assert rule_matches(unwanted, travel, base_currency=USD)
    assert not rule_matches(unwanted, office, base_currency=USD)
    assert rule_matches(unwanted, uncategorised, base_currency=USD)


def test_expense_conditions_leave_other_kinds_of_event_alone():
    rule = draft_rule(events=["invoice.create", "expense.create"], expense_categories_in=["Travel"],
                      has_client=True)
    assert rule_matches(rule, financial_event("invoice.create"), base_currency=USD)
    assert not rule_matches(rule, financial_event("expense.create", category="Travel", has_client=False),
                            base_currency=USD)


@pytest.mark.parametrize("has_client,event_has_client,expected", [
    (True, True, True), (True, False, False), (True, None, False),
    (False, False, True), (False, True, False), (False, None, False),
    (None, True, True), (None, False, True), (None, None, True),
])
def test_has_client(has_client, event_has_client, expected):
    rule = draft_rule(events=["expense.create"], has_client=has_client)
    event = financial_event("expense.create", has_client=event_has_client)
    assert rule_matches(rule, event, base_currency=USD) is expected


def test_status_in_is_case_insensitive():
    rule = draft_rule(events=["invoice.update"], statuses=["paid", "Partial"])
    assert rule_matches(rule, financial_event("invoice.update", status="Paid"), base_currency=USD)
    assert rule_matches(rule, financial_event("invoice.update", status="partial"), base_currency=USD)
    assert not rule_matches(rule, financial_event("invoice.update", status="sent"), base_currency=USD)


def test_status_changed_only_lets_through_updates_whose_status_changed():
    rule = draft_rule(events=["invoice.create", "invoice.update"], status_changed_only=True)
    changed = financial_event("invoice.update", status="paid", changes={"status": ["sent", "paid"]})
    unchanged = financial_event("invoice.update", status="sent", changes={"notes": ["", "hi"]})
    assert rule_matches(rule, changed, base_currency=USD)
    assert not rule_matches(rule, unchanged, base_currency=USD)
    # a create is not an update: the condition does not hold it back
    assert rule_matches(rule, financial_event("invoice.create"), base_currency=USD)


def test_conditions_combine_with_and():
    rule = draft_rule(events=["invoice.update"], min_amount="1000", counterparty_contains="acme",
                      statuses=["paid"], status_changed_only=True)
    good = dict(amount="1500", currency="USD", counterparty="Acme", status="paid",
                changes={"status": ["sent", "paid"]})
    assert rule_matches(rule, financial_event("invoice.update", **good), base_currency=USD)
    for spoiler in ({"amount": "999.99"}, {"currency": "EUR"}, {"counterparty": "Globex"}, {"status": "sent"},
                    {"changes": {}}):
        event = financial_event("invoice.update", **{**good, **spoiler})
        assert not rule_matches(rule, event, base_currency=USD), spoiler


# --- Properties ---------------------------------------------------------------------------------------

amounts = st.decimals(min_value=0, max_value=Decimal("10000000"), places=2, allow_nan=False,
                      allow_infinity=False)
currencies = st.sampled_from(["USD", "EUR", "GBP", "JPY"])
event_names = st.sampled_from(list(SUPPORTED_EVENTS))
words = st.sampled_from(["Travel", "Meals", "paid", "sent", "draft", "Acme", ""])


@st.composite
def events(draw):
    name = draw(event_names)
    return financial_event(
        name, amount=draw(st.none() | amounts), currency=draw(st.none() | currencies),
        counterparty=draw(st.sampled_from(["", "Acme Ltd", "Globex", "acme"])), status=draw(words),
        category=draw(words), has_client=draw(st.sampled_from([None, True, False])),
        changes=draw(st.sampled_from([{}, {"status": ["sent", "paid"]}, {"amount": ["1", "2"]}])),
    )


@st.composite
def rules(draw, channel_ids=("C1", "C2", "C3")):
    channel_id = draw(st.sampled_from(channel_ids))
    return draft_rule(
        enabled=draw(st.booleans()),
        events=draw(st.lists(event_names, max_size=4, unique=True)),
        min_amount=draw(st.none() | amounts), max_amount=draw(st.none() | amounts),
        currency=draw(st.none() | currencies),
        counterparty_contains=draw(st.sampled_from(["", "acme", "Globex"])),
        expense_categories_in=draw(st.lists(words, max_size=2)),
        expense_categories_not_in=draw(st.lists(words, max_size=2)),
        has_client=draw(st.sampled_from([None, True, False])),
        statuses=draw(st.lists(words, max_size=2)),
        status_changed_only=draw(st.booleans()),
        channel_id=channel_id, channel_name=f"name-{channel_id}",
    )


@given(low=amounts, high=amounts, amount=amounts, currency=currencies, base=currencies)
def test_property_amount_bounds_are_inclusive_in_the_rule_currency(low, high, amount, currency, base):
    low, high = min(low, high), max(low, high)
    rule = draft_rule(min_amount=low, max_amount=high)
    event = financial_event(amount=amount, currency=currency)
    assert rule_matches(rule, event, base_currency=base) is (currency == base and low <= amount <= high)


@given(bound=amounts, event_currency=currencies, rule_currency=st.none() | currencies, base=currencies,
       amount=amounts, which=st.sampled_from(["min_amount", "max_amount"]))
def test_property_a_bound_is_never_met_in_another_currency(bound, event_currency, rule_currency, base, amount,
                                                           which):
    rule = draft_rule(currency=rule_currency, **{which: bound})
    if event_currency == (rule_currency or base):
        return
    assert not rule_matches(rule, financial_event(amount=amount, currency=event_currency), base_currency=base)


@given(event=events(), base=currencies)
def test_property_a_rule_without_conditions_matches_every_event_it_names(event, base):
    assert rule_matches(draft_rule(events=[event.event_name]), event, base_currency=base)
    others = [name for name in SUPPORTED_EVENTS if name != event.event_name]
    assert not rule_matches(draft_rule(events=others), event, base_currency=base)


@given(rule_list=st.lists(rules(), max_size=8), event=events(), base=currencies)
def test_property_targets_are_one_per_channel_and_hold_exactly_the_matching_enabled_rules(rule_list, event,
                                                                                          base):
    targets = match(rule_list, event, base_currency=base)
    channel_ids = [t.channel_id for t in targets]
    assert len(channel_ids) == len(set(channel_ids))
    chosen = [r for t in targets for r in t.rules]
    expected = [r for r in rule_list if rule_matches(r, event, base_currency=base)]
    assert sorted(map(id, chosen)) == sorted(map(id, expected))
    assert all(r.enabled for r in chosen)
    assert all(r.channel_id == t.channel_id for t in targets for r in t.rules)
    # in the order of the first rule choosing each channel
    first_seen = list(dict.fromkeys(r.channel_id for r in expected))
    assert channel_ids == first_seen


@given(rule=rules(), event=events(), base=currencies)
def test_property_disabling_a_rule_stops_it_matching(rule, event, base):
    rule.enabled = False
    assert not rule_matches(rule, event, base_currency=base)
    assert match([rule], event, base_currency=base) == []


@given(rule_list=st.lists(rules(), max_size=6), event=events(), base=currencies)
def test_property_adding_a_rule_never_removes_a_channel(rule_list, event, base):
    before = {t.channel_id for t in match(rule_list[:-1], event, base_currency=base)}
    after = {t.channel_id for t in match(rule_list, event, base_currency=base)}
    assert before <= after
