"""``kokreativ server run``: help with an example, and a real process that survives SIGKILL."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import httpx
import pytest
from server_helpers import HOUR, FakeKiosk
from server_process import free_port, start_server, wait_ready

from protocol import EventKind, PrivateKey, b64encode, encode_batch, enrolment_message
from protocol.clock import now_ms
from server import cli
from server.datadir import init_data_dir


def test_run_has_help_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="kokreativ server")
    cli.configure(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    out = capsys.readouterr().out
    assert "--data" in out and "--port" in out
    assert "kokreativ server run --data" in out


@pytest.mark.slow
def test_sigkill_and_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = init_data_dir(data).admin_token
    port = free_port()
    auth = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "server.log"
    process = start_server(data, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_ready(client, process, log)
            site = client.post(
                "/v1/admin/sites", json={"name": "S", "tokens_per_hour": 6}, headers=auth
            ).json()
            code = client.post("/v1/admin/enrolment-codes", json={"site_id": site["site_id"]}, headers=auth)
            digits = code.json()["code"].replace("-", "")
            kiosk = FakeKiosk(key=PrivateKey.generate())
            signature = b64encode(kiosk.key.sign(enrolment_message(digits, kiosk.key.public_key)))
            enrolled = client.post(
                "/v1/enrol",
                json={"code": digits, "public_key": kiosk.key.public_key.to_b64(), "signature": signature},
            ).json()
            kiosk.kiosk_id = enrolled["kiosk_id"]
            registration = {"name": "V", "site_id": site["site_id"]}
            card = client.post("/v1/admin/cards", json=registration, headers=auth).json()["card_id"]
            # The process runs on the real clock: the shift starts after the kiosk's enrolment (a shift
            # before it is held, not paid) and ends an hour ahead, which the server's clock allows.
            start = now_ms()
            first = encode_batch([kiosk.event(EventKind.CHECK_IN, card, start)])
            sent = client.post(f"/v1/kiosks/{kiosk.kiosk_id}/events", content=first)
            assert sent.status_code == 200
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)

            process = start_server(data, port, log)
            wait_ready(client, process, log)
            state = client.get(f"/v1/kiosks/{kiosk.kiosk_id}").json()
            assert (state["last_seq"], state["head"]) == (1, kiosk.head)
            second = encode_batch([kiosk.event(EventKind.CHECK_OUT, card, start + HOUR)])
            assert client.post(f"/v1/kiosks/{kiosk.kiosk_id}/events", content=second).status_code == 200
            assert client.get(f"/v1/cards/{card}/balance", headers=auth).json()["balance"] == 6
            verified = client.get("/v1/admin/verify", headers=auth).json()
            assert (verified["ok"], verified["events"]) == (True, 2)

            # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status reports it.
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) in (0, -signal.SIGTERM)
            assert "Traceback" not in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
