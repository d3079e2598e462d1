"""Enrol a kiosk: runs on the kiosk itself.

The kiosk's Ed25519 key is generated here, on the kiosk, and only the public
key is sent, together with a signature that proves possession
(:func:`protocol.enrolment_message`).  The server's answer becomes the kiosk's
TOML config.  The Kivy enrolment screen calls :func:`enrol_kiosk` too.
"""

from __future__ import annotations

import re
from pathlib import Path

from protocol import PublicKey, b64decode, b64encode, enrolment_message, ids
from protocol.reasons import Reason
from provisioning.client import ApiClient
from provisioning.errors import ProvisioningError
from terminal.config import KioskConfig, write_config
from terminal.keystore import create_key, load_key

_CODE_DIGITS = 12


def normalise_code(code: str) -> str:
    """The 12 digits of an enrolment code typed with or without dashes and spaces."""
    digits = re.sub(r"[\s-]", "", code)
    if not re.fullmatch(rf"[0-9]{{{_CODE_DIGITS}}}", digits):
        raise ProvisioningError(Reason.ENROLMENT_CODE_INVALID, "an enrolment code has 12 digits")
    return digits


def enrol_kiosk(
    server_url: str,
    code: str,
    data_dir: Path,
    *,
    client: ApiClient | None = None,
    reader: str = "stdin",
    indicator: str = "console",
) -> tuple[Path, KioskConfig]:
    """Generate the kiosk key, enrol it with ``code`` and write ``data_dir/kiosk.toml``.

    A key left by an earlier attempt that the server refused is reused, since
    it was never registered; an existing config means the kiosk is enrolled
    already, and enrolling again would need a new kiosk identity.
    """
    digits = normalise_code(code)
    config_path = data_dir / "kiosk.toml"
    if config_path.exists():
        raise ProvisioningError("already_enrolled", f"{config_path} exists; this kiosk is enrolled")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path = data_dir / "kiosk.key"
    key = load_key(key_path) if key_path.exists() else create_key(key_path)
    signature = key.sign(enrolment_message(digits, key.public_key))
    body = {"code": digits, "public_key": key.public_key.to_b64(), "signature": b64encode(signature)}
    own_client = client is None
    api = client or ApiClient(server_url)
    try:
        answer = api.enrol(body)
    finally:
        if own_client:
            api.close()
    config = KioskConfig(
        kiosk_id=ids.require_id(answer["kiosk_id"], ids.KIOSK, field="kiosk_id"),
        site_id=ids.require_id(answer["site_id"], ids.SITE, field="site_id"),
        site_name=str(answer["site_name"]),
        server_url=server_url.rstrip("/"),
        server_public_key=PublicKey.from_b64(answer["server_public_key"], field="server_public_key"),
        uid_pseudonym_key=b64decode(answer["uid_pseudonym_key"], field="uid_pseudonym_key", length=32),
        tokens_per_hour=int(answer["tokens_per_hour"]),
        max_shift_hours=int(answer["max_shift_hours"]),
        data_dir=data_dir,
        reader=reader,
        indicator=indicator,
    )
    write_config(config_path, config)
    return config_path, config
