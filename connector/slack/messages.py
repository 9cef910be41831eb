"""Slack messages for financial events: pure functions from a FinancialEvent to (fallback text, blocks).

One small builder per (kind, action) in BUILDERS says what matters for that event (title, sentence,
fields); `build_message` lays every draft out the same way: optional note, header, fields, what
changed, buttons (Send reminder and Mine on invoices, a link to FreshBooks) and a context line with the business name. User data is escaped for
mrkdwn (&, <, >) and cut to Slack's limits with an ellipsis, never inside an escape.
"""

import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from connector.core.events import Action, FinancialEvent, Kind

# --- Slack's Block Kit limits (docs.slack.dev/reference/block-kit, confirmed by third parties) -----------
HEADER_TEXT_LIMIT = 150  # header block, plain_text
SECTION_TEXT_LIMIT = 3000  # section text
FIELD_TEXT_LIMIT = 2000  # each section field
MAX_FIELDS = 10  # fields per section
BUTTON_TEXT_LIMIT = 75  # button label
BUTTON_URL_LIMIT = 3000  # button url
CONTEXT_TEXT_LIMIT = 3000  # context element text
MAX_BLOCKS = 50  # blocks per message
# Our own limits, far below Slack's, so one long value cannot crowd out the rest of a message.
FALLBACK_TEXT_LIMIT = 3000  # notifications show a line or two; Slack's message text cap is 40,000
NAME_IN_SENTENCE_LIMIT = 100  # a client/vendor name inside a title or sentence
NOTE_LIMIT = 500  # a rule's note ("<!here> please check")
CHANGE_LINE_LIMIT = 500  # one "Status: sent → paid" line
BUSINESS_NAME_LIMIT = 200  # in the context line

LOCALE = "en_US"  # amount and date formatting
ELLIPSIS = "…"
ARROW = "→"
BUTTON_TEXT = "Open in FreshBooks"
BUTTON_ACTION_ID = "open_in_freshbooks"
BUTTON_VALUE_LIMIT = 2000  # button value
# Buttons people act with on invoice messages (contract action ids; the value is the FreshBooks invoice id).
SEND_REMINDER_ACTION_ID = "send_reminder"
SEND_REMINDER_TEXT = "Send reminder"
CLAIM_ACTION_ID = "claim"
CLAIM_TEXT = "Mine"
ACTIONS_BLOCK_ID = "invoice_actions"
FOLLOW_UP_BLOCK_ID = "follow_up"  # the context line saying who follows the invoice up


# --- Text helpers ----------------------------------------------------------------------------------

def slack_length(text: str) -> int:
    """Length in UTF-16 code units: never less than Slack's count, however it counts characters."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Escape the three characters mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(raw: str, limit: int, transform: Callable[[str], str]) -> str:
    whole = transform(raw)
    if slack_length(whole) <= limit:
        return whole
    budget = limit - slack_length(ELLIPSIS)
    pieces: list[str] = []
    used = 0
    for char in raw:  # cut between source characters, so an escape is kept whole or dropped whole
        piece = transform(char)
        size = slack_length(piece)
        if used + size > budget:
            break
        pieces.append(piece)
        used += size
    return "".join(pieces).rstrip() + ELLIPSIS


def fit_mrkdwn(raw: str, limit: int) -> str:
    """`raw` escaped for mrkdwn, at most `limit` characters (ending in an ellipsis when cut)."""
    return _cut(raw, limit, escape)


def fit_plain(raw: str, limit: int) -> str:
    """`raw` for a plain_text object (no escaping there), at most `limit` characters."""
    return _cut(raw, limit, lambda s: s)


def _short(name: str) -> str:
    return fit_plain(name.strip(), NAME_IN_SENTENCE_LIMIT)


def money(amount: Decimal | str | None, currency: str | None) -> str:
    """"$1,234.50", "€1,234.50", "¥1,235"; without a currency "1,234.50"."""
    if amount in (None, ""):
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    # Half up, as on an invoice (Babel would otherwise round half to even: ¥1,234 for 1234.5).
    with decimal.localcontext(rounding=decimal.ROUND_HALF_UP):
        if currency:
            try:
                return format_currency(value, currency.upper(), locale=LOCALE)
            except (ValueError, KeyError):
                pass
            return f"{format_decimal(value, format='#,##0.00', locale=LOCALE)} {currency.upper()}"
        return format_decimal(value, format="#,##0.00", locale=LOCALE)


def day(value: str | None) -> str:
    """"2026-03-05" -> "Mar 5, 2026"; anything unparseable is shown as given."""
    if not value:
        return ""
    try:
        return format_date(date.fromisoformat(str(value)[:10]), format="medium", locale=LOCALE)
    except ValueError:
        return str(value)


def _phrase(*parts: str | tuple[str, str]) -> str:
    """Join text; a (prefix, value) part appears only when value is not empty."""
    out = []
    for part in parts:
        if isinstance(part, tuple):
            prefix, value = part
            if value:
                out.append(prefix + value)
        else:
            out.append(part)
    return "".join(out)


# Mentions a rule's note may use; everything else in a note is escaped like user data.
_MENTION = re.compile(r"<(?:!here|!channel|!everyone|!subteam\^[A-Z0-9]+(?:\|[^<>]*)?|@[UW][A-Z0-9]+"
                      r"|#C[A-Z0-9]+(?:\|[^<>]*)?)>")
_BARE_MENTION = re.compile(r"(?<![\w<!])@(here|channel|everyone)\b")


def note_mrkdwn(note: str) -> str:
    """A rule's note as mrkdwn: Slack mentions kept (and "@here" made a real one), the rest escaped."""
    note = fit_plain(note.strip(), NOTE_LIMIT)
    out, last = [], 0
    for match in _MENTION.finditer(note):
        out.append(escape(note[last:match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(escape(note[last:]))
    return _BARE_MENTION.sub(lambda m: f"<!{m.group(1)}>", "".join(out))


# --- What changed (updates) ---------------------------------------------------------------------------

CHANGE_LABELS = {
    "status": "Status",
    "amount": "Amount",
    "outstanding": "Outstanding",
    "paid": "Paid",
    "due_date": "Due date",
    "issue_date": "Issue date",
    "date": "Date",
    "counterparty": "Name",
    "client": "Client",
    "vendor": "Vendor",
    "category": "Category",
    "document_number": "Number",
    "invoice_number": "Invoice number",
    "payment_method": "Method",
    "currency": "Currency",
    "notes": "Notes",
}
MONEY_FIELDS = {"amount", "outstanding", "paid", "total", "tax_amount", "discount_total"}
NO_VALUE = "none"


def _change_value(name: str, value, currency: str | None) -> str:
    if value in (None, ""):
        return NO_VALUE
    if isinstance(value, dict) and "amount" in value:  # FreshBooks money: {"amount": "1.00", "code": "USD"}
        return money(value.get("amount"), value.get("code") or currency)
    if name in MONEY_FIELDS:
        return money(value, currency)
    if name.endswith("date"):
        return day(str(value))
    return str(value)


def change_lines(event: FinancialEvent) -> list[str]:
    """["Status: sent → paid", ...], raw text, in the order the normaliser gave them."""
    lines = []
    for name, pair in event.changes.items():
        old, new = (list(pair) + [None, None])[:2] if isinstance(pair, (list, tuple)) else (None, pair)
        label = CHANGE_LABELS.get(name, name.replace("_", " ").capitalize())
        lines.append(f"{label}: {_change_value(name, old, event.currency)} {ARROW} "
                     f"{_change_value(name, new, event.currency)}")
    return lines


def _changes_section(lines: list[str]) -> str:
    head = "*What changed*"
    text = head
    for index, line in enumerate(lines):
        bullet = "\n• " + fit_mrkdwn(line, CHANGE_LINE_LIMIT)
        rest = len(lines) - index
        more = f"\n• …and {rest} more"
        if slack_length(text + bullet) + (slack_length(more) if rest > 1 else 0) > SECTION_TEXT_LIMIT:
            return text + more
        text += bullet
    return text


def _changes_sentence(lines: list[str]) -> str:
    return "; ".join(fit_plain(line, NAME_IN_SENTENCE_LIMIT) for line in lines)


# --- Drafts: what each event says ------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    title: str  # header (plain text)
    sentence: str  # the fallback text (raw; escaped when laid out)
    fields: list[tuple[str, str]] = field(default_factory=list)  # (label, raw value); empty values dropped
    show_changes: bool = False


def _amount(e: FinancialEvent) -> str:
    return money(e.amount, e.currency)


def _invoice_created(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("New invoice", (" ", e.document_number)),
        sentence=_phrase("New invoice", (" ", e.document_number), (" for ", _short(e.counterparty)),
                         (": ", _amount(e))),
        fields=[("Client", e.counterparty), ("Amount", _amount(e)), ("Status", e.status),
                ("Issued", day(e.issue_date)), ("Due", day(e.due_date))],
    )


def _invoice_sent(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Invoice", (" ", e.document_number), " sent"),
        sentence=_phrase("Invoice", (" ", e.document_number), " sent", (" to ", _short(e.counterparty)),
                         (": ", _amount(e)), (", due ", day(e.due_date))),
        fields=[("Client", e.counterparty), ("Amount", _amount(e)), ("Due", day(e.due_date))],
    )


def _invoice_updated(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Invoice", (" ", e.document_number), " updated"),
        sentence=_phrase("Invoice", (" ", e.document_number), (" for ", _short(e.counterparty)), " updated",
                         (": ", _changes_sentence(change_lines(e)))),
        fields=[("Client", e.counterparty), ("Amount", _amount(e)), ("Status", e.status),
                ("Due", day(e.due_date))],
        show_changes=True,
    )


def _invoice_deleted(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Invoice", (" ", e.document_number), " deleted"),
        sentence=_phrase("Invoice", (" ", e.document_number), (" for ", _short(e.counterparty)),
                         (" (", _amount(e) and _amount(e) + ")"), " was deleted"),
        fields=[("Client", e.counterparty), ("Amount", _amount(e))],
    )


def _days(count: int | None) -> str:
    return "" if count is None else f"{count} day{'' if count == 1 else 's'}"


def _invoice_overdue(e: FinancialEvent) -> Draft:
    overdue = f"{_days(e.days_overdue)} overdue" if e.days_overdue is not None else "overdue"
    outstanding = _amount(e) and f"{_amount(e)} outstanding"
    return Draft(
        title=_phrase("Invoice", (" ", e.document_number), " is ", overdue),
        sentence=_phrase("Invoice", (" ", e.document_number), (" for ", _short(e.counterparty)), " is ", overdue,
                         (": ", outstanding), (", due ", day(e.due_date))),
        fields=[("Client", e.counterparty), ("Outstanding", _amount(e)), ("Due", day(e.due_date)),
                ("Days overdue", "" if e.days_overdue is None else str(e.days_overdue))],
    )


def _payment_fields(e: FinancialEvent) -> list[tuple[str, str]]:
    return [("Amount", _amount(e)), ("Client", e.counterparty), ("Invoice", e.document_number),
            ("Method", e.payment_method)]


def _payment_received(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Payment received", (": ", _amount(e))),
        sentence=_phrase("Payment received", (": ", _amount(e)), (" from ", _short(e.counterparty)),
                         (" for invoice ", e.document_number),
                         (" (", e.payment_method and _short(e.payment_method) + ")")),
        fields=_payment_fields(e),
    )


def _payment_updated(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Payment updated", (": ", _amount(e))),
        sentence=_phrase("Payment", (" from ", _short(e.counterparty)), (" for invoice ", e.document_number),
                         " updated", (": ", _changes_sentence(change_lines(e)))),
        fields=_payment_fields(e),
        show_changes=True,
    )


def _payment_deleted(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Payment deleted", (": ", _amount(e))),
        sentence=_phrase("Payment", (" of ", _amount(e)), (" from ", _short(e.counterparty)),
                         (" for invoice ", e.document_number), " was deleted"),
        fields=_payment_fields(e),
    )


def _bill_fields(e: FinancialEvent) -> list[tuple[str, str]]:
    return [("Vendor", e.counterparty), ("Amount", _amount(e)), ("Due", day(e.due_date)), ("Status", e.status),
            ("Bill number", e.document_number)]


def _bill_posted(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("New bill", (" from ", _short(e.counterparty))),
        sentence=_phrase("New bill", (" from ", _short(e.counterparty)), (": ", _amount(e)),
                         (", due ", day(e.due_date)), (" (", e.status and e.status + ")")),
        fields=_bill_fields(e),
    )


def _bill_updated(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Bill", (" from ", _short(e.counterparty)), " updated"),
        sentence=_phrase("Bill", (" from ", _short(e.counterparty)), " updated",
                         (": ", _changes_sentence(change_lines(e)))),
        fields=_bill_fields(e),
        show_changes=True,
    )


def _bill_deleted(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Bill", (" from ", _short(e.counterparty)), " deleted"),
        sentence=_phrase("Bill", (" from ", _short(e.counterparty)), (" (", _amount(e) and _amount(e) + ")"),
                         " was deleted"),
        fields=[("Vendor", e.counterparty), ("Amount", _amount(e)), ("Bill number", e.document_number)],
    )


def _expense_fields(e: FinancialEvent) -> list[tuple[str, str]]:
    client = e.client_name if e.has_client else ""
    return [("Vendor", e.counterparty), ("Category", e.category), ("Amount", _amount(e)), ("Client", client)]


def _expense_billable(e: FinancialEvent) -> str:
    return _short(e.client_name) if e.has_client and e.client_name else ""


def _expense_submitted(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Expense submitted", (": ", _short(e.counterparty))),
        sentence=_phrase("Expense submitted", (": ", _amount(e)), (" at ", _short(e.counterparty)),
                         (" (", e.category and _short(e.category) + ")"), (", billable to ", _expense_billable(e))),
        fields=_expense_fields(e),
    )


def _expense_updated(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Expense", (" at ", _short(e.counterparty)), " updated"),
        sentence=_phrase("Expense", (" at ", _short(e.counterparty)), " updated",
                         (": ", _changes_sentence(change_lines(e)))),
        fields=_expense_fields(e),
        show_changes=True,
    )


def _expense_deleted(e: FinancialEvent) -> Draft:
    return Draft(
        title=_phrase("Expense", (" at ", _short(e.counterparty)), " deleted"),
        sentence=_phrase("Expense", (" of ", _amount(e)), (" at ", _short(e.counterparty)), " was deleted"),
        fields=_expense_fields(e),
    )


BUILDERS: dict[tuple[Kind, Action], Callable[[FinancialEvent], Draft]] = {
    (Kind.INVOICE, Action.CREATED): _invoice_created,
    (Kind.INVOICE, Action.SENT): _invoice_sent,
    (Kind.INVOICE, Action.UPDATED): _invoice_updated,
    (Kind.INVOICE, Action.DELETED): _invoice_deleted,
    (Kind.INVOICE, Action.OVERDUE): _invoice_overdue,
    (Kind.PAYMENT, Action.CREATED): _payment_received,
    (Kind.PAYMENT, Action.UPDATED): _payment_updated,
    (Kind.PAYMENT, Action.DELETED): _payment_deleted,
    (Kind.BILL, Action.CREATED): _bill_posted,
    (Kind.BILL, Action.UPDATED): _bill_updated,
    (Kind.BILL, Action.DELETED): _bill_deleted,
    (Kind.EXPENSE, Action.CREATED): _expense_submitted,
    (Kind.EXPENSE, Action.UPDATED): _expense_updated,
    (Kind.EXPENSE, Action.DELETED): _expense_deleted,
}


def _generic(e: FinancialEvent) -> Draft:
    """A (kind, action) without its own builder still gets a correct, readable message."""
    return Draft(title=e.label, sentence=_phrase(e.label, (": ", _amount(e)), (", ", _short(e.counterparty))),
                 fields=[("Name", e.counterparty), ("Amount", _amount(e)), ("Number", e.document_number),
                         ("Status", e.status)], show_changes=True)


# --- Layout ---------------------------------------------------------------------------------------------

def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def field_block(label: str, value: str) -> dict:
    prefix = f"*{label}*\n"
    return {"type": "mrkdwn", "text": prefix + fit_mrkdwn(value, FIELD_TEXT_LIMIT - slack_length(prefix))}


def business_context(business_name: str) -> dict:
    # At most 200 escaped characters plus the suffix: well within the context element's 3,000.
    name = business_name.strip()
    text = (fit_mrkdwn(name, BUSINESS_NAME_LIMIT) + " · FreshBooks") if name else "FreshBooks"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _link_button(link: str) -> dict | None:
    if not link.startswith(("https://", "http://")) or slack_length(link) > BUTTON_URL_LIMIT:
        return None
    return {"type": "button", "action_id": BUTTON_ACTION_ID, "url": link,
            "text": {"type": "plain_text", "text": fit_plain(BUTTON_TEXT, BUTTON_TEXT_LIMIT)}}


def _action_button(action_id: str, text: str, value: str) -> dict:
    return {"type": "button", "action_id": action_id, "value": value,
            "text": {"type": "plain_text", "text": fit_plain(text, BUTTON_TEXT_LIMIT)}}


def _actions(event: FinancialEvent) -> dict | None:
    """Send reminder and Mine on a live invoice's messages (whether money is still owed is checked when
    someone clicks: the message may be old), then the link to FreshBooks."""
    live_invoice = event.kind == Kind.INVOICE and event.action != Action.DELETED
    return actions_block(invoice_id=event.object_id if live_invoice else "", link=event.link)


def actions_block(*, invoice_id: str, link: str) -> dict | None:
    """The buttons: Send reminder and Mine for `invoice_id` (a live invoice; "" for none), then `link`."""
    elements = []
    if invoice_id and slack_length(invoice_id) <= BUTTON_VALUE_LIMIT:
        elements += [_action_button(SEND_REMINDER_ACTION_ID, SEND_REMINDER_TEXT, invoice_id),
                     _action_button(CLAIM_ACTION_ID, CLAIM_TEXT, invoice_id)]
    link = _link_button(link)
    if link:
        elements.append(link)
    if not elements:
        return None
    block = {"type": "actions", "elements": elements}
    return {**block, "block_id": ACTIONS_BLOCK_ID} if len(elements) > 1 else block


def with_follow_up(blocks: list[dict], *, name: str) -> list[dict]:
    """The message's blocks with a line saying `name` follows it up (replacing an earlier one), placed
    just above the buttons."""
    line = {"type": "context", "block_id": FOLLOW_UP_BLOCK_ID, "elements": [
        {"type": "mrkdwn", "text": fit_mrkdwn(f"{name} is following this up", CONTEXT_TEXT_LIMIT)}]}
    kept = [b for b in blocks if isinstance(b, dict) and b.get("block_id") != FOLLOW_UP_BLOCK_ID]
    at = next((i for i, b in enumerate(kept) if b.get("type") == "actions"), len(kept))
    return (kept[:at] + [line] + kept[at:])[:MAX_BLOCKS]


def _fallback(note: str, sentence: str) -> str:
    prefix = f"{note} " if note else ""
    return prefix + fit_mrkdwn(sentence, FALLBACK_TEXT_LIMIT - slack_length(prefix))


def build_message(event: FinancialEvent, *, business_name: str, note: str = "") -> tuple[str, list[dict]]:
    """(fallback text, Block Kit blocks) for one event. Pure: the same input gives the same output."""
    draft = BUILDERS.get((event.kind, event.action), _generic)(event)
    note_text = note_mrkdwn(note) if note and note.strip() else ""
    blocks: list[dict] = []
    if note_text:
        blocks.append(section(note_text))
    blocks.append({"type": "header", "text": {"type": "plain_text", "emoji": True,
                                              "text": fit_plain(draft.title, HEADER_TEXT_LIMIT)}})
    fields = [field_block(label, value) for label, value in draft.fields if value][:MAX_FIELDS]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    lines = change_lines(event) if draft.show_changes else []
    if lines:
        blocks.append(section(_changes_section(lines)))
    actions = _actions(event)
    if actions:
        blocks.append(actions)
    blocks.append(business_context(business_name))
    return _fallback(note_text, draft.sentence), blocks[:MAX_BLOCKS]


def build_test_message(*, business_name: str, sender: str = "") -> tuple[str, list[dict]]:
    """The "Send test message" post: says where events will appear and who asked."""
    text = fit_mrkdwn(f"ml-connector is connected: FreshBooks events for {business_name} will appear here "
                      f"when your rules send them to this channel.", SECTION_TEXT_LIMIT)
    blocks = [section(text)]
    if sender:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": fit_mrkdwn(f"Test message sent by {sender}", CONTEXT_TEXT_LIMIT)}]})
    return text, blocks
