#!/bin/sh
# Write the three local files that dialplan/*.conf #tryinclude (dialplan/README.md,
# "Secrets and local values") from the environment, then run Asterisk.
#   ASTERISK_AMI_SECRET  the AMI secret of the `bridge` user (required; = BRIDGE_AMI_SECRET)
#   ASTERISK_AMI_PORT    AMI port on 127.0.0.1 (default 5038)
#   ASTERISK_SIP_BIND    PJSIP UDP transport address:port (default 127.0.0.1:5060)
#   BRIDGE_AGI_URL       the bridge's FastAGI server (default agi://127.0.0.1:4573)
set -eu
case "${ASTERISK_AMI_SECRET:-}" in
    '' | *[!A-Za-z0-9_-]*)
        echo "ASTERISK_AMI_SECRET must be set to a long token of [A-Za-z0-9_-]" >&2
        exit 64
        ;;
esac
for value in "$ASTERISK_AMI_PORT" "$ASTERISK_SIP_BIND" "$BRIDGE_AGI_URL"; do
    case "$value" in *[!A-Za-z0-9_.:/-]*)
        echo "refusing a setting with characters Asterisk would interpret: $value" >&2
        exit 64
        ;;
    esac
done
cd /etc/asterisk
umask 027
printf '[general](+)\nport = %s\n\n[bridge](+)\nsecret = %s\n' \
    "$ASTERISK_AMI_PORT" "$ASTERISK_AMI_SECRET" > manager_bridge_local.conf
printf '[transport-udp](+)\nbind = %s\n' "$ASTERISK_SIP_BIND" > pjsip_bridge_local.conf
printf '[globals](+)\nBRIDGE_AGI_URL = %s\n' "$BRIDGE_AGI_URL" > extensions_bridge_local.conf
chgrp asterisk manager_bridge_local.conf pjsip_bridge_local.conf extensions_bridge_local.conf
exec "$@"
