"""A BlueZ double: enough of org.bluez on a private D-Bus "system" bus for btleplug to scan,
connect, discover, subscribe, write and receive notifications, with the GATT profile's bytes
coming from the simulated spectrometer over TCP (ecsp-instrument-link's `tcp` framing: the MTU
as u16 LE, then u16 LE length-prefixed frames both ways).

    python bluez_double.py --sim 127.0.0.1:PORT      (bus from DBUS_SYSTEM_BUS_ADDRESS)

Prints "ready" when org.bluez is owned. The device appears only once discovery is started
(as a real advertisement would), its GATT objects only once it is connected, and a link the
simulator drops becomes Connected=false, as BlueZ reports a lost connection.
"""

import argparse
import asyncio
import os
import struct
import sys

from dbus_fast import BusType, DBusError, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method

SERVICE = "e5c50001-7a1d-4c3b-9f2e-5d6a8b0c1e2f"
CONTROL_POINT = "e5c50002-7a1d-4c3b-9f2e-5d6a8b0c1e2f"
NOTIFY = "e5c50003-7a1d-4c3b-9f2e-5d6a8b0c1e2f"
CCCD = "00002902-0000-1000-8000-00805f9b34fb"
ADAPTER = "/org/bluez/hci0"
ADDRESS = "E5:C5:00:00:01:23"
DEVICE = ADAPTER + "/dev_" + ADDRESS.replace(":", "_")


def log(*args):
    print("bluez-double:", *args, file=sys.stderr, flush=True)


class Adapter(ServiceInterface):
    def __init__(self, double):
        super().__init__("org.bluez.Adapter1")
        self.double = double
        self.discovering = False
        self.powered = True

    @method()
    def SetDiscoveryFilter(self, filter: "a{sv}"):
        uuids = filter.get("UUIDs")
        self.double.filter = [u.lower() for u in uuids.value] if uuids else None

    @method()
    def StartDiscovery(self):
        self.discovering = True
        self.emit_properties_changed({"Discovering": True})
        self.double.advertise()

    @method()
    def StopDiscovery(self):
        self.discovering = False
        self.emit_properties_changed({"Discovering": False})

    @method()
    def RemoveDevice(self, device: "o"):
        pass

    @method()
    def GetDiscoveryFilters(self) -> "as":
        return ["UUIDs", "Transport"]

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return "00:1A:7D:DA:71:13"

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return "ecsp-test"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":
        return "ecsp-test"

    @dbus_property(access=PropertyAccess.READ)
    def Modalias(self) -> "s":
        return "usb:v1D6Bp0246d0540"

    @dbus_property()
    def Powered(self) -> "b":
        return self.powered

    @Powered.setter
    def Powered(self, powered: "b"):
        # btleplug powers the adapter on before scanning.
        self.powered = powered

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> "b":
        return self.discovering

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return []


class Device(ServiceInterface):
    def __init__(self, double):
        super().__init__("org.bluez.Device1")
        self.double = double
        self.connected = False
        self.resolved = False

    @method()
    async def Connect(self):
        await self.double.connect()

    @method()
    async def Disconnect(self):
        await self.double.disconnect("host")

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> "s":
        return ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> "s":
        return "random"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> "s":
        return "ECSP Spectro SIM"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> "s":
        return "ECSP Spectro SIM"

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> "o":
        return ADAPTER

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Trusted(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> "b":
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> "b":
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> "b":
        return self.resolved

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> "as":
        return [SERVICE]

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> "n":
        return -52


class GattService(ServiceInterface):
    def __init__(self):
        super().__init__("org.bluez.GattService1")

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return SERVICE

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> "o":
        return DEVICE


class Characteristic(ServiceInterface):
    def __init__(self, double, uuid, flags, service_path):
        super().__init__("org.bluez.GattCharacteristic1")
        self.double = double
        self.uuid = uuid
        self.flags = flags
        self.service_path = service_path
        self.notifying = False
        self.value = b""

    @method()
    def ReadValue(self, options: "a{sv}") -> "ay":
        raise DBusError("org.bluez.Error.NotPermitted", "Read not permitted")

    @method()
    async def WriteValue(self, value: "ay", options: "a{sv}"):
        if self.uuid != CONTROL_POINT:
            raise DBusError("org.bluez.Error.NotPermitted", "Write not permitted")
        kind = options.get("type")
        self.double.writes_by_type[kind.value if kind else "request"] = (
            self.double.writes_by_type.get(kind.value if kind else "request", 0) + 1
        )
        await self.double.send_frame(bytes(value))

    @method()
    def StartNotify(self):
        if "notify" not in self.flags:
            raise DBusError("org.bluez.Error.NotSupported", "Notify not supported")
        self.notifying = True
        self.emit_properties_changed({"Notifying": True})

    @method()
    def StopNotify(self):
        self.notifying = False
        self.emit_properties_changed({"Notifying": False})

    def notify(self, frame):
        if self.notifying:
            self.value = frame
            self.emit_properties_changed({"Value": frame})

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return self.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> "o":
        return self.service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":
        return self.flags

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> "b":
        return self.notifying

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> "ay":
        return self.value

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> "q":
        return self.double.mtu


class Descriptor(ServiceInterface):
    def __init__(self, char_path):
        super().__init__("org.bluez.GattDescriptor1")
        self.char_path = char_path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> "s":
        return CCCD

    @dbus_property(access=PropertyAccess.READ)
    def Characteristic(self) -> "o":
        return self.char_path


class Double:
    def __init__(self, bus, sim):
        self.bus = bus
        self.sim = sim
        self.filter = None
        self.adapter = Adapter(self)
        self.device = Device(self)
        self.advertised = False
        self.mtu = 23
        self.reader = None
        self.writer = None
        self.pump = None
        self.gatt = []
        self.writes_by_type = {}
        self.connections = 0

    def advertise(self):
        if self.advertised:
            return
        if self.filter is not None and SERVICE not in self.filter:
            return
        self.bus.export(DEVICE, self.device)
        self.advertised = True
        log("advertising", ADDRESS)

    async def connect(self):
        if self.device.connected:
            return
        host, port = self.sim.rsplit(":", 1)
        try:
            self.reader, self.writer = await asyncio.open_connection(host, int(port))
            (self.mtu,) = struct.unpack("<H", await self.reader.readexactly(2))
        except (OSError, asyncio.IncompleteReadError) as e:
            raise DBusError("org.bluez.Error.Failed", f"le-connection-abort-by-local ({e})")
        self.connections += 1
        service_path = DEVICE + "/service000a"
        control = Characteristic(self, CONTROL_POINT, ["write-without-response", "write"], service_path)
        self.notify_char = Characteristic(self, NOTIFY, ["notify"], service_path)
        notify_path = service_path + "/char000d"
        self.gatt = [
            (service_path, GattService()),
            (service_path + "/char000b", control),
            (notify_path, self.notify_char),
            (notify_path + "/desc000f", Descriptor(notify_path)),
        ]
        for path, iface in self.gatt:
            self.bus.export(path, iface)
        self.device.connected = True
        self.device.emit_properties_changed({"Connected": True})
        self.pump = asyncio.ensure_future(self.forward_notifications(self.reader))
        await asyncio.sleep(0.02)
        self.device.resolved = True
        self.device.emit_properties_changed({"ServicesResolved": True})
        log("connected, ATT MTU", self.mtu, "connection", self.connections)

    async def forward_notifications(self, reader):
        try:
            while True:
                (n,) = struct.unpack("<H", await reader.readexactly(2))
                frame = await reader.readexactly(n)
                self.notify_char.notify(frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if self.reader is reader:
            await self.disconnect("simulator")

    async def send_frame(self, frame):
        if not self.device.connected or self.writer is None:
            raise DBusError("org.bluez.Error.NotConnected", "Not connected")
        if len(frame) > self.mtu - 3:
            raise DBusError("org.bluez.Error.InvalidValueLength", "Invalid Length")
        try:
            self.writer.write(struct.pack("<H", len(frame)) + frame)
            await self.writer.drain()
        except ConnectionError:
            await self.disconnect("simulator")
            raise DBusError("org.bluez.Error.NotConnected", "Not connected")

    async def disconnect(self, by):
        if not self.device.connected:
            return
        self.reader = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        for path, iface in reversed(self.gatt):
            self.bus.unexport(path, iface)
        self.gatt = []
        self.device.connected = False
        self.device.resolved = False
        self.device.emit_properties_changed({"ServicesResolved": False, "Connected": False})
        log("disconnected by", by)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True, help="HOST:PORT of the simulated spectrometer")
    args = parser.parse_args()
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    if not address or "/run/dbus/" in address:
        sys.exit("bluez-double: DBUS_SYSTEM_BUS_ADDRESS must name a private bus")
    bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
    double = Double(bus, args.sim)
    bus.export(ADAPTER, double.adapter)
    await bus.request_name("org.bluez")
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main())
