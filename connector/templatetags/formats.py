"""The one place that says how the UI writes a moment and an amount.

- `{{ value|when }}`: "28 Nov 2026, 09:41 CET", in the active time zone (the tenant's: the tenant
  middleware activates it), in a <time> element carrying the ISO instant.
- `{{ value|ago }}`: "5 minutes ago", with the absolute form as its tooltip.
- `{{ amount|money:currency }}`: "1,250.00 USD", separators and the currency's own decimals (Babel).
Neither a time nor an amount ever wraps inside (app.css: time, .amount { white-space: nowrap }).
"""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency
from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

DATETIME_FORMAT = "j M Y, H:i T"  # 28 Nov 2026, 09:41 CET
MONEY_PATTERN = "#,##0.00 ¤¤"  # 1,250.00 USD (the ISO code, never an ambiguous "$")
MONEY_LOCALE = "en"


def absolute(value: datetime) -> str:
    return date_format(timezone.localtime(value) if timezone.is_aware(value) else value, DATETIME_FORMAT)


@register.filter
def when(value):
    if not isinstance(value, datetime):
        return "—" if value in (None, "") else value
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), absolute(value))


@register.filter
def ago(value):
    if not isinstance(value, datetime):
        return "—" if value in (None, "") else value
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), absolute(value),
                       naturaltime(value))


def money_text(amount, currency: str = "") -> str:
    try:
        number = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return str(amount)
    if not currency:  # an amount FreshBooks sent without a currency: separators, no code to guess
        return format_currency(number, "XXX", format="#,##0.00", locale=MONEY_LOCALE)
    return format_currency(number, currency, format=MONEY_PATTERN, locale=MONEY_LOCALE)


@register.filter
def money(amount, currency=""):
    if amount is None or amount == "":
        return "—"
    # class "amount": never wrapped inside (static/css/app.css), like <time>.
    return format_html('<span class="amount">{}</span>', money_text(amount, currency or ""))
