"""The designated auditor's material: openings of the log's commitments, and the server's balances.

A v2 log names no card (``docs/privacy.md``).  The auditor (for example the
city's audit office) holds a token with the permission ``audit_log`` and
reads, beside the public log:

* ``GET /v1/audit/openings?after=N&limit=M``: by log index, what opens each
  commitment: an event's or a ``manual_shift`` decision's ``{card, salt}``, a
  card registration's ``{card, volunteer, salt}``, a block's ``{card,
  salt}``, and for an ``event_sealed`` entry also the kiosk's ``body`` and
  ``sig`` (base64);
* ``GET /v1/audit/balances``: ``{size, balances}``, to compare the replay with.

The openings are personal data under pseudonyms, so the auditor keeps them
in its state folder (``openings.jsonl``, mode ``0600``, folder ``0700``), and
fetches only those after the last index it holds: the next audit reads the
same openings even if the server has erased a person since (Art. 17 deletes
the server's link, not the auditor's; ``docs/privacy.md`` says who keeps what).

:class:`HttpAuditor` reads a server with a token, :class:`FolderAuditor` a
folder written by ``kokreativ server export-log --auditor DIR`` (the same
``balances.json`` and ``openings.jsonl``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Protocol

import requests

from provisioning.audit.errors import SourceError, UsageError
from provisioning.audit.sources import parse_balances

OPENINGS_FILE: Final = "openings.jsonl"
BALANCES_FILE: Final = "balances.json"
OPENINGS_PATH: Final = "v1/audit/openings"
BALANCES_PATH: Final = "v1/audit/balances"
TOKEN_ENV: Final = "KOKREATIV_AUDITOR_TOKEN"
PAGE: Final = 1000
# A card registration commits to "card|volunteer" under its own domain (design of issue 17).
REGISTRATION_DOMAIN: Final = b"kokreativ.card-registration.v1\x00"


def _item_json(raw: Mapping[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"))


class AuditorSource(Protocol):
    """Where the auditor's material comes from."""

    description: str

    def balances(self) -> tuple[int, dict[str, int]] | None: ...
    def openings(self, after: int | None) -> Iterator[dict[str, Any]]: ...  # raw items, index > after
    def close(self) -> None: ...


class FolderAuditor:
    """A folder holding ``balances.json`` and ``openings.jsonl`` (``server export-log --auditor``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.description = str(self.folder)
        if not self.folder.is_dir():
            raise SourceError("not_found", f"{self.folder} is not a folder of auditor material")

    def balances(self) -> tuple[int, dict[str, int]] | None:
        path = self.folder / BALANCES_FILE
        try:
            answer = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise SourceError("bad_source", f"{path} is not JSON") from exc
        return parse_balances(answer, str(path))

    def openings(self, after: int | None) -> Iterator[dict[str, Any]]:
        for raw in read_jsonl(self.folder / OPENINGS_FILE):
            if after is None or (isinstance(raw.get("index"), int) and raw["index"] > after):
                yield raw

    def close(self) -> None:
        pass


class HttpAuditor:
    """A server's ``/v1/audit/…`` routes, with a bearer token holding ``audit_log``."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 30.0) -> None:
        if not token.strip():
            raise UsageError("bad_token", "the auditor token is empty")
        self.url = url.rstrip("/")
        self.description = f"{self.url} (auditor)"
        self._timeout = timeout_s
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token.strip()}"

    def _get(self, path: str, params: dict[str, int] | None = None, *, allow_404: bool = False) -> Any:
        try:
            response = self._session.get(f"{self.url}/{path}", params=params, timeout=self._timeout)
        except requests.RequestException as exc:
            raise SourceError("network_error", f"GET {self.url}/{path}: {exc}") from exc
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code in (401, 403):
            raise SourceError("unauthorized", f"GET {self.url}/{path}: the token does not hold audit_log")
        if response.status_code != 200:
            raise SourceError("server_error", f"GET {self.url}/{path} answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError("server_error", f"GET {self.url}/{path} did not answer JSON") from exc

    def balances(self) -> tuple[int, dict[str, int]]:
        return parse_balances(self._get(BALANCES_PATH), f"/{BALANCES_PATH}")

    def openings(self, after: int | None) -> Iterator[dict[str, Any]]:
        """Every opening after index ``after``, page by page, until a page brings nothing new."""
        last = after
        while True:
            params = {"limit": PAGE} if last is None else {"after": last, "limit": PAGE}
            # A server whose log is v1 has no openings to give (each v2 entry lacking one is a finding).
            answer = self._get(OPENINGS_PATH, params, allow_404=True)
            if answer is None:
                return
            items = answer.get("openings") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise SourceError("server_error", f"/{OPENINGS_PATH} did not answer {{openings: [...]}}")
            fresh = [
                raw
                for raw in items
                if isinstance(raw, dict)
                and isinstance(raw.get("index"), int)
                and (last is None or raw["index"] > last)
            ]
            if not fresh:
                return
            yield from fresh
            last = max(raw["index"] for raw in fresh)

    def close(self) -> None:
        self._session.close()


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of ``path``, one per line (none if it does not exist)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as exc:
                raise SourceError("bad_source", f"{path}:{number} is not JSON") from exc
            if not isinstance(raw, dict):
                raise SourceError("bad_source", f"{path}:{number} is not an object")
            yield raw


def write_private_lines(path: Path, lines: list[dict[str, Any]], *, append: bool) -> None:
    """Append (or write) ``lines`` to ``path``, the file ``0600`` in a ``0700`` folder: personal data."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for raw in lines:
            handle.write(_item_json(raw) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_openings(auditor: AuditorSource, state_dir: Path | None) -> dict[int, dict[str, Any]]:
    """Every opening by log index: those kept in ``state_dir`` plus what ``auditor`` has after them.

    New ones are appended to ``state_dir/openings.jsonl`` (``0600``) when a state folder is given.
    """
    kept: dict[int, dict[str, Any]] = {}
    if state_dir is not None:
        for raw in read_jsonl(state_dir / OPENINGS_FILE):
            if isinstance(raw.get("index"), int):
                kept[raw["index"]] = raw
    after = max(kept) if kept else None
    fresh = [raw for raw in auditor.openings(after) if raw["index"] not in kept]
    for raw in fresh:
        kept[raw["index"]] = raw
    if state_dir is not None and fresh:
        write_private_lines(state_dir / OPENINGS_FILE, fresh, append=True)
    return kept


def read_token(path: str | None) -> str | None:
    """The auditor token from the file ``path`` (``-``: stdin), else from ``$KOKREATIV_AUDITOR_TOKEN``."""
    if path is None:
        return os.environ.get(TOKEN_ENV) or None
    try:
        text = Path(path).read_text(encoding="utf-8") if path != "-" else sys.stdin.read()
    except OSError as exc:
        raise UsageError("bad_token", f"cannot read the auditor token from {path}: {exc}") from exc
    if not text.strip():
        raise UsageError("bad_token", f"{path} holds no auditor token")
    return text.strip()
