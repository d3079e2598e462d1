#!/usr/bin/env bash
# Turn a fresh 64-bit Raspberry Pi OS Lite into a kokreativ kiosk.
#
#   sudo deploy/install-kiosk.sh --server https://ledger.example.org
#   sudo deploy/install-kiosk.sh --server https://ledger.example.org --from ~/kokreativ-0.1.0-py3-none-any.whl
#   deploy/install-kiosk.sh --server https://ledger.example.org --dry-run      # print, change nothing
#
# Run it from a kokreativ checkout (or unpacked release): the systemd units and
# the reader's udev rules come from the checkout this script sits in, the
# Python package from --from (a wheel, an sdist or a checkout; default: the same
# checkout).  The Pi needs internet for apt-get and pip.
#
# What it does, in order (each step prints what it runs or writes):
#   1. apt-get installs cage, python3-venv, fake-hwclock, the Mesa/EGL libraries
#      Kivy needs, libusb for nfcpy and python3-lgpio for the GPIO pins;
#   2. installs the reader's udev rule and blacklists the kernel's NFC drivers
#      (nfcpy drives the reader itself);
#   3. creates the system user `kokreativ` in the groups it needs;
#   4. creates the virtual environment /opt/kokreativ/.venv with kokreativ[terminal];
#   5. writes /etc/kokreativ/kiosk.env (KOKREATIV_SERVER=...), which the kiosk
#      unit reads, and creates the data folder /var/lib/kokreativ (the only
#      place kokreativ writes, so the root file system can be read-only);
#   6. installs and enables kokreativ-kiosk.service and kokreativ-sync.service,
#      and disables the login prompt (getty) on tty1, where the kiosk's screen runs.
# Running it again is safe: it updates what is there and keeps the data folder.
#
# --dry-run prints every command and every file (with its contents) and changes
# nothing; it needs no root.  --root DIR writes the files under DIR instead of /
# and prints the commands without running them (they act on the running
# system): for tests and for looking at what would be installed.
set -euo pipefail

readonly VENV=/opt/kokreativ/.venv
readonly ENV_FILE=/etc/kokreativ/kiosk.env
readonly DATA_DIR=/var/lib/kokreativ
readonly SERVICE_USER=kokreativ
# dialout: serial readers (PN532 on /dev/ttyAMA0, /dev/ttyUSB*); gpio: LEDs, buzzer, button;
# plugdev: USB readers via the udev rule; video, render: the GPU (DRM/KMS) for cage and Kivy;
# input: the touchscreen and keyboards (cage reads /dev/input through libinput).
readonly GROUPS_NEEDED=(dialout gpio plugdev video input render)
readonly UNITS=(kokreativ-kiosk.service kokreativ-sync.service)
readonly PACKAGES=(
    cage                 # the Wayland kiosk compositor that shows the app fullscreen on tty1
    python3-venv         # the virtual environment under /opt/kokreativ
    python3-lgpio        # gpiozero's pin backend on Pi OS (Pi 5 too); the venv sees it (--system-site-packages)
    fake-hwclock         # no battery clock: restore the last saved time at boot (see docs/operations.md)
    libegl1 libgles2 libgl1-mesa-dri libgbm1   # Mesa's EGL/GLES and the vc4/v3d GPU drivers for Kivy
    libmtdev1            # Kivy's touch input provider loads it at start-up
    xwayland             # for an SDL2 without Wayland: cage runs X11 clients through Xwayland
    libusb-1.0-0         # nfcpy talks to USB readers through libusb (pyusb); no libnfc needed
    ca-certificates      # pip and the kiosk's HTTPS to the ledger server
)

usage() {
    cat <<'EOF'
usage: install-kiosk.sh --server URL [--from PATH] [--dry-run] [--root DIR]

Install kokreativ on a Raspberry Pi as a kiosk (run as root).

  --server URL   the ledger server, e.g. https://ledger.example.org (written to /etc/kokreativ/kiosk.env)
  --from PATH    what pip installs: a wheel, an sdist or a checkout (default: this checkout)
  --dry-run      print every command and file, change nothing (no root needed)
  --root DIR     write files under DIR instead of /, print commands without running them
  -h, --help     this text

example:
  sudo deploy/install-kiosk.sh --server https://ledger.example.org
EOF
}

die() {
    printf 'install-kiosk: error: %s\n' "$1" >&2
    exit 2
}

script_dir=$(cd "$(dirname "$0")" && pwd)
checkout=$(dirname "$script_dir")
server=""
source_path=""
dry_run=0
root=""

while [ $# -gt 0 ]; do
    case "$1" in
        --server) [ $# -ge 2 ] || die "--server needs a URL"; server=$2; shift 2 ;;
        --server=*) server=${1#*=}; shift ;;
        --from) [ $# -ge 2 ] || die "--from needs a path"; source_path=$2; shift 2 ;;
        --from=*) source_path=${1#*=}; shift ;;
        --dry-run) dry_run=1; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift 2 ;;
        --root=*) root=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[ -n "$server" ] || { usage >&2; die "--server URL is required"; }
case "$server" in
    https://?*|http://?*) ;;
    *) die "--server must be an http(s) URL, not '$server'" ;;
esac
case "$server" in
    *[[:space:]\"\'\$\`\\]*) die "--server must not contain spaces, quotes, \$, \` or \\" ;;
esac
source_path=${source_path:-$checkout}
[ -e "$source_path" ] || die "--from $source_path does not exist"
source_path=$(cd "$(dirname "$source_path")" && printf '%s/%s' "$(pwd)" "$(basename "$source_path")")
if [ -n "$root" ]; then
    [ -d "$root" ] || die "--root $root is not a directory"
    root=$(cd "$root" && pwd)
fi
for unit in "${UNITS[@]}"; do
    [ -f "$checkout/systemd/$unit" ] || die "$checkout/systemd/$unit is missing; run this from a kokreativ checkout"
done
readonly udev_rule="$checkout/hardware/udev/60-kokreativ-nfc.rules"
[ -f "$udev_rule" ] || die "$udev_rule is missing; run this from a kokreativ checkout"
if [ "$dry_run" = 0 ] && [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or with --dry-run to see what it would do"
fi

# Commands change the running system, so they run only in a real install.
act() { [ "$dry_run" = 0 ] && [ -z "$root" ]; }

# quote ARGS...: the arguments as one line a shell would read back the same way.
quote() {
    local arg line=""
    for arg in "$@"; do
        case "$arg" in
            *[!A-Za-z0-9_@%+=:,./[\]-]*|"") arg="'${arg//\'/\'\\\'\'}'" ;;
        esac
        line="$line $arg"
    done
    printf '%s' "${line# }"
}

# run CMD ARGS...: print the command, then run it unless dry-run or --root.
run() {
    printf 'run:   %s\n' "$(quote "$@")"
    if act; then "$@"; fi
}

# write PATH MODE: write stdin to PATH (under --root), printing the path and the contents.
write() {
    local path=$1 mode=$2 content
    content=$(cat)
    printf 'write: %s (mode %s)\n' "$root$path" "$mode"
    printf '%s\n' "$content" | sed 's/^/       | /'
    if [ "$dry_run" = 1 ]; then return 0; fi
    mkdir -p "$(dirname "$root$path")"
    printf '%s\n' "$content" >"$root$path.tmp"
    chmod "$mode" "$root$path.tmp"
    mv -f "$root$path.tmp" "$root$path"
}

# copy SRC DEST MODE: install a file from the checkout.
copy() {
    local src=$1 dest=$2 mode=$3
    printf 'copy:  %s -> %s (mode %s)\n' "$src" "$root$dest" "$mode"
    if [ "$dry_run" = 1 ]; then return 0; fi
    mkdir -p "$(dirname "$root$dest")"
    install -m "$mode" "$src" "$root$dest"
}

# directory PATH MODE OWNER: create a directory (owner only applied on a real install).
directory() {
    local path=$1 mode=$2 owner=$3
    printf 'mkdir: %s (mode %s, owner %s)\n' "$root$path" "$mode" "$owner"
    if [ "$dry_run" = 1 ]; then return 0; fi
    mkdir -p "$root$path"
    chmod "$mode" "$root$path"
    if act; then chown "$owner" "$path"; fi
}

step() { printf '\n== %s\n' "$1"; }

if [ "$dry_run" = 1 ]; then
    printf 'install-kiosk: dry run: printing every action, changing nothing\n'
elif [ -n "$root" ]; then
    printf 'install-kiosk: writing files under %s; commands are printed, not run\n' "$root"
fi
arch=$(uname -m)
if [ "$arch" != aarch64 ]; then
    printf 'install-kiosk: warning: this is %s, not aarch64 (64-bit Raspberry Pi OS)\n' "$arch" >&2
fi

step "1. system packages"
run apt-get update
run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"

step "2. the reader: udev rule and kernel drivers"
copy "$udev_rule" /etc/udev/rules.d/60-kokreativ-nfc.rules 0644
write /etc/modprobe.d/blacklist-pn533.conf 0644 <<'EOF'
# kokreativ: nfcpy drives USB NFC readers itself; the kernel's NFC drivers would claim them first.
blacklist pn533_usb
blacklist pn533
blacklist port100
blacklist nfc
EOF
run udevadm control --reload
run udevadm trigger

step "3. the service user"
# Under --root or --dry-run nothing is looked up on this machine: print what a fresh Pi needs.
if act && id "$SERVICE_USER" >/dev/null 2>&1; then
    printf 'user %s exists\n' "$SERVICE_USER"
else
    run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
fi
groups=()
for group in "${GROUPS_NEEDED[@]}"; do
    if act && ! getent group "$group" >/dev/null; then
        printf 'install-kiosk: warning: group %s does not exist here; skipped\n' "$group" >&2
    else
        groups+=("$group")
    fi
done
if [ ${#groups[@]} -gt 0 ]; then
    run usermod -aG "$(IFS=,; printf '%s' "${groups[*]}")" "$SERVICE_USER"
fi

step "4. kokreativ in $VENV"
# --system-site-packages: gpiozero finds the lgpio pin backend installed by apt.
run python3 -m venv --system-site-packages "$VENV"
run "$VENV/bin/pip" install --quiet --upgrade pip
run "$VENV/bin/pip" install --quiet --upgrade "${source_path}[terminal]"

step "5. configuration and data folder"
write "$ENV_FILE" 0644 <<EOF
# kokreativ kiosk settings, read by kokreativ-kiosk.service (EnvironmentFile=).
# Written by deploy/install-kiosk.sh; run it again (or edit this file and
# 'systemctl restart kokreativ-kiosk') to point the kiosk at another server.
# The server is used for enrolment on the screen; afterwards kiosk.toml holds it.
KOKREATIV_SERVER=$server
EOF
# systemd's StateDirectory= would create it too; creating it here lets it be a
# mount point of a writable partition when the root is read-only.
directory "$DATA_DIR" 0700 "$SERVICE_USER:$SERVICE_USER"

step "6. systemd units"
for unit in "${UNITS[@]}"; do
    copy "$checkout/systemd/$unit" "/etc/systemd/system/$unit" 0644
done
run systemctl daemon-reload
run systemctl enable "${UNITS[@]}"
# The screen unit is WantedBy=graphical.target; Raspberry Pi OS Lite boots multi-user.target.
run systemctl set-default graphical.target
# The kiosk's screen runs on tty1; a login prompt there would fight cage for it.
run systemctl disable getty@tty1.service
run systemctl enable fake-hwclock.service

cat <<EOF

Done.  Next:
  1. Make an enrolment code on the coordinator's laptop:
       kokreativ provision terminal add --site s_...
  2. Reboot the Pi (sudo reboot).  The kiosk boots into the enrolment screen;
     type the code there.  It then shows the check-in screen.
Check with: systemctl status kokreativ-kiosk; journalctl -u kokreativ-kiosk -u kokreativ-sync
EOF
if [ "$dry_run" = 1 ]; then
    printf '(dry run: nothing was changed)\n'
fi
