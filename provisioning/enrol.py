"""Kiosk enrolment for ``kokreativ provision terminal enrol``, with provisioning's errors.

The enrolment itself is the kiosk's own business and lives in
:mod:`terminal.enrol` (the enrolment screen uses it too, and the kiosk may not
import :mod:`provisioning`).  This adapter keeps the coordinator-side surface:
refusals come back as :class:`ServerRefused`, no answer as
:class:`ServerUnreachable`, and an :class:`ApiClient` may send the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from protocol.enrolment import ENROL_CODE_GROUP
from protocol.reasons import Reason
from provisioning.client import ApiClient
from provisioning.errors import ProvisioningError, ServerRefused, ServerUnreachable
from terminal import enrol as kiosk_enrol
from terminal.config import KioskConfig
from terminal.errors import EnrolmentError


def normalise_code(code: str) -> str:
    """The 20 digits of an enrolment code typed with or without dashes and spaces."""
    try:
        return kiosk_enrol.normalise_code(code)
    except EnrolmentError as exc:
        raise _provisioning_error(exc) from exc


def display_code(code: str) -> str:
    """The code in groups of four digits (``1234-5678-9012-3456-7890``), as a coordinator reads it out."""
    digits = normalise_code(code)
    return "-".join(digits[i : i + ENROL_CODE_GROUP] for i in range(0, len(digits), ENROL_CODE_GROUP))


def enrol_kiosk(
    server_url: str,
    code: str,
    data_dir: Path,
    *,
    client: ApiClient | None = None,
    reader: str = "stdin",
    indicator: str = "console",
    device: str | None = None,
) -> tuple[Path, KioskConfig]:
    """:func:`terminal.enrol.enrol_kiosk`, sending through ``client`` if given; see there."""
    try:
        return kiosk_enrol.enrol_kiosk(
            server_url,
            code,
            data_dir,
            post=_post_with(client) if client is not None else None,
            reader=reader,
            indicator=indicator,
            device=device,
        )
    except EnrolmentError as exc:
        raise _provisioning_error(exc) from exc


def _post_with(client: ApiClient) -> kiosk_enrol.Post:
    """``client.enrol``, its errors said the kiosk's way (and turned back by :func:`_provisioning_error`)."""

    def post(body: dict[str, Any]) -> dict[str, Any]:
        try:
            return client.enrol(body)
        except ServerUnreachable as exc:
            raise EnrolmentError(Reason.NETWORK_ERROR, exc.message) from exc
        except ProvisioningError as exc:
            raise EnrolmentError(exc.reason, exc.message, from_server=True) from exc

    return post


def _provisioning_error(exc: EnrolmentError) -> ProvisioningError:
    reason = exc.reason or exc.code
    if exc.from_server:
        return ServerRefused(reason, exc.message)
    if exc.reason == Reason.NETWORK_ERROR:
        return ServerUnreachable(Reason.SERVER_UNREACHABLE, exc.message)
    return ProvisioningError(reason, exc.message)
