"""Webhook signatures: the documented vector passes, anything else is rejected."""

import base64
import hashlib
import hmac
import json

from connector.freshbooks.signature import (
    form_fields,
    signature_compute,
    signature_find_verifier,
    signature_matches,
)

VERIFIER = "scADVVi5QuKuj5qTjVkbJNYQe7V7USpGd"
BODY = b"name=invoice.create&object_id=1234567&account_id=6BApk&business_id=6543&identity_id=1234&user_id=1"
HEADER = "/S03vyYmI7CekM4YXBHUhs9o5rnMtqGLrW3aA8S9gPc="


def test_documented_vector_passes():
    assert signature_compute(form_fields(BODY), VERIFIER) == HEADER
    assert signature_matches(form_fields(BODY), HEADER, VERIFIER)


def test_a_changed_byte_in_the_body_is_rejected():
    assert not signature_matches(form_fields(BODY.replace(b"1234567", b"1234568")), HEADER, VERIFIER)


def test_a_changed_byte_in_the_header_or_the_key_is_rejected():
    assert not signature_matches(form_fields(BODY), HEADER.replace("S03", "S04"), VERIFIER)
    assert not signature_matches(form_fields(BODY), HEADER, VERIFIER[:-1] + "e")


def test_the_same_fields_reordered_are_rejected():
    reordered = b"object_id=1234567&name=invoice.create&account_id=6BApk&business_id=6543&identity_id=1234&user_id=1"
    assert form_fields(reordered) == form_fields(BODY)  # same data...
    assert not signature_matches(form_fields(reordered), HEADER, VERIFIER)  # ...but not what was signed


def test_a_signature_over_compact_or_sorted_json_is_rejected():
    fields = form_fields(BODY)
    for payload in (json.dumps(fields, separators=(",", ":")), json.dumps(fields, sort_keys=True)):
        forged = base64.b64encode(hmac.new(VERIFIER.encode(), payload.encode(), hashlib.sha256).digest()).decode()
        assert forged != HEADER
        assert not signature_matches(fields, forged, VERIFIER)


def test_a_hex_digest_or_a_missing_header_is_rejected():
    hex_sig = hmac.new(VERIFIER.encode(), json.dumps(form_fields(BODY)).encode(), hashlib.sha256).hexdigest()
    assert not signature_matches(form_fields(BODY), hex_sig, VERIFIER)
    assert not signature_matches(form_fields(BODY), None, VERIFIER)
    assert not signature_matches(form_fields(BODY), "", VERIFIER)


def test_any_of_several_verifiers_may_sign():
    assert signature_find_verifier(form_fields(BODY), HEADER, ["wrong-one", VERIFIER])
    assert not signature_find_verifier(form_fields(BODY), HEADER, ["wrong-one", "another"])
    assert not signature_find_verifier(form_fields(BODY), HEADER, [])
