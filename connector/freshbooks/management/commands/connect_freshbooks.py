"""connect_freshbooks --tenant SLUG --access-token T --refresh-token R --expires-in S --account-id A
--business-id B: stores given FreshBooks tokens for a tenant, exactly as the Connect page does.

Left out, --access-token and --refresh-token come from FRESHBOOKS_ACCESS_TOKEN / FRESHBOOKS_REFRESH_TOKEN,
else from standard input (access token on the first line, refresh token on the second), so they need
not appear in the process list."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from connector.core.operator_input import secret_option
from connector.freshbooks.client import TokenGrant
from connector.freshbooks.services import connection_store
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Store a FreshBooks access/refresh token pair for a tenant (encrypted), as the Connect page does."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--access-token", help="default: $FRESHBOOKS_ACCESS_TOKEN, else standard input")
        parser.add_argument("--refresh-token", help="default: $FRESHBOOKS_REFRESH_TOKEN, else standard input")
        parser.add_argument("--expires-in", required=True, type=int, help="seconds until the access token expires")
        parser.add_argument("--account-id", required=True, help="FreshBooks account id (alphanumeric)")
        parser.add_argument("--business-id", required=True, help="FreshBooks business id (numeric)")
        parser.add_argument("--business-name", default="", help="shown in the UI (optional)")

    def handle(self, *args, tenant, access_token, refresh_token, expires_in, account_id, business_id,
               business_name, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        if expires_in < 0:
            raise CommandError("--expires-in must be zero or more seconds.")
        access_token = secret_option(access_token, option="--access-token", env_var="FRESHBOOKS_ACCESS_TOKEN")
        refresh_token = secret_option(refresh_token, option="--refresh-token", env_var="FRESHBOOKS_REFRESH_TOKEN")
        for label, value in (("--access-token", access_token), ("--refresh-token", refresh_token),
                             ("--account-id", account_id), ("--business-id", business_id)):
            if not value.strip():
                raise CommandError(f"{label} must not be empty.")
        grant = TokenGrant(access_token=access_token.strip(), refresh_token=refresh_token.strip(),
                           expires_at=timezone.now() + timedelta(seconds=expires_in))
        connection = connection_store(tenant=found, actor=None, grant=grant, account_id=account_id.strip(),
                                      business_id=business_id.strip(), business_name=business_name.strip())
        self.stdout.write(f"Connected tenant {found.slug} to FreshBooks account {connection.account_id} "
                          f"(business {connection.business_id}); access token expires "
                          f"{connection.expires_at:%Y-%m-%d %H:%M} UTC. Tokens are stored encrypted.")
        self.stdout.write(f"Next: manage.py register_callbacks --tenant {found.slug}")
