# The phone path through the generated Python bindings: sign in, consent, calibrate, measure a
# chart on the simulator, upload, and read the record back from the reference server — once
# with GPS consent, once without.
import asyncio
import json
import os
import tempfile
import time

import base64
import socket
import struct
import threading

from ecsp_mobile import (
    ConsentDecisionKind, ConsentStateKind, FieldClient, FieldError, FieldErrorCode, FieldEvent,
    FieldListener, HostInstrumentLink, HostSecrets, LocationSource, PageCursor, Position,
    QueuedKind, QueuedState, RecordKindName, Simulator, SyncStatus, fetch_server_ca,
    fingerprints_match, start_reference_server, start_session, start_session_on_host_link,
    start_simulator_server,
)

MANIFEST = os.environ["CARGO_MANIFEST_DIR"]
CHART = os.path.join(MANIFEST, "..", "core", "color", "tests", "data", "colorchecker_babelcolor.cgats")
PHOTO = os.path.join(MANIFEST, "..", "core", "photo", "tests", "fixtures", "DSCN0010.jpg")


class TcpBluetooth(HostInstrumentLink):
    """Plays the phone's Bluetooth stack: the simulator's frames over TCP, notifications pushed
    into the core's sink from a reader thread, as a BLE callback thread would."""

    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.address = (host, int(port))
        self.sock = None
        self.connects = 0

    def connect(self, sink):
        self.disconnect()
        sock = socket.create_connection(self.address)
        (mtu,) = struct.unpack("<H", self._read(sock, 2))
        self.sock = sock
        self.connects += 1

        def pump():
            try:
                while True:
                    (n,) = struct.unpack("<H", self._read(sock, 2))
                    sink.push(self._read(sock, n))
            except (OSError, EOFError):
                pass
            sink.closed()

        threading.Thread(target=pump, daemon=True).start()
        return mtu

    def write(self, frame):
        if self.sock is None:
            raise FieldError.Failed(FieldErrorCode.INSTRUMENT_UNREACHABLE, "not connected")
        try:
            self.sock.sendall(struct.pack("<H", len(frame)) + bytes(frame))
        except OSError as e:
            raise FieldError.Failed(FieldErrorCode.INSTRUMENT_UNREACHABLE, str(e))

    def disconnect(self):
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    @staticmethod
    def _read(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError()
            data += chunk
        return data


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
        # The same person granted photos in the first round's app: the server's ledger is the
        # truth and this app follows it from sign-in, so they withdraw it here first.
        await client.withdraw("photos")

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
        assert e.code == FieldErrorCode.CALIBRATION_DUE, e.code

    await session.calibrate()
    assert (await session.state()).calibration_due is None
    while (await session.state()).next_patch is not None:
        reading = await session.measure_next()
        assert reading.better_match is None, reading
        assert reading.delta_e < 0.5, reading
    photo = open(PHOTO, "rb").read()
    try:
        await session.attach_photo(client, photo, None)
        raise AssertionError("a photo attached without consent")
    except FieldError.Failed as e:
        assert e.code == FieldErrorCode.NOT_ALLOWED, e.code
    await client.grant("photos")
    attached = await session.attach_photo(client, photo, "the sheet")
    assert attached.location_removed == (not gps), attached
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
    sent = base64.b64decode(record["photos"][0]["data_base64"])
    assert len(sent) == len(photo) and (sent == photo) == gps, "location kept only with gps"


async def screens(server, work):
    """First contact, the consent screen and what the server holds, as a field app shows them."""
    # First contact: the CA and its fingerprint, compared before it is trusted.
    ca = await fetch_server_ca(server.url)
    assert ca.pem.strip() == server.ca_pem.strip(), "the CA the server serves"
    assert len(ca.fingerprint.split(":")) == 32, ca.fingerprint
    assert fingerprints_match(ca.fingerprint.lower().replace(":", " "), ca.fingerprint)
    assert not fingerprints_match("00" * 32, ca.fingerprint)
    try:
        await fetch_server_ca("http://localhost:1")
        raise AssertionError("a plain-HTTP first contact")
    except FieldError.Failed as e:
        assert e.code == FieldErrorCode.CONFIGURATION, e.code

    keys = Keys()
    client = FieldClient(server.url, ca.pem, os.path.join(work, "client"), keys)
    await client.login(server.technician_email, server.technician_password)

    # The consent screen in the device's language, as the server's ledger has it.
    screen = await client.consent_screen("ja-JP")
    assert screen.language == "ja" and screen.from_server, screen
    assert [p.purpose for p in screen.purposes] == ["job_info", "gps", "photos"], screen
    assert all(not p.title.isascii() for p in screen.purposes), "titles in Japanese"
    english = await client.consent_screen("en-GB")
    assert english.purposes[1].title.isascii() and english.notice_version == screen.notice_version
    await client.grant("gps")
    await client.refuse("job_info")
    await client.flush()
    screen = await client.consent_screen("en")
    states = {p.purpose: p.state for p in screen.purposes}
    assert states["gps"] == ConsentStateKind.GRANTED, states
    assert states["job_info"] == ConsentStateKind.REFUSED, states
    gps = next(p for p in screen.purposes if p.purpose == "gps")
    assert gps.decided_under_notice == screen.notice_version and not gps.waiting_to_send
    await client.withdraw("gps")
    screen = await client.consent_screen("en")
    gps = next(p for p in screen.purposes if p.purpose == "gps")
    assert gps.state == ConsentStateKind.WITHDRAWN, gps
    history = await client.consent_history()
    assert [h.decision for h in history if h.purpose == "gps"][:2] == [
        ConsentDecisionKind.WITHDRAW, ConsentDecisionKind.GRANT], history

    # The printers, with serial numbers, and a device's records paged without a gap.
    devices = await client.devices()
    assert devices and all(d.serial_number.startswith("X4DEMO") for d in devices), devices
    assert all(d.state is None for d in devices), "no printer has reported yet"

    device = devices[0].id
    sim = Simulator("SIM-PY-PAGES", True)
    sim.walk_chart_file(CHART)
    uploaded = []
    for _ in range(3):
        session = await start_session(sim, CHART, device, "M1", os.path.join(work, f"s{len(uploaded)}.sqlite3"))
        await session.calibrate()
        while (await session.state()).next_patch is not None:
            await session.measure_next()
        uploaded.append(await session.upload(client, None))
        sim.walk_chart_file(CHART)
    await client.flush()
    seen, after = [], None
    while True:
        page = await client.records(device, RecordKindName.MEASUREMENT, after, 2)
        seen += [r.id for r in page.records]
        assert all(r.kind == RecordKindName.MEASUREMENT for r in page.records)
        if page.next is None:
            break
        after = page.next
    assert set(uploaded) <= set(seen) and len(seen) == len(set(seen)), (uploaded, seen)
    # The session screen: why calibration is due (as a code), the instrument's state, each
    # reading against the chart's reference, and a wrong patch caught (the technician is on
    # patch 0 while the app asks for patch 1).
    sim = Simulator("SIM-PY-WRONG", True)
    sim.walk_chart_file(CHART)
    session = await start_session(sim, CHART, device, "M1", os.path.join(work, "wrong.sqlite3"))
    state = await session.state()
    assert state.calibration_reason is not None and state.calibration_due, state
    instrument = await session.instrument()
    assert instrument.serial == "SIM-PY-WRONG" and 0 < instrument.battery_percent <= 100, instrument
    assert instrument.seconds_since_calibration is None, instrument
    await session.calibrate()
    assert (await session.state()).calibration_reason is None
    assert (await session.instrument()).seconds_since_calibration is not None
    wrong = await session.measure_patch(1)
    assert wrong.better_match == 0 and wrong.better_match_delta_e < wrong.delta_e, wrong
    assert 1 in (await session.state()).flagged
    right = await session.measure_patch(1)
    assert right.better_match is None and right.delta_e < 0.5, right
    assert abs(right.l - right.expected_l) < 1.0, right

    # A measurement's screen: compared with the newest earlier comparable one by default, or
    # with the one chosen; plots in the language asked for.
    shown = await client.measurement(uploaded[-1], None, "ja-JP")
    assert shown.reference_id == uploaded[-2], (shown.reference_id, uploaded)
    assert shown.patches == 24 and shown.not_compared is None, shown.not_compared_detail
    assert shown.measurement_condition == "M1", shown.measurement_condition
    assert 0 <= shown.delta_e00_mean <= shown.delta_e00_p95 <= shown.delta_e00_max < 1.0, shown
    for svg in (shown.spectra_svg, shown.ab_svg, shown.delta_e_bars_svg):
        assert svg is not None and svg.startswith("<svg"), svg and svg[:80]
    assert "波長" in shown.spectra_svg, "the axis in Japanese"
    chosen = await client.measurement(uploaded[-1], uploaded[0], "en")
    assert chosen.reference_id == uploaded[0] and "Wavelength" in chosen.spectra_svg
    try:
        await client.measurement("not an id", None, "en")
        raise AssertionError("a bad record id accepted")
    except FieldError.Failed as e:
        assert e.code == FieldErrorCode.INVALID_INPUT, e.code
    try:
        await client.records(device, None, PageCursor(token="not a cursor"), 2)
        raise AssertionError("a bad cursor accepted")
    except FieldError.Failed as e:
        assert e.code == FieldErrorCode.INVALID_INPUT, e.code


class Switch:
    """The phone's network, between the app and the server: a TCP relay that can be cut (new
    connections refused, open ones closed) and restored, as losing and regaining coverage."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.connections = []
        self.listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.open = False
        for c in self.connections:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.connections = []

    def restore(self):
        self.open = True


class Events(FieldListener):
    def __init__(self):
        self.seen = []

    def on_event(self, event):
        self.seen.append(event)

    def delivered(self):
        return [i for e in self.seen if isinstance(e, FieldEvent.DELIVERED) for i in e.record_ids]

    def statuses(self):
        return [e.status for e in self.seen if isinstance(e, FieldEvent.SYNC_STATE_CHANGED)]


async def until(check, seconds, what):
    for _ in range(int(seconds * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


async def background_delivery(server, work):
    """The sync service in the background, the listener seeing what happens, an upload made
    while the network is gone delivered once `network_available()` says it is back."""
    port = int(server.url.rsplit(":", 1)[1])
    network = Switch(port)
    keys = Keys()
    client = FieldClient(f"https://localhost:{network.port}", server.ca_pem,
                         os.path.join(work, "client"), keys)
    await client.login(server.technician_email, server.technician_password)
    device = (await client.device_ids())[0]
    events = Events()
    sync = await client.start_sync(events)

    async def measure(serial):
        sim = Simulator(serial, True)
        sim.walk_chart_file(CHART)
        session = await start_session(sim, CHART, device, "M1", os.path.join(work, serial + ".sqlite3"))
        await session.calibrate()
        while (await session.state()).next_patch is not None:
            await session.measure_next()
        return await session.upload(client, None)

    online = await measure("SIM-BG-1")
    await until(lambda: online in events.delivered(), 20, "the first upload delivered")
    assert any(isinstance(e, FieldEvent.QUEUE_CHANGED) for e in events.seen)

    network.cut()
    offline = await measure("SIM-BG-2")
    await until(lambda: any(isinstance(s, SyncStatus.OFFLINE) for s in events.statuses()), 20,
                "the service says it is offline")
    counts = await client.queue_counts()
    assert counts.queued + counts.in_flight >= 1, counts
    waiting = await client.queue_entries(QueuedState.QUEUED, 10)
    assert any(e.record_id == offline and e.kind == QueuedKind.MEASUREMENT for e in waiting), waiting
    assert offline not in events.delivered()
    # Until the service's next try is a few seconds away (its backoff grows with each failure),
    # so a delivery before then is network_available()'s doing.
    def next_try():
        offline_states = [s for s in events.statuses() if isinstance(s, SyncStatus.OFFLINE)]
        return offline_states[-1].until_unix if offline_states else 0
    await until(lambda: next_try() - time.time() >= 3, 40, "a backoff of 3 s or more")
    next_try_at = next_try()
    network.restore()
    sync.network_available()
    await until(lambda: offline in events.delivered(), 10, "delivered after network_available()")
    assert time.time() < next_try_at, "delivered before the service's own next try"
    assert (await client.queue_counts()).queued == 0
    assert await client.retry_rejected(None) == 0 and await client.drop_rejected(None) == 0
    await sync.stop()
    assert isinstance(sync.status(), SyncStatus.STOPPED), sync.status()


async def host_link_session(server, work):
    """The phone's own Bluetooth stack (here: Python over TCP), with the link dropped every 9
    frames: the session still completes with every patch measured once."""
    keys = Keys()
    client = FieldClient(server.url, server.ca_pem, os.path.join(work, "client"), keys)
    await client.login(server.technician_email, server.technician_password)
    device = (await client.device_ids())[0]
    bluetooth = TcpBluetooth(start_simulator_server("SIM-HOST-1", CHART, 9))
    session = await start_session_on_host_link(
        bluetooth, CHART, device, "M1", os.path.join(work, "sessions.sqlite3"))
    await session.calibrate()
    while (await session.state()).next_patch is not None:
        reading = await session.measure_next()
        assert reading.better_match is None, reading
    assert bluetooth.connects > 3, bluetooth.connects
    record_id = await session.upload(client, None)
    await client.flush()
    record = json.loads(await client.record_json(record_id))
    assert len(record["samples"]) == 24
    assert record["instrument"]["serial_number"] == "SIM-HOST-1"


async def main():
    with tempfile.TemporaryDirectory() as work:
        server = start_reference_server(os.path.join(work, "server"))
        for gps in (True, False):
            await field_session(server, os.path.join(work, f"gps-{gps}"), gps)
        print("python bindings: field session with and without GPS consent: ok")
        await screens(server, os.path.join(work, "screens"))
        print("python bindings: first contact, consent screen, devices, records paged: ok")
        await background_delivery(server, os.path.join(work, "background"))
        print("python bindings: background delivery, listener, offline then network_available(): ok")
        await host_link_session(server, os.path.join(work, "host-link"))
        print("python bindings: host Bluetooth link with dropped links: ok")


asyncio.run(main())
