"""Enrol this kiosk: exchange a one-time code for its identity, config and first trust list.

Runs on the kiosk itself, from ``kokreativ provision terminal enrol`` or the
enrolment screen.  The kiosk's Ed25519 key is generated here and only the
public key is sent, with a signature that proves possession
(:func:`protocol.enrolment_message`).  The server's answer becomes the
kiosk's TOML config, including ``log_origin``, the origin of the server's
transparency log, which the kiosk pins to witness it (:mod:`terminal.witness`).

It talks HTTP with ``requests`` like :mod:`terminal.sync`: the kiosk does not
depend on the coordinators' tools in :mod:`provisioning` (docs/architecture.md,
"Layers").  Failures raise :class:`terminal.errors.EnrolmentError`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import requests

from protocol import PublicKey, b64decode, b64encode, enrolment_message, ids
from protocol.cards import UID_PSEUDONYM_KEY_BYTES
from protocol.enrolment import ENROL_CODE_DIGITS
from protocol.errors import ProtocolError
from protocol.note import NoteVerifier
from protocol.reasons import Reason
from terminal.config import INDICATORS, NFC_PATH_KINDS, READERS, KioskConfig, load_config, write_config
from terminal.errors import EnrolmentError, TerminalError
from terminal.keystore import create_key, load_key
from terminal.outbox import Outbox
from terminal.trust import TrustStore

CODE_DIGITS: Final = ENROL_CODE_DIGITS
TIMEOUT_S: Final = 15.0

# Sends the enrolment request body and returns the server's JSON answer (an object).
Post = Callable[[dict[str, Any]], dict[str, Any]]


def normalise_code(code: str) -> str:
    """The 20 digits of an enrolment code typed with or without dashes and spaces."""
    digits = re.sub(r"[\s-]", "", code)
    if not re.fullmatch(rf"[0-9]{{{CODE_DIGITS}}}", digits):
        raise EnrolmentError(Reason.ENROLMENT_CODE_INVALID, f"an enrolment code has {CODE_DIGITS} digits")
    return digits


def enrol_kiosk(
    server_url: str,
    code: str,
    data_dir: Path,
    *,
    post: Post | None = None,
    reader: str = "stdin",
    indicator: str = "console",
    device: str | None = None,
) -> tuple[Path, KioskConfig]:
    """Generate the kiosk key, enrol it with ``code``, write ``data_dir/kiosk.toml`` and create the outbox.

    Everything that can be checked locally is checked before the one-time code
    is spent.  A refused attempt leaves no key behind (the server registered
    none).  A key left by an attempt without an answer is reused: if the
    server registered it but the answer was lost, the server says
    ``key_already_enrolled`` and this kiosk needs a fresh folder and code.
    An existing config means the kiosk is enrolled already.  The outbox is
    created here, so the kiosk and sync services never race to create it.
    ``post`` sends the request (default: ``POST {server_url}/v1/enrol``).
    """
    digits = normalise_code(code)
    _check_choices(reader=reader, indicator=indicator, device=device)
    config_path = data_dir / "kiosk.toml"
    if config_path.exists():
        raise EnrolmentError("already_enrolled", f"{config_path} exists; this kiosk is enrolled")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    answer = _enrol_key(data_dir / "kiosk.key", digits, post or _poster(server_url))
    config = _config_from_answer(answer, server_url, data_dir, reader=reader, indicator=indicator)
    if device is not None:
        config = dataclasses.replace(config, device=device)
    _install(config_path, config, answer.get("trust"))
    return config_path, config


def _check_choices(*, reader: str, indicator: str, device: str | None) -> None:
    """Refuse a reader, indicator or nfcpy device the kiosk could not use, before the code is spent."""
    if reader not in READERS:
        raise EnrolmentError(Reason.BAD_FIELD, f"reader must be one of {', '.join(READERS)}")
    if device is not None and device.split(":", 1)[0] not in NFC_PATH_KINDS:
        raise EnrolmentError(
            Reason.BAD_FIELD, f"the nfcpy device must start with one of {', '.join(NFC_PATH_KINDS)}"
        )
    if indicator not in INDICATORS:
        raise EnrolmentError(Reason.BAD_FIELD, f"indicator must be one of {', '.join(INDICATORS)}")


def _enrol_key(key_path: Path, digits: str, post: Post) -> dict[str, Any]:
    """Sign the code with the kiosk key (made now, or left by an earlier attempt) and send it; the answer."""
    key = load_key(key_path) if key_path.exists() else create_key(key_path)
    signature = key.sign(enrolment_message(digits, key.public_key))
    body = {"code": digits, "public_key": key.public_key.to_b64(), "signature": b64encode(signature)}
    try:
        return post(body)
    except EnrolmentError as exc:
        if exc.code == Reason.KEY_ALREADY_ENROLLED:
            raise EnrolmentError(
                exc.code,
                f"{key_path} is enrolled already; enrol with a new, empty --dir and a new code",
                from_server=exc.from_server,
            ) from exc
        if exc.from_server:
            # The server refused, so it registered nothing: leave no key that looks like an enrolled
            # kiosk.  Without an answer (network) it may have, so the key stays for the next try.
            key_path.unlink(missing_ok=True)
        raise


def _install(config_path: Path, config: KioskConfig, trust: object) -> None:
    """Write the config and create the outbox with the first trust list; leave no config it would refuse."""
    write_config(config_path, config)
    try:
        # Read back with the kiosk's own rules, so a config the kiosk would refuse is never left behind.
        load_config(config_path)
        with Outbox(config.outbox_path) as outbox:
            # The first trust list, so the kiosk can check credentials before its first sync.
            TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id).store(trust)
    except (TerminalError, ValueError) as exc:
        config_path.unlink()
        raise EnrolmentError(
            Reason.BAD_FIELD, f"the enrolment answer gives an unusable config: {exc}"
        ) from exc


def _poster(server_url: str, *, timeout_s: float = TIMEOUT_S) -> Post:
    """``POST {server_url}/v1/enrol`` with ``requests``; a refusal raises with the server's error code."""
    url = server_url.rstrip("/") + "/v1/enrol"

    def post(body: dict[str, Any]) -> dict[str, Any]:
        try:
            with requests.Session() as session:
                response = session.post(
                    url, json=body, headers={"Accept": "application/json"}, timeout=timeout_s
                )
        except requests.RequestException as exc:
            raise EnrolmentError(Reason.NETWORK_ERROR, f"{server_url}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 400:
            error = payload.get("error") if isinstance(payload, dict) else None
            error = error if isinstance(error, dict) else {}
            code, message = error.get("code"), error.get("message")
            raise EnrolmentError(
                _reason(code) if isinstance(code, str) else f"http_{response.status_code}",
                message if isinstance(message, str) else (response.reason or "refused"),
                from_server=True,
            )
        if not isinstance(payload, dict):
            raise EnrolmentError(
                Reason.MALFORMED_REQUEST, "/v1/enrol did not answer with a JSON object", from_server=True
            )
        return payload

    return post


def _reason(code: str) -> Reason | str:
    """The server's error code as a :class:`Reason` where it is one (so ``.reason`` is set), else as sent."""
    try:
        return Reason(code)
    except ValueError:
        return code


def _config_from_answer(
    answer: dict[str, Any], server_url: str, data_dir: Path, *, reader: str, indicator: str
) -> KioskConfig:
    """The kiosk config from the server's enrolment answer, refusing anything malformed."""
    try:
        tokens_per_hour, max_shift_hours = answer["tokens_per_hour"], answer["max_shift_hours"]
        if not (isinstance(tokens_per_hour, int) and tokens_per_hour >= 0):
            raise ValueError("tokens_per_hour must be a whole number >= 0")
        if not (isinstance(max_shift_hours, int) and max_shift_hours >= 1):
            raise ValueError("max_shift_hours must be a whole number >= 1")
        server_public_key = PublicKey.from_b64(answer["server_public_key"], field="server_public_key")
        return KioskConfig(
            kiosk_id=ids.require_id(answer["kiosk_id"], ids.KIOSK, field="kiosk_id"),
            site_id=ids.require_id(answer["site_id"], ids.SITE, field="site_id"),
            site_name=str(answer["site_name"]),
            server_url=server_url.rstrip("/"),
            server_public_key=server_public_key,
            uid_pseudonym_key=b64decode(
                answer["uid_pseudonym_key"], field="uid_pseudonym_key", length=UID_PSEUDONYM_KEY_BYTES
            ),
            tokens_per_hour=tokens_per_hour,
            max_shift_hours=max_shift_hours,
            data_dir=data_dir,
            reader=reader,
            indicator=indicator,
            log_origin=_log_origin(answer, server_public_key),
        )
    except (KeyError, TypeError, ValueError, ProtocolError) as exc:
        raise EnrolmentError(
            Reason.MALFORMED_REQUEST, f"the server's enrolment answer is not valid: {exc!r}"
        ) from exc


def _log_origin(answer: dict[str, Any], server_public_key: PublicKey) -> str | None:
    """The log origin to pin; the answer's ``log_verifier_key`` must be the server key under that name.

    Checkpoints are signed with the server key under the origin, so the verifier
    key follows from the two; one that does not is a malformed answer.  A server
    without a log sends neither, and the kiosk then pins the origin on first use.
    """
    origin, verifier_key = answer.get("log_origin"), answer.get("log_verifier_key")
    if origin is None:
        if verifier_key is not None:
            raise ValueError("log_verifier_key without log_origin")
        return None
    if not isinstance(origin, str):
        raise ValueError("log_origin must be a string")
    expected = str(NoteVerifier.for_key(origin, server_public_key))
    if verifier_key is not None and verifier_key != expected:
        raise ValueError(f"log_verifier_key is not the server key under {origin!r}")
    return origin
