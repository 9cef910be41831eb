"""The digest message: exact blocks and fallback text, escaping, and Slack's limits with extreme input."""

import json
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from connector.core.digest import DigestReport, OverdueLine, Total
from connector.slack.digest_message import build_digest_message
from connector.slack.messages import (
    FIELD_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    slack_length,
)

ZONE = ZoneInfo("Pacific/Auckland")


def report(**overrides) -> DigestReport:
    values = dict(
        title="Morning summary", period_start=datetime(2026, 3, 9, 9, 0, tzinfo=ZONE),
        period_end=datetime(2026, 3, 10, 9, 0, tzinfo=ZONE), time_zone="Pacific/Auckland",
        payments=[Total("USD", 2, Decimal("1234.56")), Total("EUR", 1, Decimal("789.01"))],
        invoices=[Total("USD", 1, Decimal("500.00"))], expenses=[Total("USD", 1, Decimal("42.10"))],
        overdue_count=2, overdue_totals=[Total("USD", 2, Decimal("300.25"))],
        overdue_oldest=[OverdueLine("INV-7", "Acme & Sons", Decimal("250.25"), "USD", date(2026, 2, 28), 10),
                        OverdueLine("INV-9", "", Decimal("50.00"), "USD", date(2026, 3, 9), 1)],
        held_count=1, held_reasons=[("Channel unusable", 1)])
    return DigestReport(**(values | overrides))


def test_exact_output():
    text, blocks = build_digest_message(report(), business_name="Beta Books")

    assert text == ("Morning summary, Mar 9, 2026 09:00 – Mar 10, 2026 09:00 (Pacific/Auckland): payments received 3 "
                    "($1,234.56 + €789.01); invoices created 1 ($500.00); bills none; expenses 1 ($42.10); overdue "
                    "now 2 ($300.25 outstanding); held deliveries 1 needs a fix (Channel unusable: 1).")
    assert blocks == [
        {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": "Morning summary"}},
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": "Mar 9, 2026 09:00 – Mar 10, 2026 09:00 (Pacific/Auckland)"}]},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": "*Payments received*\n2 · $1,234.56\n1 · €789.01"},
            {"type": "mrkdwn", "text": "*Invoices created*\n1 · $500.00"},
            {"type": "mrkdwn", "text": "*Bills*\nNone"},
            {"type": "mrkdwn", "text": "*Expenses*\n1 · $42.10"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": (
            "*Overdue now*: 2 invoices, $300.25 outstanding\n_Oldest:_\n"
            "• INV-7 · Acme &amp; Sons · $250.25 · 10 days overdue (due Feb 28, 2026)\n"
            "• INV-9 · $50.00 · 1 day overdue (due Mar 9, 2026)")}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Held deliveries*: 1 needs a fix (Channel unusable: 1)"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Beta Books · FreshBooks digest"}]},
    ]


def test_a_quiet_period_and_freshbooks_unreachable():
    text, blocks = build_digest_message(report(payments=[], invoices=[], expenses=[], overdue_count=0,
                                               overdue_totals=[], overdue_oldest=[], held_count=0, held_reasons=[],
                                               overdue_unavailable="FreshBooks did not answer"),
                                        business_name="")

    assert text.endswith("payments received none; invoices created none; bills none; expenses none; overdue now "
                         "could not be read from FreshBooks; held deliveries none.")
    assert blocks[3]["text"]["text"] == "*Overdue now*: could not be read from FreshBooks (FreshBooks did not answer)"
    assert blocks[4]["text"]["text"] == "*Held deliveries*: none"
    assert blocks[-1]["elements"][0]["text"] == "FreshBooks digest"


def test_extreme_input_stays_within_slacks_limits():
    currencies = [Total(f"X{n:02d}", n + 1, Decimal("99999999999999.99")) for n in range(60)]
    oldest = [OverdueLine("<!channel>" * 300, "&" * 3000, Decimal("1.00"), "USD", date(2020, 1, 1), 2000)] * 5
    text, blocks = build_digest_message(report(title="<Digest> " * 100, payments=currencies, invoices=currencies,
                                               overdue_count=5, overdue_totals=currencies, overdue_oldest=oldest,
                                               held_count=3, held_reasons=[("x" * 3000, 3)]),
                                        business_name="B" * 5000)

    assert len(blocks) <= MAX_BLOCKS
    assert slack_length(blocks[0]["text"]["text"]) <= HEADER_TEXT_LIMIT
    assert all(slack_length(f["text"]) <= FIELD_TEXT_LIMIT for f in blocks[2]["fields"])
    assert "…and 52 more currencies" in blocks[2]["fields"][0]["text"]
    for block in blocks[3:5]:
        assert slack_length(block["text"]["text"]) <= SECTION_TEXT_LIMIT
    assert "<!channel>" not in json.dumps(blocks) and "<!channel>" not in text
    assert slack_length(text) <= 3000
