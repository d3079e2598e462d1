#!/usr/bin/env bash
# Pack this checkout's committed HEAD as the release a kiosk installs from.
#
#   deploy/make-release.sh [OUTDIR]      (or: make release)
#
# Writes OUTDIR/kokreativ-VERSION.tar.gz (OUTDIR defaults to dist/) and prints
# its path.  The tarball unpacks to kokreativ-VERSION/ with everything the
# installer needs: the Python package, deploy/, systemd/ and the reader's udev
# rules.  No git hosting is needed: copy it to the Pi (scp, a USB stick, or the
# SD card's boot partition for deploy/firstboot.sh) and run
# deploy/install-kiosk.sh from the unpacked folder.  docs/operations.md
# ("Install a kiosk") has the steps.
#
# Only committed files go in (git archive), so what a kiosk runs is a commit
# you can name; uncommitted changes are left out, with a warning.
set -euo pipefail

die() {
    printf 'make-release: error: %s\n' "$1" >&2
    exit 2
}

case "${1:-}" in
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[ $# -le 1 ] || die "usage: make-release.sh [OUTDIR]"

repo=$(cd "$(dirname "$0")/.." && pwd)
command -v git >/dev/null || die "git is not installed"
git -C "$repo" rev-parse --verify --quiet HEAD >/dev/null || die "$repo is not a git checkout with a commit"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/pyproject.toml" | head -n 1)
[ -n "$version" ] || die "no version in $repo/pyproject.toml"

outdir=${1:-$repo/dist}
mkdir -p "$outdir"
out="$(cd "$outdir" && pwd)/kokreativ-$version.tar.gz"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    printf 'make-release: warning: uncommitted changes are not in the release\n' >&2
fi
git -C "$repo" archive --format=tar.gz --prefix="kokreativ-$version/" -o "$out" HEAD
printf '%s\n' "$out"
