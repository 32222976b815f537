// DFE sources: the hot folder and the printer it describes, what happened to recent files, and
// the quarantined files with their reasons.
import { api, type DeviceView, type FolderEvent, type Sources } from "../api";
import { field, h, message, table, fill } from "../dom";
import { errorText, folderEventText } from "../format";
import { t } from "../i18n";

/** Recent hot-folder events, newest first (kept while the app runs). */
export const recentFolderEvents: FolderEvent[] = [];

export function deviceLabel(d: DeviceView): string {
  return `${d.manufacturer} ${d.model} (${d.serial_number})`;
}

export async function sourcesView(root: HTMLElement): Promise<void> {
  const [sources, devices] = await Promise.all([api.sources(), api.devices().catch(() => [] as DeviceView[])]);
  render(root, sources, devices);
}

function render(root: HTMLElement, sources: Sources, devices: DeviceView[]): void {
  const feedback = h("div", { class: "messages", "aria-live": "polite" });
  const folder = h("input", { type: "text", name: "folder", value: sources.source?.folder ?? "", spellcheck: false });
  const device = h("select", { name: "device" },
    h("option", { value: "" }, t("sources.device.choose")),
    devices.map((d) => h("option", { value: d.device_id, selected: d.device_id === sources.source?.device_id }, deviceLabel(d))));
  const form = h("form", { class: "source" }, field(t("sources.folder"), folder), field(t("sources.device"), device),
    h("button", { type: "submit", class: "primary" }, t("sources.save")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const updated = await api.setSource(folder.value, device.value || null);
      render(root, updated, devices);
      root.querySelector(".messages")?.replaceChildren(message(t("sources.saved")));
    } catch (e) {
      feedback.replaceChildren(message(errorText(e), "error"));
    }
  });
  const quarantine = sources.quarantined.length === 0
    ? h("p", {}, t("sources.quarantine.empty"))
    : table(t("sources.quarantine"), [t("sources.col.file"), t("sources.col.reason")],
      sources.quarantined.map(([file, reason]) => [file, h("pre", { class: "reason" }, reason)]));
  fill(root, 
    h("h1", { tabindex: -1 }, t("sources.title")),
    h("p", {}, t("sources.explain")),
    form, feedback,
    h("p", { class: sources.watching ? "ok" : "muted", "data-testid": "watching" }, sources.watching ? t("sources.watching") : t("sources.notWatching")),
    recentFolderEvents.length ? h("ul", { class: "events" }, recentFolderEvents.slice(0, 10).map((e) => h("li", {}, folderEventText(e)))) : null,
    h("h2", {}, t("sources.quarantine")),
    quarantine,
  );
}
