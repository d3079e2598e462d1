"""``kokreativ verify …``: what auditors and volunteers run to check the ledger from the outside.

Glue only: each command parses its arguments and calls :mod:`provisioning.audit`.
A check that fails prints what failed and exits 1; a usage error (a
malformed key, a missing file, an unreachable server) exits 2 like every
other command.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from protocol.checkpoint import Checkpoint
from protocol.errors import ProtocolError
from protocol.merkle import leaf_hash
from protocol.note import NoteVerifier

CHECK_FAILED = 1


def _verifier_key(text: str) -> NoteVerifier:
    from provisioning.audit import UsageError, parse_verifier_keys

    try:
        return parse_verifier_keys([text])[0]
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def _workers(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def _failed(exc: ProtocolError) -> int:
    print(f"kokreativ verify: {exc.reason.value}: {exc.message}", file=sys.stderr)
    return CHECK_FAILED


def _print(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False))


def _checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "ok": True,
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root_hash": base64.b64encode(checkpoint.root_hash).decode(),
    }


def _checkpoint(args: argparse.Namespace) -> int:
    from provisioning.audit import check_checkpoint

    data = _read(args.file)
    try:
        checkpoint = check_checkpoint(data, args.key, origin=args.origin)
    except ProtocolError as exc:
        return _failed(exc)
    _print(_checkpoint_json(checkpoint))
    return 0


def _proof(args: argparse.Namespace) -> int:
    from provisioning.audit import check_proof, parse_leaf_hash

    leaf = leaf_hash(_read(args.leaf_file)) if args.leaf_file else parse_leaf_hash(args.leaf_hash)
    data = _read(args.file)
    try:
        checkpoint, proof = check_proof(data, args.key, leaf, origin=args.origin)
    except ProtocolError as exc:
        return _failed(exc)
    _print({**_checkpoint_json(checkpoint), "index": proof.index, "leaf_hash": leaf.hex()})
    return 0


def _certificate(args: argparse.Namespace) -> int:
    from protocol.certificates import verify_certificate

    payload = sys.stdin.read() if args.payload == "-" else args.payload
    try:
        facts = verify_certificate(payload, args.key, name=args.name, salt=args.salt, origin=args.origin)
    except ProtocolError as exc:
        return _failed(exc)
    _print({"ok": True, **facts.to_json()})
    return 0


def _auditor(args: argparse.Namespace) -> Any:
    """The designated auditor's source, if asked for: a folder, or the server with a token."""
    from provisioning.audit import UsageError
    from provisioning.audit.auditor import FolderAuditor, HttpAuditor, read_token

    if args.auditor_data:
        return FolderAuditor(Path(args.auditor_data))
    token = read_token(args.auditor_token)
    if token is None:
        return None
    url = args.audit_url or (args.source if args.source.startswith(("http://", "https://")) else None)
    if url is None:
        raise UsageError("bad_source", "auditing a mirror folder with a token needs --audit-url URL")
    return HttpAuditor(url, token)


def _ledger(args: argparse.Namespace) -> int:
    from provisioning.audit import AuditOptions, ProgressBar, audit_ledger, choose_verifiers, open_source

    source = open_source(args.source)
    auditor = None
    try:
        auditor = _auditor(args)
        keys = choose_verifiers(source, args.key or [], unsafe_trust_server_key=args.unsafe_trust_server_key)
        for warning in keys.warnings:
            print(warning, file=sys.stderr)
        show = args.progress or (sys.stderr.isatty() and not args.json)
        options = AuditOptions(
            verifiers=keys.verifiers,
            origin=args.origin,
            state_dir=Path(args.state) if args.state else None,
            workers=args.workers,
            progress=ProgressBar(sys.stderr, 0, enabled=show),
            warnings=keys.warnings,
            auditor=auditor,
        )
        report = audit_ledger(source, options)
    finally:
        source.close()
        if auditor is not None:
            auditor.close()
    if args.json:
        _print(report.to_json())
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else CHECK_FAILED


def _mirror(args: argparse.Namespace) -> int:
    from provisioning.audit import mirror_log

    _print(mirror_log(args.url, Path(args.folder)).to_json())
    return 0


def _leaf(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str, example: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _key_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--key",
        action="append",
        type=_verifier_key,
        required=required,
        metavar="VKEY",
        help="trusted verifier key name+keyid+base64 (repeat for several; others' signatures are ignored)",
    )
    parser.add_argument("--origin", help="the log's origin (default: the name of the key that signed)")


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="verify_command", metavar="COMMAND", required=True)

    _configure_ledger(commands)
    _configure_mirror(commands)
    _configure_offline_checks(commands)


def _configure_ledger(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``verify ledger``: the whole audit, from a URL or a tile mirror."""
    ledger = _leaf(
        commands,
        "ledger",
        "audit a whole ledger: checkpoint, Merkle root, history, every signature and chain, "
        "flags and totals; with the auditor's token also every card and balance; "
        "exit 1 and name each problem if anything fails",
        "kokreativ verify ledger https://ledger.example.org --key 'ledger.example.org+1a2b3c4d+AV…'\n"
        "  kokreativ verify ledger https://ledger.example.org --key 'ledger…' --auditor-token ~/audit.token",
    )
    ledger.add_argument(
        "source", metavar="SOURCE", help="the server's URL, or a mirror of its tiles (see 'verify mirror')"
    )
    _key_options(ledger, required=False)
    ledger.add_argument(
        "--unsafe-trust-server-key",
        "--trust-server-key",
        dest="unsafe_trust_server_key",
        action="store_true",
        help="UNSAFE: take the key from the audited server's /v1/log/key (a URL without --key)",
    )
    ledger.add_argument(
        "--state",
        metavar="DIR",
        help="where checkpoints seen before are kept (default ~/.local/share/kokreativ/audit/ORIGIN)",
    )
    ledger.add_argument(
        "--workers", type=_workers, metavar="N", help="processes checking signatures (default: every core)"
    )
    auditor = ledger.add_mutually_exclusive_group()
    auditor.add_argument(
        "--auditor-token",
        metavar="FILE",
        help="the designated auditor's token (permission audit_log) in FILE, - for stdin; default "
        "$KOKREATIV_AUDITOR_TOKEN. Opens every commitment, replays the whole economy and compares "
        "the balances; the openings are kept in the state folder (personal data, mode 0600)",
    )
    auditor.add_argument(
        "--auditor-data",
        metavar="DIR",
        help="the auditor's material from 'kokreativ server export-log --auditor DIR' instead of a token",
    )
    ledger.add_argument(
        "--audit-url", metavar="URL", help="the server's URL for the token when SOURCE is a mirror folder"
    )
    ledger.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ledger.add_argument("--progress", action="store_true", help="show progress on stderr even when not a TTY")
    ledger.set_defaults(func=_ledger)


def _configure_mirror(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``verify mirror``: copy a log's tiles into a folder."""
    mirror = _leaf(
        commands,
        "mirror",
        "copy a log's tiles (c2sp.org/tlog-tiles) into a folder, or bring a copy up to date; "
        "fetches only the tiles the folder lacks. Audit it with 'verify ledger FOLDER'",
        "kokreativ verify mirror https://ledger.example.org ./ledger-mirror",
    )
    mirror.add_argument("url", metavar="URL", help="the server's URL")
    mirror.add_argument("folder", metavar="FOLDER", help="the mirror folder (created if missing)")
    mirror.set_defaults(func=_mirror)


def _configure_offline_checks(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``verify checkpoint``, ``proof`` and ``certificate``: one signed object, offline."""
    checkpoint = _leaf(
        commands,
        "checkpoint",
        "check a signed checkpoint (c2sp.org/tlog-checkpoint) of any log against trusted keys",
        "kokreativ verify checkpoint --key 'ledger.example.org+1a2b3c4d+AV…' checkpoint.txt",
    )
    _key_options(checkpoint, required=True)
    checkpoint.add_argument("file", metavar="FILE", help="the signed checkpoint, or - for stdin")
    checkpoint.set_defaults(func=_checkpoint)

    proof = _leaf(
        commands,
        "proof",
        "check a tlog-proof (c2sp.org/tlog-proof) that an entry is in a log, offline",
        "kokreativ verify proof --key 'ledger.example.org+1a2b3c4d+AV…' --leaf-file entry.json proof.txt",
    )
    _key_options(proof, required=True)
    leaf = proof.add_mutually_exclusive_group(required=True)
    leaf.add_argument("--leaf-file", metavar="F", help="the raw entry bytes (hashed as an RFC 6962 leaf)")
    leaf.add_argument("--leaf-hash", metavar="H", help="the leaf hash, as 64 hex digits or base64")
    proof.add_argument("file", metavar="FILE", help="the tlog-proof, or - for stdin")
    proof.set_defaults(func=_proof)

    certificate = _leaf(
        commands,
        "certificate",
        "check an hours certificate (Nachweis) offline: its QR payload, the printed name and Prüfcode (salt)",
        "kokreativ verify certificate --key 'ledger.example.org+1a2b3c4d+AV…' "
        "--payload 'https://ledger.example.org/nachweis?p=AQDb…' --name 'Erika Mustermann' --salt 0011…eeff",
    )
    _key_options(certificate, required=True)
    certificate.add_argument(
        "--payload",
        required=True,
        metavar="P",
        help="the QR code's text (its URL or the bare payload), - for stdin",
    )
    certificate.add_argument("--name", required=True, help="the name exactly as printed on the certificate")
    certificate.add_argument("--salt", required=True, help="the Prüfcode printed on it (32 hex digits)")
    certificate.set_defaults(func=_certificate)
