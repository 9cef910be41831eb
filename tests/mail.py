"""Reading the links out of emails the app sent (Django's outbox in unit tests, a mailbox in e2e ones)."""

import re

SIGNUP_LINK = re.compile(r"https?://[^/\s]+(/accounts/signup/verify/[^/\s]+/)")


def signup_link_path(body: str) -> str:
    """The path of the sign-up link in an email's body (the site's address differs between setups)."""
    found = SIGNUP_LINK.search(body)
    assert found, f"no sign-up link in:\n{body}"
    return found.group(1)
