"""createtenant --name NAME --owner EMAIL [--password PW]: prints the new slug alone on its last line.

Without --password, a new owner's password comes from $TENANT_OWNER_PASSWORD, or from standard input with
--password-stdin (kept out of the process list); with neither, they set one through password reset."""

from django.core.management.base import BaseCommand, CommandError

from connector.core.errors import ApplicationError
from connector.core.operator_input import secret_option
from tenants import services


class Command(BaseCommand):
    help = "Create a tenant with EMAIL as its owner (the user is created when new)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="owner's email")
        parser.add_argument("--password", help="password for a new owner (none: $TENANT_OWNER_PASSWORD, "
                                               "--password-stdin, or they use password reset)")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        parser.add_argument("--currency", default="USD")

    def handle(self, *args, name, owner, password, currency, password_stdin, **options):
        password = secret_option(password, option="--password", env_var="TENANT_OWNER_PASSWORD",
                                 required=password_stdin, from_stdin=password_stdin) or None
        user, created = services.user_get_or_create(email=owner, password=password)
        try:
            tenant = services.tenant_create(name=name, owner=user, base_currency=currency)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{'Created' if created else 'Using existing'} user {user.email}")
        self.stdout.write(f"Created tenant {tenant.name!r} owned by {user.email}")
        self.stdout.write(tenant.slug)
