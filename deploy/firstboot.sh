#!/usr/bin/env bash
# First boot of a kokreativ kiosk: fetch kokreativ, run install-kiosk.sh once, disable itself.
#
# The alternative to typing the install command on the Pi.  Put two files on the
# SD card's boot partition (the FAT partition every computer can open, mounted
# as /boot/firmware on the Pi) after flashing Raspberry Pi OS Lite (64-bit):
#
#   firstboot.sh                this file
#   kokreativ-firstboot.env     settings, for example:
#       KOKREATIV_SERVER=https://ledger.example.org
#       KOKREATIV_SOURCE=/boot/firmware/kokreativ-0.1.0.tar.gz   # see below
#
# KOKREATIV_SOURCE is where kokreativ comes from: a release tarball from
# `make release` (put it on the boot partition too), a checkout on the Pi, or
# a git URL, with KOKREATIV_REF=TAG-OR-BRANCH if you like.
#
# Then have the first boot call `bash /boot/firmware/firstboot.sh --arm`:
# with Raspberry Pi Imager's cloud-init images, as a `runcmd` line in the
# boot partition's user-data; with an Imager firstrun.sh, as a line before its
# final `rm -f`.  docs/operations.md ("Install a kiosk") shows both.
#
#   --arm     install kokreativ-firstboot.service, which runs this script (without
#             --arm) once the network is up; used because the first-boot hooks may
#             run before there is a network, and apt-get and pip need one.
#   (none)    read the settings, fetch kokreativ into /opt/kokreativ/src, run
#             deploy/install-kiosk.sh, then disable the service, rename the settings
#             file to kokreativ-firstboot.env.done and reboot into the kiosk.
#             If the install fails the service stays enabled: the next boot retries.
#   --dry-run, --root DIR   as in install-kiosk.sh (print only / write under DIR).
set -euo pipefail

readonly UNIT=kokreativ-firstboot.service
readonly SELF_COPY=/usr/local/sbin/kokreativ-firstboot
readonly SRC_DIR=/opt/kokreativ/src
config=/boot/firmware/kokreativ-firstboot.env
arm=0
dry_run=0
root=""

die() {
    printf 'firstboot: error: %s\n' "$1" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --arm) arm=1; shift ;;
        --config) [ $# -ge 2 ] || die "--config needs a file"; config=$2; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift 2 ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
done
if [ -n "$root" ]; then
    [ -d "$root" ] || die "--root $root is not a directory"
    root=$(cd "$root" && pwd)
fi
if [ "$dry_run" = 0 ] && [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    die "run as root, or with --dry-run"
fi

act() { [ "$dry_run" = 0 ] && [ -z "$root" ]; }
run() {
    printf 'run:   %s\n' "$*"
    if act; then "$@"; fi
}

if [ "$arm" = 1 ]; then
    printf 'copy:  %s -> %s (mode 0755)\n' "$0" "$root$SELF_COPY"
    printf 'write: %s (mode 0644)\n' "$root/etc/systemd/system/$UNIT"
    unit_text="# kokreativ: install the kiosk once, on first boot with a network (deploy/firstboot.sh).
[Unit]
Description=kokreativ: install the kiosk (first boot)
Wants=network-online.target
After=network-online.target time-sync.target
ConditionPathExists=$config

[Service]
Type=oneshot
ExecStart=$SELF_COPY --config $config
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=1h

[Install]
WantedBy=multi-user.target"
    printf '%s\n' "$unit_text" | sed 's/^/       | /'
    if [ "$dry_run" = 0 ]; then
        mkdir -p "$root$(dirname "$SELF_COPY")" "$root/etc/systemd/system"
        install -m 0755 "$0" "$root$SELF_COPY"
        printf '%s\n' "$unit_text" >"$root/etc/systemd/system/$UNIT"
    fi
    # Works from a first-boot hook too: it only creates the wants/ symlink.
    run systemctl enable "$UNIT"
    exit 0
fi

[ -f "$config" ] || die "$config is missing; it names the server (KOKREATIV_SERVER=...)"
server=$(sed -n 's/^KOKREATIV_SERVER=//p' "$config" | tail -n 1)
source=$(sed -n 's/^KOKREATIV_SOURCE=//p' "$config" | tail -n 1)
ref=$(sed -n 's/^KOKREATIV_REF=//p' "$config" | tail -n 1)
[ -n "$server" ] || die "$config has no KOKREATIV_SERVER=URL line"
[ -n "$source" ] || die "$config has no KOKREATIV_SOURCE= line (a release tarball, a checkout or a git URL)"

if [ -d "$source" ]; then
    checkout=$source
elif [ -f "$source" ] && [[ "$source" == *.tar.gz ]]; then
    checkout=$SRC_DIR
    run rm -rf "$SRC_DIR"
    run mkdir -p "$SRC_DIR"
    run tar -xzf "$source" -C "$SRC_DIR" --strip-components=1
else
    checkout=$SRC_DIR
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git ca-certificates
    run rm -rf "$SRC_DIR"
    if [ -n "$ref" ]; then
        run git clone --depth 1 --branch "$ref" "$source" "$SRC_DIR"
    else
        run git clone --depth 1 "$source" "$SRC_DIR"
    fi
fi

install_args=(--server "$server" --from "$checkout")
[ "$dry_run" = 1 ] && install_args+=(--dry-run)
[ -n "$root" ] && install_args+=(--root "$root")
installer="$checkout/deploy/install-kiosk.sh"
run "$installer" "${install_args[@]}"
# Not a real install: a local installer still shows its own actions (it got --dry-run or --root).
if ! act && [ -x "$installer" ]; then
    "$installer" "${install_args[@]}"
fi

# Once: the service disables itself and the settings file is kept as a record.
run systemctl disable "$UNIT"
run mv "$config" "$config.done"
run systemctl --no-block reboot
