// Exactly what will leave this machine: each waiting record as labelled fields (in the page's
// language, with units; the printer by name), its exact JSON behind a disclosure, and the
// consent-gated parts shown apart and marked as sent or not under the current consent.
import { api, type PreviewRecord } from "../api";
import { h, fill } from "../dom";
import { recordFields, type FieldContext } from "../fields";
import { formatTime, t } from "../i18n";
import type { MessageKey } from "../messages";
import { recordKindLabel } from "./records";
import { deviceLabel } from "./sources";

export async function previewView(root: HTMLElement): Promise<void> {
  const [records, devices] = await Promise.all([api.preview(50), api.devicesOrLastKnown()]);
  const byId = new Map((devices ?? []).map((d) => [d.device_id, deviceLabel(d)]));
  // Offline before the list was ever read, a printer cannot be named: say so, not "not yours".
  render(root, records, { deviceName: (id) => byId.get(id) ?? (devices ? null : t("field.device.offline")) });
}

/** The fields of `body` as a description list; groups (software, print settings…) as rows. */
function fields(body: Record<string, unknown>, ctx: FieldContext): HTMLElement {
  return h("dl", { class: "fields" }, recordFields(body, ctx).map((f) => f.group
    ? h("dt", { class: "group", "data-field": f.path }, f.label,
      f.vendor ? h("span", { class: "vendor-mark" }, `(${t("field.vendorMark")})`) : null)
    : [
      h("dt", { "data-field": f.path },
        f.vendor ? h("span", { class: "vendor-key" }, f.label) : f.label,
        f.vendor ? h("span", { class: "vendor-mark" }, `(${t("field.vendorMark")})`) : null),
      h("dd", {}, f.value),
    ]).flat());
}

function raw(summary: string, value: unknown, label: string): HTMLElement {
  return h("details", { class: "raw" }, h("summary", {}, summary),
    h("pre", { class: "json", tabindex: 0, "aria-label": label }, JSON.stringify(value, null, 2)));
}

function record(r: PreviewRecord, ctx: FieldContext): HTMLElement {
  const title = t("preview.record", { kind: recordKindLabel(r.kind), time: formatTime(r.captured_at) });
  return h("article", { class: "preview-record", "data-record": r.record_id },
    h("h2", {}, title),
    fields(r.body, ctx),
    raw(t("preview.raw"), r.body, `${title}: ${t("preview.raw")}`),
    r.gated.map((g) => {
      const purpose = t(`purpose.${g.purpose}` as MessageKey);
      return h("section", { class: `gated ${g.will_send ? "will-send" : "withheld"}`, "data-purpose": g.purpose },
        h("h3", {}, h("span", { class: "badge" }, t("preview.gated", { purpose })),
          " ", g.will_send ? t("preview.gated.willSend") : t("preview.gated.withheld")),
        g.value !== null && typeof g.value === "object" ? fields({ [g.field]: g.value }, ctx) : null,
        raw(t("preview.raw.gated"), { [g.field]: g.value }, `${title}: ${purpose}`));
    }));
}

function render(root: HTMLElement, records: PreviewRecord[], ctx: FieldContext): void {
  fill(root, 
    h("h1", { tabindex: -1 }, t("preview.title")),
    h("p", {}, t("preview.explain")),
    records.length === 0 ? h("p", { "data-testid": "preview-empty" }, t("preview.empty")) : records.map((r) => record(r, ctx)),
  );
}
