// Pure helpers the screens use (unit-tested without a DOM).
import type { ClientEvent, FolderEvent, PreviewRecord, QueueStatus, SyncState, UiError } from "./api";
import { isUiError } from "./api";
import { messageKey, t } from "./i18n";
import type { MessageKey } from "./messages";

/** A fingerprint split in groups of four pairs per line-friendly chunk, for comparing by eye. */
export function groupFingerprint(fp: string): string[] {
  const pairs = fp.toUpperCase().replace(/[^0-9A-F]/g, "").match(/.{2}/g) ?? [];
  const groups: string[] = [];
  for (let i = 0; i < pairs.length; i += 4) groups.push(pairs.slice(i, i + 4).join(":"));
  return groups;
}

/** The user-facing text of an error, by its stable code. */
export function errorText(e: unknown): string {
  if (isUiError(e)) {
    return t(messageKey(`error.${e.code}`) ?? "error.unknown", { message: e.message });
  }
  return t("error.unknown", { message: e instanceof Error ? e.message : String(e) });
}

/** The sync state in words: "up to date" only when nothing waits and nothing was rejected. */
export function syncText(s: SyncState | null | undefined, queue?: QueueStatus | null): string {
  if (!s) return t("status.sync.needs_sign_in");
  if (s.state === "waiting") return t("status.sync.waiting", { reason: waitingReason(s.code, s.reason) });
  if (s.state === "idle" && queue) {
    if (queue.rejected > 0) return t("status.sync.rejected", { count: queue.rejected });
    const waiting = queue.queued + queue.in_flight;
    if (waiting > 0) return t("status.sync.pending", { count: waiting });
  }
  return t(`status.sync.${s.state}` as MessageKey);
}

/**
 * Why the sync service waits, in the page's language by the trouble's code (the core's English
 * words only inside the general error texts that quote them).
 */
function waitingReason(code: string | null | undefined, reason: string): string {
  if (!code) return t("status.sync.reason.backing_off");
  const own = messageKey(`status.sync.reason.${code}`);
  if (own) return t(own);
  const general = messageKey(`error.${code}`);
  return general ? t(general, { message: reason }) : t("status.sync.reason.other");
}

/**
 * Why a queued record's last attempt failed, in the page's language by its code (the English
 * words stay for the row's tooltip); null when it has not failed.
 */
export function retryReasonText(code: string | null, detail: string | null): string | null {
  if (!detail) return null;
  return t(messageKey(`queue.retryReason.${code}`) ?? "queue.retryReason.other");
}

/** Applies a core event to the queue counts shown (events carry the whole state). */
export function nextQueueStatus(current: QueueStatus | null, e: ClientEvent): QueueStatus | null {
  return e.type === "queue_changed" ? e.status : current;
}

export function progressText(sent: number, total: number): string {
  return t("queue.progress", { sent, total });
}

export function folderEventText(e: FolderEvent): string {
  switch (e.event) {
    case "captured":
      return e.withheld.includes("job_info")
        ? t("sources.event.withheld", { file: e.file })
        : t("sources.event.captured", { file: e.file });
    case "duplicate":
      return t("sources.event.duplicate", { file: e.file });
    case "quarantined":
      return t("sources.event.quarantined", { file: e.file, reason: quarantineReasonText(e.reason?.kind) });
    case "deferred":
      return t("sources.event.deferred", { file: e.file });
    case "quarantine_pruned":
      return t("sources.event.quarantine_pruned", {
        count: e.files.length,
        max_files: e.limits.max_files,
        max_mb: Math.round(e.limits.max_bytes / (1024 * 1024)),
      });
  }
}

/** Why a file was quarantined, in the page's language by the reason's code (the parser's own
 * words go beside it); a code this app has no words for is said generally. */
export function quarantineReasonText(kind: string | null | undefined): string {
  return t((kind && messageKey(`quarantine.reason.${kind}`)) || "quarantine.reason.other");
}

/** The exact JSON a record leaves with: its body plus the gated parts that will be sent. */
export function outgoingJson(r: PreviewRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { ...r.body };
  for (const g of r.gated) if (g.will_send && g.value !== null) out[g.field] = g.value;
  return out;
}

export function asUiError(e: unknown): UiError | null {
  return isUiError(e) ? e : null;
}
