"""Mosquitto 2.0 password hashes, generated in Python so provisioning needs no mosquitto binaries.

The format `mosquitto_passwd` writes is `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2
with HMAC-SHA512, a 12-byte salt, a 64-byte key, 101 iterations by default (Mosquitto's own
default; raise it with care, the broker pays it on every connect).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["generate_password", "hash_password", "verify_password"]

DEFAULT_ITERATIONS = 101
_SALT_BYTES = 12
_KEY_BYTES = 64


def generate_password() -> str:
    """32 random URL-safe characters (192 bits): strong, and safe in TOML, shells and URLs."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, _KEY_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches a `$7$` hash (as Mosquitto would decide)."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations = int(parts[2])
        salt, expected = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, len(expected))
    return hmac.compare_digest(key, expected)
