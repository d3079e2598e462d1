"""Random identifiers: a one-letter kind, an underscore, 32 lowercase hex digits.

IDs carry 128 random bits and nothing else, so the ledger can hold them without
holding anything personal (DSGVO): ``k_`` kiosk, ``s_`` site, ``c_`` card,
``u_`` card known only by a keyed pseudonym of its UID, ``v_`` volunteer,
``r_`` redemption (chosen by the shop terminal, so a retry or an offline
fallback names the same redemption), ``o_`` coordinator key, ``e_`` a shop's till staff member (issue 19).
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from protocol.errors import MalformedError
from protocol.reasons import Reason

KIOSK: Final = "k"
SITE: Final = "s"
CARD: Final = "c"
UID_CARD: Final = "u"
VOLUNTEER: Final = "v"
REDEMPTION: Final = "r"
COORDINATOR: Final = "o"
STAFF: Final = "e"

_ID_PATTERN = re.compile(r"[a-z]_[0-9a-f]{32}")


def new_id(kind: str) -> str:
    """A fresh random ID of ``kind`` (one of the constants above)."""
    return f"{kind}_{secrets.token_hex(16)}"


def is_id(value: object, *kinds: str) -> bool:
    """True when ``value`` is a well-formed ID of one of ``kinds``."""
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None and value[0] in kinds


def require_id(value: object, *kinds: str, field: str) -> str:
    """Return ``value`` when it is an ID of one of ``kinds``, else raise ``bad_field``."""
    # :func:`is_id` inline: a call that packs ``kinds`` again costs as much as the check, on every event.
    if isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None and value[0] in kinds:
        return value
    raise MalformedError(Reason.BAD_FIELD, f"{field} is not a {'/'.join(kinds)}_ ID")
