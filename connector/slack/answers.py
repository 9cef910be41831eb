"""What the app says back in Slack when people act: /freshbooks answers, ephemeral notes, the App Home view.

Pure functions from plain values to Slack payloads (ephemeral bodies, a `home` view), like messages.py:
user data escaped for mrkdwn and cut to Slack's limits.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connector.slack.messages import (
    CONTEXT_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    NAME_IN_SENTENCE_LIMIT,
    SECTION_TEXT_LIMIT,
    day,
    fit_mrkdwn,
    fit_plain,
    money,
)

COMMAND = "/freshbooks"
HOME_HELD_SHOWN = 10  # held deliveries listed on App Home (the dashboard has them all)
HOME_MAX_BLOCKS = 100  # views.publish: "up to 100 blocks"

HELP = (f"*{COMMAND}* answers from your FreshBooks invoices:\n"
        f"• `{COMMAND} unpaid`: the 10 largest unpaid invoices, with totals\n"
        f"• `{COMMAND} overdue`: invoices past their due date, with days overdue\n"
        f"• `{COMMAND} invoice <number>`: one invoice's current state\n"
        f"• `{COMMAND} help`: this list\n"
        "Only you see the answers.")


@dataclass(frozen=True)
class InvoiceLine:
    number: str
    client: str
    outstanding: Decimal
    amount: Decimal
    currency: str
    status: str
    due_date: date | None
    days_overdue: int = 0
    followed_by: str = ""
    link: str = ""


@dataclass(frozen=True)
class Total:
    currency: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class HeldLine:
    what: str  # "3 × #finance is archived"
    fix: str  # the one thing to do
    fix_url: str = ""  # where it is done, on the web app


def ephemeral(text: str) -> dict:
    """An answer only the person who asked sees; `text` is mrkdwn the caller escaped."""
    return {"response_type": "ephemeral", "text": text}


def _name(value: str) -> str:
    return fit_mrkdwn(value.strip(), NAME_IN_SENTENCE_LIMIT) if value.strip() else "no client name"


def _invoice_ref(line: InvoiceLine) -> str:
    return f"*{fit_mrkdwn(line.number, 40)}*" if line.number else "*(no number)*"


def _totals(totals: list[Total]) -> str:
    return ", ".join(f"{money(t.amount, t.currency)} on {t.count} invoice{'s' if t.count != 1 else ''}"
                     for t in totals) or "nothing"


def _freshness(as_of: str) -> str:
    return f"\n_As of {as_of}._" if as_of else ""


def unpaid_answer(lines: list[InvoiceLine], totals: list[Total], *, as_of: str) -> dict:
    if not lines:
        return {"response_type": "ephemeral", "text": "No unpaid invoices." + _freshness(as_of)}
    rows = [f"{_invoice_ref(line)} {_name(line.client)}: {money(line.outstanding, line.currency)} outstanding"
            + (f", due {day(line.due_date.isoformat())}" if line.due_date else "")
            + (f" (followed up by {fit_mrkdwn(line.followed_by, 60)})" if line.followed_by else "")
            for line in lines]
    text = (f"*Unpaid: {_totals(totals)}*\nLargest {len(lines)}:\n" + "\n".join(f"• {r}" for r in rows)
            + _freshness(as_of))
    return {"response_type": "ephemeral", "text": text[:SECTION_TEXT_LIMIT]}


def overdue_answer(lines: list[InvoiceLine], totals: list[Total], *, as_of: str) -> dict:
    if not lines:
        return {"response_type": "ephemeral", "text": "No overdue invoices." + _freshness(as_of)}
    rows = [f"{_invoice_ref(line)} {_name(line.client)}: {money(line.outstanding, line.currency)}, "
            f"{line.days_overdue} day{'s' if line.days_overdue != 1 else ''} overdue"
            + (f" (followed up by {fit_mrkdwn(line.followed_by, 60)})" if line.followed_by else "")
            for line in lines]
    text = (f"*Overdue: {_totals(totals)}*\nOldest {len(lines)}:\n" + "\n".join(f"• {r}" for r in rows)
            + _freshness(as_of))
    return {"response_type": "ephemeral", "text": text[:SECTION_TEXT_LIMIT]}


def invoice_answer(line: InvoiceLine, *, as_of: str) -> dict:
    parts = [f"{_invoice_ref(line)} for {_name(line.client)}: {line.status or 'unknown status'}",
             f"Total {money(line.amount, line.currency)}, outstanding {money(line.outstanding, line.currency)}"]
    if line.due_date:
        parts.append(f"Due {day(line.due_date.isoformat())}"
                     + (f" ({line.days_overdue} day{'s' if line.days_overdue != 1 else ''} overdue)"
                        if line.days_overdue > 0 else ""))
    if line.followed_by:
        parts.append(f"Followed up by {fit_mrkdwn(line.followed_by, 60)}")
    if line.link:
        parts.append(f"<{line.link}|Open in FreshBooks>")
    return {"response_type": "ephemeral", "text": "\n".join(parts) + _freshness(as_of)}


def home_view(*, business_name: str, outstanding: list[Total], overdue: list[Total], held: list[HeldLine],
              held_count: int, dashboard_url: str, as_of: str) -> dict:
    """The App Home tab: what is owed and overdue, what waits for a fix, and the way to the dashboard."""
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": fit_plain(business_name or "FreshBooks",
                                                                             HEADER_TEXT_LIMIT)}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Outstanding*\n{_totals(outstanding)}"},
            {"type": "mrkdwn", "text": f"*Overdue*\n{_totals(overdue)}"},
        ]},
    ]
    if as_of:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"As of {as_of}"}]})
    blocks.append({"type": "divider"})
    if held:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
            f"*{held_count} message{'s' if held_count != 1 else ''} waiting for a fix*")}})
        for line in held[:HOME_HELD_SHOWN]:
            link = f" (<{line.fix_url}|open>)" if line.fix_url.startswith(("https://", "http://")) else ""
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": fit_mrkdwn(
                f"{line.what}\nFix: {line.fix}", SECTION_TEXT_LIMIT - len(link)) + link}})
    else:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No message is waiting for a fix."}})
    if dashboard_url.startswith(("https://", "http://")):
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "action_id": "open_dashboard", "url": dashboard_url,
            "text": {"type": "plain_text", "text": "Open the dashboard"}}]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": fit_mrkdwn(
        f"Try {COMMAND} help in any channel.", CONTEXT_TEXT_LIMIT)}]})
    return {"type": "home", "blocks": blocks[:HOME_MAX_BLOCKS]}
