"""deploy/install-kiosk.sh and deploy/firstboot.sh, run in CI without root and without touching the system.

Every command the scripts could run (apt-get, useradd, systemctl, …) is a stub
first on ``PATH`` that records being called: ``--dry-run`` and ``--root`` must
never call one.  ``--dry-run`` must print each key step and write nothing at
all; ``--root DIR`` must write the files under DIR and nowhere else.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "deploy" / "install-kiosk.sh"
FIRSTBOOT = REPO / "deploy" / "firstboot.sh"
SERVER = "https://ledger.example.org"
# Everything that would change the running system.
SYSTEM_COMMANDS = (
    "apt-get",
    "useradd",
    "usermod",
    "groupadd",
    "systemctl",
    "udevadm",
    "chown",
    "git",
    "pip",
    "reboot",
)


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, Path]:
    """A HOME, a working directory, an empty --root and stubs that log any system command."""
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "called.log"
    for name in SYSTEM_COMMANDS:
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    root = tmp_path / "root"
    root.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    return {"tmp": tmp_path, "stubs": stubs, "log": log, "root": root, "home": home}


def _run(script: Path, sandbox: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{sandbox['stubs']}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(sandbox["home"]),
        "LC_ALL": "C",
    }
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=sandbox["home"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _tmp_untouched(sandbox: dict[str, Path]) -> None:
    assert not sandbox["log"].exists(), sandbox["log"].read_text()
    assert _files(sandbox["home"]) == set()
    assert {p.name for p in sandbox["tmp"].iterdir()} == {"stubs", "root", "home"}


def test_dry_run_prints_every_key_step_and_changes_nothing(sandbox: dict[str, Path]) -> None:
    root = sandbox["root"]
    result = _run(INSTALL, sandbox, "--server", SERVER, "--dry-run", "--root", str(root))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    assert "dry run" in lines[0]

    # packages
    apt = next(line for line in lines if line.startswith("run:   env DEBIAN_FRONTEND=noninteractive apt-get"))
    for package in ("cage", "python3-venv", "fake-hwclock", "libegl1", "libgl1-mesa-dri", "libusb-1.0-0"):
        assert f" {package}" in apt
    # the reader's udev rule
    assert f"copy:  {REPO}/hardware/udev/60-kokreativ-nfc.rules -> {root}/etc/udev/rules.d/" in out
    assert "run:   udevadm control --reload" in lines
    # the user and its groups
    assert (
        "run:   useradd --system --user-group --home-dir /var/lib/kokreativ --no-create-home "
        "--shell /usr/sbin/nologin kokreativ"
    ) in lines
    assert "run:   usermod -aG dialout,gpio,plugdev,video,input,render kokreativ" in lines
    # kokreativ in its venv, from this checkout
    assert "run:   python3 -m venv --system-site-packages /opt/kokreativ/.venv" in lines
    assert f"run:   /opt/kokreativ/.venv/bin/pip install --quiet --upgrade {REPO}[terminal]" in lines
    # the env file, with its contents shown
    assert f"write: {root}/etc/kokreativ/kiosk.env (mode 0644)" in lines
    assert f"       | KOKREATIV_SERVER={SERVER}" in lines
    assert f"mkdir: {root}/var/lib/kokreativ (mode 0700, owner kokreativ:kokreativ)" in lines
    # units installed and enabled, getty off tty1
    for unit in ("kokreativ-kiosk.service", "kokreativ-sync.service"):
        assert f"copy:  {REPO}/systemd/{unit} -> {root}/etc/systemd/system/{unit} (mode 0644)" in lines
    assert "run:   systemctl enable kokreativ-kiosk.service kokreativ-sync.service" in lines
    assert "run:   systemctl set-default graphical.target" in lines
    assert "run:   systemctl disable getty@tty1.service" in lines
    # and what happens next
    assert "kokreativ provision terminal add" in out and "enrolment screen" in out

    # Every file it would write is under --root.
    targets = [line.split()[1] for line in lines if line.startswith(("write:", "mkdir:"))]
    targets += [line.split(" -> ")[1].split()[0] for line in lines if line.startswith("copy:")]
    assert len(targets) >= 6 and all(t.startswith(f"{root}/") for t in targets)
    # Nothing written, nothing called.
    assert _files(root) == set()
    _tmp_untouched(sandbox)


def test_root_writes_files_under_root_only(sandbox: dict[str, Path]) -> None:
    root = sandbox["root"]
    result = _run(INSTALL, sandbox, f"--server={SERVER}", "--root", str(root))
    assert result.returncode == 0, result.stderr
    assert "commands are printed, not run" in result.stdout
    assert _files(root) >= {
        "etc/kokreativ/kiosk.env",
        "etc/udev/rules.d/60-kokreativ-nfc.rules",
        "etc/modprobe.d/blacklist-pn533.conf",
        "etc/systemd/system/kokreativ-kiosk.service",
        "etc/systemd/system/kokreativ-sync.service",
        "var/lib/kokreativ",
    }
    env_file = (root / "etc/kokreativ/kiosk.env").read_text()
    assert f"\nKOKREATIV_SERVER={SERVER}\n" in env_file
    for unit in ("kokreativ-kiosk.service", "kokreativ-sync.service"):
        assert (root / "etc/systemd/system" / unit).read_bytes() == (REPO / "systemd" / unit).read_bytes()
    assert stat.S_IMODE((root / "var/lib/kokreativ").stat().st_mode) == 0o700
    assert not [p for p in root.rglob("*.tmp")]
    _tmp_untouched(sandbox)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--server URL is required"),
        (("--server", "ledger.example.org"), "must be an http(s) URL"),
        (("--server", "https://x.example/$(reboot)"), "must not contain"),
        (("--server", SERVER, "--from", "/nonexistent/kokreativ.whl"), "does not exist"),
        (("--server", SERVER, "--bogus"), "unknown argument"),
    ],
)
def test_bad_arguments_fail_with_one_line(
    sandbox: dict[str, Path], args: tuple[str, ...], message: str
) -> None:
    result = _run(INSTALL, sandbox, *args, "--dry-run")
    assert result.returncode == 2
    assert "install-kiosk: error: " in result.stderr and message in result.stderr
    _tmp_untouched(sandbox)


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the refusal to run without root; this runs as root")
def test_a_real_install_needs_root(sandbox: dict[str, Path]) -> None:
    result = _run(INSTALL, sandbox, "--server", SERVER)
    assert result.returncode == 2 and "run as root" in result.stderr
    _tmp_untouched(sandbox)


def test_firstboot_arms_a_unit_that_installs_once(sandbox: dict[str, Path]) -> None:
    root = sandbox["root"]
    config = sandbox["home"] / "kokreativ-firstboot.env"
    config.write_text(f"KOKREATIV_SERVER={SERVER}\nKOKREATIV_SOURCE={REPO}\n")

    armed = _run(FIRSTBOOT, sandbox, "--arm", "--dry-run", "--root", str(root), "--config", str(config))
    assert armed.returncode == 0, armed.stderr
    assert "After=network-online.target" in armed.stdout
    assert f"ExecStart=/usr/local/sbin/kokreativ-firstboot --config {config}" in armed.stdout
    assert "run:   systemctl enable kokreativ-firstboot.service" in armed.stdout

    first = _run(FIRSTBOOT, sandbox, "--dry-run", "--root", str(root), "--config", str(config))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    # A local checkout is used as it is; the installer's own dry run shows its steps.
    assert (
        f"run:   {REPO}/deploy/install-kiosk.sh --server {SERVER} --from {REPO} --dry-run --root {root}"
        in lines
    )
    assert "run:   systemctl enable kokreativ-kiosk.service kokreativ-sync.service" in lines
    # … then it disables itself.
    assert lines[-3:] == [
        "run:   systemctl disable kokreativ-firstboot.service",
        f"run:   mv {config} {config}.done",
        "run:   systemctl --no-block reboot",
    ]
    assert _files(root) == set()
    assert config.read_text().startswith("KOKREATIV_SERVER=")
    config.unlink()
    _tmp_untouched(sandbox)


def test_firstboot_clones_a_git_source(sandbox: dict[str, Path]) -> None:
    config = sandbox["root"] / "kokreativ-firstboot.env"
    config.write_text(
        f"KOKREATIV_SERVER={SERVER}\nKOKREATIV_SOURCE=https://git.example.org/kokreativ.git\nKOKREATIV_REF=v0.1.0\n"
    )
    result = _run(FIRSTBOOT, sandbox, "--dry-run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert (
        "run:   git clone --depth 1 --branch v0.1.0 https://git.example.org/kokreativ.git /opt/kokreativ/src"
        in result.stdout.splitlines()
    )
    assert (
        f"/opt/kokreativ/src/deploy/install-kiosk.sh --server {SERVER} --from /opt/kokreativ/src"
        in result.stdout
    )
    config.unlink()
    _tmp_untouched(sandbox)


def test_firstboot_unpacks_a_release_tarball(sandbox: dict[str, Path]) -> None:
    """``make release`` on a laptop, the tarball on the boot partition: no git hosting needed."""
    tarball = sandbox["root"] / "kokreativ-0.1.0.tar.gz"
    tarball.write_bytes(b"not read in a dry run")
    config = sandbox["root"] / "kokreativ-firstboot.env"
    config.write_text(f"KOKREATIV_SERVER={SERVER}\nKOKREATIV_SOURCE={tarball}\n")
    result = _run(FIRSTBOOT, sandbox, "--dry-run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"run:   tar -xzf {tarball} -C /opt/kokreativ/src --strip-components=1" in lines
    installer = "/opt/kokreativ/src/deploy/install-kiosk.sh"
    assert f"run:   {installer} --server {SERVER} --from /opt/kokreativ/src --dry-run" in lines
    assert not any("git clone" in line for line in lines)
    config.unlink()
    tarball.unlink()
    _tmp_untouched(sandbox)


def test_a_release_tarball_holds_everything_the_installer_needs(tmp_path: Path) -> None:
    """Pack HEAD, unpack it elsewhere and dry-run its installer: the release stands on its own."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout")
    made = subprocess.run(
        ["bash", str(REPO / "deploy" / "make-release.sh"), str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    tarball = Path(made.stdout.strip())
    assert tarball.parent == tmp_path / "dist" and tarball.name.startswith("kokreativ-")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        prefix = tarball.name.removesuffix(".tar.gz")
        for needed in (
            "pyproject.toml",
            "deploy/install-kiosk.sh",
            "deploy/firstboot.sh",
            "systemd/kokreativ-kiosk.service",
            "systemd/kokreativ-sync.service",
            "hardware/udev/60-kokreativ-nfc.rules",
            "protocol/clockref.py",
        ):
            assert f"{prefix}/{needed}" in names, needed
        archive.extractall(tmp_path / "unpacked", filter="data")
    installer = tmp_path / "unpacked" / prefix / "deploy" / "install-kiosk.sh"
    result = subprocess.run(
        ["bash", str(installer), "--server", SERVER, "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "run:   systemctl enable kokreativ-kiosk.service kokreativ-sync.service" in result.stdout


def test_shellcheck_is_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (Debian/Ubuntu: apt-get install shellcheck)")
    scripts = sorted(str(p) for p in (REPO / "deploy").glob("*.sh"))
    assert scripts
    result = subprocess.run(
        [shellcheck, "--severity=style", *scripts], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
