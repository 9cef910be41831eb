"""Web forms for rules. They parse what people type (types, choices offered, required fields);
routing.services.rule_build decides what is valid, and its field errors are shown at the fields."""

from django import forms

from connector.core.currencies import currency_choices
from connector.core.errors import ApplicationError
from connector.core.events import EVENT_LABELS, SUPPORTED_EVENTS
from routing.channels import tenant_channel_choices
from routing.models import Rule, Updates
from routing.services import STARTER_EXEC_THRESHOLD, rule_build

HAS_CLIENT_CHOICES = [("", "Either"), ("yes", "Yes: billable to a client"), ("no", "No: internal expenses")]
HAS_CLIENT_VALUES = {"": None, "yes": True, "no": False}
CHANNEL_ERRORS = {"required": "Choose a channel of your Slack workspace.",
                  "invalid_choice": "Choose a channel of your Slack workspace."}


def _channel_choices(tenant, keep: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    choices = [(channel_id, f"#{name}") for channel_id, name in tenant_channel_choices(tenant=tenant)]
    if keep and keep[0] and keep[0] not in {c for c, _ in choices}:
        # The saved channel is no longer offered by Slack (archived, bot removed): keep it visible.
        choices.append((keep[0], f"#{keep[1] or keep[0]} (no longer available)"))
    return [("", "Choose a channel…"), *choices]


def _words(text: str) -> list[str]:
    return [w.strip() for w in (text or "").split(",") if w.strip()]


def _amount_field(label: str, **kwargs) -> forms.DecimalField:
    # A number; its limits (sign, size, decimal places) are the service's.
    kwargs.setdefault("required", False)
    return forms.DecimalField(label=label, widget=forms.NumberInput(attrs={"step": "0.01", "min": "0"}), **kwargs)


class RuleForm(forms.Form):
    name = forms.CharField(label="Name",
                           help_text="For you: e.g. “Large invoices to the executives”.")
    events = forms.MultipleChoiceField(
        choices=[(name, EVENT_LABELS[name]) for name in SUPPORTED_EVENTS], widget=forms.CheckboxSelectMultiple,
        label="When", error_messages={"required": "Choose at least one event."},
    )
    min_amount = _amount_field("Amount at least")
    max_amount = _amount_field("Amount at most")
    currency = forms.ChoiceField(required=False, label="Currency")
    counterparty_contains = forms.CharField(required=False, label="Client or vendor name contains",
                                            help_text="Not case-sensitive. Leave empty for any.")
    statuses = forms.CharField(required=False, label="Status is one of",
                               help_text="Comma-separated FreshBooks statuses, e.g. “paid, partial”. "
                                         "Leave empty for any.")
    status_changed_only = forms.BooleanField(required=False, label="Updates only when the status changed")
    expense_categories_in = forms.CharField(required=False, label="Expense category is one of",
                                            help_text="Comma-separated, e.g. “Travel, Meals”. Expenses only.")
    expense_categories_not_in = forms.CharField(required=False, label="Expense category is not one of",
                                                help_text="Comma-separated. Expenses only.")
    has_client = forms.ChoiceField(required=False, choices=HAS_CLIENT_CHOICES, label="Expense has a client",
                                   help_text="Expenses only. “Yes” skips internal expenses.")
    channel_id = forms.ChoiceField(label="Post to Slack channel", error_messages=CHANNEL_ERRORS)
    note = forms.CharField(required=False, label="Note at the top of the message",
                           help_text="Optional, e.g. a mention such as @finance.")
    updates = forms.ChoiceField(
        choices=Updates.choices, initial=Updates.THREAD, widget=forms.RadioSelect, required=False,
        label="Later news about an invoice or bill",
        help_text="Edit its card: the first message about the document is kept up to date (status, paid, "
                  "outstanding) and each change a person should read is a reply in its thread; a payment in "
                  "full is also shown in the channel. New message: every event is posted on its own.")
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args, tenant, rule: Rule | None = None, **kwargs):
        self.tenant = tenant
        self.rule = rule
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_for(rule)
        super().__init__(*args, **kwargs)
        base = tenant.base_currency
        own = [base, *(Rule.objects.for_tenant(tenant).exclude(currency__isnull=True).exclude(currency="")
                       .order_by().values_list("currency", flat=True).distinct())]
        if rule is not None and rule.currency:
            own.append(rule.currency)
        self.fields["currency"].choices = [("", f"Base currency ({base})"), *currency_choices(first=own)]
        self.fields["currency"].help_text = ("Amounts are in this currency; events in other currencies do not "
                                             "meet them. Choosing one also limits the rule to that currency.")
        self.fields["channel_id"].choices = _channel_choices(
            tenant, keep=(rule.channel_id, rule.channel_name) if rule else None)
        self.draft: Rule | None = None

    @staticmethod
    def initial_for(rule: Rule) -> dict:
        return {
            "name": rule.name, "events": rule.events, "min_amount": rule.min_amount, "max_amount": rule.max_amount,
            "currency": rule.currency or "", "counterparty_contains": rule.counterparty_contains,
            "statuses": ", ".join(rule.statuses), "status_changed_only": rule.status_changed_only,
            "expense_categories_in": ", ".join(rule.expense_categories_in),
            "expense_categories_not_in": ", ".join(rule.expense_categories_not_in),
            "has_client": {None: "", True: "yes", False: "no"}[rule.has_client],
            "channel_id": rule.channel_id, "note": rule.note, "enabled": rule.enabled, "updates": rule.updates,
        }

    def rule_data(self) -> dict:
        d = self.cleaned_data
        return {
            "name": d.get("name", ""), "enabled": d.get("enabled", False), "events": d.get("events", []),
            "min_amount": d.get("min_amount"), "max_amount": d.get("max_amount"),
            "currency": d.get("currency") or None, "counterparty_contains": d.get("counterparty_contains", ""),
            "statuses": _words(d.get("statuses", "")), "status_changed_only": d.get("status_changed_only", False),
            "expense_categories_in": _words(d.get("expense_categories_in", "")),
            "expense_categories_not_in": _words(d.get("expense_categories_not_in", "")),
            "has_client": HAS_CLIENT_VALUES.get(d.get("has_client", "")), "channel_id": d.get("channel_id", ""),
            "note": d.get("note", ""),
            # Not sent (an older page): the rule keeps what it had, a new one threads.
            "updates": d.get("updates") or (self.rule.updates if self.rule else Updates.THREAD),
        }

    def clean(self):
        cleaned = super().clean()
        # Run the rules' own validation even when some fields are already refused, so every problem shows
        # at once; a field keeps only its first kind of complaint.
        refused = set(self.errors)
        try:
            draft = rule_build(tenant=self.tenant, data=self.rule_data(), rule=self.rule)
        except ApplicationError as exc:
            for name, messages in exc.extra.get("fields", {}).items():
                if name in refused:
                    continue
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        else:
            if not refused:
                self.draft = draft
        return cleaned


class StarterForm(forms.Form):
    """The first-setup pair of rules, with the channels (and the threshold) the user can change."""

    accounting_channel_id = forms.ChoiceField(label="Invoices, payments and bills go to",
                                              error_messages=CHANNEL_ERRORS)
    exec_channel_id = forms.ChoiceField(label="Invoices of this amount or more also go to",
                                        error_messages=CHANNEL_ERRORS)
    exec_min_amount = _amount_field("Large invoice amount", required=True, initial=STARTER_EXEC_THRESHOLD)

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        choices = _channel_choices(tenant)
        by_name = {label.lstrip("#"): channel_id for channel_id, label in choices if channel_id}
        for name, preferred in (("accounting_channel_id", "accounting"), ("exec_channel_id", "exec-alerts")):
            self.fields[name].choices = choices
            self.fields[name].initial = by_name.get(preferred, "")
        self.fields["exec_min_amount"].help_text = f"In {tenant.base_currency}, your base currency."
