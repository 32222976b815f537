// An in-memory stand-in for the Tauri commands, for the browser tests only: it answers as
// desktop/app's commands do (same shapes, errors as {code, message}) and keeps the rules the UI
// relies on — the CA must be confirmed, a refusal drops queued job parts, rejected records can
// be retried or removed, deauthorising stops watching.
import type {
  ConsentHistoryEntry, ConsentStatus, Decision, DeviceView, PreviewRecord, Purpose, QueueItem, RecordView,
} from "../../src/api";

const FINGERPRINT = Array.from({ length: 32 }, (_, i) => ((i * 37 + 11) % 256).toString(16).padStart(2, "0").toUpperCase()).join(":");
const PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
const DEVICE: DeviceView = { device_id: "5b1f0a52-7c1e-4d7a-9a55-0d9a3c1f0001", manufacturer: "Epson", model: "SC-P9500", serial_number: "X4Y0012345", registered_at: "2026-11-01T09:00:00Z" };

export function makeBackend() {
  const s = {
    server: null as string | null,
    /** The CA accepted by fingerprint, kept after sign-out (settings.ca_pem). */
    acceptedCa: null as string | null,
    /** What the folder picker answers (null: the user cancelled). */
    picked: "/srv/dfe/picked" as string | null,
    dialogOptions: null as unknown,
    signedIn: false,
    authorised: false,
    autostart: false,
    /** The language chosen in the app (the shell's settings). */
    language: null as string | null,
    consents: new Map<Purpose, Decision>(),
    history: [] as ConsentHistoryEntry[],
    source: null as { folder: string; device_id: string } | null,
    queue: [
      { record_id: "0f6c1d2e-0000-4000-8000-000000000001", kind: "dfe", device_id: DEVICE.device_id, captured_at: "2026-11-22T08:00:00Z", state: "queued", attempts: 1, next_attempt_at: "2026-11-22T08:05:00Z", last_error: "cannot reach the server: Connection refused (os error 111)", last_error_code: "offline" },
      { record_id: "0f6c1d2e-0000-4000-8000-000000000002", kind: "dfe", device_id: DEVICE.device_id, captured_at: "2026-11-22T08:01:00Z", state: "rejected", attempts: 1, next_attempt_at: null, last_error: "print_settings.values.ink_limit: must be at most 400", last_error_code: "validation_failed" },
    ] as QueueItem[],
    jobPart: { job_id: "J-1042", job_name: "Spring brochure", document_name: "brochure.pdf", status: "completed", copies: 2, pages: 16, size_mm: [210, 297], ink_used_ml: 12.5 } as unknown,
    calls: [] as string[],
  };
  const err = (code: string, message: string) => ({ code, message });
  const status = (): ConsentStatus[] => (["job_info", "gps", "photos"] as Purpose[]).map((purpose) => {
    const d = s.consents.get(purpose) ?? null;
    return { purpose, state: d ?? "never_asked", granted: d === "granted", needs_asking: d === null, latest_decision: d, notice_version: d ? "2026-11" : null, decided_at: d ? "2026-11-22T08:00:00Z" : null, pending_upload: false } as ConsentStatus;
  });
  const preview = (): PreviewRecord[] => s.queue.filter((q) => q.state !== "sent").map((q, i) => ({
    record_id: q.record_id, kind: q.kind, state: q.state, captured_at: q.captured_at,
    body: {
      record_id: q.record_id, captured_at: q.captured_at, device_id: DEVICE.device_id, software: { name: "Fiery XF", version: "7.3.2" },
      environment: { os_name: "Linux", os_version: "6.1", architecture: "x86_64", app_version: "0.1.0" },
      print_settings: { preset_name: "Proof", media_name: "Epson Proofing Paper White Semimatte", resolution_dpi: [1440, 720], rendering_intent: "relative_colorimetric", values: { ink_limit: i === 1 ? 480 : 280 } },
    },
    gated: i === 0 && s.jobPart ? [{ purpose: "job_info", field: "job", will_send: s.consents.get("job_info") === "granted", value: s.jobPart }] : [],
  }));
  const records: RecordView[] = [
    { record_id: "aa000000-0000-4000-8000-000000000001", kind: "dfe", device_id: DEVICE.device_id, captured_at: "2026-11-21T10:00:00Z", stored_at: "2026-11-21T10:00:02Z", record: { job: { job_id: "J-1000" } } },
    { record_id: "aa000000-0000-4000-8000-000000000002", kind: "dfe", device_id: DEVICE.device_id, captured_at: "2026-11-21T11:00:00Z", stored_at: "2026-11-21T11:00:01Z", record: {} },
    { record_id: "aa000000-0000-4000-8000-000000000003", kind: "device_data", device_id: DEVICE.device_id, captured_at: "2026-11-21T12:00:00Z", stored_at: "2026-11-21T12:00:01Z", record: { printer_status: "idle" } },
  ];
  // The shell's event lists (desktop/app/src/mailbox.rs): numbered, kept until asked past, a
  // fetch with nothing new waits for the next `post`.
  const mailbox = { lists: [] as { seq: number; event: string; payload: unknown[] }[], newest: 0, waiting: [] as (() => void)[] };
  const post = (event: string, payload: unknown[]) => {
    mailbox.lists.push({ seq: ++mailbox.newest, event, payload });
    for (const wake of mailbox.waiting.splice(0)) wake();
  };
  const handlers: Record<string, (a: Record<string, unknown>) => unknown> = {
    set_language: (a) => {
      if (a.language !== "en" && a.language !== "ja") throw err("invalid_input", `no such language: ${a.language} (en or ja)`);
      s.language = a.language;
      return null;
    },
    next_events: async (a) => {
      if (a.seen === null || a.seen === undefined) return { last: mailbox.newest, lists: [] };
      const seen = Number(a.seen);
      if (mailbox.newest <= seen) await new Promise<void>((wake) => mailbox.waiting.push(wake));
      mailbox.lists = mailbox.lists.filter((l) => l.seq > seen);
      return { last: mailbox.newest, lists: mailbox.lists };
    },
    // The shell's table for Asia/Tokyo (no change since 1970), whatever the browser's own zone.
    time_zone: () => ({ changes: [[0, 9 * 3600]], until: 4_102_444_800_000 }),
    app_status: () => ({ version: "0.1.0", server: s.server, accepted_ca: s.acceptedCa ? FINGERPRINT : null, signed_in: s.signedIn, authorised: s.authorised, autostart: s.autostart, language: s.language, sync: s.signedIn ? { state: s.authorised ? "idle" : "paused" } : null, queue: s.signedIn ? handlers.queue_status({}) : null }),
    fetch_server_ca: (a) => {
      if (!String(a.server).startsWith("https://")) throw err("configuration", `the server URL must start with https:// (got ${a.server}); this client never uses plain HTTP`);
      return { pem: PEM, sha256: FINGERPRINT };
    },
    sign_in: (a) => {
      if (a.caPem && a.confirmedFingerprint !== FINGERPRINT) throw err("invalid_input", "the server's CA fingerprint was not confirmed");
      // Without a CA, the one accepted earlier for the same server (as the app's sign_in).
      const ca = a.caPem ? String(a.caPem) : a.server === s.server ? s.acceptedCa : null;
      if (!ca) throw err("tls_untrusted", "invalid peer certificate: UnknownIssuer");
      if (a.password !== "correct horse") throw err("sign_in_refused", "e-mail or password wrong");
      s.server = String(a.server); s.signedIn = true; s.acceptedCa = ca;
      return { user_id: "u1", organization_id: "o1", organization_name: "Demo Print Co.", role: "operator", name: "Pat Operator", email: a.email };
    },
    sign_out: () => { s.signedIn = false; return null; },
    whoami: () => ({ user_id: "u1", organization_id: "o1", organization_name: "Demo Print Co.", role: "operator", name: "Pat Operator", email: "operator@example.com" }),
    consent_notice: (a) => a.language === "ja"
      ? { version: "2026-11", language: "ja", introduction: "このアプリケーションは、プリンターの設定と測定結果を組織の ECSP サーバーへ送信します。", items: [
        { purpose: "job_info", title: "ジョブ情報", text: "DFE が処理した印刷ジョブの名前、ページ数、時刻。" },
        { purpose: "gps", title: "GPS 位置情報", text: "測定を行った場所。" },
        { purpose: "photos", title: "写真", text: "測定に添付する写真。" }] }
      : { version: "2026-11", language: "en", introduction: "This application sends your printers' settings and your measurements to your organisation's ECSP server.", items: [
        { purpose: "job_info", title: "Job information", text: "Names, page counts and times of the print jobs a DFE processed." },
        { purpose: "gps", title: "GPS position", text: "Where a measurement was taken." },
        { purpose: "photos", title: "Photos", text: "Photos you attach to a measurement." }] },
    consent_status: () => status(),
    consent_history: () => s.history,
    decide: (a) => {
      const purpose = a.purpose as Purpose; const decision = a.decision as Decision;
      s.consents.set(purpose, decision);
      s.history.unshift({ decision_id: `d${s.history.length}`, purpose, decision, notice_version: "2026-11", decided_at: "2026-11-22T08:05:00Z", delivered: false });
      if (decision !== "granted" && purpose === "job_info") s.jobPart = null; // the core deletes queued gated parts
      return status();
    },
    sources: () => {
      const notWatching = [...(s.authorised ? [] : ["deauthorised"]), ...(s.source ? [] : ["no_folder"])];
      return {
        source: s.source, watching: notWatching.length === 0, not_watching: notWatching,
        quarantined: [
          { file: "broken.jdf", kind: "malformed", detail: "line 3, <ResourcePool>: the XML ends inside <ResourcePool>" },
          { file: "old.txt", kind: null, detail: "written by an older version" },
        ],
      };
    },
    set_source: (a) => {
      if (!a.deviceId) throw err("invalid_input", "choose the printer the DFE drives");
      s.source = { folder: String(a.folder), device_id: String(a.deviceId) };
      return handlers.sources({});
    },
    preview: () => preview(),
    queue_status: () => ({ queued: s.queue.filter((q) => q.state === "queued").length, in_flight: 0, rejected: s.queue.filter((q) => q.state === "rejected").length, sent: s.queue.filter((q) => q.state === "sent").length }),
    queue_list: (a) => {
      const limit = Number(a.limit ?? 100);
      return { items: s.queue.slice(0, limit), total: s.queue.length, truncated: s.queue.length > limit };
    },
    retry_rejected: (a) => { let n = 0; for (const q of s.queue) if (q.state === "rejected" && (!a.recordId || q.record_id === a.recordId)) { q.state = "queued"; n++; } return n; },
    drop_rejected: (a) => { const before = s.queue.length; s.queue = s.queue.filter((q) => !(q.state === "rejected" && (!a.recordId || q.record_id === a.recordId))); return before - s.queue.length; },
    send_now: () => null,
    devices: () => [DEVICE],
    records: () => records,
    set_authorised: (a) => { s.authorised = Boolean(a.authorised); return s.authorised; },
    set_autostart: (a) => { s.autostart = Boolean(a.enabled); return s.autostart; },
  };
  return {
    state: s,
    fingerprint: FINGERPRINT,
    /** A list of events as the shell posts it (what `window.__ecsp.emit` sends). */
    post,
    invoke(cmd: string, args: Record<string, unknown> = {}): unknown {
      s.calls.push(cmd);
      const handler = handlers[cmd];
      if (!handler) {
        // The folder picker (the dialog plugin's open): what the user would choose.
        if (cmd === "plugin:dialog|open") {
          s.dialogOptions = args.options ?? null;
          return s.picked;
        }
        throw err("configuration", `no such command: ${cmd}`);
      }
      return handler(args);
    },
  };
}
