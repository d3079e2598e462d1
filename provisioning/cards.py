"""Issuing and inspecting cards: what ``kokreativ provision card issue`` and ``kokreativ card inspect`` do.

Issuing happens on the coordinator's laptop with a reader attached.  The
issuer's private key stays in a file there (the server only ever sees public
keys), and the steps run inside one reader connection, so the credential is
bound to the UID of the tag that is on the reader right now:

1. read the tag's UID;
2. register the card with the server (a random ``c_`` ID for the volunteer,
   with the issuer key ID and validity), which fails if the key is retired or
   revoked;
3. sign the credential and write it as an NDEF record, read it back, and make
   the tag read-only where it supports that.

If writing fails after step 2, the card ID is blocked on the server at once
(reason ``not written``), so a half-issued card can never be used; the
coordinator simply runs the command again.

The tag I/O is passed in as a function (``TagWriter``), so these rules are
tested with emulated tags through nfcpy, and the CLI stays thin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardware.cardrecord import credential_message, find_credential
from hardware.reader import Tap
from protocol import (
    PrivateKey,
    ProtocolError,
    PublicKey,
    Reason,
    ids,
    issue_credential,
    issuer_key_id,
    parse_credential,
    uid_pseudonym,
)
from protocol.localtime import iso
from protocol.trust import TrustList
from provisioning.client import ApiClient
from provisioning.errors import ServerRefused
from terminal.cardcheck import check_card

log = logging.getLogger(__name__)

DAY_S = 86_400
DEFAULT_VALID_DAYS = 3 * 365 + 1  # the Ehrenamtskarte itself is valid for three years
BACKDATE_S = DAY_S  # valid from yesterday, so a kiosk whose clock runs a little slow accepts a new card


TagWriter = Callable[[Callable[[Any], bytes]], Any]
"""Runs one reader connection: calls the given function with the tag's reading, writes the bytes
it returns as the tag's NDEF message, and returns what it knows about the written tag."""


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """A card that now carries a credential and is registered to ``volunteer_id``."""

    card_id: str
    volunteer_id: str
    issuer_key_id: str
    valid_from_s: int
    valid_until_s: int
    tag_type: str
    locked: bool | None
    access_secret: str | None = None  # a new volunteer's, shown once: on the sheet, never in to_json

    def to_json(self) -> dict[str, Any]:
        return {
            "card_id": self.card_id,
            "volunteer_id": self.volunteer_id,
            "issuer_key_id": self.issuer_key_id,
            "valid_from": _iso(self.valid_from_s),
            "valid_until": _iso(self.valid_until_s),
            "tag_type": self.tag_type,
            "read_only": self.locked,
        }


def _iso(seconds: int) -> str:
    """A credential's validity for the JSON: ISO 8601 in the site's zone with its offset."""
    return iso(seconds * 1000)


def issue_card(
    client: ApiClient,
    issuer_key: PrivateKey,
    write_tag: TagWriter,
    *,
    name: str | None = None,
    volunteer_id: str | None = None,
    site_id: str | None = None,
    ehrenamtskarte: str | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
    now_s: int | None = None,
) -> IssuedCard:
    """Register a card and write its credential onto the tag ``write_tag`` connects to.

    A new volunteer (``name``) needs their home ``site_id``; the answer then carries
    their access secret (:mod:`provisioning.accesssheet` puts it on the sheet).

    Raises whatever the server (``ServerRefused``) or the tag I/O raised; see the module
    docstring for what is undone.
    """
    if valid_days < 1:
        raise ValueError("a card is valid for at least one day")
    now = int(time.time()) if now_s is None else now_s
    valid_from, valid_until = now - BACKDATE_S, now + valid_days * DAY_S
    key_id = issuer_key_id(issuer_key.public_key)
    registered: dict[str, Any] = {}

    def make_message(reading: Any) -> bytes:
        answer = client.register_card(
            name=name,
            volunteer_id=volunteer_id,
            site_id=site_id,
            ehrenamtskarte=ehrenamtskarte,
            issuer_key_id=key_id,
            valid_from_s=valid_from,
            valid_until_s=valid_until,
        )
        registered.update(answer)
        card_id = ids.require_id(answer.get("card_id"), ids.CARD, field="card_id")
        credential = issue_credential(
            issuer_key, card_id=card_id, uid=reading.uid, valid_from_s=valid_from, valid_until_s=valid_until
        )
        return credential_message(credential)

    try:
        written = write_tag(make_message)
    except BaseException:
        if "card_id" in registered:
            _block_quietly(client, registered["card_id"])
        raise
    return IssuedCard(
        card_id=registered["card_id"],
        volunteer_id=registered["volunteer_id"],
        issuer_key_id=key_id,
        valid_from_s=valid_from,
        valid_until_s=valid_until,
        tag_type=str(getattr(written, "tag_type", "")),
        locked=getattr(written, "locked", None),
        access_secret=registered.get("access_secret"),
    )


def issue_prepared(
    client: ApiClient,
    issuer_key: PrivateKey,
    write_tag: TagWriter,
    card_id: str,
    *,
    valid_days: int = DEFAULT_VALID_DAYS,
    now_s: int | None = None,
) -> IssuedCard:
    """Write the card the console prepared (``card_id``) and confirm it with what the tag read back.

    The server keeps the card ``pending`` until this confirmation: it checks
    that the NDEF message read back from the tag, after writing and locking,
    holds a genuine credential for ``card_id`` bound to the tag's UID
    (:func:`server.cardissuing.confirm_card`).  A failed write leaves the card
    pending (nothing is registered, so nothing to block): run the command again
    with a blank tag, or cancel the card in the console.  Raises ``ServerRefused``
    (``card_not_pending``, ``read_back_mismatch``, …) or the tag I/O's errors.
    """
    if valid_days < 1:
        raise ValueError("a card is valid for at least one day")
    card = client.prepared_card(card_id)
    if card.get("status") != "pending":
        raise ServerRefused(Reason.CARD_NOT_PENDING, f"card {card_id} is {card.get('status')}, not pending")
    now = int(time.time()) if now_s is None else now_s
    valid_from, valid_until = now - BACKDATE_S, now + valid_days * DAY_S

    def make_message(reading: Any) -> bytes:
        credential = issue_credential(
            issuer_key, card_id=card_id, uid=reading.uid, valid_from_s=valid_from, valid_until_s=valid_until
        )
        return credential_message(credential)

    written = write_tag(make_message)
    # ``write_one_tag`` answers the tag as re-read after writing (and locking): that is the read-back.
    confirmed = client.confirm_card(card_id, uid=written.uid, ndef=bytes(written.ndef or b""))
    return IssuedCard(
        card_id=card_id,
        volunteer_id=str(confirmed["volunteer_id"]),
        issuer_key_id=issuer_key_id(issuer_key.public_key),
        valid_from_s=valid_from,
        valid_until_s=valid_until,
        tag_type=str(getattr(written, "tag_type", "")),
        locked=getattr(written, "locked", None),
    )


def _block_quietly(client: ApiClient, card_id: str) -> None:
    try:
        client.block_card(card_id, reason="not written: issuing failed")
    except Exception as exc:  # the original failure is what the coordinator must see
        log.warning("could not block the unwritten card %s: %s", card_id, exc)


def inspect_tag(
    uid: bytes,
    ndef_message: bytes | None,
    *,
    tag_type: str,
    trust: TrustList | None,
    pseudonym_key: bytes | None,
    now_s: int,
    trust_source: str,
) -> dict[str, Any]:
    """One JSON object answering "what is wrong with this card?".

    ``credential`` is ``valid``, ``none`` (no credential, but the site accepts such cards)
    or the reason code a kiosk would deny it with, judged by the same
    :func:`terminal.cardcheck.check_card` as a kiosk, against ``trust`` (``None``: no
    trust at all, so every credential fails closed).  ``card_id`` is given
    for a genuine credential (valid, or expired/blocked); ``uid_card`` is the UID
    pseudonym when ``pseudonym_key`` is known (a kiosk config holds it).
    """
    result: dict[str, Any] = {
        "uid": uid.hex(),
        "tag_type": tag_type,
        "ndef_hex": (ndef_message or b"").hex(),
        "trust": trust_source,
    }
    check = check_card(
        Tap(uid=uid, ndef=ndef_message, tag_type=tag_type),
        trust,
        pseudonym_key=pseudonym_key or bytes(32),
        now_s=now_s,
    )
    if check.accepted:
        result["credential"] = "valid" if check.credentialed else "none"
    else:
        result["credential"] = str(check.reason)
    result["accepted"] = check.accepted
    if check.credential is not None:
        result["card_id"] = check.credential.card_id
    try:
        payload = find_credential(ndef_message)
        if payload is not None:
            claimed = parse_credential(payload)
            result["issuer_key_id"] = claimed.key_id
            result["valid_from"] = _iso(claimed.valid_from_s)
            result["valid_until"] = _iso(claimed.valid_until_s)
    except ProtocolError:
        pass  # already reported as the credential's status
    if pseudonym_key is not None:
        result["uid_card"] = uid_pseudonym(uid, pseudonym_key)
    return result


_NO_KIOSK = f"{ids.KIOSK}_{'0' * 32}"
_NO_SITE = f"{ids.SITE}_{'0' * 32}"


def trust_from_server(client: ApiClient, *, now_ms: int) -> TrustList:
    """What kiosks would trust right now, built from the admin API (for ``card inspect`` on a laptop).

    No site is involved, so uncredentialed cards count as not allowed.  Coordinator cards are
    server-wide, so they are the same as in every kiosk's list.  A listed key whose ID
    does not match its public key is left out: the check fails closed rather than trusting it.
    """
    issuers: list[tuple[str, PublicKey]] = []
    for entry in client.list_issuer_keys():
        if entry.get("status") not in ("active", "retired"):
            continue
        key = PublicKey.from_b64(entry.get("public_key"), field="public_key")
        if entry.get("key_id") == issuer_key_id(key):
            issuers.append((issuer_key_id(key), key))
    cards = client.list_cards()
    blocked = frozenset(c["card_id"] for c in cards if c.get("blocked_ms") is not None)
    coordinators = frozenset(
        c["card_id"] for c in cards if c.get("coordinator") is True and c["card_id"] not in blocked
    )
    return TrustList(
        kiosk=_NO_KIOSK,
        site=_NO_SITE,
        issued_ms=now_ms,
        issuers=tuple(sorted(issuers, key=lambda item: item[0])),
        blocked=blocked,
        allow_uncredentialed=False,
        coordinators=coordinators,
    )
