// Exactly what will leave this machine: each waiting record's JSON, with the consent-gated
// parts shown apart and marked as sent or not under the current consent.
import { api, type PreviewRecord } from "../api";
import { h, fill } from "../dom";
import { formatTime, t } from "../i18n";
import type { MessageKey } from "../messages";

export async function previewView(root: HTMLElement): Promise<void> {
  render(root, await api.preview(50));
}

function record(r: PreviewRecord): HTMLElement {
  return h("article", { class: "preview-record", "data-record": r.record_id },
    h("h2", {}, t("preview.record", { kind: t(`kind.${r.kind}` as MessageKey), time: formatTime(r.captured_at) })),
    h("pre", { class: "json", tabindex: 0, "aria-label": r.record_id }, JSON.stringify(r.body, null, 2)),
    r.gated.map((g) => h("section", { class: `gated ${g.will_send ? "will-send" : "withheld"}`, "data-purpose": g.purpose },
      h("h3", {}, h("span", { class: "badge" }, t("preview.gated", { purpose: t(`purpose.${g.purpose}` as MessageKey) })),
        " ", g.will_send ? t("preview.gated.willSend") : t("preview.gated.withheld")),
      h("pre", { class: "json", tabindex: 0, "aria-label": `${r.record_id} ${g.field}` }, JSON.stringify({ [g.field]: g.value }, null, 2)))));
}

function render(root: HTMLElement, records: PreviewRecord[]): void {
  fill(root, 
    h("h1", { tabindex: -1 }, t("preview.title")),
    h("p", {}, t("preview.explain")),
    records.length === 0 ? h("p", { "data-testid": "preview-empty" }, t("preview.empty")) : records.map(record),
  );
}
