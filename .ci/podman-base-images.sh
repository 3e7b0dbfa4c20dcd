#!/bin/sh
# Build the Debian base images that docker/*/Dockerfile name (debian:bookworm-slim,
# debian:sid-slim) from the machine's own Debian mirror, for machines that reach no
# image registry. A Dockerfile then builds unchanged: podman uses a local image of the
# name it asks for without pulling. Images already present are kept (the cache).
#
#   BRIDGE_BASE_IMAGES_FORCE  set to 1 to rebuild images that exist
set -eu

SOURCES=/etc/apt/sources.list.d/debian.sources
say() { printf 'base-images: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    say "must run as root (mmdebstrap)" >&2
    exit 1
fi
command -v mmdebstrap >/dev/null 2>&1 || { say "apt-get install mmdebstrap" >&2; exit 1; }
command -v podman >/dev/null 2>&1 || { say "apt-get install podman" >&2; exit 1; }

# The machine's own Debian mirror: the first URIs line of a stanza that is not the
# security archive; fall back to a one-line sources.list.
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
[ -n "$mirror" ] || { say "no Debian mirror in $SOURCES or /etc/apt/sources.list" >&2; exit 1; }

build() {  # suite image
    if podman image exists "$2" && [ "${BRIDGE_BASE_IMAGES_FORCE:-0}" != 1 ]; then
        say "reusing $2"
        return
    fi
    start=$(date +%s)
    # --aptopt lands in the image: the mirror may be a snapshot with expired Release files
    mmdebstrap --variant=minbase --quiet \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$1" - "deb $mirror $1 main" | podman import --quiet - "$2" >/dev/null
    say "built $2 in $(( $(date +%s) - start ))s"
}

build bookworm docker.io/library/debian:bookworm-slim
build sid docker.io/library/debian:sid-slim
