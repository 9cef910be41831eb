"""sweep: re-enqueue lost work and release resolved holds now (beat runs the same every minute)."""

from django.core.management.base import BaseCommand

from connector.pipeline.sweep import sweep_run


class Command(BaseCommand):
    help = "Re-enqueue inbound events and deliveries whose task was lost, and release resolved holds."

    def handle(self, *args, **options):
        report = sweep_run()
        self.stdout.write(
            f"Re-enqueued {report.inbound_requeued} inbound events, kicked {report.channels_kicked} channels, "
            f"probed {report.channels_probed} held channels, released {report.holds_released} held items."
        )
