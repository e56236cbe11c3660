"""API keys: generated, stored as salted hashes, checked in constant time.

A key is 32 random bytes, so one salted SHA-256 is enough: stretching (bcrypt, scrypt) guards
guessable passwords and would only add latency to every request here. Configured plaintext keys
(accepted in development) are hashed when the key ring is built and never compared as text.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from ragfleet.settings import KEY_HASH_SCHEME, ApiKey, Scope

logger = logging.getLogger(__name__)

KEY_PREFIX = "rfk_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _digest(salt: bytes, key: str) -> bytes:
    return hashlib.sha256(salt + key.encode()).digest()


def hash_key(key: str, salt: bytes | None = None) -> str:
    """``sha256$<salt hex>$<digest hex>``, the form ``auth.api_keys[].key_hash`` takes."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    return f"{KEY_HASH_SCHEME}${salt.hex()}${_digest(salt, key).hex()}"


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """Who holds a key: its name (the tenant in metrics and logs), groups and scopes."""

    name: str
    groups: list[str] | None
    scopes: frozenset[Scope]


@dataclass(frozen=True, slots=True)
class _Entry:
    salt: bytes
    digest: bytes
    holder: KeyHolder


class KeyRing:
    """The configured keys; several may share a name (rotation: old and new both valid)."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._entries = [self._entry(key) for key in keys]
        plaintext = [key.name for key in keys if key.key is not None]
        if plaintext:
            logger.warning(
                "API key(s) %s are configured in plaintext; store key_hash instead "
                "(ragfleet keys create)",
                ", ".join(sorted(set(plaintext))),
            )

    @staticmethod
    def _entry(key: ApiKey) -> _Entry:
        stored = key.key_hash or hash_key(key.key.get_secret_value() if key.key else "")
        _, salt, digest = stored.split("$")
        holder = KeyHolder(key.name, key.groups, frozenset(key.scopes))
        return _Entry(bytes.fromhex(salt), bytes.fromhex(digest), holder)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def holder(self, offered: str) -> KeyHolder | None:
        """The holder of ``offered``, or None. Every entry is checked, so the time taken does
        not tell which one matched."""
        found = None
        for entry in self._entries:
            if hmac.compare_digest(_digest(entry.salt, offered), entry.digest):
                found = entry.holder
        return found
