"""Currencies people can pick: the ISO 4217 codes in legal use today (Babel's CLDR data), with their names.

Babel's full list (list_currencies) also holds withdrawn codes (ADP, AFA ...) and special ones (XTS, the
testing code; XAU, gold): none of them is an invoice's currency, so none is offered."""

from datetime import date
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_name, get_territory_currencies


@cache
def current_currencies() -> tuple[str, ...]:
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, date.today(), tender=True))
    return tuple(sorted(codes))


def currency_label(code: str) -> str:
    return f"{code} · {get_currency_name(code, locale='en')}"


def currency_choices(first: list[str] | tuple[str, ...] = ()) -> list:
    """Grouped choices: the given codes (the tenant's own) first, then every current currency. A code in
    `first` that is no longer current (a tenant's old setting) stays offered there, so it can be kept."""
    mine = list(dict.fromkeys(code for code in first if code))
    rest = [code for code in current_currencies() if code not in mine]
    everything = [(code, currency_label(code)) for code in rest]
    if not mine:
        return everything
    return [("Yours", [(code, currency_label(code)) for code in mine]), ("All currencies", everything)]
