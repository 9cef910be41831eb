"""Sign-up, tenant settings, API token and member forms."""

import zoneinfo

from django import forms
from django.contrib.auth import get_user_model, password_validation

from connector.core.currencies import currency_choices
from tenants.models import Role

TIME_ZONES = [(z, z) for z in sorted(zoneinfo.available_timezones())]


def time_zone_field(**kwargs) -> forms.ChoiceField:
    # data-browser-zone: the page script preselects the browser's own zone when the form opens unchanged.
    return forms.ChoiceField(choices=TIME_ZONES, label="Time zone", required=False,
                             widget=forms.Select(attrs={"data-browser-zone": ""}), **kwargs)


class SignUpForm(forms.Form):
    """Only what grants no access: the password is chosen on the page behind the emailed link (tenants/signup.py)."""

    business_name = forms.CharField(max_length=200, label="Business name")
    email = forms.EmailField(label="Email")
    base_currency = forms.ChoiceField(choices=currency_choices, initial="USD", label="Base currency")
    time_zone = time_zone_field(initial="UTC", help_text="Times are shown in it; change it any time in Settings.")

    def clean_email(self):
        # Never "this address has an account": the emailed link or note says it (tenants/signup.py).
        return self.cleaned_data["email"].strip().lower()


class TenantCreateForm(forms.Form):
    business_name = forms.CharField(max_length=200, label="Business name")
    base_currency = forms.ChoiceField(choices=currency_choices, initial="USD", label="Base currency")
    time_zone = time_zone_field(initial="UTC", help_text="Times are shown in it; change it any time in Settings.")


class _OwnIds:
    """Several forms share the settings page: each gets its own id prefix so labels point at the right input."""

    id_prefix = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class BusinessSettingsForm(_OwnIds, forms.Form):
    id_prefix = "business"
    name = forms.CharField(max_length=200, label="Business name")
    base_currency = forms.ChoiceField(choices=currency_choices, label="Base currency",
                                      help_text="Rules with an amount use this currency unless they name another.")
    time_zone = forms.ChoiceField(choices=TIME_ZONES, label="Time zone",
                                  help_text="Every time is shown in it, and dashboard days start at midnight here.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The business's own currency first (kept even if it has since been withdrawn).
        self.fields["base_currency"].choices = currency_choices(first=[self.initial.get("base_currency", "")])


class RetentionForm(_OwnIds, forms.Form):
    id_prefix = "retention"
    retention_days = forms.IntegerField(
        min_value=7, max_value=3650, label="Keep the audit trail for (days)",
        help_text="Older events and deliveries are deleted for good every night. Between 7 and 3650 days.")


class ApiTokenForm(_OwnIds, forms.Form):
    id_prefix = "token"
    name = forms.CharField(max_length=100, required=False, label="Token name",
                           widget=forms.TextInput(attrs={"placeholder": "e.g. reporting script"}),
                           help_text="So you can tell your tokens apart later.")


class InvitationForm(_OwnIds, forms.Form):
    id_prefix = "invite"
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(label="Role", help_text=(
        "Viewers see everything and change nothing. Admins also manage rules, connections and tokens. "
        "Owners also manage members."))

    def __init__(self, *args, roles: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in roles]
        self.fields["role"].initial = roles[0].value if roles else None


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = Role.choices


class ChoosePasswordForm(forms.Form):
    """A new account's password, for an address already proven by an emailed link (an invitation, or a
    sign-up's confirmation): Django's password validation, checked against that address too."""

    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               label="Choose a password",
                               help_text=password_validation.password_validators_help_text_html())

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_password(self):
        password = self.cleaned_data["password"]
        user = get_user_model()(username=self.email, email=self.email)
        password_validation.validate_password(password, user)
        return password
