"""Celery tasks of the FreshBooks side: thin, id-based, idempotent."""

from celery import shared_task

from connector.freshbooks.errors import AuthorizationLost, RateLimited, Transient
from connector.freshbooks.models import FreshBooksCallback
from connector.freshbooks.services import callback_verification_confirm

CONFIRM_MAX_RETRIES = 6  # with the back-off below: about 20 minutes before giving up (the code stays pending)
CONFIRM_BACKOFF = 30  # seconds, doubled on each retry ...
# ... up to this: a longer Celery ETA outlives the Redis transport's visibility timeout (600 s) and would be
# handed to a second worker.
CONFIRM_MAX_WAIT = 300


def _backoff(retries: int) -> int:
    return min(CONFIRM_BACKOFF * 2 ** retries, CONFIRM_MAX_WAIT)


@shared_task(bind=True, max_retries=CONFIRM_MAX_RETRIES, acks_late=True)
def callback_confirm(self, callback_pk: int) -> str:
    """PUT a received verification code back to FreshBooks (see services.callback_verification_confirm)."""
    callback = FreshBooksCallback.objects.select_related("connection", "tenant").filter(pk=callback_pk).first()
    if callback is None:
        return "gone"
    try:
        return callback_verification_confirm(callback=callback).state
    except AuthorizationLost:
        return "needs_reauth"  # the connection page asks the user to reconnect; registering again follows
    except RateLimited as exc:
        raise self.retry(countdown=min(exc.retry_after or _backoff(self.request.retries), CONFIRM_MAX_WAIT)) from exc
    except Transient as exc:
        raise self.retry(countdown=_backoff(self.request.retries)) from exc
