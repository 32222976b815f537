// The outbox: counts, progress of the current delivery, and every entry with the server's
// reason for a rejection; retry or remove one rejected record, or all.
import { api, type FlushProgress, type QueueItem, type QueuePage, type QueueStatus } from "../api";
import { h, showError, table, fill } from "../dom";
import { errorText, progressText, retryReasonText } from "../format";
import { formatTime, language, messageKey, t } from "../i18n";
import type { MessageKey } from "../messages";
import { deviceLabel } from "./sources";

export const live: { progress: FlushProgress | null } = { progress: null };

/**
 * A rejection said in the page's language by its code, then the server's own (English) words,
 * which name the field; a failed attempt before a retry said by its kind (offline, server
 * failure…), the core's English words in the tooltip.
 */
function reason(item: QueueItem): (HTMLElement | string)[] {
  if (item.state !== "rejected") {
    const words = retryReasonText(item.last_error_code, item.last_error);
    return words ? [h("span", { class: "retry-reason", title: item.last_error ?? "" }, words)] : [];
  }
  // The catalogue's `reject.*` keys are the problem codes it can say (`ecsp_protocol::problem::codes`).
  const lead = h("span", { class: "rejection" }, t(messageKey(`reject.${item.last_error_code}`) ?? "reject.other"));
  return item.last_error
    ? [lead, h("small", { class: "server-detail" }, t("queue.serverDetail", { detail: item.last_error }))]
    : [lead];
}

/**
 * Rows shown at first, and added by "Show more". The outbox may hold thousands of entries (a
 * backlog while offline); every row is DOM, layout and glyphs held in the WebKit web process, so
 * the screen lists the newest 50 and pages on request (scripts/bench-desktop.sh, idle on this
 * screen with 1,000 records queued: 200 rows held about 30 MiB more than 50, nearly all of it in
 * the web process; the tree went from 274.8 to 241.9 MiB, about 3 MiB of that from glibc's
 * arena limit in the app's own process, desktop/app/src/webview.rs).
 */
export const QUEUE_PAGE = 50;
/** How many rows the screen lists now (grows with "Show more"; back to a page on a new visit). */
let shown = QUEUE_PAGE;

/** The printers' names by id, asked of the server once and again only for an id not known. */
const printers = new Map<string, string>();

/** What a row is about in words: its printer by name (not an id), once the server has named it. */
async function namePrinters(items: QueueItem[]): Promise<void> {
  if (items.every((i) => i.device_id === null || printers.has(i.device_id))) return;
  // Offline, the rows go without the names; they come with the next redraw that reaches the server.
  const devices = await api.devices().catch(() => null);
  if (devices === null) return;
  for (const d of devices) printers.set(d.device_id, deviceLabel(d));
  // A printer the server no longer lists goes without a name, and is not asked for again.
  for (const i of items) if (i.device_id !== null && !printers.has(i.device_id)) printers.set(i.device_id, "");
}

export async function queueView(root: HTMLElement, keep = false): Promise<void> {
  if (!keep) shown = QUEUE_PAGE;
  const [status, page] = await Promise.all([api.queueStatus(), api.queueList(null, shown)]);
  await namePrinters(page.items);
  render(root, status, page);
}

const stateKey: Record<QueueItem["state"], MessageKey> = {
  queued: "queue.pending", in_flight: "queue.inFlight", rejected: "queue.rejected", sent: "queue.sent",
};

function render(root: HTMLElement, status: QueueStatus, page: QueuePage): void {
  const feedback = h("div", { class: "messages", "aria-live": "polite" });
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      await queueView(root, true);
    } catch (e) {
      showError(feedback, errorText(e));
    }
  };
  const drop = (id: string | null) => act(async () => {
    if (window.confirm(t("queue.confirmDrop"))) await api.dropRejected(id);
  });
  const p = live.progress;
  const counts = h("dl", { class: "counts" },
    h("dt", {}, t("queue.pending")), h("dd", { "data-testid": "count-queued" }, status.queued),
    h("dt", {}, t("queue.inFlight")), h("dd", {}, status.in_flight),
    h("dt", {}, t("queue.rejected")), h("dd", { "data-testid": "count-rejected" }, status.rejected),
    h("dt", {}, t("queue.sent")), h("dd", { "data-testid": "count-sent" }, status.sent));
  const progress = p && p.total > 0
    ? h("div", { class: "progress" }, h("progress", { max: p.total, value: p.sent + p.rejected, "aria-label": progressText(p.sent, p.total) }), h("span", {}, progressText(p.sent, p.total)))
    : null;
  const rows = page.items.map((i) => {
    const kind = t(`kind.${i.kind}` as MessageKey);
    const printer = i.device_id === null ? undefined : printers.get(i.device_id);
    // The buttons say which row they act on as a person would: what, of which printer, when.
    const which = [kind, printer, formatTime(i.captured_at)].filter(Boolean).join(language() === "ja" ? "、" : ", ");
    return [
      h("span", {}, kind, printer ? h("small", { class: "printer" }, printer) : null),
      // The state and the buttons stay on one line: Japanese may break between any two
      // characters, and a narrow column split 送信待ち and 再試行 mid-word. The reason keeps a
      // readable width and wraps anywhere (the server's reasons hold long dotted field paths).
      // In the narrowest window the date may break at its space and the buttons stack.
      h("span", { class: "nowrap-wide" }, formatTime(i.captured_at)),
      h("span", { class: "nowrap" }, t(stateKey[i.state])),
      h("span", { class: "wrap-anywhere" }, ...reason(i)),
      i.state === "rejected"
        ? h("span", { class: "row-actions" },
          h("button", { type: "button", "aria-label": `${t("queue.retry")}: ${which}`, onclick: () => act(() => api.retryRejected(i.record_id)) }, t("queue.retry")),
          h("button", { type: "button", "aria-label": `${t("queue.drop")}: ${which}`, onclick: () => drop(i.record_id) }, t("queue.drop")))
        : "",
    ];
  });
  fill(root, 
    h("h1", { id: "queue-title", tabindex: -1 }, t("queue.title")),
    counts, progress,
    h("div", { class: "toolbar" },
      h("button", { type: "button", onclick: () => act(() => api.sendNow()) }, t("queue.sendNow")),
      h("button", { type: "button", disabled: status.rejected === 0, onclick: () => act(() => api.retryRejected(null)) }, t("queue.retryAll")),
      h("button", { type: "button", disabled: status.rejected === 0, onclick: () => drop(null) }, t("queue.dropAll"))),
    feedback,
    page.items.length === 0 ? h("p", {}, t("queue.empty"))
        : table({ labelledBy: "queue-title" }, [t("queue.col.record"), t("queue.col.captured"), t("queue.col.state"), t("queue.col.reason"), t("queue.col.actions")], rows),
    page.items.length < page.total
      ? h("p", { class: "more" },
        h("span", { "data-testid": "queue-shown" }, t("queue.shown", { shown: page.items.length, total: page.total }), " "),
        h("button", { type: "button", onclick: async () => {
          shown += QUEUE_PAGE;
          await act(async () => {});
          // The list was redrawn: keep the keyboard where it was (or on the list's end).
          (root.querySelector<HTMLElement>(".more button") ?? root.querySelector<HTMLElement>("tbody tr:last-child button, h1"))?.focus();
        } }, t("queue.more", { n: Math.min(QUEUE_PAGE, page.total - page.items.length) })))
      : null,
  );
}
