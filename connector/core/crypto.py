"""Encryption at rest: MultiFernet over ENCRYPTION_KEYS (the first key encrypts, every key decrypts).

Also keyed blind indexes, so an encrypted value can be found by exact match without storing plaintext.
"""

import functools
import hashlib
import hmac
import json
import unicodedata

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


@functools.cache
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode("ascii")).decode("utf-8")


def reencrypt(token: str) -> str:
    """The same plaintext under the first key (a no-op in effect when it already is)."""
    return fernet().rotate(token.encode("ascii")).decode("ascii")


def _blind_index_key() -> bytes:
    # BLIND_INDEX_KEY, its own secret, so that neither rotating ENCRYPTION_KEYS nor SECRET_KEY touches the
    # indexes. Installs from before it existed derive it from SECRET_KEY, as they always did (the label
    # keeps it apart from Django's uses of SECRET_KEY); changing either means `manage.py reindex`.
    secret = settings.BLIND_INDEX_KEY or settings.SECRET_KEY
    return hmac.new(secret.encode(), b"ml-connector blind index v1", hashlib.sha256).digest()


def normalise_for_index(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def blind_index(value: str | None) -> str:
    """HMAC-SHA256 of the normalised value: equal inputs (ignoring case and spacing) give equal indexes."""
    if value is None or not str(value).strip():
        return ""
    return hmac.new(_blind_index_key(), normalise_for_index(str(value)).encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token. Not searchable: pair it with a blind index where search is needed."""

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return decrypt(value)
        except InvalidToken as exc:
            raise InvalidToken(
                f"Cannot decrypt {self.model.__name__}.{self.name}: is its key still in ENCRYPTION_KEYS?"
            ) from exc

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


class EncryptedJSONField(models.TextField):
    """A JSON document stored as a Fernet token (decimals and dates serialised as strings)."""

    description = "JSON encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        return json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt(json.dumps(value, cls=DjangoJSONEncoder))

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj), cls=DjangoJSONEncoder)


ENCRYPTED_FIELD_TYPES = (EncryptedTextField, EncryptedJSONField)
