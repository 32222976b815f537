// The phone path through the generated Kotlin bindings, as an Android app would call them:
// sign in with a host keystore, consent, calibrate, measure a chart on the simulator, attach a
// photo, upload with a host location source, read the record back from the reference server.
// Run by mobile/tests/integration/kotlin.rs (scripts/test.d/50-mobile.sh).

import java.io.File
import java.nio.file.Files
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

fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

fun main() = runBlocking {
    val manifest = System.getenv("CARGO_MANIFEST_DIR") ?: error("CARGO_MANIFEST_DIR not set")
    val chart = "$manifest/../core/color/tests/data/colorchecker_babelcolor.cgats"
    val photo = File("$manifest/../core/photo/tests/fixtures/DSCN0010.jpg").readBytes()
    val work = Files.createTempDirectory("ecsp-kotlin").toFile()
    try {
        val server = startReferenceServer(File(work, "server").path)
        val keys = Keys()
        val client = FieldClient(server.url, server.caPem, File(work, "client").path, keys)
        client.login(server.technicianEmail, server.technicianPassword)
        check(keys.values.isNotEmpty()) { "the session tokens went to the host keystore" }
        val device = client.deviceIds().first()
        client.grant("gps")
        client.grant("photos")

        val sim = Simulator("SIM-KT-1", true)
        sim.walkChartFile(chart)
        val session = startSession(sim, chart, device, "M1", File(work, "sessions.sqlite3").path)
        try {
            session.measureNext()
            throw AssertionError("measured without calibration")
        } catch (e: FieldException.Failed) {
            check(e.code == FieldErrorCode.CALIBRATION_DUE) { "code ${e.code}" }
        }
        session.calibrate()
        while (session.state().nextPatch != null) {
            val reading = session.measureNext()
            check(reading.betterMatch == null) { "flagged $reading" }
        }
        val attached = session.attachPhoto(client, photo, "the sheet")
        check(!attached.locationRemoved && attached.mediaType == "image/jpeg") { "$attached" }
        val here = Here()
        val recordId = session.upload(client, here)
        check(here.asked == 1) { "asked ${here.asked}" }
        check(client.flush() >= 1UL) { "nothing sent" }
        val record = client.recordJson(recordId)
        check(record.contains("\"serial_number\":\"SIM-KT-1\"")) { record.take(300) }
        check(record.contains("\"latitude\":35.6812")) { "no GPS in the record" }
        check(record.contains("\"media_type\":\"image/jpeg\"")) { "no photo in the record" }
        println("kotlin bindings: field session: ok")
    } finally {
        work.deleteRecursively()
    }
}
