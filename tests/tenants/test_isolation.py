"""Tenant isolation and roles: another tenant's objects are 404; a viewer gets 403 on every change.

Each app adds its own objects to these checks in its own tests; this file covers the foundation's.
"""

import pytest
from rest_framework.test import APIClient

from tenants.services import api_token_create


@pytest.fixture
def their_token(other_tenant, other_owner):
    token, _ = api_token_create(tenant=other_tenant, user=other_owner)
    return token


@pytest.mark.django_db
def test_api_object_of_another_tenant_is_404(owner_api, their_token):
    assert owner_api.get(f"/api/v1/api-tokens/{their_token.pk}/").status_code == 404
    response = owner_api.delete(f"/api/v1/api-tokens/{their_token.pk}/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}
    assert their_token.__class__.objects.filter(pk=their_token.pk).exists()


@pytest.mark.django_db
def test_ui_object_of_another_tenant_is_404(owner_client, their_token):
    response = owner_client.post(f"/accounts/settings/api-tokens/{their_token.pk}/delete/")
    assert response.status_code == 404
    assert their_token.__class__.objects.filter(pk=their_token.pk).exists()


@pytest.mark.django_db
def test_api_lists_only_own_tenant(owner_api, their_token):
    listed = {t["prefix"] for t in owner_api.get("/api/v1/api-tokens/").json()["results"]}
    assert their_token.prefix not in listed


@pytest.mark.django_db
def test_viewer_cannot_change_anything_in_the_ui(viewer_client, tenant, owner):
    token, _ = api_token_create(tenant=tenant, user=owner)
    for url, data in [
        ("/accounts/settings/", {"name": "Hacked", "base_currency": "USD", "time_zone": "UTC", "retention_days": 90}),
        ("/accounts/settings/webhook-token/rotate/", {}),
        ("/accounts/settings/api-tokens/", {"name": "x"}),
        (f"/accounts/settings/api-tokens/{token.pk}/delete/", {}),
    ]:
        assert viewer_client.post(url, data).status_code == 403, url
    tenant.refresh_from_db()
    assert tenant.name != "Hacked"
    assert viewer_client.get("/accounts/settings/").status_code == 200


@pytest.mark.django_db
def test_viewer_cannot_change_anything_in_the_api(viewer_api, tenant, owner):
    token, _ = api_token_create(tenant=tenant, user=owner)
    response = viewer_api.delete(f"/api/v1/api-tokens/{token.pk}/")
    assert response.status_code == 403
    assert response.json()["message"] == "Your role in this business does not allow that."
    assert viewer_api.get(f"/api/v1/api-tokens/{token.pk}/").status_code == 200


@pytest.mark.django_db
def test_api_refuses_missing_or_bad_token():
    api = APIClient()
    assert api.get("/api/v1/me/").status_code in (401, 403)
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid or revoked API token.", "extra": {}}


@pytest.mark.django_db
def test_schema_is_served(owner_api):
    response = owner_api.get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/me/" in response.content
