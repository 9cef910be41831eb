"""Account pages: sign up, switch business, add a business, settings, members and invitations, API tokens."""

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.activity import activity_record
from connector.core.crypto import decrypt, encrypt
from connector.core.errors import ApplicationError
from connector.core.limits import RateLimited, rate_limit, too_many_requests
from tenants import invitations, services, slack_links
from tenants import signup as signups
from tenants.forms import (
    ApiTokenForm,
    BusinessSettingsForm,
    ChoosePasswordForm,
    InvitationForm,
    RetentionForm,
    RoleForm,
    SignUpForm,
    TenantCreateForm,
)
from tenants.middleware import SESSION_KEY
from tenants.models import SIGNUP_LINK_LIFETIME_HOURS, ApiToken, Invitation, Membership, Role
from tenants.permissions import tenant_view

# A new token's key, sealed (encrypted with ENCRYPTION_KEYS) in the session until the next settings page
# shows it once and drops it: a session store never holds a usable key.
NEW_API_KEY_SESSION_KEY = "new_api_key_sealed"


# The address just signed up with, for the "check your email" page (set whether or not it has an account).
SIGNUP_EMAIL_SESSION_KEY = "signup_email"


@rate_limit("signup", rate_setting="SIGNUP_RATE")
def signup(request):
    """The form answers "check your email" whether or not the address has an account (tenants/signup.py):
    form errors show on the form, since they say nothing about who has an account. No password here: it is
    chosen behind the emailed link, so whoever signs up with someone else's address gets nothing."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            signups.signup_request(email=data["email"], business_name=data["business_name"],
                                   base_currency=data["base_currency"], time_zone=data["time_zone"] or "UTC")
        except RateLimited as exc:
            return too_many_requests(request, retry_after=exc.retry_after, message=exc.message)
        request.session[SIGNUP_EMAIL_SESSION_KEY] = data["email"]
        return redirect("signup_sent")
    return render(request, "registration/signup.html", {"form": form})


def signup_sent(request):
    return render(request, "registration/signup_sent.html", {
        "email": request.session.get(SIGNUP_EMAIL_SESSION_KEY), "hours": SIGNUP_LINK_LIFETIME_HOURS,
        "sandbox_mailbox": settings.SANDBOX_MAILBOX})


def signup_verify(request, token: str):
    """The emailed link. GET asks for the password (so a mail scanner opening links creates nothing); a
    valid POST makes the account and its business, logs in and goes on to the dashboard's onboarding."""
    context = {"hours": SIGNUP_LINK_LIFETIME_HOURS}
    try:
        signup = signups.signup_open(token)
        form = ChoosePasswordForm(request.POST if request.method == "POST" else None, email=signup.email)
        if not form.is_valid():
            return render(request, "registration/signup_verify.html",
                          {**context, "signup": signup, "form": form}, status=400 if form.is_bound else 200)
        user, tenant = signups.signup_complete(token, form.cleaned_data["password"])
    except signups.SignupInvalid as exc:
        return render(request, "registration/signup_verify.html",
                      {**context, "invalid": exc.reason, "signup": exc.signup}, status=exc.status)
    login(request, user, backend="tenants.auth.EmailBackend")
    request.session[SESSION_KEY] = tenant.pk
    messages.success(request, f"Welcome! {tenant.name} is set up. Next: connect FreshBooks.")
    return redirect("dashboard")


def tenant_create_view(request):
    if not request.user.is_authenticated:
        return redirect("login")
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tenant = services.tenant_create(name=form.cleaned_data["business_name"], owner=request.user,
                                        base_currency=form.cleaned_data["base_currency"],
                                        time_zone=form.cleaned_data["time_zone"] or "UTC")
        request.session[SESSION_KEY] = tenant.pk
        messages.success(request, f"{tenant.name} is set up.")
        return redirect("dashboard")
    return render(request, "tenants/tenant_create.html", {"form": form})


@require_POST
def tenant_switch(request):
    if not request.user.is_authenticated:
        return redirect("login")
    tenant_id = request.POST.get("tenant", "")
    membership = (Membership.objects.filter(user=request.user, tenant_id=int(tenant_id)).first()
                  if tenant_id.isascii() and tenant_id.isdigit() and len(tenant_id) < 19 else None)
    if membership is None:
        messages.error(request, "You are not a member of that business.")
    else:
        request.session[SESSION_KEY] = membership.tenant_id
        messages.success(request, f"Switched to {membership.tenant.name}.")
    return redirect("dashboard")


def _confirm(request, *, title: str, question: str, consequence: str, action_label: str, danger: bool = True):
    """The page that asks before anything destructive; its form posts back to the same URL."""
    return render(request, "tenants/confirm.html", {
        "title": title, "question": question, "consequence": consequence, "action_label": action_label,
        "danger": danger, "cancel_url": reverse("settings"),
    })


def _unseal(sealed: str | None) -> str | None:
    try:
        return decrypt(sealed) if sealed else None
    except InvalidToken:  # sealed under a key rotated away since: the key cannot be shown any more
        return None


def _settings_context(request, **forms) -> dict:
    tenant, membership = request.tenant, request.membership
    roles = invitations.roles_assignable_by(membership)
    members = list(Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email"))
    owner_count = sum(1 for m in members if m.role == Role.OWNER)
    for m in members:
        m.is_last_owner = m.role == Role.OWNER and owner_count == 1
        m.role_form = RoleForm(initial={"role": m.role}, prefix=f"m{m.pk}")
    context = {
        "business_form": forms.get("business_form") or BusinessSettingsForm(initial={
            "name": tenant.name, "base_currency": tenant.base_currency, "time_zone": tenant.time_zone}),
        "retention_form": forms.get("retention_form") or RetentionForm(initial={
            "retention_days": tenant.retention_days}),
        "api_token_form": forms.get("api_token_form") or ApiTokenForm(),
        "invite_form": forms.get("invite_form") or (InvitationForm(roles=roles) if roles else None),
        "members": members,
        "is_owner": membership.role == Role.OWNER,
        "invitations": Invitation.objects.for_tenant(tenant).filter(accepted_at__isnull=True)
        .select_related("invited_by"),
        "now": timezone.now(),
        "api_tokens": ApiToken.objects.for_tenant(tenant).select_related("user"),
        "new_api_key": _unseal(request.session.pop(NEW_API_KEY_SESSION_KEY, None)),
        "slack_links": slack_links.slack_links(tenant=tenant),
    }
    return context


@tenant_view
def settings_page(request):
    tenant = request.tenant
    if request.method == "POST":
        form = BusinessSettingsForm(request.POST)
        if form.is_valid():
            tenant.name = form.cleaned_data["name"]
            tenant.base_currency = form.cleaned_data["base_currency"]
            tenant.time_zone = form.cleaned_data["time_zone"]
            tenant.save(update_fields=["name", "base_currency", "time_zone", "updated_at"])
            activity_record(tenant=tenant, actor=request.user, action="tenant.settings_changed",
                            target=tenant.slug, details=form.cleaned_data)
            messages.success(request, "Business settings saved.")
            return redirect("settings")
        return render(request, "tenants/settings.html", _settings_context(request, business_form=form), status=400)
    return render(request, "tenants/settings.html", _settings_context(request))


@tenant_view
@require_POST
def retention_update(request):
    form = RetentionForm(request.POST)
    if not form.is_valid():
        return render(request, "tenants/settings.html", _settings_context(request, retention_form=form), status=400)
    tenant = request.tenant
    previous = tenant.retention_days
    tenant.retention_days = form.cleaned_data["retention_days"]
    tenant.save(update_fields=["retention_days", "updated_at"])
    activity_record(tenant=tenant, actor=request.user, action="tenant.retention_changed", target=tenant.slug,
                    details={"from": previous, "to": tenant.retention_days})
    messages.success(request, f"The audit trail now keeps {tenant.retention_days} days.")
    return redirect(reverse("settings") + "#retention")


@tenant_view(role=Role.ADMIN)
def webhook_token_rotate(request):
    if request.method != "POST":
        return _confirm(
            request, title="Make a new webhook URL",
            question="Make a new webhook URL for this business?",
            consequence="The current URL stops working at once: FreshBooks events sent to it are refused until "
                        "the callbacks are registered again with the new URL (on the FreshBooks page).",
            action_label="Make a new webhook URL")
    services.tenant_rotate_webhook_token(tenant=request.tenant, actor=request.user)
    messages.success(request, "New webhook URL made. Re-register the FreshBooks callbacks so they use it.")
    return redirect(reverse("settings") + "#webhook")


@tenant_view
@require_POST
def api_token_create_view(request):
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return render(request, "tenants/settings.html", _settings_context(request, api_token_form=form), status=400)
    _, key = services.api_token_create(tenant=request.tenant, user=request.user, name=form.cleaned_data["name"])
    request.session[NEW_API_KEY_SESSION_KEY] = encrypt(key)
    messages.success(request, "API token created. Copy it now: it is shown only once.")
    return redirect(reverse("settings") + "#api-tokens")


@tenant_view(role=Role.ADMIN)
def api_token_delete(request, pk: int):
    token = get_object_or_404(ApiToken.objects.for_tenant(request.tenant), pk=pk)
    if request.method != "POST":
        return _confirm(
            request, title="Revoke API token",
            question=f"Revoke the API token {token.prefix}…{f' ({token.name})' if token.name else ''}?",
            consequence="Scripts using it stop working at once. This cannot be undone.",
            action_label="Revoke the token")
    token.delete()
    activity_record(tenant=request.tenant, actor=request.user, action="api_token.revoked", target=token.prefix)
    messages.success(request, "API token revoked.")
    return redirect(reverse("settings") + "#api-tokens")


# --- Members and invitations ---------------------------------------------------------------------------

@tenant_view
@require_POST
def invitation_create_view(request):
    roles = invitations.roles_assignable_by(request.membership)
    form = InvitationForm(request.POST, roles=roles)
    if form.is_valid():
        try:
            new = invitations.invitation_create(tenant=request.tenant, invited_by=request.membership,
                                                email=form.cleaned_data["email"], role=form.cleaned_data["role"])
        except ApplicationError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(request, f"Invitation sent to {new.invitation.email}. The link works for 7 days.")
            return redirect(reverse("settings") + "#members")
    return render(request, "tenants/settings.html", _settings_context(request, invite_form=form), status=400)


@tenant_view(role=Role.ADMIN)
def invitation_revoke_view(request, pk: int):
    invitation = get_object_or_404(Invitation.objects.for_tenant(request.tenant), pk=pk, accepted_at__isnull=True)
    if request.method != "POST":
        return _confirm(request, title="Cancel invitation",
                        question=f"Cancel the invitation to {invitation.email}?",
                        consequence="The link in their email stops working. You can invite them again later.",
                        action_label="Cancel the invitation")
    invitations.invitation_revoke(tenant=request.tenant, actor=request.user, pk=invitation.pk)
    messages.success(request, f"Invitation to {invitation.email} cancelled.")
    return redirect(reverse("settings") + "#members")


@tenant_view(role=Role.OWNER)
@require_POST
def member_role(request, pk: int):
    membership = get_object_or_404(Membership.objects.for_tenant(request.tenant), pk=pk)
    form = RoleForm(request.POST, prefix=f"m{membership.pk}")
    if not form.is_valid():
        messages.error(request, "Pick one of the roles.")
        return redirect(reverse("settings") + "#members")
    try:
        changed = invitations.membership_change_role(tenant=request.tenant, actor=request.user, pk=membership.pk,
                                                     role=form.cleaned_data["role"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{changed.user.email} is now {changed.get_role_display().lower()}.")
    return redirect(reverse("settings") + "#members")


@tenant_view(role=Role.OWNER)
def member_remove(request, pk: int):
    membership = get_object_or_404(Membership.objects.for_tenant(request.tenant).select_related("user"), pk=pk)
    if request.method != "POST":
        yourself = membership.user_id == request.user.pk
        return _confirm(
            request, title="Remove member",
            question="Remove yourself from this business?" if yourself
            else f"Remove {membership.user.email} from {request.tenant.name}?",
            consequence="They lose access to this business at once. Their API tokens for it stop working. "
                        "Its history keeps what they did.",
            action_label="Remove")
    try:
        invitations.membership_remove(tenant=request.tenant, actor=request.user, pk=membership.pk)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("settings") + "#members")
    ApiToken.objects.for_tenant(request.tenant).filter(user_id=membership.user_id).delete()
    messages.success(request, f"{membership.user.email} was removed.")
    if membership.user_id == request.user.pk:
        request.session.pop(SESSION_KEY, None)
        return redirect("home")
    return redirect(reverse("settings") + "#members")


def invitation_accept_view(request, token: str):
    """The emailed link: sign up (new address) or log in (known address), then join with the invited role."""
    try:
        invitation = invitations.invitation_for_token(token)
    except invitations.InvitationInvalid as exc:
        return render(request, "tenants/invitation_invalid.html",
                      {"reason": exc.reason, "invitation": exc.invitation},
                      status=404 if exc.reason == "unknown" else 410)
    context = {"invitation": invitation, "role_label": Role(invitation.role).label}
    if request.user.is_authenticated:
        if request.user.email.lower() != invitation.email.lower():
            return render(request, "tenants/invitation_accept.html", {**context, "wrong_account": True}, status=403)
        if request.method == "POST":
            return _joined(request, token)
        return render(request, "tenants/invitation_accept.html", context)
    if get_user_model().objects.filter(email__iexact=invitation.email).exists():
        messages.info(request, f"Log in as {invitation.email} to join {invitation.tenant.name}.")
        return redirect_to_login(request.get_full_path())
    form = ChoosePasswordForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_create(email=invitation.email, password=form.cleaned_data["password"])
        except services.AccountExists:  # made by a concurrent request: that account must log in itself
            messages.info(request, f"Log in as {invitation.email} to join {invitation.tenant.name}.")
            return redirect_to_login(request.get_full_path())
        login(request, user, backend="tenants.auth.EmailBackend")
        return _joined(request, token)
    return render(request, "tenants/invitation_accept.html", {**context, "form": form},
                  status=400 if form.is_bound else 200)


def _joined(request, token: str):
    try:
        membership = invitations.invitation_accept(token=token, user=request.user)
    except invitations.InvitationInvalid as exc:
        return render(request, "tenants/invitation_invalid.html",
                      {"reason": exc.reason, "invitation": exc.invitation}, status=410)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard")
    request.session[SESSION_KEY] = membership.tenant_id
    messages.success(request, f"Welcome to {membership.tenant.name}. You are {membership.get_role_display().lower()}.")
    return redirect("dashboard")


@tenant_view(role=Role.ADMIN)
@require_POST
def slack_link_remove_view(request, pk: int):
    try:
        link = slack_links.slack_link_remove(tenant=request.tenant, link_id=pk, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{link.user.email} is no longer linked to Slack user {link.slack_user_id}.")
    return redirect(reverse("settings") + "#slack-links")


def slack_link_accept_view(request, token: str):
    """The one-time link from Slack's ephemeral message: log in, confirm, and the Slack user is linked."""
    try:
        link_request = slack_links.slack_link_request_open(token=token)
    except slack_links.SlackLinkInvalid as exc:
        return render(request, "tenants/slack_link.html", {"invalid": exc.reason},
                      status=404 if exc.reason == "unknown" else 410)
    if not request.user.is_authenticated:
        messages.info(request, f"Log in to link your Slack account to {link_request.tenant.name}.")
        return redirect_to_login(request.get_full_path())
    context = {"link_request": link_request}
    if request.method != "POST":
        return render(request, "tenants/slack_link.html", context)
    try:
        link = slack_links.slack_link_complete(token=token, user=request.user)
    except slack_links.SlackLinkInvalid as exc:
        return render(request, "tenants/slack_link.html", {"invalid": exc.reason}, status=410)
    except ApplicationError as exc:
        return render(request, "tenants/slack_link.html", {**context, "refused": exc.message}, status=exc.status)
    request.session[SESSION_KEY] = link.tenant_id
    messages.success(request, f"Your Slack account is linked to {link.tenant.name}: go back to Slack and try "
                              "again.")
    return redirect(reverse("settings") + "#slack-links")
