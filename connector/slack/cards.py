"""Living cards: pure functions for an invoice's or bill's card (its current state) and the one-line replies
in its thread. Amounts and dates are formatted as in every other message (connector.slack.messages)."""

from dataclasses import dataclass

from connector.core.events import Action, DocumentState, FinancialEvent, Kind
from connector.slack.messages import (
    CONTEXT_TEXT_LIMIT,
    FALLBACK_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    NAME_IN_SENTENCE_LIMIT,
    SECTION_TEXT_LIMIT,
    actions_block,
    business_context,
    change_lines,
    day,
    field_block,
    fit_mrkdwn,
    fit_plain,
    money,
    note_mrkdwn,
    section,
)

NOUN = {Kind.INVOICE: "Invoice", Kind.BILL: "Bill"}
PARTY = {Kind.INVOICE: "Client", Kind.BILL: "Vendor"}
# Change lines of fields the card shows: they are on the card itself, the last change line names the others.
SHOWN_CHANGES = {"amount", "currency", "counterparty", "document_number", "status", "due_date"}


def _status(word: str) -> str:
    return word[:1].upper() + word[1:] if word else ""


def _title(state: DocumentState) -> str:
    name = fit_plain(state.counterparty.strip(), NAME_IN_SENTENCE_LIMIT) if state.counterparty.strip() else ""
    if state.kind == Kind.BILL:
        title = "Bill" + (f" {state.number}" if state.number else "") + (f" from {name}" if name else "")
    else:
        title = "Invoice" + (f" {state.number}" if state.number else "") + (f" for {name}" if name else "")
    return title + (" (deleted)" if state.deleted else "")


def _fallback(state: DocumentState) -> str:
    parts = [_title(state)]
    if state.total is not None:
        parts.append(money(state.total, state.currency))
    if state.status:
        parts.append(_status(state.status))
    if state.outstanding is not None and not state.deleted:
        parts.append(f"{money(state.outstanding, state.currency)} outstanding")
    return ", ".join(parts)


def build_card(state: DocumentState, *, business_name: str, note: str = "") -> tuple[str, list[dict]]:
    """(fallback text, blocks) of a card: what the document is now (status, total, paid, outstanding, due
    date), its last change, and the invoice buttons while it is live. Pure."""
    blocks: list[dict] = []
    note_text = note_mrkdwn(note) if note and note.strip() else ""
    if note_text:
        blocks.append(section(note_text))
    blocks.append({"type": "header", "text": {"type": "plain_text", "emoji": True,
                                              "text": fit_plain(_title(state), HEADER_TEXT_LIMIT)}})
    fields = [(PARTY.get(state.kind, "Name"), state.counterparty), ("Status", _status(state.status)),
              ("Total", money(state.total, state.currency)), ("Paid", money(state.paid, state.currency)),
              ("Outstanding", money(state.outstanding, state.currency)), ("Due", day(state.due_date))]
    shown = [field_block(label, value) for label, value in fields if value]
    if shown:
        blocks.append({"type": "section", "fields": shown})
    if state.last_change:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": fit_mrkdwn(f"Last change: {state.last_change}", CONTEXT_TEXT_LIMIT)}]})
    live_invoice = state.kind == Kind.INVOICE and not state.deleted
    actions = actions_block(invoice_id=state.document_id if live_invoice else "", link=state.link)
    if actions:
        blocks.append(actions)
    blocks.append(business_context(business_name))
    prefix = f"{note_text} " if note_text else ""
    return prefix + fit_mrkdwn(_fallback(state), FALLBACK_TEXT_LIMIT - len(prefix)), blocks


def build_reply(line: str) -> tuple[str, list[dict]]:
    """(text, blocks) of a reply in a card's thread: one short line."""
    text = fit_mrkdwn(line, SECTION_TEXT_LIMIT)
    return text, [section(text)]


@dataclass(frozen=True)
class CardChange:
    """What one event does to a card: the line naming the change, whether a person should read it (a reply
    in the thread) and whether the reply is also shown in the channel (a payment settling the document)."""

    line: str
    reply: bool
    broadcast: bool = False


def _payment_line(event: FinancialEvent, after: DocumentState) -> str:
    method = f" by {event.payment_method.strip().lower()}" if event.payment_method.strip() else ""
    amount = money(event.amount, event.currency or after.currency)
    verb = {Action.UPDATED: "updated", Action.DELETED: "deleted"}.get(event.action, "")
    head = f"Payment of {amount}{method}" + (f" {verb}" if verb else "")
    if after.settled:
        return f"{head}, paid in full"
    if after.outstanding is not None:
        return f"{head}, {money(after.outstanding, after.currency)} outstanding"
    return head


def card_change(event: FinancialEvent, before: DocumentState, after: DocumentState) -> CardChange:
    """How `event` changes a card that showed `before` and now shows `after` (the event's own state)."""
    noun = NOUN.get(after.kind, "Document")
    if event.kind == Kind.PAYMENT:
        settles = after.settled and not before.settled
        return CardChange(_payment_line(event, after), reply=True, broadcast=settles and event.action == Action.CREATED)
    if event.action == Action.DELETED:
        return CardChange(f"{noun} deleted", reply=True)
    if event.action == Action.SENT:
        to = fit_plain(after.counterparty.strip(), NAME_IN_SENTENCE_LIMIT)
        return CardChange("Sent by email" + (f" to {to}" if to else ""), reply=True)
    if event.action == Action.OVERDUE:
        days = event.days_overdue
        overdue = f"Overdue by {days} day{'' if days == 1 else 's'}" if days is not None else "Overdue"
        outstanding = money(after.outstanding if after.outstanding is not None else event.amount, after.currency)
        return CardChange(f"{overdue}, {outstanding} outstanding" if outstanding else overdue, reply=True)
    if after.status != before.status and before.status:
        return CardChange(f"Status changed from {_status(before.status)} to {_status(after.status)}", reply=True,
                          broadcast=after.settled and not before.settled)
    lines = change_lines(event)
    unshown = [line for line, name in zip(lines, event.changes, strict=True) if name not in SHOWN_CHANGES]
    if after.shown() != before.shown():
        return CardChange("Updated" + (": " + "; ".join(lines) if lines else ""), reply=False)
    if unshown:
        return CardChange("Updated: " + "; ".join(unshown), reply=False)
    return CardChange(before.last_change, reply=False)  # nothing new to show: the card stays as it is
