// What the server holds for my printers: choose a printer, see its stored records and whether
// each came with job information.
import { api, type DeviceView, type RecordView } from "../api";
import { field, h, message, table, fill } from "../dom";
import { errorText } from "../format";
import { formatTime, messageKey, t } from "../i18n";
import { deviceLabel } from "./sources";

export async function recordsView(root: HTMLElement, selected?: string): Promise<void> {
  const devices = await api.devices();
  const deviceId = selected ?? devices[0]?.device_id;
  let records: RecordView[] = [];
  let error: HTMLElement | null = null;
  if (deviceId) {
    try {
      records = await api.records(deviceId, 50);
    } catch (e) {
      error = message(errorText(e), "error");
    }
  }
  render(root, devices, deviceId, records, error);
}

function render(root: HTMLElement, devices: DeviceView[], deviceId: string | undefined, records: RecordView[], error: HTMLElement | null): void {
  if (devices.length === 0) {
    fill(root, h("h1", { tabindex: -1 }, t("records.title")), h("p", {}, t("records.noDevices")));
    return;
  }
  const select = h("select", { name: "device" }, devices.map((d) => h("option", { value: d.device_id, selected: d.device_id === deviceId }, deviceLabel(d))));
  select.addEventListener("change", () => void recordsView(root, select.value));
  const rows = records.map((r) => {
    const job = r.record["job"] as Record<string, unknown> | undefined;
    return [formatTime(r.captured_at), formatTime(r.stored_at), recordKindLabel(r.kind),
      job ? h("code", {}, String(job["job_id"] ?? "")) : h("span", { class: "muted" }, t("records.job.none"))];
  });
  fill(root, 
    h("h1", { id: "records-title", tabindex: -1 }, t("records.title")),
    field(t("records.device"), select),
    h("button", { type: "button", onclick: () => void recordsView(root, select.value) }, t("common.refresh")),
    error,
    records.length === 0 ? h("p", {}, t("records.empty"))
      : table({ labelledBy: "records-title" }, [t("records.col.captured"), t("records.col.stored"), t("records.col.kind"), t("records.col.job")], rows),
  );
}

/** A stored record's kind in words; a kind this app has no words for is shown as the server
 * names it. */
export function recordKindLabel(kind: string): string {
  const key = messageKey(`kind.${kind}`);
  return key ? t(key) : kind;
}
