"""The audit trail's own computations over the ledger: search columns of an event, bulk replay previews.
(Replaying is the delivery pipeline's: connector.pipeline.replay and connector.pipeline.bulk_replay.)"""

from decimal import Decimal

from django.db.models import Max

from audit.models import Delivery
from audit.selectors import delivery_search
from connector.core.crypto import blind_index
from connector.core.events import FinancialEvent


def inbound_index_fields(event: FinancialEvent) -> dict:
    """The searchable columns of an InboundEvent for its normalised event (blind indexes, no plaintext).

    The pipeline adds these to the update that stores `financial_event`, so an event that made no
    delivery can still be found by amount, counterparty or document number.
    """
    return {
        "amount": event.amount if isinstance(event.amount, Decimal) or event.amount is None
        else Decimal(str(event.amount)),
        "counterparty_index": blind_index(event.counterparty),
        "document_number_index": blind_index(event.document_number),
    }


def bulk_replay_preview(*, tenant, filters: dict) -> tuple[int, int]:
    """(how many deliveries the search selects, the highest delivery id at this moment).

    Confirming with that id replays exactly what was counted, whatever arrives in between.
    """
    max_id = Delivery.objects.for_tenant(tenant).aggregate(m=Max("id"))["m"] or 0
    count = delivery_search(tenant=tenant, filters={**filters, "max_id": max_id}).count() if max_id else 0
    return count, max_id
