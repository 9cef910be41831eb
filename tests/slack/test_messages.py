"""Message builders: exact blocks and fallback text for every (kind, action), Slack's limits, escaping."""

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.events import SUPPORTED_EVENTS, Action, FinancialEvent, Kind
from connector.slack.messages import (
    BUILDERS,
    build_message,
    build_test_message,
    fit_mrkdwn,
    note_mrkdwn,
    slack_length,
    with_follow_up,
)

LINK = "https://my.freshbooks.com/#/invoice/2001"
BUSINESS = "Beta Books"
BUTTON = {"type": "actions", "elements": [{"type": "button", "action_id": "open_in_freshbooks", "url": LINK,
                                           "text": {"type": "plain_text", "text": "Open in FreshBooks"}}]}
# Invoice messages (not deletions) carry Send reminder and Mine, whose value is the FreshBooks invoice id.
INVOICE_BUTTONS = {"type": "actions", "block_id": "invoice_actions", "elements": [
    {"type": "button", "action_id": "send_reminder", "value": "2001",
     "text": {"type": "plain_text", "text": "Send reminder"}},
    {"type": "button", "action_id": "claim", "value": "2001", "text": {"type": "plain_text", "text": "Mine"}},
    BUTTON["elements"][0]]}
CONTEXT = {"type": "context", "elements": [{"type": "mrkdwn", "text": "Beta Books · FreshBooks"}]}


def header(text):
    return {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": text}}


def fields(*pairs):
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in pairs]}


def section(text):
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def event(name, **data):
    kind, action = SUPPORTED_EVENTS[name]
    return FinancialEvent(event_name=name, kind=kind, action=action, object_id="2001", link=LINK, **data)


INVOICE = dict(amount=Decimal("1234.50"), currency="USD", counterparty="Acme & Sons", document_number="INV-0042",
               status="sent", issue_date="2026-03-01", due_date="2026-03-31")
PAYMENT = dict(amount=Decimal("500"), currency="USD", counterparty="Acme & Sons", document_number="INV-0042",
               payment_method="Credit Card")
BILL = dict(amount=Decimal("89.99"), currency="USD", counterparty="Paper Co", document_number="B-17",
            status="unpaid", due_date="2026-04-15")
EXPENSE = dict(amount=Decimal("42.10"), currency="USD", counterparty="Uber", category="Travel", has_client=True,
               client_name="Globex")

CASES = {
    "invoice.create": (
        event("invoice.create", **INVOICE),
        "New invoice INV-0042 for Acme &amp; Sons: $1,234.50",
        [header("New invoice INV-0042"),
         fields(("Client", "Acme &amp; Sons"), ("Amount", "$1,234.50"), ("Status", "sent"), ("Issued", "Mar 1, 2026"),
                ("Due", "Mar 31, 2026"))],
    ),
    "invoice.sendByEmail": (
        event("invoice.sendByEmail", **INVOICE),
        "Invoice INV-0042 sent to Acme &amp; Sons: $1,234.50, due Mar 31, 2026",
        [header("Invoice INV-0042 sent"),
         fields(("Client", "Acme &amp; Sons"), ("Amount", "$1,234.50"), ("Due", "Mar 31, 2026"))],
    ),
    "invoice.update": (
        event("invoice.update", **{**INVOICE, "status": "paid"}, changes={"status": ["sent", "paid"]}),
        "Invoice INV-0042 for Acme &amp; Sons updated: Status: sent → paid",
        [header("Invoice INV-0042 updated"),
         fields(("Client", "Acme &amp; Sons"), ("Amount", "$1,234.50"), ("Status", "paid"), ("Due", "Mar 31, 2026")),
         section("*What changed*\n• Status: sent → paid")],
    ),
    "invoice.delete": (
        event("invoice.delete", **INVOICE),
        "Invoice INV-0042 for Acme &amp; Sons ($1,234.50) was deleted",
        [header("Invoice INV-0042 deleted"), fields(("Client", "Acme &amp; Sons"), ("Amount", "$1,234.50"))],
    ),
    "invoice.overdue": (
        event("invoice.overdue", **{**INVOICE, "amount": Decimal("734.50")}, days_overdue=12),
        "Invoice INV-0042 for Acme &amp; Sons is 12 days overdue: $734.50 outstanding, due Mar 31, 2026",
        [header("Invoice INV-0042 is 12 days overdue"),
         fields(("Client", "Acme &amp; Sons"), ("Outstanding", "$734.50"), ("Due", "Mar 31, 2026"),
                ("Days overdue", "12"))],
    ),
    "payment.create": (
        event("payment.create", **PAYMENT),
        "Payment received: $500.00 from Acme &amp; Sons for invoice INV-0042 (Credit Card)",
        [header("Payment received: $500.00"),
         fields(("Amount", "$500.00"), ("Client", "Acme &amp; Sons"), ("Invoice", "INV-0042"), ("Method", "Credit Card"))],
    ),
    "payment.update": (
        event("payment.update", **PAYMENT, changes={"amount": ["450", "500"], "payment_method": ["Cash", "Credit Card"]}),
        "Payment from Acme &amp; Sons for invoice INV-0042 updated: Amount: $450.00 → $500.00; "
        "Method: Cash → Credit Card",
        [header("Payment updated: $500.00"),
         fields(("Amount", "$500.00"), ("Client", "Acme &amp; Sons"), ("Invoice", "INV-0042"), ("Method", "Credit Card")),
         section("*What changed*\n• Amount: $450.00 → $500.00\n• Method: Cash → Credit Card")],
    ),
    "payment.delete": (
        event("payment.delete", **PAYMENT),
        "Payment of $500.00 from Acme &amp; Sons for invoice INV-0042 was deleted",
        [header("Payment deleted: $500.00"),
         fields(("Amount", "$500.00"), ("Client", "Acme &amp; Sons"), ("Invoice", "INV-0042"), ("Method", "Credit Card"))],
    ),
    "bill.create": (
        event("bill.create", **BILL),
        "New bill from Paper Co: $89.99, due Apr 15, 2026 (unpaid)",
        [header("New bill from Paper Co"),
         fields(("Vendor", "Paper Co"), ("Amount", "$89.99"), ("Due", "Apr 15, 2026"), ("Status", "unpaid"),
                ("Bill number", "B-17"))],
    ),
    "bill.update": (
        event("bill.update", **{**BILL, "status": "paid"}, changes={"status": ["unpaid", "paid"],
                                                                    "due_date": ["2026-04-15", None]}),
        "Bill from Paper Co updated: Status: unpaid → paid; Due date: Apr 15, 2026 → none",
        [header("Bill from Paper Co updated"),
         fields(("Vendor", "Paper Co"), ("Amount", "$89.99"), ("Due", "Apr 15, 2026"), ("Status", "paid"),
                ("Bill number", "B-17")),
         section("*What changed*\n• Status: unpaid → paid\n• Due date: Apr 15, 2026 → none")],
    ),
    "bill.delete": (
        event("bill.delete", **BILL),
        "Bill from Paper Co ($89.99) was deleted",
        [header("Bill from Paper Co deleted"),
         fields(("Vendor", "Paper Co"), ("Amount", "$89.99"), ("Bill number", "B-17"))],
    ),
    "expense.create": (
        event("expense.create", **EXPENSE),
        "Expense submitted: $42.10 at Uber (Travel), billable to Globex",
        [header("Expense submitted: Uber"),
         fields(("Vendor", "Uber"), ("Category", "Travel"), ("Amount", "$42.10"), ("Client", "Globex"))],
    ),
    "expense.update": (
        event("expense.update", **{**EXPENSE, "category": "Meals"}, changes={"category": ["Travel", "Meals"]}),
        "Expense at Uber updated: Category: Travel → Meals",
        [header("Expense at Uber updated"),
         fields(("Vendor", "Uber"), ("Category", "Meals"), ("Amount", "$42.10"), ("Client", "Globex")),
         section("*What changed*\n• Category: Travel → Meals")],
    ),
    "expense.delete": (
        event("expense.delete", **{**EXPENSE, "has_client": False}),
        "Expense of $42.10 at Uber was deleted",
        [header("Expense at Uber deleted"),
         fields(("Vendor", "Uber"), ("Category", "Travel"), ("Amount", "$42.10"))],
    ),
}


def test_every_supported_event_has_a_builder_and_a_case():
    assert set(BUILDERS) == set(SUPPORTED_EVENTS.values())
    assert set(CASES) == set(SUPPORTED_EVENTS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_builder_exact_output(name):
    given_event, expected_text, expected_body = CASES[name]

    text, blocks = build_message(given_event, business_name=BUSINESS)

    assert text == expected_text
    # An overdue invoice is exactly the one to send a reminder for: it carries the invoice buttons too.
    buttons = (INVOICE_BUTTONS if name in ("invoice.create", "invoice.sendByEmail", "invoice.update", "invoice.overdue")
               else BUTTON)
    assert blocks == [*expected_body, buttons, CONTEXT]


def test_note_is_prepended_to_text_and_blocks_with_mentions_kept():
    given_event = CASES["payment.create"][0]

    text, blocks = build_message(given_event, business_name=BUSINESS, note="@here <!subteam^S0FIN> check <this> & that")

    note = "<!here> <!subteam^S0FIN> check &lt;this&gt; &amp; that"
    assert text == f"{note} Payment received: $500.00 from Acme &amp; Sons for invoice INV-0042 (Credit Card)"
    assert blocks[0] == section(note)
    assert blocks[1] == header("Payment received: $500.00")


def test_a_client_name_cannot_ping_the_channel():
    text, blocks = build_message(event("invoice.create", counterparty="<!channel> Evil & Co"), business_name="A&B <x>")

    assert text == "New invoice for &lt;!channel&gt; Evil &amp; Co"
    assert blocks[1] == fields(("Client", "&lt;!channel&gt; Evil &amp; Co"))
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "A&amp;B &lt;x&gt; · FreshBooks"}]}
    assert blocks[0] == header("New invoice")  # plain_text shows text as is: no escaping there


def test_euro_and_yen_amounts():
    euro = event("payment.create", amount=Decimal("1234.5"), currency="EUR", counterparty="Café Noir")
    yen = event("invoice.create", amount=Decimal("150000.5"), currency="JPY", counterparty="Sakura KK",
                document_number="2026-7")

    euro_text, euro_blocks = build_message(euro, business_name=BUSINESS)
    yen_text, yen_blocks = build_message(yen, business_name=BUSINESS)

    assert euro_text == "Payment received: €1,234.50 from Café Noir"
    assert euro_blocks[:2] == [header("Payment received: €1,234.50"),
                               fields(("Amount", "€1,234.50"), ("Client", "Café Noir"))]
    assert yen_text == "New invoice 2026-7 for Sakura KK: ¥150,001"  # no minor unit; rounded half up
    assert yen_blocks[1] == fields(("Client", "Sakura KK"), ("Amount", "¥150,001"))


def test_a_3000_character_client_name_is_cut_everywhere_within_slacks_limits():
    name = "Acme & " * 428 + "Ltd"  # 3,000 characters with an ampersand every seven
    assert len(name) == 2999
    name += "!"

    text, blocks = build_message(event("invoice.create", **{**INVOICE, "counterparty": name}), business_name=BUSINESS)

    short = "Acme & " * 14 + "A…"  # 100 characters in a sentence
    assert len(short) == 100
    assert text == f"New invoice INV-0042 for {short.replace('&', '&amp;')}: $1,234.50"
    client_field = blocks[1]["fields"][0]["text"]
    assert client_field.startswith("*Client*\nAcme &amp; Acme &amp; ")
    assert client_field.endswith("…") and len(client_field) <= 2000
    assert len(client_field) > 1990  # it uses the room it has
    assert "&amp" not in client_field[-6:].replace("&amp;", "")  # never a broken escape at the cut
    assert blocks[0] == header("New invoice INV-0042")
    assert blocks[2:] == [INVOICE_BUTTONS, CONTEXT]


def test_a_long_vendor_is_cut_in_the_header():
    vendor = "V" * 3000

    _, blocks = build_message(event("bill.create", counterparty=vendor), business_name=BUSINESS)

    assert blocks[0] == header("New bill from " + "V" * 99 + "…")
    assert blocks[1]["fields"][0]["text"] == "*Vendor*\n" + "V" * (2000 - 9 - 1) + "…"


def test_many_changes_stay_in_one_section_with_a_count_of_the_rest():
    changes = {f"custom_field_{i}": ["x" * 400, "y" * 400] for i in range(20)}

    _, blocks = build_message(event("invoice.update", changes=changes), business_name=BUSINESS)

    assert blocks[0] == header("Invoice updated")
    what_changed = blocks[1]["text"]["text"]
    assert len(what_changed) <= 3000
    assert what_changed.startswith("*What changed*\n• Custom field 0: xxx")
    assert what_changed.count("\n• Custom field") == 5  # five lines of 500 characters fit
    assert what_changed.endswith("\n• …and 15 more")


def test_no_button_without_a_web_link():
    _, blocks = build_message(FinancialEvent(event_name="bill.delete", kind=Kind.BILL, action=Action.DELETED,
                                             object_id="9", link="javascript:alert(1)"), business_name=BUSINESS)

    assert blocks == [header("Bill deleted"), CONTEXT]


def test_follow_up_line_goes_above_the_buttons_and_replaces_an_earlier_one():
    _, blocks = build_message(CASES["invoice.create"][0], business_name=BUSINESS)

    once = with_follow_up(blocks, name="Dana <Ops>")
    twice = with_follow_up(once, name="Sam")

    line = {"type": "context", "block_id": "follow_up",
            "elements": [{"type": "mrkdwn", "text": "Sam is following this up"}]}
    assert twice == [*blocks[:-2], line, INVOICE_BUTTONS, CONTEXT]
    assert once[-3]["elements"][0]["text"] == "Dana &lt;Ops&gt; is following this up"


def test_fit_never_splits_an_escape():
    assert fit_mrkdwn("a<b<c", 7) == "a&lt;b…"
    assert fit_mrkdwn("a<b<c", 6) == "a&lt;…"
    assert fit_mrkdwn("a<b<c", 5) == "a…"
    assert fit_mrkdwn("short", 5) == "short"


def test_note_mrkdwn_keeps_only_real_mentions():
    assert note_mrkdwn("@channel and <@U123ABC> and <https://evil>") == \
        "<!channel> and <@U123ABC> and &lt;https://evil&gt;"
    assert note_mrkdwn("mail me at me@here.com") == "mail me at me@here.com"


def test_test_message():
    text, blocks = build_test_message(business_name="Beta & Co", sender="ann@example.com")

    assert text == ("ml-connector is connected: FreshBooks events for Beta &amp; Co will appear here when your "
                    "rules send them to this channel.")
    assert blocks == [section(text), {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "Test message sent by ann@example.com"}]}]


# Any text in any field: the message stays within Slack's limits and every escape is whole.
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=4000)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SUPPORTED_EVENTS)), counterparty=_text, number=_text, note=_text,
       business=_text, change=_text)
def test_any_input_respects_slack_limits(name, counterparty, number, note, business, change):
    kind, action = SUPPORTED_EVENTS[name]
    given_event = FinancialEvent(event_name=name, kind=kind, action=action, object_id="1", amount=Decimal("1"),
                                 currency="EUR", counterparty=counterparty, document_number=number,
                                 status=change, category=change, client_name=counterparty, has_client=True,
                                 payment_method=number, changes={"status": [change, counterparty]}, link=LINK)

    text, blocks = build_message(given_event, business_name=business, note=note)

    assert 0 < slack_length(text) <= 3000
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert 0 < slack_length(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert slack_length(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(slack_length(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "actions":
            assert slack_length(block["elements"][0]["text"]["text"]) <= 75
    # User data is escaped and every cut left escapes whole: outside the note, no raw < or >, and each &
    # starts &amp; &lt; or &gt;.
    note_text = note_mrkdwn(note) if note.strip() else ""
    mrkdwn = [text[len(note_text):] if note_text else text]
    for block in blocks[1:] if note_text else blocks:
        if block["type"] == "section":
            mrkdwn += [block["text"]["text"]] if "text" in block else [f["text"] for f in block["fields"]]
        if block["type"] == "context":
            mrkdwn += [e["text"] for e in block["elements"]]
    for piece in mrkdwn:
        assert "<" not in piece and ">" not in piece
        assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", piece, flags=re.S)
