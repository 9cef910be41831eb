"""The digest message: a pure function from a DigestReport to (fallback text, Block Kit blocks).

Figures per currency, exact to the cent; user data escaped for mrkdwn; every text cut to Slack's limits
(the same limits and helpers as connector.slack.messages)."""

from datetime import datetime

from connector.core.digest import DigestReport, Total
from connector.slack.messages import (
    CONTEXT_TEXT_LIMIT,
    FALLBACK_TEXT_LIMIT,
    FIELD_TEXT_LIMIT,
    HEADER_TEXT_LIMIT,
    MAX_BLOCKS,
    NAME_IN_SENTENCE_LIMIT,
    SECTION_TEXT_LIMIT,
    day,
    escape,
    fit_mrkdwn,
    fit_plain,
    money,
    slack_length,
)

MAX_CURRENCY_LINES = 8  # currencies listed per figure; the rest are counted ("…and 3 more currencies")
BUSINESS_NAME_LIMIT = 200
NONE = "None"


def _moment(value: datetime) -> str:
    return f"{day(value.date().isoformat())} {value:%H:%M}"


def _count_and_sum(total: Total) -> str:
    return f"{total.count} · {money(total.amount, total.currency)}"


def _lines(totals: list[Total]) -> list[str]:
    lines = [_count_and_sum(t) for t in totals[:MAX_CURRENCY_LINES]]
    if len(totals) > MAX_CURRENCY_LINES:
        lines.append(f"…and {len(totals) - MAX_CURRENCY_LINES} more currencies")
    return lines or [NONE]


def _field(label: str, totals: list[Total]) -> dict:
    prefix = f"*{label}*\n"
    body = "\n".join(_lines(totals))  # our own figures: nothing to escape
    return {"type": "mrkdwn", "text": prefix + fit_mrkdwn(body, FIELD_TEXT_LIMIT - slack_length(prefix))}


def _sums(totals: list[Total]) -> str:
    return " + ".join(money(t.amount, t.currency) for t in totals[:MAX_CURRENCY_LINES]) + (
        f" + {len(totals) - MAX_CURRENCY_LINES} more currencies" if len(totals) > MAX_CURRENCY_LINES else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _overdue_section(report: DigestReport) -> str:
    if report.overdue_unavailable:
        return fit_mrkdwn(f"*Overdue now*: could not be read from FreshBooks ({report.overdue_unavailable})",
                          SECTION_TEXT_LIMIT)
    if not report.overdue_count:
        return "*Overdue now*: none"
    text = f"*Overdue now*: {_plural(report.overdue_count, 'invoice')}, {_sums(report.overdue_totals)} outstanding"
    if report.overdue_oldest:
        text += "\n_Oldest:_"
    for line in report.overdue_oldest:
        number = line.invoice_number or "(no number)"
        who = fit_mrkdwn(line.counterparty, NAME_IN_SENTENCE_LIMIT) if line.counterparty else ""
        bullet = (f"\n• {escape(number)}{' · ' + who if who else ''} · {money(line.outstanding, line.currency)}"
                  f" · {_plural(line.days_overdue, 'day')} overdue (due {day(line.due_date.isoformat())})")
        if slack_length(text + bullet) > SECTION_TEXT_LIMIT:
            break
        text += bullet
    return text


def _held_text(report: DigestReport) -> str:
    if not report.held_count:
        return "none"
    reasons = ", ".join(f"{reason}: {count}" for reason, count in report.held_reasons)
    return f"{report.held_count} need{'s' if report.held_count == 1 else ''} a fix" + (
        f" ({reasons})" if reasons else "")


def _summary(totals: list[Total]) -> str:
    count = sum(t.count for t in totals)
    return f"{count} ({_sums(totals)})" if count else "none"


def build_digest_message(report: DigestReport, *, business_name: str) -> tuple[str, list[dict]]:
    """(fallback text, blocks) for one digest. Pure: the same report gives the same message."""
    period = (f"{_moment(report.period_start)} – {_moment(report.period_end)} ({report.time_zone})")
    overdue = ("could not be read from FreshBooks" if report.overdue_unavailable else
               f"{report.overdue_count} ({_sums(report.overdue_totals)} outstanding)" if report.overdue_count
               else "none")
    sentence = (f"{report.title}, {period}: payments received {_summary(report.payments)}; invoices created "
                f"{_summary(report.invoices)}; bills {_summary(report.bills)}; expenses "
                f"{_summary(report.expenses)}; overdue now {overdue}; held deliveries {_held_text(report)}.")
    name = business_name.strip()
    footer = (fit_mrkdwn(name, BUSINESS_NAME_LIMIT) + " · FreshBooks digest") if name else "FreshBooks digest"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                    "text": fit_plain(report.title, HEADER_TEXT_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit_mrkdwn(period, CONTEXT_TEXT_LIMIT)}]},
        {"type": "section", "fields": [_field("Payments received", report.payments),
                                       _field("Invoices created", report.invoices),
                                       _field("Bills", report.bills), _field("Expenses", report.expenses)]},
        {"type": "section", "text": {"type": "mrkdwn", "text": _overdue_section(report)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": fit_mrkdwn(
            f"*Held deliveries*: {_held_text(report)}", SECTION_TEXT_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
    ]
    return fit_mrkdwn(sentence, FALLBACK_TEXT_LIMIT), blocks[:MAX_BLOCKS]
