"""Raw SQL over every audit table finds no plaintext payload, client or vendor name, or message text."""

import pytest
from django.apps import apps
from django.db import connection

from audit.models import InboundEvent
from connector.core.events import Action, FinancialEvent, Kind
from connector.pipeline.bulk_replay import bulk_replay_create
from tests.factories import DeliveryAttemptFactory, DeliveryFactory, InboundEventFactory

pytestmark = pytest.mark.django_db

CLIENT = "Zanzibar Fictional Holdings"
VENDOR = "Quokka Paper Supplies"
NUMBER = "INV-7Q7Q7Q"
MESSAGE = "Invoice INV-7Q7Q7Q for Zanzibar Fictional Holdings: 1,234.00 USD, due Friday"
ACCOUNT = "ACCTSECRET99"


def _all_audit_text() -> str:
    """Every column of every row of every audit table, as the database holds it."""
    chunks = []
    with connection.cursor() as cursor:
        for model in apps.get_app_config("audit").get_models():
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT * FROM {table}")
            chunks.extend(str(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_no_plaintext_in_audit_tables(tenant, owner, slack_workspace):
    fin = FinancialEvent(event_name="invoice.create", kind=Kind.INVOICE, action=Action.CREATED,
                         object_id="31337", counterparty=CLIENT, document_number=NUMBER, notes=VENDOR)
    event = InboundEventFactory(
        tenant=tenant, raw_body=f"name=invoice.create&object_id=31337&account_id={ACCOUNT}&business_id=1",
        fetched_object={"invoice": {"organization": CLIENT, "lines": [{"name": VENDOR}]}},
        financial_event=fin.to_dict())
    delivery = DeliveryFactory(tenant=tenant, inbound_event=event, counterparty_name=CLIENT, number=NUMBER,
                               message_text=MESSAGE, message_blocks=[{"type": "section", "text": MESSAGE}],
                               status="failed")
    bill = DeliveryFactory(tenant=tenant, event_name="bill.create", counterparty_name=VENDOR, status="failed")
    DeliveryAttemptFactory(delivery=delivery, outcome="destination_broken", error_code="channel_not_found")
    InboundEventFactory(tenant=tenant, status=InboundEvent.Status.IGNORED, raw_body=f"account_id={ACCOUNT}")
    # A bulk replay searched by client name and document number: its stored selection must not hold them.
    bulk = bulk_replay_create(tenant=tenant, actor=owner, filters={"counterparty": CLIENT, "document_number": NUMBER},
                              max_delivery_id=bill.pk, mode="as_routed")
    assert bulk.total == 1

    everything = _all_audit_text()
    for secret in (CLIENT, VENDOR, NUMBER, MESSAGE, ACCOUNT, "Zanzibar", "Quokka", "7Q7Q7Q"):
        assert secret not in everything, secret
    assert InboundEvent.objects.get(pk=event.pk).raw_body.endswith("business_id=1")  # still readable via ORM
