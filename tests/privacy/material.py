"""What a stranger can fetch: the checkpoint, the log's entries from the tiles, every public route's answers.

The public routes are read from the real app's route table
(:func:`server.http.access.declared_routes`, every ``GET`` declared
:data:`server.http.access.public`), never listed by hand, so a public route a
branch adds is crawled too.  A route's path parameters are filled with what
the stranger has harvested so far (kiosk IDs and card IDs seen anywhere,
sequence numbers, log indices, the docs' asset names).  A path parameter this
module does not know how to fill raises :class:`UnknownParameter`: the harness
must be taught about it rather than silently skip a route.

Besides the raw answers, :meth:`PublicMaterial.blobs` yields every base64
string inside any JSON answer or entry decoded (event bodies, signed trust
lists, decisions), recursively, so a search sees what a careful stranger sees.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from starlette.routing import BaseRoute

from protocol.logentry import parse_entry
from protocol.tiles import bundles_for, claimed_size, entry_bundle_path, parse_bundle, tile_paths
from server.http.access import declared_routes, public
from server.web.i18n import LANGUAGES

_PARAM: Final = re.compile(r"\{(\w+)(?::\w+)?\}")
_ID: Final = re.compile(rb"\b([a-z])_([0-9a-f]{32})\b")
_ASSET: Final = re.compile(rb"/docs/assets/([A-Za-z0-9._-]+)")
_B64: Final = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
SEQS_PER_KIOSK: Final = 3  # event proofs are hashes; a few per kiosk show what the route answers


class UnknownParameter(LookupError):
    """A public route has a path parameter the crawler cannot fill: teach :func:`_fill` about it."""


@dataclass(slots=True)
class PublicMaterial:
    """Everything the stranger fetched: raw answers by request line, and the log's entries."""

    checkpoint: bytes = b""
    entries: list[bytes] = field(default_factory=list)
    answers: dict[str, bytes] = field(default_factory=dict)  # "GET /path" -> body (any status)
    routes: list[str] = field(default_factory=list)  # the public routes crawled, as declared

    def blobs(self) -> Iterator[tuple[str, bytes]]:
        """``(where, bytes)`` of every answer and entry, and of every base64 string decoded inside them."""
        for where, data in self.answers.items():
            yield where, data
            yield from _decoded(where, data, depth=0)
        for index, data in enumerate(self.entries):
            yield f"entry {index}", data
            yield from _decoded(f"entry {index}", data, depth=0)


def _decoded(where: str, data: bytes, *, depth: int) -> Iterator[tuple[str, bytes]]:
    if depth > 3:
        return
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return
    for text in _strings(obj):
        if _B64.fullmatch(text) is None:
            continue
        for alphabet in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                raw = alphabet(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError):
                continue
            yield f"{where} (base64)", raw
            yield from _decoded(f"{where} (base64)", raw, depth=depth + 1)
            break


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def public_get_routes(routes: Iterable[BaseRoute]) -> list[str]:
    """The paths of the app's ``GET`` routes declared public, in match order."""
    return [
        route.path
        for route in declared_routes(routes)
        if "GET" in route.methods and len(route.access) == 1 and route.access[0].label == public.label
    ]


@dataclass(slots=True)
class _Harvest:
    """What the stranger has seen so far, to fill path parameters with."""

    ids: dict[str, set[str]] = field(default_factory=dict)  # prefix letter -> IDs seen
    seqs: dict[str, list[int]] = field(default_factory=dict)  # kiosk -> sequence numbers seen
    assets: set[str] = field(default_factory=set)

    def take(self, data: bytes) -> None:
        for prefix, digits in _ID.findall(data):
            self.ids.setdefault(prefix.decode(), set()).add(f"{prefix.decode()}_{digits.decode()}")
        self.assets.update(name.decode() for name in _ASSET.findall(data))


def _fill(params: tuple[str, ...], harvest: _Harvest, size: int) -> list[dict[str, str]]:
    """The values to try for one route's path parameters."""
    if params == ():
        return [{}]
    if params == ("path",):  # the tiles: every file of the log at the checkpoint's size
        return [{"path": path.removeprefix("tile/")} for path in tile_paths(size)]
    if params == ("kiosk_id",):
        return [{"kiosk_id": kiosk} for kiosk in sorted(harvest.ids.get("k", ()))]
    if params == ("kiosk_id", "seq"):
        return [
            {"kiosk_id": kiosk, "seq": str(seq)}
            for kiosk in sorted(harvest.ids.get("k", ()))
            for seq in sorted(harvest.seqs.get(kiosk, [1]))[:SEQS_PER_KIOSK]
        ]
    if params == ("card_id",):
        cards = harvest.ids.get("c", set()) | harvest.ids.get("u", set())
        return [{"card_id": card} for card in sorted(cards)]
    if params == ("index",):
        return [{"index": str(index)} for index in sorted({0, size // 2, max(0, size - 1)})]
    if params == ("name",):
        return [{"name": name} for name in sorted(harvest.assets)]
    if params == ("code",):  # the pages' language switch
        return [{"code": code} for code in LANGUAGES]
    raise UnknownParameter(f"the stranger cannot fill {params}: teach tests/privacy/material.py")


def collect(base_url: str, routes: Iterable[BaseRoute]) -> PublicMaterial:
    """Fetch everything public from the server at ``base_url`` whose app has ``routes``."""
    paths = public_get_routes(routes)
    material = PublicMaterial(routes=paths)
    harvest = _Harvest()
    with httpx.Client(base_url=base_url, timeout=30) as http:

        def get(path: str) -> bytes:
            body = http.get(path).content
            material.answers[f"GET {path}"] = body
            harvest.take(body)
            return body

        material.checkpoint = get("/checkpoint")
        size = claimed_size(material.checkpoint)
        for n, width in bundles_for(size):
            material.entries.extend(parse_bundle(get("/" + entry_bundle_path(n, width)), width))
        for data in material.entries:
            entry = parse_entry(data)
            if entry["kind"] in {"event", "decision", "clock_ref"}:
                harvest.take(entry["body"])
                body = json.loads(entry["body"])
                if entry["kind"] == "event":
                    harvest.seqs.setdefault(body["kiosk"], []).append(int(body["seq"]))
        # Parameterless routes first (they show IDs and asset names), then the rest with what they showed.
        for path in sorted(paths, key=lambda p: len(_PARAM.findall(p)) > 0):
            params = tuple(_PARAM.findall(path))
            for values in _fill(params, harvest, size):
                concrete = _PARAM.sub(lambda m, v=values: v[m.group(1)], path)  # type: ignore[misc]
                if f"GET {concrete}" not in material.answers:
                    get(concrete)
    return material
