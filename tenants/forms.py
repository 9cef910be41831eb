"""Sign-up and tenant forms."""

import zoneinfo

from babel.numbers import list_currencies
from django import forms
from django.contrib.auth import get_user_model, password_validation

CURRENCIES = sorted(list_currencies())


class SignUpForm(forms.Form):
    business_name = forms.CharField(max_length=200, label="Business name")
    email = forms.EmailField(label="Email")
    password = forms.CharField(widget=forms.PasswordInput, label="Password",
                               help_text=password_validation.password_validators_help_text_html())
    base_currency = forms.ChoiceField(choices=[(c, c) for c in CURRENCIES], initial="USD",
                                      label="Base currency")

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email exists already: log in instead.")
        return email

    def clean(self):
        data = super().clean()
        if data.get("password"):
            user = get_user_model()(username=data.get("email", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(data["password"], user)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class TenantCreateForm(forms.Form):
    business_name = forms.CharField(max_length=200, label="Business name")
    base_currency = forms.ChoiceField(choices=[(c, c) for c in CURRENCIES], initial="USD",
                                      label="Base currency")


class TenantSettingsForm(forms.Form):
    name = forms.CharField(max_length=200, label="Business name")
    base_currency = forms.ChoiceField(choices=[(c, c) for c in CURRENCIES], label="Base currency")
    time_zone = forms.ChoiceField(choices=[(z, z) for z in sorted(zoneinfo.available_timezones())],
                                  label="Time zone")
    retention_days = forms.IntegerField(min_value=7, max_value=3650, label="Keep the audit trail for (days)")
