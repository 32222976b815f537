# The phone path through the generated Python bindings: sign in, consent, calibrate, measure a
# chart on the simulator, upload, and read the record back from the reference server — once
# with GPS consent, once without.
import asyncio
import json
import os
import tempfile

from ecsp_mobile import (
    FieldClient, FieldError, HostSecrets, LocationSource, Position, Simulator,
    start_reference_server, start_session,
)

MANIFEST = os.environ["CARGO_MANIFEST_DIR"]
CHART = os.path.join(MANIFEST, "..", "core", "color", "tests", "data", "colorchecker_babelcolor.cgats")


class Keys(HostSecrets):
    def __init__(self):
        self.values = {}

    def load(self, key):
        return self.values.get(key)

    def save(self, key, value):
        self.values[key] = value

    def remove(self, key):
        self.values.pop(key, None)


class Here(LocationSource):
    def __init__(self):
        self.asked = 0

    def current_position(self):
        self.asked += 1
        return Position(latitude=35.6812, longitude=139.7671, accuracy_m=8.0,
                        altitude_m=None, fixed_at_unix=1_700_000_000)


async def field_session(server, work, gps):
    keys = Keys()
    client = FieldClient(server.url, server.ca_pem, os.path.join(work, "client"), keys)
    await client.login(server.technician_email, server.technician_password)
    assert keys.values, "the session tokens went to the host keystore"
    device = (await client.device_ids())[0]
    if gps:
        await client.grant("gps")
    else:
        await client.refuse("gps")

    sim = Simulator("SIM-PY-1", True)
    sim.walk_chart_file(CHART)
    session = await start_session(sim, CHART, device, "M1", os.path.join(work, "sessions.sqlite3"))
    state = await session.state()
    assert state.total == 24 and state.measured == 0 and state.next_patch == 0
    assert state.calibration_due is not None
    try:
        await session.measure_next()
        raise AssertionError("measured without calibration")
    except FieldError.Failed as e:
        assert e.code == "calibrationdue", e.code

    await session.calibrate()
    assert (await session.state()).calibration_due is None
    while (await session.state()).next_patch is not None:
        reading = await session.measure_next()
        assert reading.better_match is None, reading
        assert reading.delta_e < 0.5, reading
    here = Here()
    record_id = await session.upload(client, here)
    assert here.asked == (1 if gps else 0), here.asked
    assert await client.flush() >= 1

    record = json.loads(await client.record_json(record_id))
    assert len(record["samples"]) == 24
    assert record["instrument"]["serial_number"] == "SIM-PY-1"
    assert ("gps" in record) == gps, record.keys()
    if gps:
        assert abs(record["gps"]["latitude"] - 35.6812) < 1e-9


async def main():
    with tempfile.TemporaryDirectory() as work:
        server = start_reference_server(os.path.join(work, "server"))
        for gps in (True, False):
            await field_session(server, os.path.join(work, f"gps-{gps}"), gps)
    print("python bindings: field session with and without GPS consent: ok")


asyncio.run(main())
