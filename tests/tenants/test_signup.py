"""Sign-up by emailed link: the form answers the same for a new address and one with an account, the link
works once and expires, the password is chosen only behind it, and two uses of one link at once make one account."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.tasks import retention_purge
from connector.core.logging import redact_webhook_tokens
from tenants import signup as signups
from tenants.models import Membership, Role, SignupRequest, Tenant
from tests.concurrency import at_once
from tests.mail import signup_link_path

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unusual-passphrase"
CSRF_TOKEN = re.compile(r'"X-CSRFToken": "\w+"|name="csrfmiddlewaretoken" value="\w+"')  # random per request


def _form(email, **over):
    return {"business_name": "Acme Plumbing", "email": email, "base_currency": "CAD",
            "time_zone": "America/Toronto", **over}


def _signed_up(client, mailoutbox, email="ann@example.com", **over):
    """Posts the form; the path of the link emailed for it."""
    response = client.post("/accounts/signup/", _form(email, **over))
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/check-email/"
    return signup_link_path(mailoutbox[-1].body)


def test_sign_up_emails_a_link_that_makes_the_business_and_logs_in(client, mailoutbox):
    response = client.post("/accounts/signup/", _form("Ann@Example.com"), follow=True)

    assert "Check your email" in response.content.decode() and "ann@example.com" in response.content.decode()
    assert not get_user_model().objects.filter(email="ann@example.com").exists()  # not before the link
    [mail] = mailoutbox
    assert mail.to == ["ann@example.com"] and "finish signing up" in mail.subject
    link = signup_link_path(mail.body)
    assert "Acme Plumbing" in mail.body and "24 hours" in mail.body

    page = client.get(link)  # opening the link (or a mail scanner doing so) creates nothing yet
    assert page.status_code == 200 and "Finish signing up" in page.content.decode()
    assert 'type="password"' in page.content.decode() and 'autocomplete="new-password"' in page.content.decode()
    assert not Tenant.objects.filter(name="Acme Plumbing").exists()

    response = client.post(link, {"password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    tenant = Tenant.objects.get(name="Acme Plumbing")
    assert (tenant.base_currency, tenant.time_zone, tenant.slug) == ("CAD", "America/Toronto", "acme-plumbing")
    membership = Membership.objects.get(tenant=tenant)
    assert membership.role == Role.OWNER and membership.user.email == "ann@example.com"
    assert membership.user.check_password(PASSWORD)
    dashboard = client.get("/dashboard/").content.decode()
    assert "Acme Plumbing" in dashboard and "Connect FreshBooks" in dashboard
    client.post("/accounts/logout/")
    assert client.post("/accounts/login/", {"username": "ann@example.com", "password": PASSWORD}).status_code == 302


def test_a_new_and_a_known_address_get_the_same_answer(owner, mailoutbox):
    """Status, redirect, cookies and the page are the same; only the email (to the address's owner) differs."""
    answers = {}
    for email in ("nobody-yet@example.com", owner.email):
        client = Client()
        client.get("/accounts/signup/")
        response = client.post("/accounts/signup/", _form(email))
        page = client.get(response["Location"])
        answers[email] = (response.status_code, response["Location"], sorted(response.cookies),
                          page.status_code, CSRF_TOKEN.sub("", page.content.decode().replace(email, "EMAIL")), sorted(page.cookies))

    assert answers["nobody-yet@example.com"] == answers[owner.email]
    assert [m.to for m in mailoutbox] == [["nobody-yet@example.com"], [owner.email]]  # one email each


def test_a_known_address_gets_an_email_with_log_in_and_reset_links_and_nothing_changes(client, owner, mailoutbox):
    owner.set_password("the owner's own passphrase")
    owner.save()

    client.post("/accounts/signup/", _form(owner.email, business_name="Mine now"))

    [mail] = mailoutbox
    assert mail.to == [owner.email] and mail.subject == "You already have an ml-connector account"
    assert "already has an account" in mail.body
    assert "https://connector.example.com/accounts/login/" in mail.body
    assert "https://connector.example.com/accounts/password-reset/" in mail.body
    assert "/accounts/signup/verify/" not in mail.body
    assert "_auth_user_id" not in client.session
    assert not Tenant.objects.filter(name="Mine now").exists() and not SignupRequest.objects.exists()
    owner.refresh_from_db()
    assert owner.check_password("the owner's own passphrase")


def test_the_sign_up_form_asks_no_password(client):
    page = client.get("/accounts/signup/").content.decode()

    assert "Business name" in page and 'name="email"' in page and "Time zone" in page
    assert 'type="password"' not in page and 'name="password"' not in page


def test_form_errors_show_on_the_form_for_any_address(client, owner, mailoutbox):
    for email in ("new@example.com", owner.email):
        response = client.post("/accounts/signup/", _form(email, business_name=""))

        assert response.status_code == 200
        page = response.content.decode()
        assert "This field is required" in page
        assert "log in instead" not in page and "exists" not in page
    assert mailoutbox == []


def test_the_password_chosen_at_the_link_follows_the_password_rules(client, mailoutbox):
    link = _signed_up(client, mailoutbox)

    for password in ("123", "ann@example.com", ""):
        response = client.post(link, {"password": password})

        assert response.status_code == 400 and "Finish signing up" in response.content.decode()
        assert "_auth_user_id" not in client.session
    assert "too short" in client.post(link, {"password": "123"}).content.decode()
    assert "too similar" in client.post(link, {"password": "ann@example.com"}).content.decode()
    assert not get_user_model().objects.filter(email="ann@example.com").exists()
    assert client.post(link, {"password": PASSWORD}).status_code == 302  # the link still works


def test_someone_signing_up_with_anothers_address_never_gets_an_account_they_can_use(mailoutbox):
    """A pre-registration takeover: the attacker fills in the victim's address (and tries a password of
    their own); the victim follows the emailed link. The account's password is the victim's, and the
    attacker's value was never stored anywhere."""
    attacker, victim = Client(), Client()
    attackers_password = "the-attackers-own-passphrase"
    attacker.post("/accounts/signup/", _form("victim@example.com", password=attackers_password))
    assert not any(attackers_password in str(value)
                   for row in SignupRequest.objects.values() for value in row.values())

    [mail] = mailoutbox
    link = signup_link_path(mail.body)
    assert "Choose your password" in victim.get(link).content.decode()
    assert victim.post(link, {"password": PASSWORD}).status_code == 302

    user = get_user_model().objects.get(email="victim@example.com")
    assert user.check_password(PASSWORD) and not user.check_password(attackers_password)
    login = attacker.post("/accounts/login/", {"username": "victim@example.com", "password": attackers_password})
    assert login.status_code == 200 and "_auth_user_id" not in attacker.session
    assert attacker.get("/dashboard/").status_code == 302


def test_a_new_and_a_known_address_cost_the_same_database_work(owner, mailoutbox):
    """The same statements in the same order (literals aside): a known address's row is written, then rolled
    back. Savepoints are left out: outside this test's transaction the end is one COMMIT or one ROLLBACK."""
    literal = re.compile(r"'[^']*'|\b\d+\b")
    shapes = {}
    for email in ("nobody-yet@example.com", owner.email):
        with CaptureQueriesContext(connection) as queries:
            signups.signup_request(email=email, business_name="Acme Plumbing")
        shapes[email] = [literal.sub("?", q["sql"]) for q in queries if "SAVEPOINT" not in q["sql"]]

    assert shapes["nobody-yet@example.com"] == shapes[owner.email]
    assert any(sql.startswith("INSERT") for sql in shapes[owner.email])
    assert list(SignupRequest.objects.values_list("email", flat=True)) == ["nobody-yet@example.com"]
    assert len(mailoutbox) == 2


def test_the_link_works_once(client, mailoutbox):
    link = _signed_up(client, mailoutbox)
    assert client.post(link, {"password": PASSWORD}).status_code == 302
    client.post("/accounts/logout/")

    again = client.post(link, {"password": "another-long-passphrase"})

    assert again.status_code == 410 and "was used already" in again.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(link).status_code == 410
    assert Tenant.objects.filter(name="Acme Plumbing").count() == 1
    assert get_user_model().objects.get(email="ann@example.com").check_password(PASSWORD)


def test_an_expired_link_is_refused_with_a_clear_message(client, mailoutbox):
    link = _signed_up(client, mailoutbox)
    SignupRequest.objects.update(expires_at=timezone.now() - timedelta(minutes=1))

    for response in (client.get(link), client.post(link, {"password": PASSWORD})):
        assert response.status_code == 410
        page = response.content.decode()
        assert "This sign-up link has expired" in page and "Sign up again" in page
    assert not get_user_model().objects.filter(email="ann@example.com").exists()
    assert "_auth_user_id" not in client.session


def test_an_unknown_link_is_not_found(client):
    response = client.get("/accounts/signup/verify/not-a-real-token/")

    assert response.status_code == 404 and "not valid" in response.content.decode()
    assert client.post("/accounts/signup/verify/not-a-real-token/", {"password": PASSWORD}).status_code == 404


def test_an_address_that_got_an_account_meanwhile_is_never_logged_into(client, mailoutbox):
    link = _signed_up(client, mailoutbox)
    other = get_user_model().objects.create_user(username="ann@example.com", email="ann@example.com",
                                                 password="someone else's passphrase")

    response = client.post(link, {"password": PASSWORD})

    assert response.status_code == 410 and "has an account already" in response.content.decode()
    assert "_auth_user_id" not in client.session
    other.refresh_from_db()
    assert other.check_password("someone else's passphrase")
    assert not Tenant.objects.filter(name="Acme Plumbing").exists()
    assert client.post(link, {"password": PASSWORD}).status_code == 410


@pytest.mark.django_db(transaction=True)
def test_two_uses_of_one_link_at_once_make_one_account(mailoutbox):
    client = Client()
    token = _signed_up(client, mailoutbox, email="race@example.com").rstrip("/").rsplit("/", 1)[-1]
    def follow():
        try:
            user, _ = signups.signup_complete(token, PASSWORD)
        except signups.SignupInvalid as exc:
            return exc.reason, None
        return "made", user.pk

    outcomes = at_once(follow)

    assert sorted(reason for reason, _ in outcomes) == ["made", "used"]
    assert get_user_model().objects.filter(email="race@example.com").count() == 1
    assert Tenant.objects.filter(name="Acme Plumbing").count() == 1


def test_emails_to_one_address_are_limited_whether_or_not_it_has_an_account(owner, settings, mailoutbox):
    settings.SIGNUP_EMAIL_RATE = "2/h"
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{timezone.now().timestamp()}:"
    for email in ("limited@example.com", owner.email):
        statuses = [Client(REMOTE_ADDR=f"10.9.{n}.1").post("/accounts/signup/", _form(email)).status_code
                    for n in range(3)]  # from three addresses: the cap is per email address

        assert statuses == [302, 302, 429]
    assert len(mailoutbox) == 4
    response = Client().post("/accounts/signup/", _form("limited@example.com"))
    assert response["Retry-After"] and "Too many sign-up emails" in response.content.decode()


def test_a_signed_in_visitor_goes_to_the_dashboard(owner_client):
    assert owner_client.get("/accounts/signup/")["Location"] == "/dashboard/"


def test_the_link_never_reaches_a_log(client, mailoutbox, caplog):
    link = _signed_up(client, mailoutbox)
    token = link.rstrip("/").rsplit("/", 1)[-1]
    client.post(link, {"password": PASSWORD})
    client.post(link, {"password": PASSWORD})  # 410: Django logs the path of every 4xx

    assert "Gone: /accounts/signup/verify/<redacted>/" in [r.getMessage() for r in caplog.records]
    assert token not in caplog.text
    assert redact_webhook_tokens(f'"POST {link} HTTP/1.1" 302') == '"POST /accounts/signup/verify/<redacted>/ HTTP/1.1" 302'


def test_sign_ups_long_expired_are_deleted_by_the_daily_retention_purge_without_new_sign_ups(client, mailoutbox):
    _signed_up(client, mailoutbox, email="old@example.com")
    _signed_up(client, mailoutbox, email="recent@example.com")
    now = timezone.now()
    SignupRequest.objects.filter(email="old@example.com").update(
        expires_at=now - timedelta(days=signups.KEEP_EXPIRED_DAYS, minutes=1))
    SignupRequest.objects.filter(email="recent@example.com").update(expires_at=now - timedelta(days=1))

    retention_purge.run()  # what beat runs daily (settings.CELERY_BEAT_SCHEDULE["retention-purge"])

    assert list(SignupRequest.objects.values_list("email", flat=True)) == ["recent@example.com"]
