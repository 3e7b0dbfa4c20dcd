#!/bin/sh
# Set what freeswitch-conf/README.md leaves to the admin from the environment, then run
# FreeSWITCH; `docker-entrypoint.sh health` is the HEALTHCHECK (ESL `status` says ready).
#   FREESWITCH_ESL_PASSWORD  event socket password (required; = BRIDGE_ESL_PASSWORD)
#   FREESWITCH_ESL_PORT      event socket port on 127.0.0.1 (default 8021)
#   FREESWITCH_SIP_PORT      the conference-bridge SIP profile's port (default 5080)
#   BRIDGE_OUTBOUND_SOCKET   the bridge's outbound socket (default 127.0.0.1:8084)
#   FREESWITCH_RTP_PORTS     optional RTP range, e.g. 16384-16584 (switch.conf.xml)
set -eu
conf=/opt/freeswitch/etc/freeswitch

if [ "${1:-}" = health ]; then
    /opt/freeswitch/bin/fs_cli -H 127.0.0.1 -P "$FREESWITCH_ESL_PORT" \
        -p "$FREESWITCH_ESL_PASSWORD" -x status | grep -q 'is ready'
    exit
fi

safe() {  # name value pattern: refuse what XML or the dialplan would interpret
    case "$2" in
        '' | $3)
            echo "$1 must be set and match its form (got '$2')" >&2
            exit 64
            ;;
    esac
}
safe FREESWITCH_ESL_PASSWORD "${FREESWITCH_ESL_PASSWORD:-}" '*[!A-Za-z0-9_-]*'
safe FREESWITCH_ESL_PORT "$FREESWITCH_ESL_PORT" '*[!0-9]*'
safe FREESWITCH_SIP_PORT "$FREESWITCH_SIP_PORT" '*[!0-9]*'
safe BRIDGE_OUTBOUND_SOCKET "$BRIDGE_OUTBOUND_SOCKET" '*[!0-9A-Za-z.:-]*'

param() {  # file name value: set <param name="name" value="..."/>
    sed -i "s|\(<param name=\"$2\" value=\"\)[^\"]*\"|\1$3\"|" "$1"
    grep -q "<param name=\"$2\" value=\"$3\"" "$1" || { echo "no param $2 in $1" >&2; exit 1; }
}
param "$conf/autoload_configs/event_socket.conf.xml" password "$FREESWITCH_ESL_PASSWORD"
param "$conf/autoload_configs/event_socket.conf.xml" listen-port "$FREESWITCH_ESL_PORT"
param "$conf/sip_profiles/conference-bridge.xml" sip-port "$FREESWITCH_SIP_PORT"
sed -i "s|data=\"[^\"]* async full\"|data=\"$BRIDGE_OUTBOUND_SOCKET async full\"|" \
    "$conf/dialplan/conference-bridge.xml"
if [ -n "${FREESWITCH_RTP_PORTS:-}" ]; then
    safe FREESWITCH_RTP_PORTS "$FREESWITCH_RTP_PORTS" '*[!0-9-]*'
    param "$conf/autoload_configs/switch.conf.xml" rtp-start-port "${FREESWITCH_RTP_PORTS%-*}"
    param "$conf/autoload_configs/switch.conf.xml" rtp-end-port "${FREESWITCH_RTP_PORTS#*-}"
fi
exec "$@"
