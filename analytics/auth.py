"""Access for a shared deployment: two roles, passwords stored only as salted scrypt hashes.

- viewer (sales directors): reads every page.
- analyst: may also import and undo batches.

Configuration (environment variables, or the same keys in .streamlit/secrets.toml):
    KEYFUNNEL_ANALYST_PASSWORD_HASH, KEYFUNNEL_VIEWER_PASSWORD_HASH  — from `keyfunnel hash-password`
    KEYFUNNEL_ANALYST_EMAILS  — comma-separated; with Streamlit's st.login (OIDC) these users are analysts, others
                                 viewers.
With none set, the app is a local single-user tool: no login, and the user is an analyst.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

ANALYST, VIEWER = "analyst", "viewer"
ROLES = (ANALYST, VIEWER)
_N, _R, _P = 2**14, 8, 1  # scrypt cost: about 50 ms per check


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = hash_password(password, base64.b64decode(salt)).split("$")[2]
    return hmac.compare_digest(expected, digest)


def _setting(name: str, secrets: Mapping | None) -> str | None:
    if os.environ.get(name):
        return os.environ[name]
    try:
        return secrets.get(name) if secrets is not None else None
    except Exception:  # no secrets file at all
        return None


def password_hashes(secrets: Mapping | None = None) -> dict[str, str]:
    """role → stored hash, for the roles that have a password configured."""
    out = {}
    for role in ROLES:
        value = _setting(f"KEYFUNNEL_{role.upper()}_PASSWORD_HASH", secrets)
        if value:
            out[role] = value
    return out


def role_for_password(password: str, secrets: Mapping | None = None) -> str | None:
    """The role whose password this is (analyst first), or None."""
    for role, stored in sorted(password_hashes(secrets).items()):
        if verify_password(password, stored):
            return role
    return None


def role_for_email(email: str | None, secrets: Mapping | None = None) -> str:
    analysts = {e.strip().lower() for e in (_setting("KEYFUNNEL_ANALYST_EMAILS", secrets) or "").split(",") if e}
    return ANALYST if email and email.lower() in analysts else VIEWER


def can_import(role: str | None) -> bool:
    return role == ANALYST
