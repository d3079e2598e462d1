"""Setting up the log: the origin chosen at init, its verifier key, and the append arithmetic.

:class:`server.tlogtree.Frontier` is checked against the RFC's recursive
definition for random batch sizes, reloading from the stored hashes between
batches exactly as :func:`server.tlog.append` does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tlog_helpers import verified_checkpoint

from kokreativ.cli import main
from protocol.merkle import EMPTY_ROOT, leaf_hash, reference_root
from protocol.note import NoteVerifier
from server import logviews
from server.datadir import init_data_dir, open_data_dir
from server.errors import DataDirError
from server.tlogtree import Frontier


def test_init_names_the_log_with_the_given_origin(tmp_path: Path) -> None:
    result = init_data_dir(tmp_path / "data", origin="ledger.example.org/kokreativ")
    verifier = NoteVerifier.parse(result.log_verifier_key)
    assert (verifier.name, verifier.public_key) == ("ledger.example.org/kokreativ", result.server_public_key)
    assert result.log_origin == "ledger.example.org/kokreativ"
    with open_data_dir(tmp_path / "data") as ctx:
        checkpoint = verified_checkpoint(logviews.checkpoint(ctx), result.log_verifier_key)
        assert (checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (verifier.name, 0, EMPTY_ROOT)
        assert logviews.log_key(ctx) == {"origin": verifier.name, "verifier_key": result.log_verifier_key}


@pytest.mark.parametrize(
    "origin", ["", "ledger example", "ledger+1", "tab\there", "new\nline", "nbsp\u00a0x"]
)
def test_init_refuses_an_origin_that_cannot_name_a_log(tmp_path: Path, origin: str) -> None:
    with pytest.raises(DataDirError, match="origin"):
        init_data_dir(tmp_path / "data", origin=origin)
    assert not (tmp_path / "data").exists()


def test_provision_init_takes_an_origin_and_prints_the_verifier_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "srv"
    assert main(["provision", "init", "--data", str(data), "--origin", "ledger.example.org"]) == 0
    printed = json.loads(capsys.readouterr().out)
    verifier = NoteVerifier.parse(printed["log_verifier_key"])
    assert verifier.name == "ledger.example.org"
    assert verifier.public_key.to_b64() == printed["server_public_key"]

    assert main(["provision", "init", "--data", str(tmp_path / "other"), "--origin", "a b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kokreativ: error:") and err.count("\n") == 1 and "origin" in err


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=70), max_size=8))
def test_frontier_stores_every_complete_subtree_and_the_right_root(batches: list[int]) -> None:
    leaf_hashes = [leaf_hash(b"entry %d" % i) for i in range(sum(batches))]
    stored: dict[tuple[int, int], bytes] = {}
    size = 0
    for count in batches:
        frontier = Frontier.load(size, lambda level, index: stored[(level, index)])
        for level, index, value in frontier.extend(leaf_hashes[size : size + count]):
            assert (level, index) not in stored
            stored[(level, index)] = value
        size += count
        assert frontier.size == size
        assert frontier.root() == reference_root(leaf_hashes[:size])
    expected = {
        (level, index): reference_root(leaf_hashes[index << level : (index + 1) << level])
        for level in range(size.bit_length())
        for index in range(size >> level)
    }
    assert stored == expected
    assert len(stored) == 2 * size - bin(size).count("1")  # two hashes per append, amortised
