"""Keyed hashes standing for a person (UU 27/2022: analytics and logs work on pseudonyms, never the NIK).

Both are keyed hashes of the NIK under the pseudonym key (setting ``pseudonym_key``): without the key a
pseudonym cannot be computed from a NIK, nor a NIK found from a pseudonym by trying every NIK.

- ``pseudonym``: HMAC-SHA256, 32 hex digits, for the audit log and other text.
- ``person_key``: keyed BLAKE2b (RFC 7693's MAC mode; 0.8 µs a NIK against HMAC-SHA256's 1.7 µs, which
  counts for 61 million persons), 63 bits as a positive integer: the person key of the steering warehouse
  (``person_id``). Two of 61 million NIKs share a key with a probability of about 2 in 10,000 for the
  whole population; an export refuses a batch in which two workers share one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

_MASK = (1 << 63) - 1


def pseudonym(key: bytes, nik: str) -> str:
    """A keyed hash (HMAC-SHA256, 32 hex digits) standing for a NIK; stable for one key."""
    return hmac.digest(key, nik.encode(), "sha256").hex()[:32]


def person_key(key: bytes, nik: str) -> int:
    """The warehouse key of the person with this NIK (1 … 2^63 - 1)."""
    return person_keys(key, (nik,))[0]


def person_keys(key: bytes, niks: Iterable[str | bytes]) -> list[int]:
    """``person_key`` of many NIKs, as text or ASCII bytes (one key derivation for all)."""
    mac_key = hashlib.sha256(b"jamsos person key " + key).digest()  # BLAKE2b takes keys of up to 64 bytes
    blake = hashlib.blake2b
    out = []
    for nik in niks:
        data = nik if isinstance(nik, bytes) else nik.encode()
        k = int.from_bytes(blake(data, key=mac_key, digest_size=8).digest(), "big") & _MASK
        out.append(k or 1)
    return out


def key_id(key: bytes) -> str:
    """A fingerprint of the key itself (not of any person), kept with a warehouse so that files keyed with
    another key are refused rather than mixed."""
    return hmac.digest(key, b"jamsos pseudonym key check", "sha256").hex()[:16]
