"""Schemathesis against the live Django app (WSGI, same test database): every operation of
/api/v1/schema/, called with each of two tenants' tokens, with valid and with invalid data, under all of
Schemathesis's checks. Any server error or any answer the schema does not describe fails the test.

Both tenants have rules, digests, deliveries and tokens, so ids that exist in the other tenant are tried too.
"""

from datetime import time
from decimal import Decimal

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks, negative_data_rejection, positive_data_acceptance

from connector.wsgi import application
from digests.models import Digest
from routing.models import Rule
from tests.conftest import _api
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 20  # per operation and mode (each example is sent with both tokens): a few minutes in all


@pytest.fixture
def api_schema():
    # As Django's test client does: a request must not close the test's database connection (its
    # transaction holds the test data).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(owner, other_owner, tenant, other_tenant):
    for t in (tenant, other_tenant):
        DeliveryFactory.create_batch(3, tenant=t)
        Rule.objects.create(tenant=t, name="Sales", events=["invoice.create"], channel_id="C0SALES")
        Digest.objects.create(tenant=t, name="Morning", channel_id="C0SALES", time=time(9, 0))
    return [_api(user, t)._credentials["HTTP_AUTHORIZATION"]
            for user, t in ((owner, tenant), (other_owner, other_tenant))]


# Valid by the schema yet refusable by the tenant's state: a rule's or a digest's channel_id must be a
# channel of the tenant's Slack workspace, and a replay needs a delivery in a state that can be replayed.
DEPENDS_ON_STATE = {"POST /api/v1/rules/", "PATCH /api/v1/rules/{id}/", "POST /api/v1/rules/preview/",
                    "POST /api/v1/deliveries/{id}/replay/", "POST /api/v1/digests/", "PATCH /api/v1/digests/{id}/"}


NOTHING_TO_INVALIDATE = {"GET /api/v1/me/"}


def _amounts_in_order(case) -> bool:
    """amount_min <= amount_max: a rule between two parameters, which OpenAPI cannot state."""
    query = case.query or {}
    try:
        return Decimal(query["amount_min"]) <= Decimal(query["amount_max"])
    except (KeyError, TypeError, ArithmeticError):
        return True


def _fuzz(operation, mode, tokens):
    # Invalid requests must be refused, except in two ways the schema cannot tell: we add the token to
    # cases Schemathesis made "without credentials", and unknown query parameters are ignored (as by most
    # REST APIs), not refused.
    excluded = [negative_data_rejection] if mode == GenerationMode.NEGATIVE else []
    if operation.label in DEPENDS_ON_STATE:
        excluded.append(positive_data_acceptance)

    strategy = operation.as_strategy(generation_mode=mode)
    if mode == GenerationMode.POSITIVE:
        strategy = strategy.filter(_amounts_in_order)

    @given(case=strategy)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        for token in tokens:
            case.call_and_validate(headers={"Authorization": token}, excluded_checks=excluded)

    try:
        run()
    except Unsatisfiable:
        # Only an operation with nothing a request can get wrong (GET /api/v1/me/: no parameter, no body)
        # has no invalid request to make; any other operation must be fuzzed.
        if mode != GenerationMode.NEGATIVE or operation.label not in NOTHING_TO_INVALIDATE:
            raise


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_never_errors_and_matches_its_schema(api_schema, tokens, mode):
    load_all_checks()
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz(operation, mode, tokens)
        except BaseExceptionGroup as exc:  # Schemathesis's failures: collect every operation's, report all
            failures.append(f"{operation.label}: {exc}\n" + "\n".join(str(e) for e in exc.exceptions))
    assert not failures, "\n\n".join(failures)
