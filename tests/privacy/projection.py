"""A preview of the v2 log: today's v1 entries rewritten the way entry v2 writes them.

Until the branches that make kiosks sign v2 events and the server write v2
entries are merged, the v2 economy cannot run (``test_stranger_v2`` is marked
``xfail``).  This projection shows now what the new *log format* hides and what
it cannot: each event's card becomes a fresh commitment (:func:`protocol.events.committed_event`'s
construction), a card registration or block a commitment too; times, kiosks,
kinds, sequence numbers and amounts stay, as in a real v2 entry.  Signatures no
longer match (no attack checks them), ``issued``/``redeemed`` are 0, and the
public routes' answers are dropped: it previews the entries only.
"""

from __future__ import annotations

import dataclasses

from protocol.commitments import Opening, commit_value, new_salt
from protocol.encoding import b64encode, canonical_json
from protocol.events import COMMITTED_VERSION
from protocol.logentry import make_entry, parse_entry
from tests.privacy.material import PublicMaterial

REGISTRATION_DOMAIN = b"kokreativ.card-registration.v1\x00"


def _event_v2(body: bytes) -> bytes:
    import json

    obj = json.loads(body)
    card = obj.pop("card")
    obj["ref"] = Opening(card=card, salt=new_salt()).ref
    obj["v"] = COMMITTED_VERSION
    return canonical_json(obj)


def project_to_v2(material: PublicMaterial) -> PublicMaterial:
    """``material`` with its entries as entry v2 would write them, and no route answers."""
    entries = []
    for data in material.entries:
        entry = parse_entry(data)
        kind = entry["kind"]
        if kind == "event":
            entries.append(
                make_entry(
                    "event",
                    version=2,
                    body=b64encode(_event_v2(entry["body"])),
                    sig=b64encode(entry["sig"]),
                    received_ms=entry["received_ms"],
                    flags=entry["flags"],
                    issued=0,
                    redeemed=0,
                )
            )
        elif kind == "card":
            ref = commit_value(REGISTRATION_DOMAIN, new_salt(), f"{entry['card_id']}|{entry['volunteer_id']}")
            entries.append(make_entry("card", version=2, ref=ref, at_ms=entry["at_ms"]))
        elif kind == "card_blocked":
            ref = Opening(card=entry["card_id"], salt=new_salt()).ref
            entries.append(make_entry("card_blocked", version=2, ref=ref, at_ms=entry["at_ms"]))
        else:
            entries.append(data)
    return dataclasses.replace(material, entries=entries, answers={}, routes=[])
