// DFE sources: the hot folder (typed, or chosen in the system's folder picker) and the printer
// it describes, whether it is watched and if not why, what happened to recent files, and the
// quarantined files with their reasons in the page's language (the parser's words beside).
import { api, type DeviceView, type FolderEvent, type NotWatching, type Sources } from "../api";
import { field, h, message, showError, table, fill } from "../dom";
import { errorText, folderEventText, quarantineReasonText } from "../format";
import { t } from "../i18n";
import type { MessageKey } from "../messages";

/** Recent hot-folder events, newest first (kept while the app runs). */
export const recentFolderEvents: FolderEvent[] = [];

export function deviceLabel(d: DeviceView): string {
  return `${d.manufacturer} ${d.model} (${d.serial_number})`;
}

export async function sourcesView(root: HTMLElement): Promise<void> {
  const [sources, devices] = await Promise.all([api.sources(), api.devices().catch(() => [] as DeviceView[])]);
  render(root, sources, devices);
}

const notWatchingKey: Record<NotWatching, MessageKey> = {
  signed_out: "sources.notWatching.signed_out",
  deauthorised: "sources.notWatching.deauthorised",
  no_folder: "sources.notWatching.no_folder",
  folder_unreadable: "sources.notWatching.folder_unreadable",
  stopped: "sources.notWatching.stopped",
};

/** "Watching", or "Not watching" with every reason in words. */
function watchingState(sources: Sources): HTMLElement {
  if (sources.watching) return h("p", { class: "ok", "data-testid": "watching" }, t("sources.watching"));
  const reasons = sources.not_watching.length ? sources.not_watching : (["stopped"] as NotWatching[]);
  return h("div", { class: "not-watching", "data-testid": "watching" },
    h("p", { class: "state" }, t("sources.notWatching")),
    h("ul", {}, reasons.map((r) => h("li", { "data-reason": r }, t(notWatchingKey[r]),
      r === "folder_unreadable" && sources.folder_error ? h("small", { class: "reason-detail" }, sources.folder_error) : null))));
}

function render(root: HTMLElement, sources: Sources, devices: DeviceView[]): void {
  const feedback = h("div", { class: "messages", "aria-live": "polite" });
  const folder = h("input", { type: "text", name: "folder", value: sources.source?.folder ?? "", spellcheck: false });
  const choose = h("button", { type: "button", class: "choose-folder" }, t("sources.choose"));
  choose.addEventListener("click", async () => {
    try {
      const picked = await api.pickFolder(t("sources.choose.title"), folder.value.trim() || null);
      if (picked !== null) {
        folder.value = picked;
        folder.focus();
      }
    } catch (e) {
      showError(feedback, errorText(e));
    }
  });
  const device = h("select", { name: "device" },
    h("option", { value: "" }, t("sources.device.choose")),
    devices.map((d) => h("option", { value: d.device_id, selected: d.device_id === sources.source?.device_id }, deviceLabel(d))));
  const folderField = field(t("sources.folder"), folder, t("sources.folder.hint"));
  // The typed path and the picker side by side (the label and hint stay the input's).
  const row = h("div", { class: "folder-row" });
  folder.replaceWith(row);
  row.append(folder, choose);
  const form = h("form", { class: "source" }, folderField, field(t("sources.device"), device),
    h("button", { type: "submit", class: "primary" }, t("sources.save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const updated = await api.setSource(folder.value, device.value || null);
      render(root, updated, devices);
      root.querySelector(".messages")?.replaceChildren(message(t("sources.saved")));
    } catch (e) {
      showError(feedback, errorText(e));
    }
  });
  const quarantine = sources.quarantined.length === 0
    ? h("p", {}, t("sources.quarantine.empty"))
    : table({ labelledBy: "quarantine-title" }, [t("sources.col.file"), t("sources.col.reason")],
      sources.quarantined.map((q) => [q.file, h("span", { "data-kind": q.kind ?? "" },
        h("span", { class: "reason" }, quarantineReasonText(q.kind)),
        q.detail ? h("small", { class: "reason-detail" }, t("sources.reason.detail", { detail: q.detail })) : null)]));
  fill(root, 
    h("h1", { tabindex: -1 }, t("sources.title")),
    h("p", {}, t("sources.explain")),
    form, feedback,
    watchingState(sources),
    recentFolderEvents.length ? h("ul", { class: "events" }, recentFolderEvents.slice(0, 10).map((e) => h("li", {}, folderEventText(e)))) : null,
    h("h2", { id: "quarantine-title" }, t("sources.quarantine")),
    quarantine,
  );
}
