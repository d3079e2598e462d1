"""One reader vocabulary in every command: ``--reader`` is a kind, ``--device`` the nfcpy device.

The old spellings (``--reader usb`` where ``--reader`` was a device, ``--nfc-path``)
stop with one line naming the new option, and do nothing else.
"""

from __future__ import annotations

import pytest

from kokreativ.cli import build_parser, main


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err  # one line
    return captured.err


@pytest.mark.parametrize("device", ["usb", "usb:054c:06c3", "tty:AMA0:pn532", "udp:localhost:54321"])
def test_a_device_given_to_terminal_run_as_reader_names_device(capsys, device):
    err = _refused(capsys, ["terminal", "run", "--headless", "--reader", device])
    assert err == (
        "kokreativ: error: option_renamed: --reader now takes nfc|stdin|sim; "
        f"give the device as --device {device} (with --reader nfc)\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["card", "inspect", "--reader", "usb"],
        ["doctor", "--reader", "usb"],
        ["provision", "card", "issue", "--issuer-key", "k.key", "--reader", "usb", "--name", "Alex"],
        ["provision", "card", "register", "--name", "Alex", "--reader", "usb"],
    ],
)
def test_commands_that_only_read_through_nfcpy_point_an_old_reader_path_at_device(capsys, argv):
    err = _refused(capsys, argv)
    assert err.startswith(
        "kokreativ: error: option_renamed: --reader now takes a reader kind (nfc|stdin|sim)"
    )
    assert err.endswith("give the device as --device usb\n")


def test_a_reader_kind_where_only_a_device_fits_suggests_usb(capsys):
    assert _refused(capsys, ["doctor", "--reader", "nfc"]).endswith("--device usb\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["terminal", "run", "--nfc-path", "tty:AMA0:pn532"],
        ["provision", "terminal", "enrol", "--code", "1", "--dir", "k", "--nfc-path", "tty:AMA0:pn532"],
    ],
)
def test_nfc_path_names_device(capsys, argv):
    err = _refused(capsys, argv)
    assert err == (
        "kokreativ: error: option_renamed: --nfc-path is now --device; "
        "give the device as --device tty:AMA0:pn532\n"
    )


def test_an_unknown_reader_kind_is_an_ordinary_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["terminal", "run", "--reader", "pcsc"])
    assert info.value.code == 2
    assert "invalid choice: 'pcsc' (choose from nfc, stdin, sim)" in capsys.readouterr().err


def test_a_device_nfcpy_would_not_know_is_refused_where_it_is_opened(capsys):
    with pytest.raises(SystemExit):
        main(["card", "inspect", "--device", "i2c:1:pn532"])
    assert "is not an nfcpy device" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "reader", "device"),
    [
        (["terminal", "run", "--reader", "nfc", "--device", "tty:AMA0:pn532"], "nfc", "tty:AMA0:pn532"),
        (["terminal", "run"], None, None),  # both from kiosk.toml
        (
            [
                "provision",
                "terminal",
                "enrol",
                "--code",
                "1",
                "--dir",
                "k",
                "--reader",
                "nfc",
                "--device",
                "usb",
            ],
            "nfc",
            "usb",
        ),
        (["provision", "terminal", "enrol", "--code", "1", "--dir", "k"], "stdin", None),
    ],
)
def test_the_new_spelling_parses(argv, reader, device):
    args = build_parser().parse_args(argv)
    assert (args.reader, args.device) == (reader, device)


@pytest.mark.parametrize(
    "argv",
    [
        ["card", "inspect", "--device", "udp:localhost:54321"],
        ["doctor", "--device", "tty:AMA0:pn532"],
        ["doctor", "--device", "/dev/ttyUSB0"],  # the doctor explains odd paths instead of refusing them
        ["provision", "card", "issue", "--issuer-key", "k.key", "--device", "usb", "--name", "Alex"],
        ["provision", "card", "register", "--name", "Alex", "--device", "usb"],
    ],
)
def test_every_command_that_opens_a_reader_takes_device(argv):
    assert build_parser().parse_args(argv).device == argv[argv.index("--device") + 1]
