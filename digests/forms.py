"""The digest form. It parses what people type; digests.services.digest_build decides what is valid."""

from django import forms

from connector.core.errors import ApplicationError
from digests.models import NAME_MAX_LENGTH, WEEKDAYS, Digest, Frequency
from digests.services import digest_build
from routing.forms import CHANNEL_ERRORS, _channel_choices


class DigestForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX_LENGTH, label="Name", help_text="E.g. “Morning summary”.")
    frequency = forms.ChoiceField(choices=Frequency.choices, label="How often", widget=forms.RadioSelect)
    weekday = forms.TypedChoiceField(choices=[("", "—"), *WEEKDAYS], coerce=int, empty_value=None, required=False,
                                     label="Day of the week", help_text="Weekly digests only.")
    time = forms.CharField(max_length=5, label="Time", widget=forms.TimeInput(attrs={"type": "time"}),
                           help_text="On your business's clock (Settings → Time zone).")
    channel_id = forms.ChoiceField(label="Post to Slack channel", error_messages=CHANNEL_ERRORS)
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")

    def __init__(self, *args, tenant, digest: Digest | None = None, **kwargs):
        self.tenant = tenant
        self.digest = digest
        if digest is not None and "initial" not in kwargs:
            kwargs["initial"] = {"name": digest.name, "frequency": digest.frequency, "weekday": digest.weekday,
                                 "time": digest.time.strftime("%H:%M"), "channel_id": digest.channel_id,
                                 "enabled": digest.enabled}
        kwargs.setdefault("initial", {"frequency": Frequency.DAILY, "time": "09:00", "enabled": True})
        super().__init__(*args, **kwargs)
        self.fields["channel_id"].choices = _channel_choices(
            tenant, keep=(digest.channel_id, digest.channel_name) if digest else None)
        self.fields["time"].help_text = f"On your business's clock ({tenant.time_zone})."

    def digest_data(self) -> dict:
        d = self.cleaned_data
        return {"name": d.get("name", ""), "frequency": d.get("frequency", ""), "weekday": d.get("weekday"),
                "time": d.get("time", ""), "channel_id": d.get("channel_id", ""), "enabled": d.get("enabled", False)}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("frequency") == Frequency.DAILY:
            cleaned["weekday"] = None  # the day list is ignored for daily digests (it may still show a day)
        refused = set(self.errors)
        try:
            digest_build(tenant=self.tenant, data=self.digest_data(), digest=self.digest)
        except ApplicationError as exc:
            for name, messages in exc.extra.get("fields", {}).items():
                if name in refused:
                    continue
                for message in messages:
                    self.add_error(name if name in self.fields else None, message)
        return cleaned
