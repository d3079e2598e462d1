"""``make bench``: performance figures as ratios to ceilings measured in the same run.

Prints one ``name: value`` line per figure.  Absolute numbers depend on the
machine; the ratios say how close the code comes to what the hardware allows:

- ``ingest_vs_verify``: events stored over HTTP per second ÷ bare Ed25519
  verifications per second on one core (the ingest ceiling), one server
  process and one kiosk.  Target ≥ 0.5.  ``verify_all_cores_per_s`` is the
  machine's real ceiling, bare verifications in one process per core at once
  (on a shared two-core VM about 1.5 × one core, not 2 ×), measured before and
  after the all-cores ingest; ``ingest_workers_events_per_s`` is that ingest:
  ``server run --workers 2`` with four kiosks posting pre-signed batches at
  once.  ``ingest_vs_all_cores`` and ``audit_vs_all_cores`` divide by the
  ceiling (issue 21: floors 0.6 and 0.8).
- ``tap_vs_commit``: a full tap up to durable (credential check, signature,
  commit) ÷ a bare one-row commit with ``synchronous=FULL`` in the same
  folder.  Target ≤ 2.0.  ``tap_vs_floor`` divides the tap by what it cannot
  do without, timed right before it: one credential check, one event
  signature and that bare commit (:class:`TapFloor`).  Floor (issue 21) ≤ 1.3.
- ``drain_events_per_s``: a kiosk with 20,000 queued events syncing to an
  empty server.
- ``credential_verify_per_s``: card credentials checked per second (parse,
  issuer lookup, Ed25519, UID, validity, block list); ``credential_vs_verify``
  divides it by the bare verification ceiling above.  Target ≥ 0.8.
- ``tap_to_indicator_ms_median``: an emulated NTAG215 appears on nfcpy's
  ``udp`` reader until the green LED pin (gpiozero MockFactory) goes high:
  nfcpy's anticollision and reads over UDP, the credential check and the
  durable commit, end to end.  No ceiling: on a kiosk the radio adds its own.
- ``append_per_s``: transparency-log entries appended per second (batches of
  500, each a durable transaction with its signed checkpoint).
- ``proof_ms``: median time for one inclusion plus one consistency proof at
  random in a log of 1,000,000 entries.  Target < 1 ms.
- ``kiosk_rss_mb``: resident memory of the kiosk app (Kivy rendering
  offscreen, kiosk core, sync thread) after 1,000 simulated taps, in a process
  of its own (:mod:`bench.kiosk_screen`).  Target ≤ 150 MB, to fit a Pi Zero 2 W.
  ``empty_window_rss_mb`` is the floor measured in the same run: an empty
  Kivy window in a fresh process (SDL, OpenGL, Kivy); ``kiosk_over_window_mb``
  is what the kiosk adds on top of it.
- ``tap_to_screen_ms_median``: from a card handed to the (simulated) reader
  until the first frame showing the result screen is flipped: credential
  check, signature, durable commit, the hop to the UI thread and one render.
  Offscreen rendering here is Mesa's llvmpipe on the CPU.
- ``redeem_online_ms_median``: one online redemption at a shop till over
  loopback, from the volunteer's confirmation to the verified answer on disk
  (:mod:`bench.redeem`).  Target ≤ 10 ms.  ``redeem_vs_floor`` divides it by
  one loopback HTTP round trip plus three bare durable commits, measured in
  the same run: a redemption cannot be faster than that.
- ``redeem_per_s``: online redemptions settled per second with four shop
  terminals redeeming at once.
- ``guess_enrol_per_s``, ``guess_admin_per_s``: wrong enrolment codes and
  admin tokens the server answers per second with its guessing limits off
  (:mod:`bench.guessing`); the entropy bound in ``docs/protocol.md``
  ("Guessing") must hold at this rate.  No target: a ceiling for the bound.
- ``security_<unit>``: the ``systemd-analyze security --offline`` exposure
  score of each unit in ``systemd/`` (0 = locked down, 10 = no sandbox).
  Target ≤ 3.0 for sync and server; ``systemd/README.md`` explains the
  kiosk's.  Skipped with a note on stderr where systemd-analyze is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.signing
import requests

from bench.ceilings import verify_all_cores
from bench.guessing import guessing_rates
from bench.log import BATCH, audit_rate, tlog_append_rate, tlog_proof_times
from bench.redeem import redeem_figures
from hardware.cardrecord import credential_message
from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from kokreativ.localserver import ledger_server
from protocol import (
    GENESIS_PREV,
    CardTrust,
    ClockEvidence,
    EventKind,
    PrivateKey,
    SignedEvent,
    TrustList,
    encode_batch,
    ids,
    issue_credential,
    issuer_key_id,
    sign_event,
    sign_trust_list,
    verify_credential,
)
from protocol.events import committed_event
from provisioning.client import ApiClient
from server.datadir import init_data_dir
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig, write_config
from terminal.enrol import enrol_kiosk
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk
from terminal.trust import TrustStore

INGEST_WORKERS = 2  # server processes for ingest_vs_all_cores (issue 21 measures with two)

if TYPE_CHECKING:  # imported where used: nfcpy and gpiozero only for the tap-to-indicator figure
    from gpiozero.pins.mock import MockPin

    from hardware.emulator import EmulatedType2Tag
    from hardware.nfc import NfcpyReader


def _signed_day(key: PrivateKey, kiosk_id: str, card_ids: list[str], count: int) -> list[SignedEvent]:
    """``count`` chained v2 events, as kiosks sign them: each card alternates check-in and check-out,
    a minute apart, each with the opening that travels beside it."""
    start_ms = int(time.time() * 1000) - count * 60_000
    boot = str(uuid.uuid4())
    events: list[SignedEvent] = []
    prev = GENESIS_PREV
    for i in range(count):
        card = card_ids[i % len(card_ids)]
        kind = EventKind.CHECK_IN if (i // len(card_ids)) % 2 == 0 else EventKind.CHECK_OUT
        clock = ClockEvidence(wall_ms=start_ms + i * 60_000, synced=True, boot_id=boot, mono_ms=i * 60_000)
        event, opening = committed_event(
            kiosk=kiosk_id, seq=i + 1, prev=prev, kind=kind, card=card, clock=clock
        )
        signed = sign_event(event, key, opening)
        prev = signed.hash
        events.append(signed)
    return events


def verify_ceiling(events: list[SignedEvent], public_key: bytes) -> float:
    """Bare PyNaCl verifications per second of the same events, on one core."""
    verify_key = nacl.signing.VerifyKey(public_key)
    started = time.perf_counter()
    for event in events:
        verify_key.verify(event.body, event.signature)
    return len(events) / (time.perf_counter() - started)


def enrolled_kiosk(url: str, admin: ApiClient, folder: Path) -> tuple[KioskConfig, list[str], list[Tap]]:
    """A kiosk enrolled the way a coordinator would, and 50 issued cards with one genuine tap each."""
    issuer = PrivateKey.generate()
    admin.add_issuer_key(issuer.public_key.to_b64())
    site = admin.add_site(folder.name, tokens_per_hour=10)
    code = admin.create_enrolment_code(site["site_id"])["code"]
    _, config = enrol_kiosk(url, code, folder)
    cards: list[str] = []
    taps: list[Tap] = []
    now_s = int(time.time())
    for i in range(50):
        card = admin.register_card(name=f"{folder.name} {i}", site_id=site["site_id"])["card_id"]
        cards.append(card)
        uid = bytes([4, i, 1, 2, 3, 4, 5])
        credential = issue_credential(
            issuer, card_id=card, uid=uid, valid_from_s=now_s - 400 * 86_400, valid_until_s=now_s + 86_400
        )
        taps.append(Tap(uid=uid, ndef=credential_message(credential)))
    return config, cards, taps


def ingest_rate(url: str, admin: ApiClient, folder: Path, events_count: int) -> tuple[float, float]:
    """Events per second stored by one server process over HTTP from one kiosk; also the one-core ceiling."""
    config, cards, _ = enrolled_kiosk(url, admin, folder)
    key = load_key(config.key_path)
    events = _signed_day(key, config.kiosk_id, cards, events_count)
    ceiling = verify_ceiling(events, key.public_key.raw)
    bodies = [encode_batch(events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
    path = f"{url}/v1/kiosks/{config.kiosk_id}/events"
    with requests.Session() as session:
        started = time.perf_counter()
        for body in bodies:
            response = session.post(path, data=body, headers={"Content-Type": "application/json"}, timeout=60)
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    return events_count / elapsed, ceiling


def ingest_workers_rate(
    root: Path, events_count: int, *, workers: int = 2, kiosks: int = 4
) -> tuple[float, float]:
    """Events per second stored by ``server run --workers`` with ``kiosks`` kiosks syncing at once.

    Also ``verify_all_cores_per_s``: the mean of one measurement right before
    the ingest and one right after, so a machine whose load drifts (a shared VM)
    is measured as the ingest saw it.  The load generator is light: every batch
    is signed and encoded before the clock starts, and one thread per kiosk only
    posts them in order (a kiosk's batches are a chain), so nearly all the CPU
    left goes to the server.
    """
    data = root / "workers-server"
    admin_token = init_data_dir(data).admin_token
    with ledger_server(data, workers=workers) as url, ApiClient(url, admin_token=admin_token) as admin:
        streams: list[tuple[str, list[bytes]]] = []
        for n in range(kiosks):
            config, cards, _ = enrolled_kiosk(url, admin, root / f"workers-kiosk-{n}")
            key = load_key(config.key_path)
            events = _signed_day(key, config.kiosk_id, cards, events_count // kiosks)
            bodies = [encode_batch(events[i : i + BATCH]) for i in range(0, len(events), BATCH)]
            streams.append((f"{url}/v1/kiosks/{config.kiosk_id}/events", bodies))
        before = verify_all_cores(events, key.public_key.raw)
        start = threading.Barrier(kiosks + 1)

        def sync(stream: tuple[str, list[bytes]]) -> None:
            path, bodies = stream
            with requests.Session() as session:
                session.get(f"{url}/v1/health", timeout=60).raise_for_status()  # connected before the clock
                start.wait()
                for body in bodies:
                    response = session.post(
                        path, data=body, headers={"Content-Type": "application/json"}, timeout=120
                    )
                    response.raise_for_status()

        with ThreadPoolExecutor(kiosks) as pool:
            done = [pool.submit(sync, stream) for stream in streams]
            start.wait()
            started = time.perf_counter()
            for future in done:
                future.result()
            elapsed = time.perf_counter() - started
        after = verify_all_cores(events, key.public_key.raw)
    return (events_count // kiosks) * kiosks / elapsed, (before + after) / 2


class BareCommit:
    """A bare one-row commit with ``synchronous=FULL`` in WAL mode: the floor under any durable tap."""

    def __init__(self, folder: Path) -> None:
        self._conn = sqlite3.connect(folder / "commit-bench.db", isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        self._payload = b"x" * 400

    def timed(self) -> float:
        started = time.perf_counter()
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute("INSERT INTO t (body) VALUES (?)", (self._payload,))
        self._conn.execute("COMMIT")
        return time.perf_counter() - started

    def close(self) -> None:
        self._conn.close()


class TapFloor:
    """What no tap can do without: one credential check, one event signature, one bare durable commit.

    ``tap_vs_floor`` divides a tap by this, timed right before it, so the figure
    says how much the tap adds to the three things it must do (issue 21: ≤ 1.3).
    """

    def __init__(self, commit: BareCommit) -> None:
        self.commit = commit
        issuer = PrivateKey.generate()
        self._trust = CardTrust(issuer_keys={issuer_key_id(issuer.public_key): issuer.public_key})
        self._uid = bytes([4, 9, 9, 1, 2, 3, 4])
        self._credential = issue_credential(
            issuer, card_id=ids.new_id(ids.CARD), uid=self._uid, valid_from_s=0, valid_until_s=2**32 - 1
        )
        self._key = PrivateKey.generate()
        self._body = b"{" + b"x" * 250 + b"}"  # about an event's canonical bytes

    def timed(self) -> tuple[float, float]:
        """Seconds for the whole floor, and for its commit alone (``tap_vs_commit``'s floor)."""
        started = time.perf_counter()
        verify_credential(self._credential, uid=self._uid, trust=self._trust, now_s=int(time.time()))
        self._key.sign(self._body)
        checked = time.perf_counter()
        commit = self.commit.timed()
        return checked - started + commit, commit


def fill_kiosk(
    kiosk: Kiosk, clock: SimulatedClock, taps: list[Tap], count: int, *, paired: int, floor: TapFloor
) -> tuple[list[float], list[float], list[float]]:
    """Tap ``count`` times, a minute apart; time the first ``paired`` taps, each right after its floor.

    Pairing the samples keeps the ratio honest: fsync latency drifts over a
    run, and both figures then see the same disk at the same moment.  Returns
    the taps' seconds, the whole floors' and the bare commits'.
    """
    tap_s: list[float] = []
    floor_s: list[float] = []
    commit_s: list[float] = []
    for i in range(count):
        clock.advance(60)
        tap = taps[i % len(taps)]
        if i < paired:
            whole, commit = floor.timed()
            floor_s.append(whole)
            commit_s.append(commit)
        started = time.perf_counter()
        kiosk.handle_tap(tap)
        if i < paired:
            tap_s.append(time.perf_counter() - started)
    return tap_s, floor_s, commit_s


def credential_rate(count: int) -> float:
    """Credentials verified per second by :func:`protocol.verify_credential`, as a kiosk does per tap."""
    issuer = PrivateKey.generate()
    trust = CardTrust(
        issuer_keys={issuer_key_id(issuer.public_key): issuer.public_key},
        blocked=frozenset(ids.new_id(ids.CARD) for _ in range(1000)),
    )
    now_s = int(time.time())
    payloads = []
    for i in range(count):
        uid = bytes([4, i % 256, i // 256 % 256, 1, 2, 3, 4])
        card = ids.new_id(ids.CARD)
        payloads.append(
            (uid, issue_credential(issuer, card_id=card, uid=uid, valid_from_s=0, valid_until_s=2**32 - 1))
        )
    started = time.perf_counter()
    for uid, payload in payloads:
        verify_credential(payload, uid=uid, trust=trust, now_s=now_s)
    return count / (time.perf_counter() - started)


def tap_to_indicator(folder: Path, samples: int) -> list[float]:
    """Seconds from an emulated card appearing on nfcpy's reader to the green LED pin going high."""
    from gpiozero.pins.mock import MockFactory

    from hardware.emulator import EmulatedType2Tag, serve_tag
    from hardware.gpio import GpioIndicator, Timings
    from hardware.nfc import NfcpyReader

    config, server_key, uid, ndef, trust = _credentialed_kiosk(folder)
    factory = MockFactory()
    indicator = GpioIndicator(17, 27, 22, pin_factory=factory, timings=Timings(ok_s=0.02, short_beep_s=0.01))
    green = factory.pin(17)
    clock = SimulatedClock(start_wall_ms=int(time.time() * 1000))
    tag = EmulatedType2Tag(uid, ndef)
    with Outbox(config.outbox_path) as outbox, serve_tag(tag) as emulation:
        store = TrustStore(outbox, server_key=server_key.public_key, kiosk_id=config.kiosk_id)
        store.store(sign_trust_list(trust, server_key))
        kiosk = Kiosk(
            config=config,
            key=PrivateKey.generate(),
            outbox=outbox,
            clock=clock,
            indicator=indicator,
            trust=store,
        )
        tag.remove()
        with NfcpyReader(emulation.path, debounce_s=0).start() as reader:
            latencies = [_tap_until_green(tag, reader, kiosk, clock, green) for _ in range(samples)]
    indicator.close()
    factory.reset()
    return latencies


def _credentialed_kiosk(folder: Path) -> tuple[KioskConfig, PrivateKey, bytes, bytes, TrustList]:
    """A kiosk config in ``folder`` (made here), its server key, a card's UID and credential, trust."""
    server_key, issuer = PrivateKey.generate(), PrivateKey.generate()
    config = KioskConfig(
        kiosk_id=ids.new_id(ids.KIOSK),
        site_id=ids.new_id(ids.SITE),
        site_name="bench",
        server_url="http://127.0.0.1:9",
        server_public_key=server_key.public_key,
        uid_pseudonym_key=bytes(32),
        tokens_per_hour=10,
        data_dir=folder,
    )
    folder.mkdir()
    card, uid = ids.new_id(ids.CARD), bytes.fromhex("04a1b2c3d4e5f6")
    ndef = credential_message(
        issue_credential(issuer, card_id=card, uid=uid, valid_from_s=0, valid_until_s=2**32 - 1)
    )
    trust = TrustList(
        kiosk=config.kiosk_id,
        site=config.site_id,
        issued_ms=1,
        issuers=((issuer_key_id(issuer.public_key), issuer.public_key),),
        blocked=frozenset(),
        allow_uncredentialed=False,
    )
    return config, server_key, uid, ndef, trust


def _tap_until_green(
    tag: EmulatedType2Tag, reader: NfcpyReader, kiosk: Kiosk, clock: SimulatedClock, green: MockPin
) -> float:
    """One sample: present the tag, handle its tap, and read when the green pin went high."""
    clock.advance(60)  # a new check-in or check-out each time, never a double tap
    polls = tag.polls_heard
    _wait(lambda: tag.polls_heard > polls)  # the reader has seen the field empty
    green.clear_states()
    tag.present()
    tap = reader.wait_for_tap(timeout=10)
    if tap is None:
        raise RuntimeError("the reader never saw the emulated card")
    kiosk.handle_tap(tap)
    _wait(lambda: any(state.state for state in green.states[1:]))
    latency: float = next(s.timestamp for s in green.states[1:] if s.state)
    tag.remove()
    _wait(lambda: not any(s.state for s in green.states[-1:]))  # the pattern ended
    return latency


def kiosk_screen(url: str, admin: ApiClient, folder: Path, taps_count: int) -> dict[str, Any]:
    """Run :mod:`bench.kiosk_screen` against a freshly enrolled kiosk; its JSON result."""
    config, _, taps = enrolled_kiosk(url, admin, folder)
    # Every tap a check-in or check-out: no double-tap window, so no tap is "already recorded".
    write_config(folder / "kiosk.toml", dataclasses.replace(config, double_tap_window_s=0.0))
    taps_file = folder / "taps.txt"
    taps_file.write_text("".join(f"{tap.uid.hex()} {(tap.ndef or b'').hex()}\n" for tap in taps))
    result = _screen_process(
        "--config", str(folder / "kiosk.toml"), "--taps-file", str(taps_file), "--taps", str(taps_count)
    )
    result["empty_window_rss_mb"] = _screen_process("--empty-window")["rss_mb"]
    return result


def _screen_process(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.kiosk_screen", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _wait(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("bench step timed out")
        time.sleep(0.001)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.only != "ingest":
        unit_security()

    with tempfile.TemporaryDirectory(prefix="kokreativ-bench-") as tmp:
        root = Path(tmp)
        admin_token = init_data_dir(root / "server").admin_token
        ceiling, all_cores = _ingest_and_credential_figures(root, admin_token, args.events)
        if args.only == "ingest":
            return 0
        to_light = tap_to_indicator(root / "nfc-kiosk", args.nfc_taps)
        print(f"tap_to_indicator_ms_median: {statistics.median(to_light) * 1000:.1f}")
        if not _screen_figures(root, admin_token, args.screen_taps):
            return 1
        _redeem_figures(root, admin_token, args.redemptions)
        for name, rate in guessing_rates(root / "guessing").items():
            print(f"{name}: {rate:.0f}")
        _log_figures(root, ceiling, all_cores)
        if not _tap_and_drain_figures(root, args.events, args.taps):
            return 1
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events for ingest and drain")
    parser.add_argument("--taps", type=int, default=500, help="taps and commits timed for the medians")
    parser.add_argument("--nfc-taps", type=int, default=40, help="emulated card taps timed end to end")
    parser.add_argument("--screen-taps", type=int, default=1000, help="taps on the kiosk screen")
    parser.add_argument("--redemptions", type=int, default=200, help="online redemptions timed at one till")
    parser.add_argument(
        "--only", choices=["ingest"], help="only these figures (ingest: the ingest and credential figures)"
    )
    return parser.parse_args(argv)


def _ingest_and_credential_figures(root: Path, admin_token: str, events: int) -> tuple[float, float]:
    """Print the ingest and credential figures; return the one-core and all-core verification ceilings."""
    with ledger_server(root / "server") as url, ApiClient(url, admin_token=admin_token) as admin:
        ingest, ceiling = ingest_rate(url, admin, root / "ingest-kiosk", events)
    ingest_all, all_cores = ingest_workers_rate(root, events, workers=INGEST_WORKERS)
    print(f"verify_ceiling_per_s: {ceiling:.0f}")
    print(f"verify_all_cores_per_s: {all_cores:.0f}")
    print(f"ingest_events_per_s: {ingest:.0f}")
    print(f"ingest_vs_verify: {ingest / ceiling:.2f}")
    print(f"ingest_workers_events_per_s: {ingest_all:.0f}")
    print(f"ingest_vs_all_cores: {ingest_all / all_cores:.2f}")
    credentials = credential_rate(5000)
    print(f"credential_verify_per_s: {credentials:.0f}")
    print(f"credential_vs_verify: {credentials / ceiling:.2f}")
    return ceiling, all_cores


def _screen_figures(root: Path, admin_token: str, screen_taps: int) -> bool:
    """Print the kiosk screen's latency and memory figures; False if it missed a tap's result."""
    with ledger_server(root / "server") as url, ApiClient(url, admin_token=admin_token) as admin:
        screen = kiosk_screen(url, admin, root / "screen-kiosk", screen_taps)
    if screen["screens"] != screen_taps:
        print(
            f"kiosk screen showed {screen['screens']} results for {screen_taps} taps",
            file=sys.stderr,
        )
        return False
    print(f"tap_to_screen_ms_median: {statistics.median(screen['tap_to_screen_ms']):.1f}")
    print(f"kiosk_rss_mb: {screen['rss_mb']:.0f}")
    print(f"empty_window_rss_mb: {screen['empty_window_rss_mb']:.0f}")
    print(f"kiosk_over_window_mb: {screen['rss_mb'] - screen['empty_window_rss_mb']:.0f}")
    return True


def _redeem_figures(root: Path, admin_token: str, redemptions: int) -> None:
    """Print the shop till's figures (:mod:`bench.redeem`)."""
    with ledger_server(root / "server") as url, ApiClient(url, admin_token=admin_token) as admin:
        redeem = redeem_figures(url, admin, root / "shop", samples=redemptions, terminals=4, per_terminal=50)
    redeem_ms = statistics.median(redeem.online_ms)
    print(f"redeem_online_ms_median: {redeem_ms:.1f}")
    print(f"redeem_vs_floor: {redeem_ms / redeem.floor_ms:.1f}")
    print(f"redeem_per_s: {redeem.per_s:.0f}")


def _log_figures(root: Path, ceiling: float, all_cores: float) -> None:
    """Print the transparency log's figures: appends, proofs, and an audit of a tile mirror."""
    print(f"append_per_s: {tlog_append_rate(root / 'tlog-append', 20_000):.0f}")
    proof_s = tlog_proof_times(root / "tlog-proof", 1_000_000, 500)
    print(f"proof_ms: {statistics.median(proof_s) * 1000:.3f}")
    audited, cores = audit_rate(root / "audit-state", 200_000)
    print(f"audit_events_per_s: {audited:.0f}")
    print(f"audit_vs_ceiling: {audited / (cores * ceiling):.2f}")
    print(f"audit_vs_all_cores: {audited / all_cores:.2f}")


def _tap_and_drain_figures(root: Path, events: int, paired_taps: int) -> bool:
    """Fill a fresh kiosk with ``events`` taps (timing ``paired_taps`` against bare commits), then drain it.

    A fresh server, so the drain starts from empty.  False if the drain left anything behind.
    """
    drain_init = init_data_dir(root / "drain-server")
    with ledger_server(root / "drain-server") as url:
        with ApiClient(url, admin_token=drain_init.admin_token) as admin:
            config, _, taps = enrolled_kiosk(url, admin, root / "kiosk")
        outbox = Outbox(config.outbox_path)
        try:
            clock = SimulatedClock(start_wall_ms=int(time.time() * 1000) - events * 60_000)
            kiosk = Kiosk(
                config=config,
                key=load_key(config.key_path),
                outbox=outbox,
                clock=clock,
                indicator=RecordingIndicator(),
                trust=TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id),
            )
            floor = TapFloor(BareCommit(root / "kiosk"))
            try:
                tap_s, floor_s, commit_s = fill_kiosk(
                    kiosk, clock, taps, events, paired=paired_taps, floor=floor
                )
            finally:
                floor.commit.close()
            commit_ms = statistics.median(commit_s) * 1000
            floor_ms = statistics.median(floor_s) * 1000
            tap_ms = statistics.median(tap_s) * 1000
            print(f"commit_ms_median: {commit_ms:.3f}")
            print(f"tap_floor_ms_median: {floor_ms:.3f}")
            print(f"tap_ms_median: {tap_ms:.3f}")
            print(f"tap_vs_commit: {tap_ms / commit_ms:.2f}")
            print(f"tap_vs_floor: {tap_ms / floor_ms:.2f}")

            started = time.perf_counter()
            result = SyncClient(config, outbox).sync_once()
            elapsed = time.perf_counter() - started
            if result.pending or result.error:
                print(f"drain failed: {result}", file=sys.stderr)
                return False
            print(f"drain_events_per_s: {events / elapsed:.0f}")
        finally:
            outbox.close()
    return True


def unit_security(units: Path | None = None) -> None:
    """Print ``security_<unit>: <exposure>`` for each systemd unit; independent of the other benches."""
    import re
    import shutil

    units = units or Path(__file__).resolve().parents[1] / "systemd"

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("security: systemd-analyze not installed, unit scores skipped", file=sys.stderr)
        return
    for unit in sorted(units.glob("*.service")):
        result = subprocess.run(
            [analyze, "security", "--offline=true", "--no-pager", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
        print(f"security_{unit.stem}: {match.group(1) if match else 'error'}")


if __name__ == "__main__":
    raise SystemExit(main())
