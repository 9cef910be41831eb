"""Members join by an emailed invitation link; owners change roles and remove members, never the last owner."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import ActivityLog
from tenants.invitations import invitation_create
from tenants.models import Invitation, Membership, Role
from tests.conftest import _signed_in
from tests.factories import MembershipFactory, UserFactory

PASSWORD = "a-long-unusual-passphrase"


def _link_path(message) -> str:
    link = re.search(r"https://connector\.example\.com(/accounts/invitations/[\w-]+/)", message.body)
    assert link, message.body
    return link.group(1)


def _invite(client, email="ada@example.com", role="admin"):
    return client.post("/accounts/settings/invitations/", {"email": email, "role": role})


@pytest.mark.django_db
def test_invite_email_link_sign_up_and_join_with_the_invited_role(owner_client, owner, tenant):
    # Given an owner invites a new person as admin
    response = _invite(owner_client, email="Ada@Example.com", role="admin")
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert tenant.name in message.subject and owner.email in message.body
    path = _link_path(message)
    invitation = Invitation.objects.get(tenant=tenant)
    assert invitation.token_hash != path.split("/")[-2]  # only the hash is stored
    assert invitation.expires_at - timezone.now() > timedelta(days=6, hours=23)

    # When they open the link, logged out, and choose a password
    guest = Client()
    page = guest.get(path)
    assert page.status_code == 200
    assert f"Join {tenant.name}" in page.content.decode() and "as <strong>admin</strong>" in page.content.decode()
    response = guest.post(path, {"password": PASSWORD})

    # Then they have an account, are an admin of the business and land on its dashboard
    assert response.status_code == 302 and response.url == "/dashboard/"
    user = get_user_model().objects.get(email="ada@example.com")
    assert Membership.objects.get(tenant=tenant, user=user).role == Role.ADMIN
    assert tenant.name in guest.get("/dashboard/").content.decode()
    invitation.refresh_from_db()
    assert invitation.accepted_at and invitation.accepted_by == user
    assert ActivityLog.objects.filter(tenant=tenant, action="member.joined", target="ada@example.com").exists()

    # And the link does not work twice
    again = Client().get(path)
    assert again.status_code == 410
    assert "used already" in again.content.decode()


@pytest.mark.django_db
def test_weak_password_on_the_invitation_page_is_refused(owner_client, tenant):
    _invite(owner_client)
    path = _link_path(mail.outbox[0])
    response = Client().post(path, {"password": "123"})
    assert response.status_code == 400
    assert "too short" in response.content.decode()
    assert not Membership.objects.filter(tenant=tenant, user__email="ada@example.com").exists()


@pytest.mark.django_db
def test_an_expired_link_is_refused_with_a_clear_page(owner_client, owner, tenant):
    _invite(owner_client)
    path = _link_path(mail.outbox[0])
    Invitation.objects.filter(tenant=tenant).update(expires_at=timezone.now() - timedelta(minutes=1))
    guest = Client()
    response = guest.get(path)
    assert response.status_code == 410
    page = response.content.decode()
    assert "This invitation has expired" in page and f"Ask {owner.email} to send you a new one" in page
    assert guest.post(path, {"password": PASSWORD}).status_code == 410
    assert not get_user_model().objects.filter(email="ada@example.com").exists()


@pytest.mark.django_db
def test_an_unknown_or_replaced_link_is_refused(owner_client, tenant):
    assert Client().get("/accounts/invitations/not-a-real-token/").status_code == 404
    _invite(owner_client)
    first = _link_path(mail.outbox[0])
    _invite(owner_client, role="viewer")  # inviting again replaces the earlier link
    second = _link_path(mail.outbox[1])
    response = Client().get(first)
    assert response.status_code == 404 and "not valid" in response.content.decode()
    assert Client().get(second).status_code == 200
    assert Invitation.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db
def test_someone_with_an_account_logs_in_then_joins(owner_client, tenant, other_tenant):
    existing = MembershipFactory(tenant=other_tenant, user=UserFactory(email="ada@example.com"),
                                 role=Role.OWNER).user
    _invite(owner_client, role="viewer")
    path = _link_path(mail.outbox[0])
    guest = Client()
    response = guest.get(path)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/?next=/accounts/invitations/")
    guest.post("/accounts/login/", {"username": existing.email, "password": "correct horse battery staple"})
    assert f"Join {tenant.name}" in guest.get(path).content.decode()
    assert guest.post(path).status_code == 302
    assert Membership.objects.get(tenant=tenant, user=existing).role == Role.VIEWER
    assert Membership.objects.get(tenant=other_tenant, user=existing).role == Role.OWNER  # untouched


@pytest.mark.django_db
def test_a_link_for_someone_else_is_refused_while_logged_in(owner_client, tenant, other_tenant, other_owner):
    _invite(owner_client)
    path = _link_path(mail.outbox[0])
    someone_else = _signed_in(Client(), other_owner, other_tenant)
    response = someone_else.post(path)
    assert response.status_code == 403
    assert "this invitation is for ada@example.com" in response.content.decode()
    assert not Membership.objects.filter(tenant=tenant, user=other_owner).exists()


@pytest.mark.django_db
def test_admins_invite_but_not_as_owner_and_viewers_do_not_invite(tenant, admin_user, viewer):
    admin_client = _signed_in(Client(), admin_user, tenant)
    response = _invite(admin_client, role="owner")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert _invite(admin_client, email="bo@example.com", role="admin").status_code == 302
    viewer_client = _signed_in(Client(), viewer, tenant)
    assert _invite(viewer_client, email="cy@example.com", role="viewer").status_code == 403
    assert list(Invitation.objects.filter(tenant=tenant).values_list("email", flat=True)) == ["bo@example.com"]


@pytest.mark.django_db
def test_inviting_a_member_again_is_refused(owner_client, viewer):
    response = _invite(owner_client, email=viewer.email)
    assert response.status_code == 400 and "is a member already" in response.content.decode()
    assert mail.outbox == []


@pytest.mark.django_db
def test_cancelling_an_invitation_asks_first_then_kills_the_link(owner_client, owner, tenant):
    _invite(owner_client)
    path = _link_path(mail.outbox[0])
    invitation = Invitation.objects.get(tenant=tenant)
    cancel = f"/accounts/settings/invitations/{invitation.pk}/cancel/"
    assert "Cancel the invitation to ada@example.com?" in owner_client.get(cancel).content.decode()
    assert Invitation.objects.filter(pk=invitation.pk).exists()
    assert owner_client.post(cancel).status_code == 302
    assert Client().get(path).status_code == 404


@pytest.mark.django_db
def test_another_tenants_invitation_cannot_be_cancelled(owner_client, other_tenant, other_owner):
    theirs = invitation_create(tenant=other_tenant, invited_by=Membership.objects.get(user=other_owner),
                               email="x@example.com", role=Role.VIEWER).invitation
    assert owner_client.post(f"/accounts/settings/invitations/{theirs.pk}/cancel/").status_code == 404
    assert Invitation.objects.filter(pk=theirs.pk).exists()


# --- Roles and removal ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_owner_changes_a_role(owner_client, tenant, viewer):
    membership = Membership.objects.get(tenant=tenant, user=viewer)
    response = owner_client.post(f"/accounts/settings/members/{membership.pk}/role/", {f"m{membership.pk}-role": "admin"})
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    entry = ActivityLog.objects.filter(tenant=tenant, action="member.role_changed").get()
    assert entry.details == {"from": "viewer", "to": "admin"}


@pytest.mark.django_db
def test_the_last_owner_cannot_be_demoted_or_removed(owner_client, owner, tenant):
    membership = Membership.objects.get(tenant=tenant, user=owner)
    response = owner_client.post(f"/accounts/settings/members/{membership.pk}/role/",
                                 {f"m{membership.pk}-role": "viewer"}, follow=True)
    assert "at least one owner" in response.content.decode()
    response = owner_client.post(f"/accounts/settings/members/{membership.pk}/remove/", follow=True)
    assert "last owner cannot be removed" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


@pytest.mark.django_db
def test_with_two_owners_one_may_step_down(owner_client, owner, tenant):
    MembershipFactory(tenant=tenant, user=UserFactory(), role=Role.OWNER)
    membership = Membership.objects.get(tenant=tenant, user=owner)
    owner_client.post(f"/accounts/settings/members/{membership.pk}/role/", {f"m{membership.pk}-role": "admin"})
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


@pytest.mark.django_db
def test_removing_a_member_asks_first_then_removes_them_and_their_tokens(owner_client, tenant, viewer):
    from tenants.services import api_token_create

    api_token_create(tenant=tenant, user=viewer)
    membership = Membership.objects.get(tenant=tenant, user=viewer)
    url = f"/accounts/settings/members/{membership.pk}/remove/"
    confirm = owner_client.get(url).content.decode()
    assert f"Remove {viewer.email} from {tenant.name}?" in confirm
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert owner_client.post(url).status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not viewer.api_tokens.filter(tenant=tenant).exists()


@pytest.mark.django_db
def test_only_owners_change_members_and_only_their_own_tenants(tenant, owner, admin_user, viewer, other_tenant):
    target = Membership.objects.get(tenant=tenant, user=viewer)
    admin_client = _signed_in(Client(), admin_user, tenant)
    assert admin_client.post(f"/accounts/settings/members/{target.pk}/role/",
                             {f"m{target.pk}-role": "owner"}).status_code == 403
    assert admin_client.post(f"/accounts/settings/members/{target.pk}/remove/").status_code == 403
    theirs = MembershipFactory(tenant=other_tenant, role=Role.VIEWER)
    owner_client = _signed_in(Client(), owner, tenant)
    assert owner_client.post(f"/accounts/settings/members/{theirs.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()
    target.refresh_from_db()
    assert target.role == Role.VIEWER
