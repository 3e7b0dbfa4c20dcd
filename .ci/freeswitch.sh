#!/bin/sh
# Install the real FreeSWITCH (1.11.3-dev, mod_conference) that tests/freeswitch/
# runs against. No archive these machines reach packages FreeSWITCH, so a build
# is provided as a tarball in ../shared/freeswitch/ (beside the repository).
# Idempotent: installs only the runtime packages that are missing and extracts
# the tarball only when /opt/freeswitch is not complete already.
#
#   BRIDGE_FREESWITCH_TARBALL  the tarball (default ../shared/freeswitch/
#                              freeswitch-debian12-amd64.tar.zst, relative to
#                              the repository root)
#   BRIDGE_FREESWITCH_FORCE    set to 1 to extract again even when installed
set -eu

cd "$(dirname "$0")/.."
TARBALL="${BRIDGE_FREESWITCH_TARBALL:-../shared/freeswitch/freeswitch-debian12-amd64.tar.zst}"
PREFIX=/opt/freeswitch
PACKAGES="libssl3 libcurl4 libedit2 libjpeg62-turbo libpcre2-8-0 libsndfile1 libspeex1
libspeexdsp1 libsqlite3-0 libtiff6 libuuid1 zlib1g libstdc++6 zstd"

say() { printf 'freeswitch: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    say "must run as root (apt-get, $PREFIX)" >&2
    exit 1
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    say "installing runtime packages:$missing"
    apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
else
    say "runtime packages present"
fi

if [ -x "$PREFIX/bin/freeswitch" ] && [ -x "$PREFIX/fsctl.sh" ] && [ -d "$PREFIX/etc/freeswitch" ] \
    && [ "${BRIDGE_FREESWITCH_FORCE:-0}" != 1 ]; then
    say "already installed in $PREFIX"
else
    if [ ! -f "$TARBALL" ]; then
        say "tarball not found: $TARBALL (expected ../shared beside the repository)" >&2
        exit 1
    fi
    say "extracting $TARBALL to /"
    tar -C / --zstd -xf "$TARBALL"
fi

"$PREFIX/bin/freeswitch" -version
