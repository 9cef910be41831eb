"""routing.summary: the one line the rules list shows for each rule."""

import pytest

from routing.summary import rule_summary
from tests.factories import draft_rule


@pytest.mark.parametrize("fields,expected", [
    ({"events": ["invoice.update", "invoice.create"], "min_amount": "5000", "channel_name": "exec-alerts"},
     "Invoice created, Invoice updated ≥ 5,000.00 USD → #exec-alerts (updates in the card's thread)"),
    ({"events": ["bill.create"], "max_amount": "250.5", "currency": "EUR", "channel_name": "bills"},
     "Bill posted ≤ 250.50 EUR → #bills (updates in the card's thread)"),
    ({"events": ["payment.create"], "min_amount": "100", "max_amount": "1000", "channel_name": "money"},
     "Payment received 100.00–1,000.00 USD → #money (updates in the card's thread)"),
    ({"events": ["invoice.create"], "currency": "GBP", "channel_name": "uk"}, "Invoice created in GBP → #uk (updates in the card's thread)"),
    ({"events": ["expense.create"], "has_client": True, "expense_categories_in": ["Travel", "Meals"],
      "channel_name": "billable"},
     'Expense submitted; category "Travel" or "Meals"; expenses with a client → #billable'),
    ({"events": ["invoice.update"], "statuses": ["paid"], "status_changed_only": True,
      "counterparty_contains": "acme", "channel_name": "acme"},
     'Invoice updated; client or vendor name contains "acme"; status "paid"; updates only when the status changed'
     " → #acme (updates in the card's thread)"),
    ({"events": ["expense.create"], "has_client": False, "expense_categories_not_in": ["Rent"],
      "channel_name": "ops"},
     'Expense submitted; category not "Rent"; expenses without a client → #ops'),
])
def test_summary_reads_as_a_sentence(fields, expected):
    assert rule_summary(draft_rule(**fields), base_currency="USD") == expected


def test_summary_says_how_later_news_of_an_invoice_arrives():
    assert rule_summary(draft_rule(updates="channel"), base_currency="USD") == \
        "Invoice created → #accounting (updates as new messages)"


def test_summary_uses_the_tenant_base_currency_when_the_rule_names_none():
    assert rule_summary(draft_rule(min_amount="10"), base_currency="CAD") == \
        "Invoice created ≥ 10.00 CAD → #accounting (updates in the card's thread)"
