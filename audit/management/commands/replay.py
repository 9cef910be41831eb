"""replay --tenant SLUG [filters] [--to-channel ID] [--mode as_routed|reevaluate] [--dry-run]

Replays every delivery an activity search selects, as the UI's bulk replay does (same selection, same
pipeline, recorded in the activity log as done by the operator), but right here rather than in a worker.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from audit.forms import tenant_zone
from audit.models import BulkReplay, Delivery
from audit.selectors import delivery_channels, delivery_search
from audit.services import bulk_replay_preview
from connector.core.errors import ApplicationError
from connector.core.events import SUPPORTED_EVENTS
from connector.pipeline.bulk_replay import bulk_replay_create, bulk_replay_run_batch
from connector.pipeline.replay import ReplayMode
from tenants.models import Tenant

DRY_RUN_SHOWN = 20  # deliveries listed by --dry-run


class Command(BaseCommand):
    help = "Replay the deliveries an activity search selects (prints what it did; exit 1 on any error)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--status", action="append", choices=Delivery.Status.values,
                            help="delivery status (repeatable)")
        parser.add_argument("--event", action="append", help="FreshBooks event name, e.g. invoice.create "
                                                             "(repeatable)")
        parser.add_argument("--channel", help="channel id the deliveries went to")
        parser.add_argument("--since", help="created on/after: YYYY-MM-DD (tenant's time zone) or ISO date-time")
        parser.add_argument("--until", help="created up to: YYYY-MM-DD (that day included) or ISO date-time "
                                            "(excluded)")
        parser.add_argument("--counterparty", help="client or vendor name, exact")
        parser.add_argument("--document", help="invoice or bill number, exact")
        parser.add_argument("--amount-min")
        parser.add_argument("--amount-max")
        parser.add_argument("--to-channel", default="", help="channel id to replay to (default: each one's own)")
        parser.add_argument("--mode", choices=ReplayMode.ALL, default="as_routed")
        parser.add_argument("--dry-run", action="store_true", help="show what would be replayed, change nothing")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug {opts['tenant']!r}")
        if opts["to_channel"] and opts["mode"] == "reevaluate":
            raise CommandError("--to-channel only goes with --mode as_routed (today's rules pick the channels).")
        filters = self._filters(tenant, opts)
        count, max_id = bulk_replay_preview(tenant=tenant, filters=filters)
        if not count:
            self.stdout.write(f"{tenant.slug}: no delivery matches; nothing replayed.")
            return
        if opts["dry_run"]:
            self.stdout.write(f"{tenant.slug}: {count} deliver{'y' if count == 1 else 'ies'} would be replayed "
                              f"({opts['mode']}{', to ' + opts['to_channel'] if opts['to_channel'] else ''}):")
            for d in delivery_search(tenant=tenant, filters={**filters, "max_id": max_id}).defer(
                    "message_text", "message_blocks")[:DRY_RUN_SHOWN]:
                self.stdout.write(f"  delivery {d.pk}: {d.event_name} {d.object_id} -> {d.channel_id} ({d.status})")
            if count > DRY_RUN_SHOWN:
                self.stdout.write(f"  ... and {count - DRY_RUN_SHOWN} more")
            return
        names = dict(delivery_channels(tenant=tenant))
        try:
            bulk = bulk_replay_create(tenant=tenant, actor=None, filters=filters, max_delivery_id=max_id,
                                      mode=opts["mode"], to_channel_id=opts["to_channel"],
                                      to_channel_name=names.get(opts["to_channel"], ""))
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        while bulk_replay_run_batch(bulk_id=bulk.pk):
            pass
        bulk.refresh_from_db()
        self.stdout.write(f"{tenant.slug}: bulk replay {bulk.pk}: {bulk.done} of {bulk.total} replayed, "
                          f"{bulk.skipped} refused.")
        if bulk.skipped or bulk.status != BulkReplay.Status.DONE:
            raise CommandError(f"Not everything was replayed. Last refusal: {bulk.last_error or bulk.status}")

    def _filters(self, tenant, opts) -> dict:
        zone = tenant_zone(tenant)
        filters: dict = {}
        if opts["status"]:
            filters["status"] = opts["status"]
        if opts["event"]:
            unknown = [e for e in opts["event"] if e not in SUPPORTED_EVENTS]
            if unknown:
                raise CommandError(f"Unknown event {', '.join(unknown)}; one of {', '.join(SUPPORTED_EVENTS)}")
            filters["event"] = opts["event"]
        for opt, key in (("channel", "channel_id"), ("counterparty", "counterparty"), ("document", "document_number")):
            if opts[opt]:
                filters[key] = opts[opt]
        for opt, key, day_after in (("since", "since", False), ("until", "until", True)):
            if opts[opt]:
                filters[key] = self._moment(opts[opt], zone, day_after=day_after, name=opt)
        for opt in ("amount_min", "amount_max"):
            if opts[opt] is not None:
                try:
                    filters[opt] = Decimal(opts[opt])
                except InvalidOperation as exc:
                    raise CommandError(f"--{opt.replace('_', '-')} must be a number") from exc
        return filters

    @staticmethod
    def _moment(value: str, zone, *, day_after: bool, name: str):
        day = parse_date(value) if len(value) == 10 else None
        if day is not None:
            return datetime.combine(day + timedelta(days=1 if day_after else 0), time.min, tzinfo=zone)
        moment = parse_datetime(value)
        if moment is None:
            raise CommandError(f"--{name} must be YYYY-MM-DD or an ISO date-time")
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
