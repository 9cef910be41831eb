"""Typed FreshBooks errors, each with one retry verdict (see STYLE: one taxonomy, one table)."""


class FreshBooksError(Exception):
    """Base class. `status_code` is FreshBooks' HTTP status when there was one; messages never hold secrets."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class AuthorizationLost(FreshBooksError):
    """FreshBooks refused our refresh token (or a fresh access token): the connection needs the user."""


class NotFound(FreshBooksError):
    """The object does not exist (404) or is deleted (vis_state 1 / errno 1011, 1012)."""


class RateLimited(FreshBooksError):
    """HTTP 429; `retry_after` is FreshBooks' hint in seconds when it gave one."""

    def __init__(self, message: str, *, retry_after: int | None = None, status_code: int | None = 429):
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class Transient(FreshBooksError):
    """5xx, timeout, connection failure: try again later."""


class FreshBooksBug(FreshBooksError):
    """Anything else (a 4xx we did not expect, a body we cannot read): retrying unchanged will not help."""


class NoLongerTrue(FreshBooksError):
    """The object fetched no longer shows what the event announced (an invoice found overdue was paid before
    its alert was made): there is nothing to say."""
