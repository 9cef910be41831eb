"""The one application error type: a message for people plus structured detail for machines."""


class ApplicationError(Exception):
    """A refusal the user can act on (bad input, wrong state). The API renders it as {"message", "extra"}."""

    def __init__(self, message: str, extra: dict | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.status = status


class FieldErrors(dict):
    """What is wrong with each field of an input being validated: {"field": ["message", ...]}."""

    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)
