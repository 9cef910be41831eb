"""connect_slack (operator command): store a bot token for a tenant like Add to Slack does."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from connector.core.errors import ApplicationError
from connector.core.operator_input import secret_option
from connector.slack.errors import SlackError, Transient, describe
from connector.slack.selectors import channel_list
from connector.slack.services import slack_connect_token
from tenants.models import Tenant


class Command(BaseCommand):
    help = ("Connect a tenant to a Slack workspace with a bot token (xoxb-...). The token is checked with "
            "auth.test, which also gives the bot's ids; it is stored encrypted.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--bot-token", help="the bot token (xoxb-...); default: $SLACK_BOT_TOKEN, else "
                                                "standard input (kept out of the process list)")
        parser.add_argument("--team-id", required=True, help="the Slack workspace id (T...)")
        parser.add_argument("--team-name", default="", help="the workspace's name (default: as Slack says)")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {options['tenant']!r}.")
        token = secret_option(options["bot_token"], option="--bot-token", env_var="SLACK_BOT_TOKEN")
        try:
            installation = slack_connect_token(tenant=tenant, bot_token=token, team_id=options["team_id"].strip(),
                                               team_name=options["team_name"].strip())
        except Transient as exc:
            raise CommandError(f"Slack could not be reached at {settings.SLACK_API_URL} ({exc.code}). "
                               "Nothing was stored; try again when it is reachable.") from exc
        except SlackError as exc:
            raise CommandError(f"Slack refused the token: {describe(exc)} Nothing was stored.") from exc
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} Nothing was stored.") from exc
        channels = channel_list(tenant=tenant).count()
        self.stdout.write(
            f"Connected {tenant.name} ({tenant.slug}) to the Slack workspace "
            f"{installation.team_name or installation.team_id} ({installation.team_id}); bot user "
            f"{installation.bot_user_id or 'unknown'}, bot id {installation.bot_id or 'unknown'}; "
            f"{channels} channel{'s' if channels != 1 else ''} listed."
        )
