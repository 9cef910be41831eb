"""register_callbacks --tenant SLUG: registers the FreshBooks callbacks and completes their verification."""

import time

from django.core.management.base import BaseCommand, CommandError

from connector.core.errors import ApplicationError
from connector.freshbooks import services
from connector.freshbooks.errors import FreshBooksError
from connector.freshbooks.models import FreshBooksCallback
from connector.freshbooks.selectors import callback_list
from tenants.models import Tenant

DEFAULT_WAIT = 60  # seconds to wait for FreshBooks' verification posts ("a few seconds to several minutes")
RESEND_AFTER = 20  # seconds without a code before asking FreshBooks to send it again (once)
POLL_INTERVAL = 1  # seconds between looks at the database


class Command(BaseCommand):
    help = ("Register one FreshBooks callback per supported event at the tenant's webhook URL, then wait for "
            "FreshBooks' verification codes and confirm them.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--wait", type=int, default=DEFAULT_WAIT,
                            help=f"seconds to wait for verification (default {DEFAULT_WAIT}; 0: do not wait)")

    def handle(self, *args, tenant, wait, **options):
        found = Tenant.objects.filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        try:
            result = services.callbacks_register(tenant=found)
        except (ApplicationError, FreshBooksError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        self.stdout.write(f"Webhook URL: {found.webhook_url}")
        self.stdout.write(f"Registered {len(result.registered)}, already in place {len(result.kept)}, "
                          f"failed {len(result.failed)}.")
        for event, message in sorted(result.failed.items()):
            self.stdout.write(f"  {event}: FAILED ({message})")
        if wait > 0:
            self._complete_verification(found, wait)
        callbacks = list(callback_list(tenant=found))
        for cb in callbacks:
            self.stdout.write(f"  {cb.event}: {cb.state}{f' ({cb.last_error})' if cb.last_error else ''}")
        unverified = [cb.event for cb in callbacks if cb.state != FreshBooksCallback.State.VERIFIED]
        if result.failed or (wait > 0 and unverified):
            raise CommandError(f"{len(unverified)} callback(s) not verified: {', '.join(unverified)}. "
                               "Check that FreshBooks can reach the webhook URL, then run this again.")
        self.stdout.write(self.style.SUCCESS(f"{len(callbacks)} callback(s) registered"
                                             + (", all verified." if wait > 0 else ".")))

    def _complete_verification(self, tenant: Tenant, wait: int) -> None:
        """Confirms codes as they arrive (a worker may do it too; confirming is idempotent)."""
        started, resent = time.monotonic(), False
        while True:
            callbacks = list(callback_list(tenant=tenant).exclude(callback_id=""))
            for cb in callbacks:
                if cb.pending_verifier:
                    try:
                        services.callback_verification_confirm(callback=cb)
                    except FreshBooksError as exc:
                        self.stderr.write(f"  {cb.event}: could not confirm yet ({exc.message})")
            waiting = [cb for cb in callback_list(tenant=tenant).exclude(callback_id="")
                       if cb.state != FreshBooksCallback.State.VERIFIED]
            elapsed = time.monotonic() - started
            if not waiting or elapsed >= wait:
                return
            if not resent and elapsed >= RESEND_AFTER:
                resent = True
                for cb in waiting:
                    if not cb.pending_verifier:
                        try:
                            services.callback_resend_verification(tenant=tenant, callback=cb)
                            self.stdout.write(f"  {cb.event}: asked FreshBooks to resend the code")
                        except (ApplicationError, FreshBooksError) as exc:
                            self.stderr.write(f"  {cb.event}: resend failed ({getattr(exc, 'message', exc)})")
            time.sleep(POLL_INTERVAL)
