"""link_slack_user (operator command): a member acts from Slack as the given Slack user of the tenant's workspace."""

import re

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from connector.core.errors import ApplicationError
from connector.slack.selectors import installation_active
from tenants.models import Tenant
from tenants.slack_links import LINKED_BY_OPERATOR, slack_link_save

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,31}$")  # user ids start with U (W for Enterprise Grid)


class Command(BaseCommand):
    help = ("Link a member of a tenant to a Slack user of the tenant's connected workspace, so buttons and "
            "/freshbooks in Slack act as that member (with the member's role).")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--user", required=True, help="the member's email")
        parser.add_argument("--slack-user", required=True, help="the Slack user id (U...)")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        user = get_user_model().objects.filter(email__iexact=options["user"].strip()).first()
        if user is None:
            raise CommandError(f"No user with email {options['user']!r}.")
        slack_user = options["slack_user"].strip()
        if not SLACK_USER_ID.match(slack_user):
            raise CommandError(f"{slack_user!r} is not a Slack user id (like U0123ABCD).")
        installation = installation_active(tenant=tenant)
        if installation is None:
            raise CommandError(f"{tenant.name} has no working Slack installation: connect Slack first.")
        try:
            slack_link_save(tenant=tenant, user=user, team_id=installation.team_id, slack_user_id=slack_user,
                            linked_by=LINKED_BY_OPERATOR, actor=None)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Linked {user.email} in {tenant.slug} to Slack user {slack_user} of workspace "
                          f"{installation.team_id}.")
