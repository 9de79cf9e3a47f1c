#!/bin/sh
# Install the rendered configuration, then start Asterisk through the base image's entrypoint.
# Refuses to start without a rendered configuration: Asterisk's sample files would otherwise
# load (demo dialplan, no trunk), which must never face the network.
set -eu

RENDERED="${ASTERISK_RENDERED_DIR:-/srv/asterisk-config}"

if [ ! -f "$RENDERED/pjsip.conf" ] || [ ! -f "$RENDERED/manager.conf" ]; then
    echo "error: no rendered configuration in $RENDERED." >&2
    echo "Run the asterisk-config service (dispatcher asterisk render --out $RENDERED) first;" >&2
    echo "its log names any missing setting." >&2
    exit 78
fi

for file in "$RENDERED"/*.conf; do
    install -m 0640 -o asterisk -g asterisk "$file" "/etc/asterisk/$(basename "$file")"
done
mkdir -p /etc/asterisk/custom /var/log/asterisk
chown asterisk:asterisk /var/log/asterisk

if [ -x /usr/local/bin/entrypoint.sh ]; then
    exec /usr/local/bin/entrypoint.sh "$@"
fi
exec "$@"
