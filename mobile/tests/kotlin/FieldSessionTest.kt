// A field app from start to end through the generated Kotlin bindings, as an Android app would
// call them: first contact (the server's CA and its fingerprint), sign-in with a host keystore,
// the consent screen, the device list, a guided 24-patch chart on the simulator with a wrong
// patch caught, a photo with GPS refused, an upload made while the phone's network is gone and
// delivered once `networkAvailable()` says it is back, the listener seeing it delivered, and the
// device's records listing the measurement with its ΔE summary and an SVG plot.
// Run by mobile/tests/integration/kotlin.rs (scripts/test.d/50-mobile.sh).

import java.io.File
import java.net.ServerSocket
import java.net.Socket
import java.nio.file.Files
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.concurrent.thread
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import uniffi.ecsp_mobile.*

class Keys : HostSecrets {
    val values = HashMap<String, String>()
    override fun load(key: String): String? = values[key]
    override fun save(key: String, value: String) { values[key] = value }
    override fun remove(key: String) { values.remove(key) }
}

class Here : LocationSource {
    var asked = 0
    override fun currentPosition(): Position? {
        asked += 1
        return Position(35.6812, 139.7671, 8.0, null, 1_700_000_000L)
    }
}

class Events : FieldListener {
    val seen = CopyOnWriteArrayList<FieldEvent>()
    override fun onEvent(event: FieldEvent) { seen.add(event) }
    fun delivered(): List<String> = seen.filterIsInstance<FieldEvent.Delivered>().flatMap { it.recordIds }
    fun nextTryWhenOffline(): Long =
        seen.filterIsInstance<FieldEvent.SyncStateChanged>().map { it.status }
            .filterIsInstance<SyncStatus.Offline>().lastOrNull()?.untilUnix ?: 0L
}

/** The phone's network between the app and the server: a TCP relay that can be cut and restored. */
class Network(private val serverPort: Int) {
    private val listener = ServerSocket(0)
    val port: Int = listener.localPort
    @Volatile private var up = true
    private val open = CopyOnWriteArrayList<Socket>()

    init {
        thread(isDaemon = true) {
            while (true) {
                val client = listener.accept()
                if (!up) { client.close(); continue }
                val server = Socket("127.0.0.1", serverPort)
                open.add(client); open.add(server)
                pump(client, server); pump(server, client)
            }
        }
    }

    private fun pump(from: Socket, to: Socket) = thread(isDaemon = true) {
        try { from.getInputStream().copyTo(to.getOutputStream()) } catch (_: Exception) { }
        runCatching { from.close() }; runCatching { to.close() }
    }

    fun cut() { up = false; open.forEach { runCatching { it.close() } }; open.clear() }
    fun restore() { up = true }
}

inline fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

suspend fun until(seconds: Int, what: String, done: () -> Boolean) {
    repeat(seconds * 20) {
        if (done()) return
        delay(50)
    }
    throw AssertionError("not within $seconds s: $what")
}

fun main() = runBlocking {
    val manifest = System.getenv("CARGO_MANIFEST_DIR") ?: error("CARGO_MANIFEST_DIR not set")
    val chart = "$manifest/../core/color/tests/data/colorchecker_babelcolor.cgats"
    val photo = File("$manifest/../core/photo/tests/fixtures/DSCN0010.jpg").readBytes()
    val work = Files.createTempDirectory("ecsp-kotlin").toFile()
    try {
        val server = startReferenceServer(File(work, "server").path)
        val network = Network(server.url.substringAfterLast(':').toInt())
        val url = "https://localhost:${network.port}"

        // First contact: the CA is trusted once its fingerprint is the one the admin gave.
        val ca = fetchServerCa(url)
        check(fingerprintsMatch(ca.fingerprint.lowercase(), ca.fingerprint)) { ca.fingerprint }
        check(ca.pem.trim() == server.caPem.trim()) { "another CA" }
        val keys = Keys()
        val client = FieldClient(url, ca.pem, File(work, "client").path, keys)
        client.login(server.technicianEmail, server.technicianPassword)
        check(keys.values.isNotEmpty()) { "the session tokens went to the host keystore" }

        // The consent screen in Japanese; photos allowed, GPS refused.
        var screen = client.consentScreen("ja-JP")
        check(screen.fromServer && screen.language == "ja") { "$screen" }
        check(screen.purposes.all { it.state == ConsentStateKind.NEVER_ASKED }) { "$screen" }
        client.grant("photos")
        client.refuse("gps")
        screen = client.consentScreen("ja-JP")
        check(screen.purposes.first { it.purpose == "gps" }.state == ConsentStateKind.REFUSED) { "$screen" }

        // The devices, and the background delivery with its listener.
        val devices = client.devices()
        check(devices.isNotEmpty() && devices.all { it.serialNumber.startsWith("X4DEMO") }) { "$devices" }
        val device = devices.first().id
        val events = Events()
        val sync = client.startSync(events)

        suspend fun measure(serial: String, catchWrongPatch: Boolean): FieldSession {
            val sim = Simulator(serial, true)
            sim.walkChartFile(chart)
            val session = startSession(sim, chart, device, "M1", File(work, "$serial.sqlite3").path)
            check(session.state().calibrationReason == CalibrationReason.Never) { "${session.state()}" }
            check(session.instrument().batteryPercent > 0U) { "${session.instrument()}" }
            try {
                session.measureNext()
                throw AssertionError("measured without calibration")
            } catch (e: FieldException.Failed) {
                check(e.code == FieldErrorCode.CALIBRATION_DUE) { "code ${e.code}" }
            }
            session.calibrate()
            val order = (0U until session.state().total).toMutableList()
            if (catchWrongPatch) {
                // The technician is on patch 0 while the app asks for patch 1: caught, and
                // measured again; patch 0 is measured last, the technician going back to it.
                val wrong = session.measurePatch(1U)
                check(wrong.betterMatch == 0U) { "not caught: $wrong" }
                check(session.state().flagged.contains(1U)) { "${session.state()}" }
                order.remove(0U)
            }
            for (i in order) {
                val reading = session.measurePatch(i)
                check(reading.betterMatch == null && reading.deltaE < 0.5) { "$reading" }
            }
            if (catchWrongPatch) {
                sim.walkChartFile(chart)
                val reading = session.measurePatch(0U)
                check(reading.betterMatch == null && reading.deltaE < 0.5) { "$reading" }
            }
            check(session.state().flagged.isEmpty()) { "${session.state()}" }
            return session
        }

        // A first chart, online.
        val first = measure("SIM-KT-1", catchWrongPatch = true).upload(client, null)
        until(20, "the first chart delivered") { first in events.delivered() }

        // A second chart with a photo, GPS refused, while the network is gone.
        network.cut()
        val session = measure("SIM-KT-2", catchWrongPatch = false)
        val attached = session.attachPhoto(client, photo, "the sheet")
        check(attached.locationRemoved) { "GPS refused, yet the location was kept: $attached" }
        val here = Here()
        val second = session.upload(client, here)
        check(here.asked == 0) { "asked for a position without GPS consent" }
        until(40, "a backoff of 3 s or more") {
            events.nextTryWhenOffline() - System.currentTimeMillis() / 1000 >= 3
        }
        val nextTry = events.nextTryWhenOffline()
        check(second !in events.delivered()) { "delivered while offline" }
        check(client.queueEntries(QueuedState.QUEUED, 10U).any { it.recordId == second }) { "not queued" }
        network.restore()
        sync.networkAvailable()
        until(10, "delivered after networkAvailable()") { second in events.delivered() }
        check(System.currentTimeMillis() / 1000 < nextTry) { "delivered by the service's own retry, not networkAvailable()" }
        sync.stop()

        // The device's records: the measurement with its ΔE summary against the first chart.
        val page = client.records(device, RecordKindName.MEASUREMENT, null, 10U)
        check(page.records.any { it.id == second }) { "${page.records}" }
        val shown = client.measurement(second, null, "ja-JP")
        check(shown.referenceId == first && shown.patches == 24U) { "$shown" }
        check((shown.deltaE00Max ?: 99.0) < 1.0) { "$shown" }
        check(shown.spectraSvg?.startsWith("<svg") == true && shown.abSvg != null) { "no plot" }
        val record = client.recordJson(second)
        check(!record.contains("\"latitude\"")) { "a position in the record without GPS consent" }
        check(record.contains("\"media_type\":\"image/jpeg\"")) { "no photo in the record" }
        println("kotlin bindings: a field app from first contact to the record's ΔE summary: ok")
    } finally {
        work.deleteRecursively()
    }
}
