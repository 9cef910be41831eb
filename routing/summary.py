"""One line that says what a rule does, in plain words: "Invoice created ≥ 5,000.00 USD → #exec-alerts"."""

from decimal import Decimal

from connector.core.events import CARD_KINDS, EVENT_LABELS, SUPPORTED_EVENTS, Kind


def _amount(value: Decimal) -> str:
    return f"{value:,.2f}"


def _either(values: list[str]) -> str:
    return " or ".join(f'"{v}"' for v in values)


def rule_summary(rule, *, base_currency: str) -> str:
    ordered = [name for name in SUPPORTED_EVENTS if name in (rule.events or ())]
    text = ", ".join(EVENT_LABELS[name] for name in ordered) or "No events"
    currency = rule.effective_currency(base_currency)
    if rule.min_amount is not None and rule.max_amount is not None:
        text += f" {_amount(rule.min_amount)}–{_amount(rule.max_amount)} {currency}"
    elif rule.min_amount is not None:
        text += f" ≥ {_amount(rule.min_amount)} {currency}"
    elif rule.max_amount is not None:
        text += f" ≤ {_amount(rule.max_amount)} {currency}"
    elif rule.currency:
        text += f" in {rule.currency}"
    conditions = []
    if rule.counterparty_contains:
        conditions.append(f'client or vendor name contains "{rule.counterparty_contains}"')
    if rule.expense_categories_in:
        conditions.append(f"category {_either(rule.expense_categories_in)}")
    if rule.expense_categories_not_in:
        conditions.append(f"category not {_either(rule.expense_categories_not_in)}")
    if rule.has_client is True:
        conditions.append("expenses with a client")
    elif rule.has_client is False:
        conditions.append("expenses without a client")
    if rule.statuses:
        conditions.append(f"status {_either(rule.statuses)}")
    if rule.status_changed_only:
        conditions.append("updates only when the status changed")
    if conditions:
        text += "; " + "; ".join(conditions)
    text = f"{text} → #{rule.channel_name or rule.channel_id}"
    # Only invoices and bills (and payments on invoices) have cards: say how their later news arrives.
    if any(SUPPORTED_EVENTS[name][0] in (*CARD_KINDS, Kind.PAYMENT) for name in ordered):
        text += " (updates in the card's thread)" if rule.updates == "thread" else " (updates as new messages)"
    return text
