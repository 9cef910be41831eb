"""catch_up --tenant SLUG [--since YYYY-MM-DD]: one catch-up read from FreshBooks now; the last line counts
what it read, e.g. `read 42, new 3, already seen 39`."""

import functools
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from connector.core.errors import ApplicationError
from connector.freshbooks.errors import FreshBooksError
from connector.pipeline.catch_up import catch_up_run
from connector.pipeline.inbox import inbox_push_many
from tenants.models import Tenant


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since must be a date such as 2026-01-31, not {value!r}.") from exc


class Command(BaseCommand):
    help = ("List the tenant's FreshBooks invoices, payments, bills and expenses changed since the last read "
            "(a day of overlap) and send every change no webhook brought through the pipeline.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--since", help="backfill: every change from this day (YYYY-MM-DD, US/Eastern) on, "
                                            "even from before FreshBooks was connected")

    def handle(self, *args, tenant, since=None, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        since_day = _day(since) if since else None
        if since_day is not None and since_day > date.today():
            raise CommandError("--since is in the future: nothing has changed there yet.")
        try:
            result = catch_up_run(tenant=found, since=since_day, enqueue=functools.partial(inbox_push_many, found.pk))
        except (ApplicationError, FreshBooksError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        self.stdout.write(result.summary())
