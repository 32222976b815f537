// The typed face of the Tauri commands (desktop/app/src/commands.rs) and events. Shapes follow
// the Rust types' serde forms; errors arrive as UiError {code, message}.
import { invoke } from "@tauri-apps/api/core";
import { open } from "@tauri-apps/plugin-dialog";
import type { UtcOffsets } from "./i18n";

export type ErrorCode =
  | "configuration" | "tls_untrusted" | "tls_failed" | "offline" | "not_signed_in"
  | "sign_in_refused" | "rate_limited" | "not_found" | "forbidden" | "rejected"
  | "invalid_input" | "server_error" | "keyring_unavailable" | "local_storage";

export interface UiError {
  code: ErrorCode;
  message: string;
  reason_code?: string;
  retry_after_secs?: number;
}

export type Purpose = "job_info" | "gps" | "photos";
export type Decision = "granted" | "refused" | "withdrawn";
export type ConsentState = "granted" | "refused" | "withdrawn" | "never_asked" | "ask_again";
export type OutboxKind = "consent" | "dfe" | "measurement" | "device_data";
export type QueueState = "queued" | "in_flight" | "rejected" | "sent";

export type SyncState =
  | { state: "idle" | "sending" | "needs_sign_in" | "paused" | "stopped" }
  | { state: "offline"; until: string; reason: string }
  /** `reason` is English (logs, support); `code` the kind of trouble (an ErrorCode), null when
   * records wait out an earlier attempt's backoff. */
  | { state: "waiting"; until: string; reason: string; code?: string | null };

export interface AppStatus {
  version: string;
  server: string | null;
  /** The SHA-256 fingerprint of the server CA the user accepted (kept after sign-out). */
  accepted_ca: string | null;
  signed_in: boolean;
  authorised: boolean;
  autostart: boolean;
  sync: SyncState | null;
  /** The outbox counts (null when signed out). */
  queue: QueueStatus | null;
  /** The language the user chose in the app; null: not chosen (the system's). */
  language: string | null;
}
export interface ServerCa { pem: string; sha256: string }
export interface WhoAmI {
  user_id: string; organization_id: string; organization_name: string;
  role: string; name: string; email: string;
}
export interface NoticeItem { purpose: Purpose; title: string; text: string }
export interface Notice { version: string; language: "en" | "ja"; introduction: string; items: NoticeItem[] }
export interface ConsentStatus {
  purpose: Purpose; state: ConsentState; granted: boolean; needs_asking: boolean;
  latest_decision: Decision | null; notice_version: string | null; decided_at: string | null;
  pending_upload: boolean;
}
export interface ConsentHistoryEntry {
  /** null for a decision made in another app, known from the server's ledger. */
  decision_id: string | null; purpose: Purpose; decision: Decision; notice_version: string;
  decided_at: string; delivered: boolean;
}
export interface FolderSource { folder: string; device_id: string }
/** The code of a file's read error (`ecsp_dfe::ReadErrorKind`). */
export type ReadErrorKind = "too_large" | "malformed" | "refused" | "unsupported" | "invalid" | "missing";
export interface ReadError { file: string; kind: ReadErrorKind; location: unknown; message: string }
/** A quarantined file: the reason's code (null if its reason file has none) and the parser's words. */
export interface QuarantinedFile { file: string; kind: ReadErrorKind | null; detail: string }
export type NotWatching = "signed_out" | "deauthorised" | "no_folder" | "folder_unreadable" | "stopped";
export interface Sources {
  source: FolderSource | null; watching: boolean;
  /** Every reason the folder is not watched (empty while watching). */
  not_watching: NotWatching[];
  folder_error?: string;
  quarantined: QuarantinedFile[];
}
export interface PreviewGatedPart { purpose: Purpose; field: string; will_send: boolean; value: unknown }
export interface PreviewRecord {
  record_id: string; kind: OutboxKind; state: QueueState; captured_at: string;
  body: Record<string, unknown>; gated: PreviewGatedPart[];
}
export interface QueueStatus { queued: number; in_flight: number; rejected: number; sent: number; next_attempt_at?: string | null }
export interface QueueItem {
  record_id: string; kind: OutboxKind; device_id: string | null; captured_at: string;
  state: QueueState; attempts: number; next_attempt_at: string | null;
  last_error: string | null; last_error_code: string | null;
}
export interface QueuePage { items: QueueItem[]; total: number; truncated: boolean }
export interface DeviceView {
  device_id: string; manufacturer: string; model: string; serial_number: string;
  agent_id?: string; registered_at: string;
}
export interface RecordView {
  record_id: string; kind: string; device_id: string; captured_at: string; stored_at: string;
  record: Record<string, unknown>;
}
export interface FlushProgress { sent: number; rejected: number; total: number }

export type ClientEvent =
  | { type: "queue_changed"; status: QueueStatus }
  | { type: "flush_progress"; progress: FlushProgress }
  | { type: "delivered"; kind: OutboxKind; record_ids: string[] }
  | { type: "rejected"; record_id: string; kind: OutboxKind; code: string; reason: string }
  | { type: "session_ended"; reason: "signed_out" | "expired" }
  | { type: "consent_changed"; purpose: Purpose; decision: Decision }
  | { type: "sync_state_changed"; state: SyncState };

export type FolderEvent =
  | { event: "captured"; file: string; record_ids: string[]; withheld: Purpose[] }
  | { event: "duplicate"; file: string; record_ids: string[] }
  | { event: "quarantined"; file: string; reason: ReadError }
  | { event: "deferred"; file: string; code: string; message: string }
  | { event: "quarantine_pruned"; files: string[]; bytes: number; limits: { max_bytes: number; max_files: number } };

export function isUiError(e: unknown): e is UiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** The user's printers as last read from the server (the preview names them offline too). */
let lastDevices: DeviceView[] | null = null;

export const api = {
  appStatus: () => invoke<AppStatus>("app_status"),
  fetchServerCa: (server: string) => invoke<ServerCa>("fetch_server_ca", { server }),
  signIn: (args: { server: string; email: string; password: string; caPem: string | null; confirmedFingerprint: string | null }) =>
    invoke<WhoAmI>("sign_in", args),
  signOut: () => invoke<void>("sign_out"),
  whoami: () => invoke<WhoAmI>("whoami"),
  consentNotice: (language: string) => invoke<Notice>("consent_notice", { language }),
  consentStatus: () => invoke<ConsentStatus[]>("consent_status"),
  consentHistory: () => invoke<ConsentHistoryEntry[]>("consent_history"),
  decide: (purpose: Purpose, decision: Decision) => invoke<ConsentStatus[]>("decide", { purpose, decision }),
  sources: () => invoke<Sources>("sources"),
  setSource: (folder: string, deviceId: string | null) => invoke<Sources>("set_source", { folder, deviceId }),
  preview: (limit = 50) => invoke<PreviewRecord[]>("preview", { limit }),
  queueStatus: () => invoke<QueueStatus>("queue_status"),
  queueList: (queueState: QueueState | null, limit = 100) => invoke<QueuePage>("queue_list", { queueState, limit }),
  retryRejected: (recordId: string | null) => invoke<number>("retry_rejected", { recordId }),
  dropRejected: (recordId: string | null) => invoke<number>("drop_rejected", { recordId }),
  sendNow: () => invoke<void>("send_now"),
  devices: async () => {
    lastDevices = await invoke<DeviceView[]>("devices");
    return lastDevices;
  },
  /** The printers, or offline the list last read (null if none was read yet). */
  devicesOrLastKnown: () => api.devices().catch(() => lastDevices),
  records: (deviceId: string, limit = 50) => invoke<RecordView[]>("records", { deviceId, limit }),
  setAuthorised: (authorised: boolean) => invoke<boolean>("set_authorised", { authorised }),
  setAutostart: (enabled: boolean) => invoke<boolean>("set_autostart", { enabled }),
  timeZone: () => invoke<UtcOffsets>("time_zone"),
  saveLanguage: (language: "en" | "ja") => invoke<void>("set_language", { language }),
  /** The system's folder picker (the dialog plugin); null if the user cancelled. */
  pickFolder: async (title: string, current: string | null): Promise<string | null> => {
    const picked = await open({ directory: true, multiple: false, title, defaultPath: current || undefined });
    return typeof picked === "string" ? picked : null;
  },
};

/** The shell keeps the core's events in lists, those of a short while together, for the webview
 *  to fetch (desktop/app/src/mailbox.rs says why they are not pushed as Tauri events). */
export const CLIENT_EVENT = "ecsp://client";
export const FOLDER_EVENT = "ecsp://folder";

interface EventLists {
  /** The number to ask after next. */
  last: number;
  lists: { seq: number; event: string; payload: unknown[] }[];
}

/** Hands each event to `f`; one that throws is logged and the next still comes. */
function deliver<T>(f: (e: T) => void, events: T[]): void {
  for (const e of events) {
    try {
      f(e);
    } catch (error) {
      console.error(error);
    }
  }
}

/** Follows the shell's events: each handler sees one event at a time, in order, from the moment
 *  this resolves (what came before is the state the screens read anyway). One fetch is always
 *  waiting; the shell answers it when a list comes, or empty after a while, and it is asked again. */
export async function followEvents(onClient: (e: ClientEvent) => void, onFolder: (e: FolderEvent) => void): Promise<void> {
  let seen = (await invoke<EventLists>("next_events", { seen: null })).last;
  void (async () => {
    for (;;) {
      let answer: EventLists;
      try {
        answer = await invoke<EventLists>("next_events", { seen });
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      seen = answer.last;
      for (const list of answer.lists) {
        if (list.event === CLIENT_EVENT) deliver(onClient, list.payload as ClientEvent[]);
        else if (list.event === FOLDER_EVENT) deliver(onFolder, list.payload as FolderEvent[]);
      }
    }
  })();
}
