"""Password hashing: argon2id (memory-hard), argon2-cffi's RFC 9106 low-memory profile
(time cost 3, 64 MiB, 4 lanes); the parameters travel inside each hash, so raising them later
only needs :func:`needs_rehash` at the next login."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from benchbot.service.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # bounds the hashing work an attacker can ask for
_HASHER = PasswordHasher(type=Type.ID)


def hash_password(password: str, field: str = "password") -> str:
    """The argon2id hash of ``password``; InvalidInput naming ``field`` if it is too short or
    too long."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for a malformed hash too)."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)


def generate_password() -> str:
    """A random initial password (24 URL-safe characters, 144 bits)."""
    return secrets.token_urlsafe(18)
