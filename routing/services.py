"""Writes of routing rules: validation shared by the web form and the API, create, change, delete,
the starter set, and the activity log entries and signal that go with them."""

from decimal import Decimal, InvalidOperation

from babel.numbers import list_currencies
from django.db import transaction
from django.db.models import Max

from audit.activity import activity_record
from connector.core.changes import changes_apply
from connector.core.errors import ApplicationError, FieldErrors
from connector.core.events import SUPPORTED_EVENTS, Action, Kind
from routing.channels import channel_chosen
from routing.models import (
    AMOUNT_DECIMAL_PLACES,
    AMOUNT_MAX_DIGITS,
    COUNTERPARTY_MAX_LENGTH,
    NAME_MAX_LENGTH,
    NOTE_MAX_LENGTH,
    POSITION_MAX,
    Rule,
    Updates,
)
from routing.signals import rule_channel_changed
from routing.summary import rule_summary
from tenants.models import Tenant

KNOWN_CURRENCIES = frozenset(list_currencies())
LIST_ITEM_MAX_LENGTH = 100  # one expense category or status word
LIST_MAX_ITEMS = 50  # categories or statuses one rule may name
STARTER_EXEC_THRESHOLD = Decimal("5000")  # "invoices of 5,000 or more to #exec-alerts" (product brief)
STARTER_EVENTS = ["invoice.create", "payment.create", "bill.create"]
STARTER_EXEC_EVENTS = ["invoice.create"]

# What a caller may set; anything else in `data` is ignored.
RULE_FIELDS = (
    "name", "enabled", "events", "min_amount", "max_amount", "currency", "counterparty_contains",
    "expense_categories_in", "expense_categories_not_in", "has_client", "statuses", "status_changed_only",
    "channel_id", "note", "position", "updates",
)
EXPENSE_EVENTS = frozenset(name for name, (kind, _) in SUPPORTED_EVENTS.items() if kind == Kind.EXPENSE)
UPDATE_EVENTS = frozenset(name for name, (_, action) in SUPPORTED_EVENTS.items() if action == Action.UPDATED)

VALIDATION_ERROR = "Validation error"  # the message of every refusal with field errors (as connector.core.api)



def _text(value, *, name: str, max_length: int, errors: FieldErrors) -> str:
    value = "" if value is None else str(value).strip()
    if len(value) > max_length:
        errors.add(name, f"Keep this to {max_length} characters or fewer.")
    return value


def _amount(value, *, name: str, errors: FieldErrors) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        errors.add(name, "Enter an amount such as 5000 or 5000.00.")
        return None
    if not amount.is_finite():
        errors.add(name, "Enter an amount such as 5000 or 5000.00.")
        return None
    if amount < 0:
        errors.add(name, "Amounts cannot be negative.")
        return None
    if amount != amount.quantize(Decimal(1).scaleb(-AMOUNT_DECIMAL_PLACES)):
        errors.add(name, f"Use at most {AMOUNT_DECIMAL_PLACES} decimal places.")
        return None
    if amount >= Decimal(10) ** (AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES):
        errors.add(name, "That amount is too large.")
        return None
    return amount


def _words(value, *, name: str, errors: FieldErrors) -> list[str]:
    """A list of short texts (categories, statuses), stripped, without blanks or repeats."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        errors.add(name, "Give a list of names.")
        return []
    words, seen = [], set()
    for item in value:
        word = str(item).strip()
        if not word or word.casefold() in seen:
            continue
        if len(word) > LIST_ITEM_MAX_LENGTH:
            errors.add(name, f"Keep each name to {LIST_ITEM_MAX_LENGTH} characters or fewer.")
            return []
        seen.add(word.casefold())
        words.append(word)
    if len(words) > LIST_MAX_ITEMS:
        errors.add(name, f"Name at most {LIST_MAX_ITEMS}.")
    return words


def _events(value, *, errors: FieldErrors) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        errors.add("events", "Give a list of FreshBooks event names.")
        return []
    unknown = [str(v) for v in value if not (isinstance(v, str) and v in SUPPORTED_EVENTS)]
    if unknown:
        errors.add("events", f"Unknown event: {', '.join(unknown)}. Known: {', '.join(SUPPORTED_EVENTS)}.")
    if not value:
        errors.add("events", "Choose at least one event.")
    return [name for name in SUPPORTED_EVENTS if name in value]  # canonical order, no repeats


def _bool(value, *, name: str, errors: FieldErrors, nullable: bool = False) -> bool | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool):
        return value
    errors.add(name, "Choose yes or no.")
    return None


def rule_build(*, tenant: Tenant, data: dict, rule: Rule | None = None) -> Rule:
    """A validated, unsaved rule: a new one from `data`, or `rule` (not modified) with `data` applied.

    Keys absent from `data` keep the rule's value (or the default for a new rule). Raises ApplicationError
    ("Validation error", {"fields": {name: [message, ...]}}) listing every problem at once.
    """
    if rule is not None and rule.tenant_id != tenant.pk:
        raise ApplicationError("Not found.", status=404)
    draft = Rule(tenant=tenant) if rule is None else Rule(**{
        f.attname: getattr(rule, f.attname) for f in Rule._meta.concrete_fields
    })
    draft._state.adding = rule is None
    errors = FieldErrors()
    given = {k: v for k, v in data.items() if k in RULE_FIELDS}

    if "name" in given or rule is None:
        draft.name = _text(given.get("name"), name="name", max_length=NAME_MAX_LENGTH, errors=errors)
        if not draft.name:
            errors.add("name", "Give the rule a name.")
    if "enabled" in given:
        draft.enabled = _bool(given["enabled"], name="enabled", errors=errors)
    if "events" in given or rule is None:
        draft.events = _events(given.get("events", []), errors=errors)
    for name in ("min_amount", "max_amount"):
        if name in given:
            setattr(draft, name, _amount(given[name], name=name, errors=errors))
    if "currency" in given:
        currency = (given["currency"] or "").strip().upper() or None
        if currency is not None and currency not in KNOWN_CURRENCIES:
            errors.add("currency", f"Unknown currency code: {currency}. Use an ISO 4217 code such as USD.")
        draft.currency = currency
    if "counterparty_contains" in given:
        draft.counterparty_contains = _text(given["counterparty_contains"], name="counterparty_contains",
                                            max_length=COUNTERPARTY_MAX_LENGTH, errors=errors)
    for name in ("expense_categories_in", "expense_categories_not_in", "statuses"):
        if name in given:
            setattr(draft, name, _words(given[name], name=name, errors=errors))
    if "has_client" in given:
        draft.has_client = _bool(given["has_client"], name="has_client", errors=errors, nullable=True)
    if "status_changed_only" in given:
        draft.status_changed_only = bool(_bool(given["status_changed_only"], name="status_changed_only",
                                               errors=errors))
    if "note" in given:
        draft.note = _text(given["note"], name="note", max_length=NOTE_MAX_LENGTH, errors=errors)
    if "updates" in given:
        if given["updates"] in Updates.values:
            draft.updates = given["updates"]
        else:
            errors.add("updates", f"Choose {' or '.join(repr(v) for v in Updates.values)}.")
    if "position" in given and given["position"] is not None:
        if (not isinstance(given["position"], int) or isinstance(given["position"], bool)
                or not 0 <= given["position"] <= POSITION_MAX):
            errors.add("position", f"Use a whole number from 0 to {POSITION_MAX}.")
        else:
            draft.position = given["position"]
    if "channel_id" in given or rule is None:
        channel = channel_chosen(tenant=tenant, given=given, errors=errors,
                                 current_channel_id=rule.channel_id if rule else None)
        if channel is not None:
            draft.channel_id, draft.channel_name = channel

    # Conditions that relate fields: only when the fields themselves are valid.
    if draft.min_amount is not None and draft.max_amount is not None and draft.min_amount > draft.max_amount \
            and "min_amount" not in errors and "max_amount" not in errors:
        errors.add("max_amount", "The maximum must not be below the minimum.")
    if "events" not in errors:
        covers_expenses = bool(EXPENSE_EVENTS.intersection(draft.events))
        for name, value in (("expense_categories_in", draft.expense_categories_in),
                            ("expense_categories_not_in", draft.expense_categories_not_in),
                            ("has_client", draft.has_client)):
            if value not in (None, []) and not covers_expenses and name not in errors:
                errors.add(name, "This applies to expenses only: choose an expense event too, or clear it.")
        if draft.status_changed_only and not UPDATE_EVENTS.intersection(draft.events):
            errors.add("status_changed_only",
                       "This applies to update events only: choose an “updated” event too, or clear it.")
    both = {c.casefold() for c in draft.expense_categories_in} & {c.casefold() for c in
                                                                  draft.expense_categories_not_in}
    if both and "expense_categories_not_in" not in errors:
        errors.add("expense_categories_not_in", "A category cannot be both wanted and excluded.")
    if errors:
        raise ApplicationError(VALIDATION_ERROR, {"fields": dict(errors)})
    return draft


SNAPSHOT_FIELDS = (*RULE_FIELDS, "channel_name")  # what an edit may change, as the activity log records it


def _snapshot(rule: Rule) -> dict:
    return {name: getattr(rule, name) for name in SNAPSHOT_FIELDS}


@transaction.atomic
def rule_create(*, tenant: Tenant, actor, data: dict) -> Rule:
    rule = rule_build(tenant=tenant, data=data)
    if data.get("position") is None:
        last = Rule.objects.for_tenant(tenant).aggregate(last=Max("position"))["last"]
        rule.position = 0 if last is None else last + 1
    rule.save()
    activity_record(tenant=tenant, actor=actor, action="rule.created", target=rule.name,
                    details={"rule_id": rule.pk, "summary": rule_summary(rule, base_currency=tenant.base_currency),
                             "rule": _snapshot(rule)})
    return rule


@transaction.atomic
def rule_update(*, tenant: Tenant, actor, rule: Rule, data: dict) -> Rule:
    """Applies `data` to the rule. A changed channel sends rule_channel_changed once committed."""
    draft = rule_build(tenant=tenant, data=data, rule=rule)
    changes = changes_apply(target=rule, draft=draft, snapshot=_snapshot, fields=SNAPSHOT_FIELDS)
    if not changes:
        return rule
    rule.save()
    activity_record(tenant=tenant, actor=actor, action="rule.changed", target=rule.name,
                    details={"rule_id": rule.pk, "changes": changes})
    if "channel_id" in changes:
        old_channel_id = changes["channel_id"][0]
        transaction.on_commit(lambda: rule_channel_changed.send(
            sender=Rule, tenant=tenant, rule=rule, old_channel_id=old_channel_id,
            new_channel_id=rule.channel_id, new_channel_name=rule.channel_name,
        ))
    return rule


def rule_set_enabled(*, tenant: Tenant, actor, rule: Rule, enabled: bool) -> Rule:
    return rule_update(tenant=tenant, actor=actor, rule=rule, data={"enabled": enabled})


@transaction.atomic
def rule_delete(*, tenant: Tenant, actor, rule: Rule) -> None:
    if rule.tenant_id != tenant.pk:
        raise ApplicationError("Not found.", status=404)
    details = {"rule_id": rule.pk, "summary": rule_summary(rule, base_currency=tenant.base_currency)}
    name = rule.name
    rule.delete()
    activity_record(tenant=tenant, actor=actor, action="rule.deleted", target=name, details=details)


@transaction.atomic
def rule_starter_create(*, tenant: Tenant, actor, accounting_channel_id: str, exec_channel_id: str,
                        exec_min_amount: Decimal = STARTER_EXEC_THRESHOLD) -> list[Rule]:
    """The first-setup pair: invoices, payments and bills to one channel; big invoices to another.

    Only for a tenant without rules. Field errors name the starter form's fields.
    """
    if Rule.objects.for_tenant(tenant).exists():
        raise ApplicationError("This business has rules already: the starter set is for a first setup.",
                               status=409)
    specs = [
        ("accounting_channel_id", {"name": "Invoices, payments and bills", "events": STARTER_EVENTS,
                                   "channel_id": accounting_channel_id}),
        ("exec_channel_id", {"name": "Large invoices", "events": STARTER_EXEC_EVENTS,
                             "min_amount": exec_min_amount, "channel_id": exec_channel_id}),
    ]
    errors = FieldErrors()
    for channel_field, data in specs:
        try:
            rule_build(tenant=tenant, data=data)
        except ApplicationError as exc:
            for name, messages in exc.extra["fields"].items():
                for message in messages:
                    errors.add({"channel_id": channel_field, "min_amount": "exec_min_amount"}.get(name, name),
                               message)
    if errors:
        raise ApplicationError(VALIDATION_ERROR, {"fields": dict(errors)})
    return [rule_create(tenant=tenant, actor=actor, data=data) for _, data in specs]
