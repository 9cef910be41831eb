"""Settings: business details, retention, API tokens shown once, webhook URL rotation behind a confirmation."""

import re

import pytest
from rest_framework.test import APIClient

from audit.models import ActivityLog
from tenants.models import ApiToken, Tenant


@pytest.mark.django_db
def test_business_settings_are_saved(owner_client, tenant):
    response = owner_client.post("/accounts/settings/", {"name": "Renamed Ltd", "base_currency": "EUR",
                                                         "time_zone": "Europe/Paris"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.name, tenant.base_currency, tenant.time_zone) == ("Renamed Ltd", "EUR", "Europe/Paris")


@pytest.mark.django_db
def test_invalid_business_settings_show_field_errors(owner_client, tenant):
    response = owner_client.post("/accounts/settings/", {"name": "", "base_currency": "ZZZ", "time_zone": "Mars/Base"})
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count('class="error" role="alert"') == 3
    tenant.refresh_from_db()
    assert tenant.name != ""


@pytest.mark.django_db
def test_retention_is_saved_within_its_bounds(owner_client, tenant):
    assert owner_client.post("/accounts/settings/retention/", {"retention_days": "3"}).status_code == 400
    tenant.refresh_from_db()
    assert tenant.retention_days == 90
    assert owner_client.post("/accounts/settings/retention/", {"retention_days": "30"}).status_code == 302
    tenant.refresh_from_db()
    assert tenant.retention_days == 30
    assert ActivityLog.objects.get(tenant=tenant, action="tenant.retention_changed").details == {"from": 90, "to": 30}


@pytest.mark.django_db
def test_a_new_api_token_is_shown_once_in_its_own_box_and_works(owner_client, tenant):
    response = owner_client.post("/accounts/settings/api-tokens/", {"name": "reporting script"}, follow=True)
    page = response.content.decode()
    assert 'id="new-api-key"' in page and 'data-copy-target="new-api-key"' in page
    key = page.split('<output id="new-api-key">')[1].split("</output>")[0]
    token = ApiToken.objects.get(tenant=tenant)
    assert token.name == "reporting script" and token.key_hash == ApiToken.hash_key(key)
    assert key not in "".join(str(m) for m in response.context["messages"])  # not in the flash message
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/me/").status_code == 200
    # shown only once
    assert key not in owner_client.get("/accounts/settings/").content.decode()


@pytest.mark.django_db
def test_revoking_a_token_asks_first(owner_client, tenant, owner):
    from tenants.services import api_token_create

    token, _ = api_token_create(tenant=tenant, user=owner, name="old script")
    url = f"/accounts/settings/api-tokens/{token.pk}/delete/"
    assert f"Revoke the API token {token.prefix}… (old script)?" in owner_client.get(url).content.decode()
    assert ApiToken.objects.filter(pk=token.pk).exists()
    owner_client.post(url)
    assert not ApiToken.objects.filter(pk=token.pk).exists()


@pytest.mark.django_db
def test_webhook_url_rotation_asks_first(owner_client, tenant):
    before = tenant.webhook_token_hash
    page = owner_client.get("/accounts/settings/webhook-token/rotate/").content.decode()
    assert "The current URL stops working at once" in page
    assert Tenant.objects.get(pk=tenant.pk).webhook_token_hash == before
    owner_client.post("/accounts/settings/webhook-token/rotate/")
    tenant.refresh_from_db()
    assert tenant.webhook_token_hash != before
    assert tenant.webhook_url in owner_client.get("/accounts/settings/").content.decode()


@pytest.mark.django_db
def test_settings_links_to_the_disconnect_pages(owner_client):
    owner_page = owner_client.get("/accounts/settings/").content.decode()
    assert '<a href="/freshbooks/">Manage or disconnect FreshBooks</a>' in owner_page
    assert '<a href="/slack/">Manage or uninstall Slack</a>' in owner_page


@pytest.mark.django_db
def test_viewers_get_links_to_look_not_to_disconnect(viewer_client):
    viewer_page = viewer_client.get("/accounts/settings/").content.decode()
    assert '<a href="/freshbooks/">See the FreshBooks connection</a>' in viewer_page
    assert "Manage or disconnect" not in viewer_page


@pytest.mark.django_db
def test_labels_point_at_their_own_inputs(owner_client):
    page = owner_client.get("/accounts/settings/").content.decode()
    import re

    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "duplicate ids break labels"
    for target in re.findall(r'<label for="([^"]+)"', page):
        assert target in ids


@pytest.mark.django_db
def test_the_api_docs_page_runs_swagger_ui_from_this_site(owner_client):
    settings_page = owner_client.get("/accounts/settings/").content.decode()
    assert 'href="/api/v1/docs/"' in settings_page and 'href="/api/v1/schema/"' in settings_page
    answer = owner_client.get("/api/v1/docs/")
    docs = answer.content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs  # nothing loaded from elsewhere
    # Under the site's CSP: no inline style or script; the initialising script is a file of its own.
    assert "unsafe-inline" not in answer["Content-Security-Policy"]
    assert "<style" not in docs and not re.search(r"<script(?![^>]*\bsrc=)", docs)
    script = owner_client.get("/api/v1/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/v1/schema/" in script.content.decode()
