"""apitoken --tenant SLUG --user EMAIL: prints a new API token alone on its last line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from connector.core.errors import ApplicationError
from tenants import services
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create an API token for USER in TENANT (shown once; only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--user", required=True, help="user's email")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, tenant, user, name, **options):
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        if tenant_obj is None:
            raise CommandError(f"No tenant with slug {tenant!r}")
        user_obj = get_user_model().objects.filter(email__iexact=user).first()
        if user_obj is None:
            raise CommandError(f"No user with email {user!r}")
        try:
            token, key = services.api_token_create(tenant=tenant_obj, user=user_obj, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"API token {token.prefix}… for {user_obj.email} in {tenant_obj.slug}:")
        self.stdout.write(key)
