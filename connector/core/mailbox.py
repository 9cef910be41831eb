"""Email you can read without a mail server, for `make run`'s sandbox mode and the end-to-end tests.

Django's file-based backend writes each connection's messages to a file in MAILBOX_DIR, separated by a
line of 79 dashes. The sandbox backend does the same and also prints them to the log (as the console
backend); `read_mailbox` reads the files back, newest first, for the /sandbox/mailbox/ page (DEBUG only)
and for tests that follow an emailed link.
"""

import email
import email.policy
import email.utils
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends import console, filebased
from django.http import Http404
from django.shortcuts import render

SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # what Django's console and file-based backends write after each message
LINK = re.compile(r"https?://[^\s<>\"']+")
MAILBOX_PAGE_SIZE = 50  # the page lists the newest this many


class SandboxEmailBackend(filebased.EmailBackend):
    """The file-based backend that also prints each message to stdout, so it shows in `make run`'s log."""

    def send_messages(self, email_messages):
        sent = super().send_messages(email_messages)
        console.EmailBackend(stream=sys.stdout).send_messages(email_messages)
        return sent


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    sent_at: datetime | None
    body: str
    links: list[str] = field(default_factory=list)


def _parsed(raw: bytes) -> Mail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    try:
        sent_at = email.utils.parsedate_to_datetime(message["Date"]) if message["Date"] else None
    except (TypeError, ValueError):
        sent_at = None
    return Mail(to=str(message["To"] or ""), subject=str(message["Subject"] or ""), sent_at=sent_at,
                body=body, links=LINK.findall(body))


def read_mailbox(directory: str | Path) -> list[Mail]:
    """Every message in the file-based backend's directory, newest first (files are named by time)."""
    path = Path(directory)
    if not path.is_dir():
        return []
    mails = []
    for file in sorted(path.glob("*.log"), key=lambda f: (f.stat().st_mtime_ns, f.name)):
        for raw in file.read_bytes().split(SEPARATOR):  # bytes: an 8-bit body is decoded by its own charset
            if raw.strip():
                mails.append(_parsed(raw.lstrip(b"\n")))
    return mails[::-1]


def mailbox_page(request):
    """The sandbox's inbox: every email the app sent, newest first. Not there unless SANDBOX_MAILBOX."""
    if not settings.SANDBOX_MAILBOX:
        raise Http404
    mails = read_mailbox(settings.MAILBOX_DIR)
    return render(request, "sandbox_mailbox.html", {"mails": mails[:MAILBOX_PAGE_SIZE], "total": len(mails),
                                                    "directory": settings.MAILBOX_DIR})
