"""Index the client and vendor names already in the ledger for the Activity "contains" search."""

from django.core.management.base import BaseCommand

from audit.counterparty_search import backfill


class Command(BaseCommand):
    help = ("Index the client and vendor names already stored for the Activity search's 'contains' match "
            "(migrations do it once; safe to run again).")

    def handle(self, *args, **options):
        count = backfill()
        self.stdout.write(f"Indexed {count} client or vendor name{'' if count == 1 else 's'}.")
