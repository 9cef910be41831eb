"""verify_audit [--tenant SLUG]: checks each tenant's activity hash chain; exits 1 at the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from audit.activity import activity_verify
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Verify the hash chain of each tenant's activity log and report the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")

    def handle(self, *args, tenant=None, **options):
        tenants = Tenant.objects.all() if tenant is None else Tenant.objects.filter(slug=tenant)
        if tenant and not tenants.exists():
            raise CommandError(f"No tenant with slug {tenant!r}")
        broken = []
        for t in tenants.order_by("id"):
            bad = activity_verify(tenant=t)
            if bad is None:
                self.stdout.write(f"{t.slug}: intact")
            else:
                broken.append(t.slug)
                self.stdout.write(f"{t.slug}: BROKEN at activity entry {bad.pk} ({bad.action}, {bad.created_at:%Y-%m-%d %H:%M:%S})")
        if broken:
            raise CommandError(f"Activity log tampered with or corrupted in: {', '.join(broken)}")
