#!/usr/bin/env bash
# The btleplug link (ecsp-instrument-ble; not a default member) against a BlueZ double on a
# private D-Bus system bus. Called by scripts/test.sh with $ECSP_TEST_LOG set; appends cargo's
# test output to it. Needs dbus-daemon (Debian `dbus`) and libdbus-1-dev; the double's Python
# (dbus-fast, pinned in scripts/python-ble.lock) is prepared by scripts/setup-python.sh ble.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== ble: clippy and the btleplug tests against the BlueZ double (--features bluez-double)"
# scripts/test.sh lints every crate with this feature in one pass; run alone, lint here.
[ -n "${ECSP_LINTED:-}" ] || cargo clippy -p ecsp-instrument-ble --features bluez-double --all-targets --locked -- -D warnings
ECSP_BLE_PYTHON="$(scripts/setup-python.sh ble)"
export ECSP_BLE_PYTHON
work="$(mktemp -d)"
cat > "$work/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=$work/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$work/bus.conf" --fork --print-pid > "$work/pid"
trap 'kill "$(cat "$work/pid")" 2>/dev/null || true; rm -rf "$work"' EXIT
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$work/system_bus_socket"
cargo test -p ecsp-instrument-ble --features bluez-double --locked 2>&1 | tee -a "$ECSP_TEST_LOG"
