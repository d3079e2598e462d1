"""Named admin tokens with a set of permissions, for the whole economy or for some sites.

The admin token made at init can do everything everywhere.  A named token
(``kokreativ server token add``) carries only the permissions it was given,
optionally only for some sites: a site's coordinator gets ``read_personal``
for their site, and reads the balances of the volunteers registered there,
and nobody else's.  Until people's accounts arrive (the console), these are
the scoped principals (:mod:`server.http.access` turns them into one).

A token is 256 random bits, shown once by :func:`add_token` and stored only
as the hex SHA-256 of its text, like the admin token (:mod:`server.datadir`),
so a copied database administers nothing.  Revoking keeps the row (its name
stays taken, its history readable); the token stops working at once.

Example::

    token = add_token(storage, name="café coordinator", permissions=["read_personal"],
                      sites=["s_…"], now_ms=now)
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from typing import Any, Final

from protocol import Reason
from server.context import ServerContext
from server.datadir import ADMIN_TOKEN_SETTING, admin_token_hash, new_admin_token
from server.errors import InputError, ServiceError
from server.ratelimit import Attempt
from server.storage import Storage
from server.storage.access import TokenRow

MAX_NAME_CHARS: Final = 80
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,80}")


def add_token(
    storage: Storage,
    *,
    name: str,
    permissions: Iterable[str],
    sites: Iterable[str] | None,
    now_ms: int,
) -> str:
    """Store a new token called ``name`` and return it (the only time it is seen).

    ``sites`` ``None`` (or empty) makes it economy-wide.  Refused: an empty or
    taken name (``bad_field``), no permission, and an unknown site (``unknown_site``).
    """
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise InputError(Reason.BAD_FIELD, f"a token's name is 1 to {MAX_NAME_CHARS} printable characters")
    granted = sorted(set(permissions))
    if not granted:
        raise InputError(Reason.BAD_FIELD, "give the token at least one permission")
    scoped = sorted(set(sites)) if sites else None
    token = new_admin_token()
    with storage.write() as tx:
        if any(row.name == name for row in tx.tokens()):
            raise InputError(Reason.BAD_FIELD, f"a token called {name!r} exists; names stay taken")
        for site_id in scoped or ():
            if tx.get_site(site_id) is None:
                raise ServiceError(Reason.UNKNOWN_SITE, f"no such site: {site_id}")
        tx.insert_token(admin_token_hash(token), name, granted, scoped, now_ms)
    return token


def list_tokens(storage: Storage) -> list[dict[str, Any]]:
    """Every named token (never its text or hash), oldest first, revoked ones too."""
    with storage.read() as tx:
        return [row.to_json() for row in tx.tokens()]


def revoke_token(storage: Storage, name: str, *, now_ms: int) -> None:
    """Stop the token called ``name`` from working; ``unauthorized``-proof at once (no cache)."""
    with storage.write() as tx:
        if not tx.revoke_token(name, now_ms):
            raise ServiceError(Reason.NOT_FOUND, f"no live token called {name!r}")


def live_token_holds(storage: Storage, permission: str) -> bool:
    """Whether a named token that is not revoked holds ``permission`` (``/metrics``: ``read_metrics``)."""
    with storage.read() as tx:
        return any(row.revoked_ms is None and permission in row.permissions for row in tx.tokens())


def rotate_admin_token(storage: Storage) -> str:
    """Replace the shared admin token with a new one and return it (shown once); the old one stops at once.

    The admin token is for machines (provisioning scripts), never for people:
    they log in to the console.  Rotate it when a script's host is retired or
    the token may have leaked; every request checks the stored hash, so no
    restart is needed.
    """
    token = new_admin_token()
    with storage.write() as tx:
        tx.set_setting(ADMIN_TOKEN_SETTING, admin_token_hash(token))
    return token


def check_token(ctx: ServerContext, authorization: str | None, *, attempt: Attempt) -> TokenRow | None:
    """Who ``Authorization: Bearer <token>`` proves to be: ``None`` for the admin token, else a named token.

    ``401 unauthorized`` for anything else.  A bearer token offered is a guess:
    ``attempt`` is begun before it is compared (``429 rate_limited`` while
    locked out, even for a right token) and succeeds if it matches either kind.
    No token, or another scheme, is refused without counting: it cannot match.
    """
    scheme, _, token = (authorization or "").partition(" ")
    offers = scheme.lower() == "bearer" and bool(token.strip())
    if offers:
        attempt.begin()
    offered = admin_token_hash(token.strip()) if offers else ""
    with ctx.storage.read() as tx:
        expected = tx.get_setting(ADMIN_TOKEN_SETTING)
        named = tx.token_by_hash(offered) if offers else None
    # compare_digest on the hashes: constant time, and an empty offer can never match.
    if expected is not None and hmac.compare_digest(offered.encode(), expected.encode()):
        attempt.succeeded()
        return None
    if named is None:
        raise ServiceError(Reason.UNAUTHORIZED, "missing or wrong admin token")
    attempt.succeeded()
    return named
