"""``kokreativ verify checkpoint`` and ``verify proof`` on a generic C2SP log that is not kokreativ's.

The log here is built with :mod:`protocol` alone, under another origin and
key, with arbitrary leaves: the commands must work for any log that follows
c2sp.org/tlog-checkpoint and c2sp.org/tlog-proof.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kokreativ.cli import main
from protocol import PrivateKey
from protocol.checkpoint import Checkpoint, format_tlog_proof, sign_checkpoint
from protocol.merkle import inclusion_proof, leaf_hash, reference_root
from protocol.note import NoteVerifier, sign_note

ORIGIN = "example.com/some-other-log"
KEY = PrivateKey.generate()
VKEY = str(NoteVerifier.for_key(ORIGIN, KEY.public_key))
LEAVES = [f"leaf number {i}\n".encode() for i in range(13)]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


def _reader(level: int, index: int) -> bytes:
    width = 1 << level
    return reference_root(HASHES[index * width : (index + 1) * width])


def _checkpoint(size: int = len(LEAVES), *, key: PrivateKey = KEY, origin: str = ORIGIN) -> bytes:
    return sign_checkpoint(Checkpoint(origin, size, reference_root(HASHES[:size])), key)


def _proof(index: int, size: int = len(LEAVES)) -> bytes:
    return format_tlog_proof(index, inclusion_proof(index, size, _reader), _checkpoint(size))


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "checkpoint").write_bytes(_checkpoint())
    (tmp_path / "proof").write_bytes(_proof(5))
    (tmp_path / "entry").write_bytes(LEAVES[5])
    return tmp_path


def test_a_good_checkpoint_verifies(files: Path, capsys):
    code, out, err = _run(capsys, "checkpoint", "--key", VKEY, str(files / "checkpoint"))
    assert code == 0, err
    answer = json.loads(out)
    assert answer == {
        "ok": True,
        "origin": ORIGIN,
        "size": 13,
        "root_hash": base64.b64encode(reference_root(HASHES)).decode(),
    }


def test_a_checkpoint_with_the_wrong_key_or_origin_fails(files: Path, capsys):
    other = str(NoteVerifier.for_key(ORIGIN, PrivateKey.generate().public_key))
    code, out, err = _run(capsys, "checkpoint", "--key", other, str(files / "checkpoint"))
    assert (code, out) == (1, "")
    assert err.startswith("kokreativ verify: note_unverified: ")

    code, _, err = _run(
        capsys, "checkpoint", "--key", VKEY, "--origin", "example.com/elsewhere", str(files / "checkpoint")
    )
    assert code == 1 and err.startswith("kokreativ verify: bad_checkpoint: ")


def test_a_tampered_checkpoint_fails(files: Path, capsys):
    data = (files / "checkpoint").read_bytes().replace(b"\n13\n", b"\n14\n", 1)
    (files / "checkpoint").write_bytes(data)
    code, _, err = _run(capsys, "checkpoint", "--key", VKEY, str(files / "checkpoint"))
    assert code == 1 and err.startswith("kokreativ verify: bad_signature: ")


def test_unknown_cosigners_are_ignored_and_any_trusted_key_will_do(files: Path, capsys):
    witness = PrivateKey.generate()
    text = Checkpoint(ORIGIN, 13, reference_root(HASHES)).text()
    cosigned = sign_note(text, ORIGIN, KEY, also=[("witness.example.net", witness)])
    (files / "cosigned").write_bytes(cosigned)
    unrelated = str(NoteVerifier.for_key("someone.else", PrivateKey.generate().public_key))
    code, _, err = _run(capsys, "checkpoint", "--key", unrelated, "--key", VKEY, str(files / "cosigned"))
    assert code == 0, err

    witness_key = str(NoteVerifier.for_key("witness.example.net", witness.public_key))
    code, _, err = _run(
        capsys, "checkpoint", "--key", witness_key, "--origin", ORIGIN, str(files / "cosigned")
    )
    assert code == 0, err


def test_a_checkpoint_may_come_from_stdin(files: Path, capsys, monkeypatch: pytest.MonkeyPatch):
    stdin = io.TextIOWrapper(io.BytesIO((files / "checkpoint").read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = _run(capsys, "checkpoint", "--key", VKEY, "-")
    assert code == 0 and json.loads(out)["size"] == 13


def test_a_malformed_key_or_missing_file_is_a_usage_error(files: Path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "checkpoint", "--key", "not-a-key", str(files / "checkpoint")])
    assert exit_info.value.code == 2
    assert "not a verifier key" in capsys.readouterr().err
    assert main(["verify", "checkpoint", "--key", VKEY, str(files / "missing")]) == 2


@pytest.mark.parametrize("form", ["file", "hex", "base64"])
def test_a_good_proof_verifies_with_the_leaf_in_any_form(files: Path, capsys, form: str):
    leaf = {
        "file": ["--leaf-file", str(files / "entry")],
        "hex": ["--leaf-hash", HASHES[5].hex()],
        "base64": ["--leaf-hash", base64.b64encode(HASHES[5]).decode()],
    }[form]
    code, out, err = _run(capsys, "proof", "--key", VKEY, *leaf, str(files / "proof"))
    assert code == 0, err
    assert json.loads(out)["index"] == 5 and json.loads(out)["leaf_hash"] == HASHES[5].hex()


def test_a_proof_for_another_leaf_or_a_tampered_proof_fails(files: Path, capsys):
    code, _, err = _run(capsys, "proof", "--key", VKEY, "--leaf-hash", HASHES[6].hex(), str(files / "proof"))
    assert code == 1 and err.startswith("kokreativ verify: bad_proof: ")

    tampered = (files / "proof").read_bytes().replace(b"index 5\n", b"index 4\n")
    (files / "tampered").write_bytes(tampered)
    code, _, err = _run(
        capsys, "proof", "--key", VKEY, "--leaf-file", str(files / "entry"), str(files / "tampered")
    )
    assert code == 1 and "bad_proof" in err

    other = str(NoteVerifier.for_key(ORIGIN, PrivateKey.generate().public_key))
    code, _, err = _run(
        capsys, "proof", "--key", other, "--leaf-file", str(files / "entry"), str(files / "proof")
    )
    assert code == 1 and "note_unverified" in err


def test_a_malformed_leaf_hash_is_a_usage_error(files: Path, capsys):
    assert main(["verify", "proof", "--key", VKEY, "--leaf-hash", "abc", str(files / "proof")]) == 2
    assert "bad_leaf_hash" in capsys.readouterr().err


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_leaf_of_every_size_proves_and_no_other_does(data: st.DataObject, tmp_path_factory):
    size = data.draw(st.integers(1, len(LEAVES)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    other = data.draw(st.integers(0, len(LEAVES) - 1).filter(lambda i: i != index), label="other")
    folder = tmp_path_factory.mktemp("proof")
    (folder / "proof").write_bytes(_proof(index, size))
    good = main(["verify", "proof", "--key", VKEY, "--leaf-hash", HASHES[index].hex(), str(folder / "proof")])
    bad = main(["verify", "proof", "--key", VKEY, "--leaf-hash", HASHES[other].hex(), str(folder / "proof")])
    assert (good, bad) == (0, 1)
