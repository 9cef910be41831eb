"""The FreshBooks page's "Test connection": asks FreshBooks who our access signs in as, renewing it when
refused; every answer is a message in plain words (never a 500); viewers see no button they cannot use."""

import pytest

from connector.freshbooks.models import FreshBooksConnection
from tests.freshbooks.conftest import ACCOUNT_ID, API

pytestmark = pytest.mark.django_db

ME_URL = f"{API}/auth/api/v1/users/me"
TOKEN_URL = f"{API}/auth/oauth/token"


def _me(account_id=ACCOUNT_ID):
    return {"response": {"identity_id": 14051539, "email": "ann@example.com", "business_memberships": [
        {"id": 1, "role": "owner", "business": {"id": 14393743, "name": "First Business", "account_id": account_id}}]}}


def test_the_page_offers_the_test_to_admins_only(owner_client, viewer, tenant, connection):
    assert "Test connection" in owner_client.get("/freshbooks/").content.decode()
    owner_client.force_login(viewer, backend="tenants.auth.EmailBackend")
    assert "Test connection" not in owner_client.get("/freshbooks/").content.decode()


def test_viewer_cannot_run_the_test(viewer_client, connection, fb_api):
    assert viewer_client.post("/freshbooks/test/").status_code == 403
    assert len(fb_api.calls) == 0


def test_a_working_connection_says_which_business_and_login(owner_client, connection, fb_api):
    fb_api.get(ME_URL, json=_me())

    response = owner_client.post("/freshbooks/test/", follow=True)

    assert response.redirect_chain[-1][0] == "/freshbooks/"
    assert "FreshBooks answered: connected to First Business as ann@example.com." in response.content.decode()
    assert fb_api.calls[0].request.headers["Authorization"] == "Bearer access-1"


def test_a_login_that_left_the_business_is_explained(owner_client, connection, fb_api):
    fb_api.get(ME_URL, json=_me(account_id="OTHER1"))

    html = owner_client.post("/freshbooks/test/", follow=True).content.decode()

    assert "that login no longer belongs to First Business" in html


def test_refused_access_asks_to_reconnect_and_marks_the_connection(owner_client, connection, fb_api):
    fb_api.get(ME_URL, status=401, json={"errno": 401, "message": "invalid_token: expired"})
    fb_api.post(TOKEN_URL, status=401, json={"error": "invalid_grant", "error_description": "used"})

    response = owner_client.post("/freshbooks/test/", follow=True)

    assert response.status_code == 200
    assert "Connection test failed. FreshBooks no longer accepts our access" in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == FreshBooksConnection.Status.NEEDS_REAUTH


def test_freshbooks_down_is_a_message_not_a_500(owner_client, connection, fb_api):
    fb_api.get(ME_URL, status=503, body="<html>down</html>")

    response = owner_client.post("/freshbooks/test/", follow=True)

    assert response.status_code == 200
    assert "FreshBooks could not be reached just now" in response.content.decode()
    connection.refresh_from_db()
    assert connection.status == FreshBooksConnection.Status.ACTIVE


def test_without_a_connection_it_says_so(owner_client, settings_fb):
    html = owner_client.post("/freshbooks/test/", follow=True).content.decode()
    assert "FreshBooks is not connected: connect it first." in html
