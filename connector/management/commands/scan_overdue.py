"""scan_overdue --tenant SLUG [--today YYYY-MM-DD]: the daily overdue check for one tenant, now.

Reads the open invoices from FreshBooks and records one invoice.overdue event per invoice and due date not
alerted before; the worker routes and posts them like any event. Last line: `overdue N` (new alerts)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from connector.core.errors import ApplicationError
from connector.freshbooks.errors import FreshBooksError
from connector.pipeline.overdue import overdue_scan
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Find the tenant's overdue invoices in FreshBooks and alert each once (prints `overdue N` last)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--today", help="the local date to check against, YYYY-MM-DD (default: today on "
                                            "the tenant's clock)")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {opts['tenant']!r}")
        today = None
        if opts["today"]:
            try:
                today = date.fromisoformat(opts["today"])
            except ValueError as exc:
                raise CommandError(f"--today must be a date as YYYY-MM-DD, not {opts['today']!r}") from exc
        try:
            result = overdue_scan(tenant=tenant, today=today)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except FreshBooksError as exc:
            raise CommandError(f"FreshBooks could not be read: {exc.message}") from exc
        self.stdout.write(f"{tenant.slug}: {result.found} invoice(s) overdue on {result.today.isoformat()}, "
                          f"{result.found - result.new} already alerted.")
        self.stdout.write(f"overdue {result.new}")
