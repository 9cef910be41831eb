"""Account pages: sign up, switch business, add a business, business settings, API tokens."""

from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants import services
from tenants.forms import SignUpForm, TenantCreateForm, TenantSettingsForm
from tenants.middleware import SESSION_KEY
from tenants.models import ApiToken, Membership, Role
from tenants.permissions import tenant_view


def signup(request):
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user, _ = services.user_get_or_create(email=form.cleaned_data["email"],
                                              password=form.cleaned_data["password"])
        tenant = services.tenant_create(name=form.cleaned_data["business_name"], owner=user,
                                        base_currency=form.cleaned_data["base_currency"])
        login(request, user, backend="tenants.auth.EmailBackend")
        request.session[SESSION_KEY] = tenant.pk
        messages.success(request, f"Welcome! {tenant.name} is set up. Next: connect FreshBooks.")
        return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


def tenant_create(request):
    if not request.user.is_authenticated:
        return redirect("login")
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tenant = services.tenant_create(name=form.cleaned_data["business_name"], owner=request.user,
                                        base_currency=form.cleaned_data["base_currency"])
        request.session[SESSION_KEY] = tenant.pk
        messages.success(request, f"{tenant.name} is set up.")
        return redirect("dashboard")
    return render(request, "tenants/tenant_create.html", {"form": form})


@require_POST
def tenant_switch(request):
    if not request.user.is_authenticated:
        return redirect("login")
    membership = Membership.objects.filter(user=request.user, tenant_id=request.POST.get("tenant")).first()
    if membership is None:
        messages.error(request, "You are not a member of that business.")
    else:
        request.session[SESSION_KEY] = membership.tenant_id
        messages.success(request, f"Switched to {membership.tenant.name}.")
    return redirect("dashboard")


@tenant_view
def settings_page(request):
    tenant = request.tenant
    form = TenantSettingsForm(request.POST or None, initial={
        "name": tenant.name, "base_currency": tenant.base_currency, "time_zone": tenant.time_zone,
        "retention_days": tenant.retention_days,
    })
    if request.method == "POST" and form.is_valid():
        tenant.name = form.cleaned_data["name"]
        tenant.base_currency = form.cleaned_data["base_currency"]
        tenant.time_zone = form.cleaned_data["time_zone"]
        tenant.retention_days = form.cleaned_data["retention_days"]
        tenant.save()
        from audit.activity import activity_record

        activity_record(tenant=tenant, actor=request.user, action="tenant.settings_changed",
                        target=tenant.slug, details=form.cleaned_data)
        messages.success(request, "Settings saved.")
        return redirect("settings")
    return render(request, "tenants/settings.html", {
        "form": form,
        "members": Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email"),
        "api_tokens": ApiToken.objects.for_tenant(tenant).select_related("user"),
    })


@tenant_view
@require_POST
def webhook_token_rotate(request):
    services.tenant_rotate_webhook_token(tenant=request.tenant, actor=request.user)
    messages.success(request, "New webhook URL made. Re-register the FreshBooks callbacks so they use it.")
    return redirect("settings")


@tenant_view
@require_POST
def api_token_create(request):
    _, key = services.api_token_create(tenant=request.tenant, user=request.user,
                                       name=request.POST.get("name", "")[:100])
    messages.success(request, f"New API token (shown once, copy it now): {key}")
    return redirect("settings")


@tenant_view(change_role=Role.ADMIN)
@require_POST
def api_token_delete(request, pk: int):
    from django.shortcuts import get_object_or_404

    token = get_object_or_404(ApiToken.objects.for_tenant(request.tenant), pk=pk)
    token.delete()
    from audit.activity import activity_record

    activity_record(tenant=request.tenant, actor=request.user, action="api_token.revoked", target=token.prefix)
    messages.success(request, "API token revoked.")
    return redirect("settings")
