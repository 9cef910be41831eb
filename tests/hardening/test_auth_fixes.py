"""Credentials: a password reset ends every other way into the account; a new API key is never stored
readable; the activity chain and blind indexes have keys of their own."""

import hashlib
import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from django.utils import timezone

from audit.activity import GENESIS, activity_record, activity_verify
from audit.models import ActivityLog
from connector.core.crypto import blind_index
from tenants.models import ApiToken
from tenants.services import api_token_create
from tenants.views import NEW_API_KEY_SESSION_KEY
from tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def test_a_password_reset_revokes_api_tokens_and_ends_other_sessions(owner, tenant, owner_client, owner_api,
                                                                     mailoutbox):
    assert owner_api.get("/api/v1/me/").status_code == 200
    stranger = Client()
    stranger.post("/accounts/password-reset/", {"email": owner.email})
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)
    form_url = stranger.get(link)["Location"]

    response = stranger.post(form_url, {"new_password1": "a brand new passphrase", "new_password2":
                                        "a brand new passphrase"})

    assert response.status_code == 302
    assert not ApiToken.objects.filter(user=owner).exists()
    assert owner_api.get("/api/v1/me/").status_code == 401
    assert owner_client.get("/dashboard/").status_code == 302  # the old session is logged out


def test_saving_a_user_without_a_new_password_keeps_tokens(owner, tenant):
    api_token_create(tenant=tenant, user=owner)
    owner.first_name = "Ada"
    owner.save()

    assert ApiToken.objects.filter(user=owner).count() == 1


def test_a_new_api_key_is_sealed_in_the_session_and_shown_once(owner_client):
    owner_client.post("/accounts/settings/api-tokens/", {"name": "script"})

    sealed = owner_client.session[NEW_API_KEY_SESSION_KEY]
    token = ApiToken.objects.get(name="script")
    assert not sealed.startswith(token.prefix) and sealed.startswith("gAAAA")  # a Fernet token, not the key
    page = owner_client.get("/accounts/settings/").content.decode()
    key = re.search(r'<output id="new-api-key">([^<]+)</output>', page).group(1)
    assert ApiToken.objects.filter(key_hash=ApiToken.hash_key(key)).exists()
    assert 'id="new-api-key"' not in owner_client.get("/accounts/settings/").content.decode()


# --- The activity chain's own key ----------------------------------------------------------------------

def _legacy_entry(tenant, action: str) -> ActivityLog:
    """An entry as written before the chain was keyed: plain SHA-256, no key id."""
    last = ActivityLog.objects.for_tenant(tenant).order_by("-id").first()
    prev_hash = last.entry_hash if last else GENESIS
    created_at = timezone.now()
    canonical = json.dumps([tenant.pk, prev_hash, "system", action, "", {}, created_at.isoformat()],
                           cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    return ActivityLog.objects.create(tenant=tenant, actor_label="system", action=action, details={},
                                      prev_hash=prev_hash, created_at=created_at,
                                      entry_hash=hashlib.sha256(canonical.encode()).hexdigest())


def test_a_chain_written_before_keying_still_verifies_and_continues_keyed(tenant):
    ActivityLog.objects.for_tenant(tenant).delete()
    _legacy_entry(tenant, "old.one")
    _legacy_entry(tenant, "old.two")

    activity_record(tenant=tenant, actor=None, action="new.one")

    assert activity_verify(tenant=tenant) is None
    call_command("verify_audit", "--tenant", tenant.slug, stdout=io.StringIO())
    assert ActivityLog.objects.for_tenant(tenant).latest("id").chain_key_id


def test_without_the_key_an_entry_cannot_be_rewritten_and_rechained(tenant):
    activity_record(tenant=tenant, actor=None, action="a")
    target = activity_record(tenant=tenant, actor=None, action="b")
    # Rewritten with a plain hash, as someone with database access but no key would.
    canonical = json.dumps([tenant.pk, target.prev_hash, "system", "forged", "", {}, target.created_at.isoformat()],
                           cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))
    ActivityLog.objects.filter(pk=target.pk).update(action="forged", chain_key_id="",
                                                    entry_hash=hashlib.sha256(canonical.encode()).hexdigest())

    assert activity_verify(tenant=tenant).pk == target.pk


def test_the_chain_key_rotates_and_old_entries_keep_verifying(tenant, settings):
    activity_record(tenant=tenant, actor=None, action="before")
    settings.ACTIVITY_CHAIN_KEYS = ["the-new-key", *settings.ACTIVITY_CHAIN_KEYS]
    activity_record(tenant=tenant, actor=None, action="after")

    assert activity_verify(tenant=tenant) is None
    settings.ACTIVITY_CHAIN_KEYS = ["the-new-key"]  # the old key dropped too early
    assert activity_verify(tenant=tenant) is not None


# --- The blind index's own key --------------------------------------------------------------------------

def test_blind_index_key_defaults_to_the_old_derivation(settings):
    settings.BLIND_INDEX_KEY = ""
    before = blind_index("Acme Ltd")
    settings.BLIND_INDEX_KEY = settings.SECRET_KEY

    assert blind_index("Acme Ltd") == before  # an install that never set it keeps its indexes


def test_after_a_blind_index_key_change_reindex_makes_search_work_again(owner_api, tenant, settings):
    delivery = DeliveryFactory(tenant=tenant, counterparty="Acme Ltd", counterparty_index=blind_index("Acme Ltd"))
    settings.BLIND_INDEX_KEY = "a-brand-new-blind-index-key"
    assert owner_api.get("/api/v1/deliveries/", {"counterparty": "Acme Ltd"}).json()["count"] == 0

    out = io.StringIO()
    call_command("reindex", stdout=out)

    assert "reindexed 1 deliveries" in out.getvalue()
    found = owner_api.get("/api/v1/deliveries/", {"counterparty": "acme  ltd"}).json()["results"]
    assert [d["id"] for d in found] == [delivery.pk]


# --- Content-Security-Policy ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/dashboard/", "/activity/", "/rules/", "/accounts/settings/", "/slack/"])
def test_pages_carry_a_strict_csp_and_no_inline_code(owner_client, path):
    response = owner_client.get(path)

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page = response.content.decode()
    assert "<style" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # every script is a file
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
    assert '"allowEval": false' in page  # htmx without eval
