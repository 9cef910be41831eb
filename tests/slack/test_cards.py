"""connector.slack.cards: what a card shows and the one line each change adds to its thread (pure)."""

from decimal import Decimal

from connector.core.events import Action, DocumentState, FinancialEvent, Kind
from connector.slack.cards import build_card, build_reply, card_change

BEFORE = DocumentState(kind=Kind.INVOICE, document_id="77", number="0042", counterparty="Acme & Sons",
                       currency="EUR", total=Decimal("2000"), paid=Decimal("0"), outstanding=Decimal("2000"),
                       status="sent", due_date="2026-12-28", last_change="Invoice created")


def event(name, kind, action, **fields):
    return FinancialEvent(event_name=name, kind=kind, action=action, object_id="77", currency="EUR", **fields)


def test_the_card_shows_the_current_state_and_the_last_change():
    text, blocks = build_card(BEFORE, business_name="Bakery")
    assert text == "Invoice 0042 for Acme &amp; Sons, €2,000.00, Sent, €2,000.00 outstanding"
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == ["*Client*\nAcme &amp; Sons", "*Status*\nSent", "*Total*\n€2,000.00", "*Paid*\n€0.00",
                      "*Outstanding*\n€2,000.00", "*Due*\nDec 28, 2026"]
    assert blocks[2]["elements"][0]["text"] == "Last change: Invoice created"
    assert [e["action_id"] for e in blocks[3]["elements"]] == ["send_reminder", "claim"]


def test_a_deleted_invoice_has_no_buttons_and_says_so():
    _, blocks = build_card(DocumentState(**{**BEFORE.__dict__, "deleted": True}), business_name="Bakery")
    assert blocks[0]["text"]["text"] == "Invoice 0042 for Acme & Sons (deleted)"
    assert not any(b["type"] == "actions" for b in blocks)


def test_each_change_a_person_reads_is_one_line():
    paid = DocumentState(**{**BEFORE.__dict__, "status": "paid", "paid": Decimal("2000"), "outstanding": Decimal(0)})
    payment = event("payment.create", Kind.PAYMENT, Action.CREATED, amount=Decimal("2000"),
                    payment_method="Bank Transfer")
    assert card_change(payment, BEFORE, paid).__dict__ == {
        "line": "Payment of €2,000.00 by bank transfer, paid in full", "reply": True, "broadcast": True}
    sent = card_change(event("invoice.sendByEmail", Kind.INVOICE, Action.SENT), BEFORE, BEFORE)
    assert (sent.line, sent.reply, sent.broadcast) == ("Sent by email to Acme & Sons", True, False)
    overdue = card_change(event("invoice.overdue", Kind.INVOICE, Action.OVERDUE, days_overdue=1), BEFORE, BEFORE)
    assert (overdue.line, overdue.reply) == ("Overdue by 1 day, €2,000.00 outstanding", True)
    deleted = card_change(event("invoice.delete", Kind.INVOICE, Action.DELETED), BEFORE, BEFORE)
    assert (deleted.line, deleted.reply) == ("Invoice deleted", True)
    assert build_reply("Invoice <deleted>")[0] == "Invoice &lt;deleted&gt;"


def test_an_update_without_a_status_change_only_edits_and_one_that_changes_nothing_shown_keeps_the_line():
    bigger = DocumentState(**{**BEFORE.__dict__, "total": Decimal("2100"), "outstanding": Decimal("2100")})
    update = event("invoice.update", Kind.INVOICE, Action.UPDATED, changes={"amount": ["2000", "2100"]})
    change = card_change(update, BEFORE, bigger)
    assert (change.line, change.reply) == ("Updated: Amount: €2,000.00 → €2,100.00", False)
    again = event("invoice.update", Kind.INVOICE, Action.UPDATED, changes={"status": ["sent", "sent"]})
    same = card_change(again, BEFORE, BEFORE)
    assert (same.line, same.reply) == ("Invoice created", False)
