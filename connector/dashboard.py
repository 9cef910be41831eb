"""The dashboard: where a signed-in member lands."""

from django.shortcuts import redirect, render

from tenants.permissions import tenant_view


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "login")


@tenant_view
def dashboard(request):
    return render(request, "dashboard.html", {})
