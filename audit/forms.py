"""Forms of the activity pages: the search (GET), a single replay, and a bulk replay confirmation."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms

from audit.models import Delivery
from audit.selectors import IGNORED, SORTS
from connector.core.events import EVENT_LABELS, Action, Kind

STATUS_CHOICES = [*Delivery.Status.choices, (IGNORED, "Ignored (no delivery)")]
MODE_CHOICES = [
    ("as_routed", "As originally routed: the same message to the chosen channel"),
    ("reevaluate", "Re-evaluated against today's rules: today's rules pick the channels, message built afresh"),
]


def tenant_zone(tenant) -> ZoneInfo:
    try:
        return ZoneInfo(tenant.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _channel_label(channel_id: str, name: str) -> str:
    return f"#{name} ({channel_id})" if name else channel_id


class ActivitySearchForm(forms.Form):
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}),
                            help_text="Both days included, in your business's time zone.")
    event = forms.ChoiceField(required=False, label="Event",
                              choices=[("", "Any event"), *EVENT_LABELS.items()])
    kind = forms.ChoiceField(required=False, label="Kind",
                             choices=[("", "Any kind"), *((k.value, k.value.capitalize()) for k in Kind)])
    action = forms.ChoiceField(required=False, label="What happened",
                               choices=[("", "Anything"), *((a.value, a.value.capitalize()) for a in Action)])
    status = forms.MultipleChoiceField(required=False, label="Status", choices=STATUS_CHOICES,
                                       widget=forms.CheckboxSelectMultiple)
    channel_id = forms.ChoiceField(required=False, label="Channel")
    amount_min = forms.DecimalField(required=False, label="Amount from", max_digits=18, decimal_places=2)
    amount_max = forms.DecimalField(required=False, label="Amount to", max_digits=18, decimal_places=2)
    counterparty = forms.CharField(required=False, max_length=200, label="Client or vendor",
                                   help_text="The exact name (capitals and extra spaces do not matter).")
    document_number = forms.CharField(required=False, max_length=100, label="Invoice or bill number",
                                      help_text="The exact number.")
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in SORTS], widget=forms.HiddenInput)

    def __init__(self, *args, tenant, channels: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.fields["channel_id"].choices = [("", "Any channel"),
                                             *((cid, _channel_label(cid, name)) for cid, name in channels)]

    def clean(self):
        data = super().clean()
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", "Must be at least the amount from.")
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "Must be on or after the first day.")
        return data

    def search_filters(self) -> dict:
        """The selector's filters: days become the tenant's local midnights (until: the next midnight)."""
        data = self.cleaned_data
        zone = tenant_zone(self.tenant)
        filters = {key: data[key] for key in ("event", "kind", "action", "channel_id", "counterparty",
                                              "document_number", "sort") if data.get(key)}
        if data.get("status"):
            filters["status"] = list(data["status"])
        for key in ("amount_min", "amount_max"):
            if data.get(key) is not None:
                filters[key] = data[key]
        if data.get("since"):
            filters["since"] = datetime.combine(data["since"], time.min, tzinfo=zone)
        if data.get("until"):
            filters["until"] = datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=zone)
        return filters


class ReplayForm(forms.Form):
    mode = forms.ChoiceField(choices=MODE_CHOICES, initial="as_routed", widget=forms.RadioSelect,
                             label="How")
    to_channel_id = forms.ChoiceField(required=False, label="Channel",
                                      help_text="Used when replaying as originally routed.")

    def __init__(self, *args, channels: list[tuple[str, str]], original_label: str = "Its original channel",
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_names = dict(channels)
        self.fields["to_channel_id"].choices = [("", original_label),
                                                *((cid, _channel_label(cid, name)) for cid, name in channels)]

    def clean(self):
        data = super().clean()
        if data.get("mode") == "reevaluate" and data.get("to_channel_id"):
            self.add_error("to_channel_id", "Today's rules pick the channels when re-evaluating: leave this on "
                                            "the original channel.")
        return data


class BulkReplayForm(ReplayForm):
    max_delivery_id = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
