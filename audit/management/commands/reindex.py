"""Recompute every blind index (counterparty and document number of deliveries and inbound events, and the
fragments of the "contains" name search) with the current key: run it after changing BLIND_INDEX_KEY (or SECRET_KEY while BLIND_INDEX_KEY is empty).
Until it has run, searches by name or number find nothing written before the change."""

from django.core.management.base import BaseCommand

from audit.counterparty_search import backfill
from audit.models import CounterpartyGram, Delivery, InboundEvent
from connector.core.crypto import blind_index

BATCH = 1000


class Command(BaseCommand):
    help = "Recompute the blind indexes with the current BLIND_INDEX_KEY (after a key change)."

    def handle(self, *args, **options):
        deliveries = self._reindex(Delivery.objects.only("id", "counterparty", "document_number"),
                                   lambda d: (d.counterparty, d.document_number))
        events = self._reindex(InboundEvent.objects.only("id", "financial_event").exclude(financial_event=None),
                               lambda e: ((e.financial_event or {}).get("counterparty"),
                                          (e.financial_event or {}).get("document_number")))
        # The fragments were hashed under the old key too: drop them and index every name again.
        CounterpartyGram.objects.all().delete()
        names = backfill()
        self.stdout.write(f"reindexed {deliveries} deliveries and {events} inbound events "
                          f"({names} names for the contains search)")

    def _reindex(self, queryset, names) -> int:
        model = queryset.model
        batch, changed = [], 0
        for row in queryset.order_by("id").iterator(chunk_size=BATCH):
            counterparty, number = names(row)
            row.counterparty_index, row.document_number_index = blind_index(counterparty), blind_index(number)
            batch.append(row)
            if len(batch) == BATCH:
                changed += model.objects.bulk_update(batch, ["counterparty_index", "document_number_index"])
                batch = []
        if batch:
            changed += model.objects.bulk_update(batch, ["counterparty_index", "document_number_index"])
        return changed
