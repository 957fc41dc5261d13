"""web.password: a salted scrypt hash kept as one string, never the password itself.

Flask-free, so the configuration can check a value without loading the web stack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of `password` as one string: scrypt$n$r$p$salt$hash (base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    b64 = base64.urlsafe_b64encode
    return (f"{SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}$"
            f"{b64(digest).decode()}")


# scrypt costs a login may ask for: a stored hash outside them is refused at start, not at the
# first login (hashlib raises for n not a power of two, or memory past maxmem)
MIN_N, MAX_N, MAX_R, MAX_P = 2, 2**20, 32, 16
MAXMEM = 128 * 1024 * 1024


def is_password_hash(value: str) -> bool:
    """True when `value` looks like the output of `hash_password` (not a plain password) with
    scrypt costs that verification can actually run."""
    parts = value.split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(
            p.isascii() and p.isdigit() and len(p) <= 8 for p in parts[1:4]):
        return False
    n, r, p = (int(x) for x in parts[1:4])
    if not (MIN_N <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= MAX_R and 1 <= p <= MAX_P
            and 128 * r * n + 128 * r * p < MAXMEM):
        return False
    try:
        salt = base64.urlsafe_b64decode(parts[4].encode())
        digest = base64.urlsafe_b64decode(parts[5].encode())
    except ValueError:
        return False
    return len(salt) >= 8 and len(digest) == 32


def verify_password(password: str, stored: str) -> bool:
    """True when `password` hashes to `stored` (constant-time comparison)."""
    if not is_password_hash(stored):
        return False
    _scheme, n, r, p, salt, digest = stored.split("$")
    computed = hashlib.scrypt(password.encode(), salt=base64.urlsafe_b64decode(salt.encode()),
                              n=int(n), r=int(r), p=int(p), maxmem=MAXMEM, dklen=32)
    return hmac.compare_digest(computed, base64.urlsafe_b64decode(digest.encode()))
