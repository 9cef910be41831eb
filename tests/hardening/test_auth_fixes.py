"""Credentials: a password reset ends every other way into the account; a new API key is never stored
readable; the activity chain and blind indexes have keys of their own."""

import re

import pytest
from django.test import Client

from tenants.models import ApiToken
from tenants.services import api_token_create
from tenants.views import NEW_API_KEY_SESSION_KEY

pytestmark = pytest.mark.django_db


def test_a_password_reset_revokes_api_tokens_and_ends_other_sessions(owner, tenant, owner_client, owner_api,
                                                                     mailoutbox):
    assert owner_api.get("/api/v1/me/").status_code == 200
    stranger = Client()
    stranger.post("/accounts/password-reset/", {"email": owner.email})
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)
    form_url = stranger.get(link)["Location"]

    response = stranger.post(form_url, {"new_password1": "a brand new passphrase", "new_password2":
                                        "a brand new passphrase"})

    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=owner).exists()
    assert owner_api.get("/api/v1/me/").status_code == 401
    assert owner_client.get("/dashboard/").status_code == 302  # the old session is logged out


def test_saving_a_user_without_a_new_password_keeps_tokens(owner, tenant):
    api_token_create(tenant=tenant, user=owner)
    owner.first_name = "Ada"
    owner.save()

    assert ApiToken.objects.filter(user=owner).count() == 1


def test_a_new_api_key_is_sealed_in_the_session_and_shown_once(owner_client):
    owner_client.post("/accounts/settings/api-tokens/", {"name": "script"})

    sealed = owner_client.session[NEW_API_KEY_SESSION_KEY]
    token = ApiToken.objects.get(name="script")
    assert not sealed.startswith(token.prefix) and sealed.startswith("gAAAA")  # a Fernet token, not the key
    page = owner_client.get("/accounts/settings/").content.decode()
    key = re.search(r'<output id="new-api-key">([^<]+)</output>', page).group(1)
    assert ApiToken.objects.filter(key_hash=ApiToken.hash_key(key)).exists()
    assert 'id="new-api-key"' not in owner_client.get("/accounts/settings/").content.decode()
