"""Signals the FreshBooks side sends; the delivery pipeline connects to them (it holds and resumes work).

Sent after the change is committed (transaction.on_commit). Receivers run on the request or task that
made the change, so they must be quick: enqueue real work rather than doing it.
"""

from django.dispatch import Signal

# A connection that needed the user (authorisation lost) works again after a reconnect. kwargs: tenant,
# connection. The pipeline resumes the inbound events it held for FreshBooks (resume_freshbooks_holds).
connection_reactivated = Signal()
