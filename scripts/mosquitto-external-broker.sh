#!/usr/bin/env bash
# Runs Debian's mosquitto as the server's external MQTT broker: TLS on PORT, no anonymous
# clients, the password_file and acl_file that ecsp-server writes into FILES_DIR (started with
# `--external-broker mqtts://HOST:PORT --broker-files FILES_DIR`), and every client id forced to
# its user name, so an agent is its agent id on every topic the ACL patterns (%u) give it.
# Writes FILES_DIR/mosquitto.conf and runs mosquitto in the foreground (exec: the caller's pid
# is mosquitto's; SIGHUP makes it read the password and ACL files again after a new agent).
#   scripts/mosquitto-external-broker.sh PORT FILES_DIR CERT_PEM KEY_PEM
set -euo pipefail
if [ $# -ne 4 ]; then
    echo "usage: $0 PORT FILES_DIR CERT_PEM KEY_PEM" >&2
    exit 2
fi
port="$1" files="$(realpath "$2")" cert="$(realpath "$3")" key="$(realpath "$4")"
mosquitto="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
if [ ! -x "$mosquitto" ]; then
    echo "mosquitto is missing: install Debian's mosquitto (scripts/setup-debian.sh does)" >&2
    exit 1
fi
for f in password_file acl_file; do
    [ -f "$files/$f" ] || { echo "$files/$f is missing: start ecsp-server with --broker-files $files first" >&2; exit 1; }
done
cat >"$files/mosquitto.conf" <<CONF
# Written by scripts/mosquitto-external-broker.sh
per_listener_settings false
allow_anonymous false
password_file $files/password_file
acl_file $files/acl_file
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
# Started as root (CI), mosquitto would switch to user mosquitto, who cannot read these files.
user $(id -un)

listener $port 127.0.0.1
certfile $cert
keyfile $key
use_username_as_clientid true
CONF
exec "$mosquitto" -c "$files/mosquitto.conf"
