#!/bin/sh
# Provision the Debian-unstable root that the real-Asterisk tests run in.
#
# Debian 12 does not package Asterisk; Debian unstable does. We build a small
# unstable root with mmdebstrap and run `chroot ROOT asterisk -f` from the tests
# (tests/asterisk/). Idempotent: a complete root (marker file naming the same
# package set) is reused as is.
#
#   BRIDGE_ASTERISK_ROOT   where the root lives
#                          (default /var/cache/conference-bridge/asterisk-root)
#   BRIDGE_ASTERISK_FORCE  set to 1 to rebuild even when the root is complete
set -eu

ROOT="${BRIDGE_ASTERISK_ROOT:-/var/cache/conference-bridge/asterisk-root}"
PACKAGES="asterisk,asterisk-modules,asterisk-core-sounds-en-gsm,asterisk-moh-opsound-gsm"
MARKER="$ROOT/.conference-bridge-root"
SOURCES=/etc/apt/sources.list.d/debian.sources

say() { printf 'asterisk-root: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    say "must run as root (mmdebstrap, chroot)" >&2
    exit 1
fi

# Host tools: mmdebstrap builds the root, sip-tester gives sipp for the SIP tests.
missing=""
command -v mmdebstrap >/dev/null 2>&1 || missing="$missing mmdebstrap"
command -v sipp >/dev/null 2>&1 || missing="$missing sip-tester"
if [ -n "$missing" ]; then
    say "installing host packages:$missing"
    apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
else
    say "host packages present: mmdebstrap sip-tester"
fi

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$PACKAGES" ] && [ "${BRIDGE_ASTERISK_FORCE:-0}" != 1 ]; then
    cp /etc/hosts "$ROOT/etc/hosts"
    say "reusing complete root $ROOT ($(chroot "$ROOT" dpkg-query -W -f='${Version}' asterisk))"
    exit 0
fi

# The machine's own Debian mirror: the first URIs line of a deb822 stanza that is
# not the security archive; fall back to a one-line sources.list.
mirror=""
if [ -f "$SOURCES" ]; then
    mirror=$(awk '
        /^[[:space:]]*$/ { if (uri != "" && !sec) { print uri; exit } uri = ""; sec = 0; next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ && /-security/ { sec = 1 }
        /^URIs:/ && /security/ { sec = 1 }
        END { if (uri != "" && !sec) print uri }
    ' "$SOURCES" | head -n 1)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
    say "no Debian mirror found in $SOURCES or /etc/apt/sources.list" >&2
    exit 1
fi
say "mirror from the machine's apt sources: $mirror"

# Build next to the final place, then rename: an interrupted build never looks complete.
# A build dir left over from an interrupted run may still have proc/dev mounted.
BUILD="$ROOT.build"
for m in "$BUILD/proc" "$BUILD/dev" "$ROOT/proc" "$ROOT/dev"; do
    if mountpoint -q "$m" 2>/dev/null; then umount -l "$m"; fi
done
rm -rf "$BUILD"
mkdir -p "$(dirname "$ROOT")"
start=$(date +%s)
say "building sid root with $PACKAGES"
mmdebstrap --variant=apt --quiet \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --include="$PACKAGES" \
    sid "$BUILD" "deb $mirror sid main"
cp /etc/hosts "$BUILD/etc/hosts"
printf '%s' "$PACKAGES" > "$BUILD/.conference-bridge-root"
rm -rf "$ROOT"
mv "$BUILD" "$ROOT"
took=$(( $(date +%s) - start ))
say "built $ROOT in ${took}s ($(du -sm "$ROOT" | cut -f1) MB," \
    "asterisk $(chroot "$ROOT" dpkg-query -W -f='${Version}' asterisk))"
