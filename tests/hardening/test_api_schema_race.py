"""Two first requests for the OpenAPI schema at once, in one process, both get it (one got a 500 before:
drf-spectacular loads its extensions' target classes lazily, into class attributes)."""

import time

import pytest
from drf_spectacular import plumbing
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme, SimpleJWTTokenUserScheme

from tests.concurrency import at_once
from tests.conftest import _api


@pytest.mark.django_db(transaction=True)
def test_two_first_schema_requests_at_once_both_get_the_schema(owner, tenant, monkeypatch):
    clients = [_api(owner, tenant), _api(owner, tenant)]
    # As in a fresh process: the extensions of a package not installed are not looked up yet, and looking
    # one up takes a moment (a real import searches the path), so the two requests overlap in it.
    for extension in (SimpleJWTScheme, SimpleJWTTokenUserScheme):
        monkeypatch.setattr(extension, "target_class", f"rest_framework_simplejwt.authentication.{extension.__name__}")
    real_import = plumbing.import_string

    def slow_import(path):
        time.sleep(0.05)
        return real_import(path)

    monkeypatch.setattr(plumbing, "import_string", slow_import)
    answers = at_once(lambda: clients.pop().get("/api/v1/schema/"))
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].content == answers[1].content
