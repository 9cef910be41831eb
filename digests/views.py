"""Digest pages, under Rules: list, create, edit (read-only for viewers), delete."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from connector.core.errors import ApplicationError
from digests import services
from digests.forms import DigestForm
from digests.models import Digest
from routing.channels import tenant_channel_choices
from tenants.models import Role
from tenants.permissions import tenant_view
from tenants.zones import tenant_zone


def _digest_of(request, pk: int) -> Digest:
    return get_object_or_404(Digest.objects.for_tenant(request.tenant), pk=pk)


@tenant_view
def digest_list_page(request):
    tenant = request.tenant
    zone = tenant_zone(tenant)
    digests = [(d, d.next_due_at.astimezone(zone) if d.next_due_at else None,
                d.last_sent_at.astimezone(zone) if d.last_sent_at else None)
               for d in Digest.objects.for_tenant(tenant)]
    return render(request, "digests/digest_list.html", {
        "digests": digests, "has_channels": bool(tenant_channel_choices(tenant=tenant)), "zone": str(zone)})


def _form_page(request, *, digest: Digest | None):
    tenant = request.tenant
    form = DigestForm(request.POST or None, tenant=tenant, digest=digest)
    if request.method == "POST" and form.is_valid():
        try:
            if digest is None:
                saved = services.digest_create(tenant=tenant, actor=request.user, data=form.digest_data())
                messages.success(request, f"Digest “{saved.name}” created.")
            else:
                saved = services.digest_update(tenant=tenant, actor=request.user, digest=digest,
                                               data=form.digest_data())
                messages.success(request, f"Digest “{saved.name}” saved.")
            return redirect("digest_list")
        except ApplicationError as exc:
            for name, field_messages in exc.extra.get("fields", {"": [exc.message]}).items():
                for message in field_messages:
                    form.add_error(name if name in form.fields else None, message)
    return render(request, "digests/digest_form.html", {"form": form, "digest": digest})


@tenant_view(role=Role.ADMIN)
def digest_create_page(request):
    return _form_page(request, digest=None)


@tenant_view
def digest_edit_page(request, pk: int):
    return _form_page(request, digest=_digest_of(request, pk))


@tenant_view(role=Role.ADMIN)
def digest_delete_page(request, pk: int):
    digest = _digest_of(request, pk)
    if request.method == "POST":
        services.digest_delete(tenant=request.tenant, actor=request.user, digest=digest)
        messages.success(request, f"Digest “{digest.name}” deleted.")
        return redirect("digest_list")
    return render(request, "digests/digest_confirm_delete.html", {"digest": digest})
