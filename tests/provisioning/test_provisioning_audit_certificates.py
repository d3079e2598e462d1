"""``verify ledger`` over a log with hours certificates and prior engagement (issue 18, page 7).

A certificate entry decides no balance and a ``prior_hours`` decision pays no
tokens, but the auditor must accept both, check the decision's signature and
replay it with the server's rules (the same ``protocol.economy`` code), in
public mode and with the designated auditor's openings.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from protocol import PrivateKey, coordinator_id, sign_decision
from protocol.decisions import committed_decision
from protocol.logentry import parse_entry
from protocol.note import NoteVerifier
from provisioning.audit import AuditOptions, MirrorSource, audit_ledger
from server import admin, cards, certificates, coordinator_keys, decisions
from server.datadir import init_data_dir, open_data_dir
from server.eligibility import day_start_ms
from tests.audit_helpers import auditor_of, export_mirror
from tests.server.server_helpers import T0, FakeClock


def _build(folder: Path) -> tuple[str, int, int]:
    """Two prior_hours decisions and a certificate: (verifier key, decision index, certificate index)."""
    init = init_data_dir(folder, origin="certs.test/ledger")
    clock = FakeClock(T0)
    with open_data_dir(folder, now_ms=clock) as ctx:
        site = admin.create_site(ctx, {"name": "Repair café", "tokens_per_hour": 10})["site_id"]
        made = [cards.create_card(ctx, {"name": name, "site_id": site}) for name in ("Ada", "Bo", "Cy")]
        key = PrivateKey.generate()
        coordinator_keys.register_coordinator(ctx, {"name": "Grace", "public_key": key.public_key.to_b64()})
        first, last = datetime.date(2024, 1, 1), datetime.date(2024, 12, 31)
        answers: list[dict[str, Any]] = []
        for card in made[:2]:
            data = {
                "card": card["card_id"],
                "site": site,
                "from_ms": day_start_ms(first),
                "to_ms": day_start_ms(last + datetime.timedelta(days=1)),
                "minutes": 300 * 60,
                "reason": "paper_list",
            }
            decision, opening = committed_decision("prior_hours", coordinator_id(key.public_key), T0, data)
            answers.append(decisions.submit_decision(ctx, sign_decision(decision, key, opening)))
        issued = certificates.issue_certificate(
            ctx, volunteer_id=made[0]["volunteer_id"], from_day=first, to_day=last
        )
        assert issued.minutes == 300 * 60
    return init.log_verifier_key, answers[0]["log_index"], issued.index


def test_a_log_with_certificates_and_prior_hours_audits_clean(tmp_path: Path) -> None:
    verifier_key, decision_index, certificate_index = _build(tmp_path / "server")
    mirror = export_mirror(tmp_path / "server", tmp_path / "mirror")
    for auditor in (None, auditor_of(mirror)):
        source = MirrorSource(mirror)
        try:
            options = AuditOptions(
                [NoteVerifier.parse(verifier_key)],
                state_dir=tmp_path / f"state-{auditor is None}",
                auditor=auditor,
            )
            report = audit_ledger(source, options)
        finally:
            source.close()
        assert report.ok, "\n".join(report.lines())
        assert report.decisions == 2
    with open_data_dir(tmp_path / "server") as ctx, ctx.storage.read() as tx:
        assert parse_entry(tx.tlog_entry(certificate_index) or b"")["kind"] == "certificate"
        assert parse_entry(tx.tlog_entry(decision_index) or b"")["kind"] == "decision"
