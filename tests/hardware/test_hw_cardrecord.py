"""Finding the credential in a tag's NDEF message: the short path for our own layout agrees with ndeflib.

:func:`hardware.cardrecord.find_credential` reads the exact message
:func:`~hardware.cardrecord.credential_message` writes without ndeflib (a tap's
hottest step after the signature check); every other message goes through
ndeflib.  Each mutation of a genuine message must be judged the same both ways.
"""

from __future__ import annotations

from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from hardware import cardrecord
from hardware.cardrecord import credential_message, find_credential
from protocol import ProtocolError


def _judged(message: bytes) -> object:
    try:
        return find_credential(message)
    except ProtocolError as exc:
        return exc.reason


def _by_ndeflib(message: bytes) -> object:
    """The same judgement with the short path switched off (its type never matches)."""
    with mock.patch.object(cardrecord, "_TYPE", b"\x00never"):
        return _judged(message)


@given(st.binary(max_size=108))
def test_a_genuine_message_is_read_the_short_way_with_ndeflibs_result(credential: bytes) -> None:
    message = credential_message(credential)
    assert _judged(message) == credential == _by_ndeflib(message)


@settings(max_examples=400)
@given(st.binary(min_size=1, max_size=108), st.data())
def test_any_mutation_is_judged_exactly_as_ndeflib_judges_it(credential: bytes, data: st.DataObject) -> None:
    message = bytearray(credential_message(credential))
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, min(len(message) - 1, 24)))  # the header, type and first bytes
        message[index] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        message = message[: data.draw(st.integers(0, len(message)))] + data.draw(st.binary(max_size=3))
    assert _judged(bytes(message)) == _by_ndeflib(bytes(message))
