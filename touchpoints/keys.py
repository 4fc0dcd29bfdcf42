"""API key format and hashing: no models, no services, so both reads and writes can use it."""

from __future__ import annotations

import hashlib
import secrets

#: Visible key prefixes by kind, so a leaked key is recognisable (and secret scanners can match it).
KEY_PREFIXES = {"write": "jp_wk_", "secret": "jp_sk_"}
VISIBLE_PREFIX_LENGTH = 12


def hash_api_key(raw_key: str) -> str:
    """The stored form of a key: SHA-256 hex. Keys carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def new_api_key(kind: str) -> str:
    return KEY_PREFIXES[kind] + secrets.token_urlsafe(32)
