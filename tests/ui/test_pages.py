"""Every page of the UI layer answers for each role, never 500; viewers see no button they cannot use."""

import re

import pytest
from django.template.loader import get_template
from django.test import Client

from audit.models import Delivery
from tenants.invitations import invitation_create
from tenants.models import ApiToken, Membership, Role
from tenants.services import api_token_create
from tests.conftest import _signed_in
from tests.factories import delivery

PAGES = ["/dashboard/", "/dashboard/deliveries/?part=problems", "/dashboard/deliveries/?part=latest",
         "/accounts/settings/", "/accounts/businesses/new/"]
# Markup that only people who may change things should get.
CHANGE_MARKERS = [
    'action="/accounts/settings/"', 'action="/accounts/settings/retention/"', 'action="/accounts/settings/api-tokens/"',
    'action="/accounts/settings/invitations/"', "/role/", "/remove/", "/cancel/", "/delete/",
    "/webhook-token/rotate/", "Create token", "Send the invitation", "Save business settings",
    "Make a new webhook URL",
]


@pytest.fixture
def busy_tenant(tenant, owner):
    """A tenant with something in every panel: problems, messages, tokens, invitations, several members."""
    delivery(tenant=tenant, status=Delivery.Status.POSTED)
    delivery(tenant=tenant, status=Delivery.Status.HELD, held_reason="channel_unusable", last_error_code="channel_not_found", channel_name="gone")
    delivery(tenant=tenant, status=Delivery.Status.FAILED, held_reason="", channel_name="exec")
    api_token_create(tenant=tenant, user=owner, name="reporting")
    invitation_create(tenant=tenant, invited_by=Membership.objects.get(user=owner), email="new@example.com",
                      role=Role.VIEWER)
    return tenant


def _client_for(role, tenant, owner, admin_user, viewer):
    return _signed_in(Client(), {"owner": owner, "admin": admin_user, "viewer": viewer}[role], tenant)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "admin", "viewer"])
@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_for_every_role(role, path, busy_tenant, owner, admin_user, viewer):
    client = _client_for(role, busy_tenant, owner, admin_user, viewer)
    response = client.get(path)
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/dashboard/", "/accounts/settings/"])
def test_viewer_gets_no_change_buttons(path, busy_tenant, viewer_client):
    page = viewer_client.get(path).content.decode()
    present = [marker for marker in CHANGE_MARKERS if marker in page]
    assert present == []
    # the only forms a viewer gets are logging out (and switching business)
    actions = re.findall(r'<form[^>]*action="([^"]*)"', page)
    assert set(actions) <= {"/accounts/logout/", "/accounts/businesses/switch/"}


@pytest.mark.django_db
def test_admin_invites_but_does_not_manage_members(busy_tenant, owner, admin_user, viewer):
    page = _client_for("admin", busy_tenant, owner, admin_user, viewer).get("/accounts/settings/").content.decode()
    assert "Send the invitation" in page and "Create token" in page and "Make a new webhook URL" in page
    assert "/role/" not in page and "/remove/" not in page
    assert '<option value="owner"' not in page  # an admin cannot invite owners


@pytest.mark.django_db
def test_owner_manages_members_but_not_the_last_owner(busy_tenant, owner, admin_user, viewer):
    page = _client_for("owner", busy_tenant, owner, admin_user, viewer).get("/accounts/settings/").content.decode()
    owner_membership = Membership.objects.get(user=owner)
    admin_membership = Membership.objects.get(user=admin_user)
    assert f"/accounts/settings/members/{admin_membership.pk}/remove/" in page
    assert f"/accounts/settings/members/{admin_membership.pk}/role/" in page
    assert f"/accounts/settings/members/{owner_membership.pk}/remove/" not in page
    assert "(the only owner)" in page


@pytest.mark.django_db
@pytest.mark.parametrize(("url_of", "allowed"), [
    (lambda t, m: "/accounts/settings/webhook-token/rotate/", {"owner", "admin"}),
    (lambda t, m: f"/accounts/settings/api-tokens/{t.pk}/delete/", {"owner", "admin"}),
    (lambda t, m: f"/accounts/settings/members/{m.pk}/remove/", {"owner"}),
])
def test_confirmation_pages_for_those_allowed_and_403_for_others(url_of, allowed, busy_tenant, owner, admin_user,
                                                                 viewer):
    token = ApiToken.objects.for_tenant(busy_tenant).first()
    url = url_of(token, Membership.objects.get(user=viewer))
    for role in ("owner", "admin", "viewer"):
        response = _client_for(role, busy_tenant, owner, admin_user, viewer).get(url)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (role, url)
        if expected == 200:
            assert "Cancel, keep it" in response.content.decode()
        else:
            assert "Not allowed" in response.content.decode()


@pytest.mark.django_db
def test_unknown_page_is_the_404_page_in_the_layout(owner_client):
    response = owner_client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "<h1>Not found</h1>" in page and 'aria-label="Main"' in page


def test_500_page_needs_no_context():
    html = get_template("500.html").render()
    assert "Something went wrong on our side" in html
    assert "/static/css/app.css" in html


@pytest.mark.django_db
def test_navigation_marks_the_current_section(owner_client):
    page = owner_client.get("/accounts/settings/").content.decode()
    assert '<a href="/accounts/settings/" aria-current="page">Settings</a>' in page
    assert '<a href="/rules/" >Rules</a>' in page and '<a href="/activity/" >Activity</a>' in page


@pytest.mark.django_db
def test_pages_load_local_assets_only(owner_client):
    page = owner_client.get("/dashboard/").content.decode()
    assert "/static/vendor/pico/pico.min.css" in page and "/static/vendor/htmx/htmx.min.js" in page
    assert not re.search(r'(src|href)="https?://', page)


@pytest.mark.django_db
def test_a_user_without_a_business_is_asked_to_add_one():
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(), backend="tenants.auth.EmailBackend")
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response.url == "/accounts/businesses/new/"
    page = client.get(response.url)
    assert page.status_code == 200 and "Add a business" in page.content.decode()


@pytest.mark.django_db
def test_account_menu_switches_between_the_users_businesses(owner, tenant):
    from tests.factories import MembershipFactory, TenantFactory

    second = TenantFactory(name="Second Shop")
    MembershipFactory(tenant=second, user=owner, role=Role.VIEWER)
    client = _signed_in(Client(), owner, tenant)
    page = client.get("/dashboard/").content.decode()
    assert f'<button type="submit" name="tenant" value="{second.pk}" class="menu-item">Second Shop</button>' in page
    assert f'{tenant.name} <span class="muted">(current)</span>' in page
    client.post("/accounts/businesses/switch/", {"tenant": second.pk})
    assert "<h1>Second Shop</h1>" in client.get("/dashboard/").content.decode()
