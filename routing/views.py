"""Rules pages: list, create and edit with preview, enable and disable, delete, and the starter set."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from connector.core.errors import ApplicationError
from routing import services
from routing.channels import tenant_channel_choices
from routing.forms import RuleForm, StarterForm
from routing.models import Rule
from routing.selectors import PREVIEW_EVENT_LIMIT, rule_list, rule_preview
from routing.summary import rule_summary
from tenants.models import Role
from tenants.permissions import tenant_view


def _rule_of(request, pk: int) -> Rule:
    return get_object_or_404(Rule.objects.for_tenant(request.tenant), pk=pk)


def _add_errors(form, exc: ApplicationError) -> None:
    fields = exc.extra.get("fields")
    if not fields:
        form.add_error(None, exc.message)
        return
    for name, field_messages in fields.items():
        for message in field_messages:
            form.add_error(name if name in form.fields else None, message)


def _list_page(request, starter_form=None):
    """All rules; with ?channel=<id> (the dashboard's fix links for a broken channel) only those posting
    to that channel, and a single one opens straight in its editor."""
    tenant = request.tenant
    rules = list(rule_list(tenant=tenant))
    channel_id = request.GET.get("channel", "") if request.method == "GET" else ""
    if channel_id:
        rules = [rule for rule in rules if rule.channel_id == channel_id]
        if len(rules) == 1:
            messages.info(request, f"This rule posts to #{rules[0].channel_name or channel_id}, which Slack "
                                   "refuses: pick another channel and save.")
            return redirect("rule_edit", pk=rules[0].pk)
    rules = [(rule, rule_summary(rule, base_currency=tenant.base_currency)) for rule in rules]
    has_channels = bool(tenant_channel_choices(tenant=tenant))
    if not rules and not channel_id and starter_form is None and has_channels and request.membership.can_change:
        starter_form = StarterForm(tenant=tenant)
    return render(request, "routing/rule_list.html", {
        "rules": rules, "starter_form": starter_form, "has_channels": has_channels, "channel_id": channel_id,
    })


@tenant_view
def rule_list_page(request):
    return _list_page(request)


def _form_page(request, *, rule: Rule | None):
    """Create (rule None) or edit: GET shows the form; POST previews the draft or saves it."""
    tenant = request.tenant
    form = RuleForm(request.POST or None, tenant=tenant, rule=rule)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            preview = rule_preview(tenant=tenant, draft=form.draft)
        else:
            try:
                if rule is None:
                    saved = services.rule_create(tenant=tenant, actor=request.user, data=form.rule_data())
                    messages.success(request, f"Rule “{saved.name}” created.")
                else:
                    saved = services.rule_update(tenant=tenant, actor=request.user, rule=rule,
                                                 data=form.rule_data())
                    messages.success(request, f"Rule “{saved.name}” saved.")
                return redirect("rule_list")
            except ApplicationError as exc:
                _add_errors(form, exc)
    return render(request, "routing/rule_form.html", {
        "form": form, "rule": rule, "preview": preview, "preview_limit": PREVIEW_EVENT_LIMIT,
        "draft_summary": rule_summary(form.draft, base_currency=tenant.base_currency) if form.draft else "",
    })


@tenant_view(role=Role.ADMIN)
def rule_create_page(request):
    return _form_page(request, rule=None)


@tenant_view
def rule_edit_page(request, pk: int):
    return _form_page(request, rule=_rule_of(request, pk))


@tenant_view
@require_POST
def rule_toggle(request, pk: int):
    rule = _rule_of(request, pk)
    enabled = request.POST.get("enabled") == "1"
    services.rule_set_enabled(tenant=request.tenant, actor=request.user, rule=rule, enabled=enabled)
    messages.success(request, f"Rule “{rule.name}” {'enabled' if enabled else 'disabled'}.")
    return redirect("rule_list")


@tenant_view(role=Role.ADMIN)
def rule_delete_page(request, pk: int):
    rule = _rule_of(request, pk)
    if request.method == "POST":
        services.rule_delete(tenant=request.tenant, actor=request.user, rule=rule)
        messages.success(request, f"Rule “{rule.name}” deleted.")
        return redirect("rule_list")
    return render(request, "routing/rule_confirm_delete.html", {
        "rule": rule, "summary": rule_summary(rule, base_currency=request.tenant.base_currency),
    })


@tenant_view
@require_POST
def rule_starter(request):
    form = StarterForm(request.POST, tenant=request.tenant)
    if form.is_valid():
        try:
            services.rule_starter_create(tenant=request.tenant, actor=request.user, **form.cleaned_data)
            messages.success(request, "Starter rules created. Edit them any time.")
            return redirect("rule_list")
        except ApplicationError as exc:
            if exc.status == 409:
                messages.error(request, exc.message)
                return redirect("rule_list")
            _add_errors(form, exc)
    return _list_page(request, starter_form=form)
