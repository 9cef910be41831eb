"""Catch-up from the beat over real processes: with webhooks dropped, a change still reaches Slack within
about two intervals (here a quarter of a minute), marked as found by a catch-up read."""

import pytest

from sandbox.stack import Stack
from tests.e2e.conftest import channel_id, stack_config, wait_for


@pytest.fixture(scope="module")
def stack():
    with Stack(stack_config("test_catch_up_beat", extra_env={"CATCH_UP_INTERVAL_MINUTES": "0.25"})) as running:
        yield running


def test_the_beat_finds_a_change_whose_webhook_was_dropped(stack, connected):
    accounting = channel_id(stack, "accounting")
    rule = {"name": "Invoices", "events": ["invoice.create"], "channel_id": accounting}
    assert connected.post("/api/v1/rules/", json=rule).status_code == 201
    stack.freshbooks("POST", "/_control/delivery", json={"drop": True})
    invoice = stack.freshbooks("POST", "/_control/invoices", json={"organization": "Initech LLC"})["invoice"]

    # The tenant's first slot comes within the interval of the beat seeing the connection, the read then.
    (posted,) = wait_for(lambda: connected.deliveries(status="posted"), timeout=200,
                         message="the dropped invoice posted by a catch-up read")
    assert (posted["event"], posted["object_id"], posted["source"]) == ("invoice.create", str(invoice["id"]),
                                                                       "poll")
    assert posted["channel_id"] == accounting
