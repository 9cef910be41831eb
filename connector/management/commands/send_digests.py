"""send_digests --tenant SLUG [--now]: with --now, send every enabled digest of the tenant at once; without,
send those that are due (what beat does every minute), catching up any whose time passed meanwhile."""

from django.core.management.base import BaseCommand, CommandError

from connector.pipeline.digests import digests_send_due, digests_send_now
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Send the tenant's digests: all enabled ones with --now, else those due (prints `digests N` last)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--now", action="store_true", help="send every enabled digest now, whatever its "
                                                               "schedule")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {opts['tenant']!r}")
        sent = digests_send_now(tenant=tenant) if opts["now"] else digests_send_due(tenant=tenant)
        for delivery in sent:
            self.stdout.write(f"{delivery.document_number} -> #{delivery.channel_name or delivery.channel_id} "
                              f"(delivery {delivery.pk}, {delivery.status})")
        self.stdout.write(f"digests {len(sent)}")
