// A record's JSON as labelled fields, for "What will be sent": each field known to the upload
// formats (ecsp_protocol's DFE, device status and consent records) by its label in the page's
// language, with its unit; times in the page's conventions; values that are codes in words.
// Keys the format does not name (the vendor's own settings, a field added later) stay as they
// are, marked so. Identifiers are left out (they are in the raw JSON beside); the printer is
// named. Pure (no DOM), unit-tested.
import { formatTime, t } from "./i18n";
import { en, type MessageKey } from "./messages";

export interface FieldRow {
  /** The JSON path (`print_settings.preset_name`), for tests and `data-field`. */
  path: string;
  label: string;
  /** Empty for a group heading. */
  value: string;
  /** A key the format does not name: shown as it is. */
  vendor: boolean;
  group: boolean;
  depth: number;
}

export interface FieldContext {
  /** The printer's name for a device id, or null if it is not one of the user's. */
  deviceName: (id: string) => string | null;
}

/** Identifiers the user has no use for (the raw JSON keeps them). */
const hidden = new Set(["record_id", "decision_id", "schema_version"]);
/** Objects whose keys are the vendor's own names. */
const vendorObjects = new Set(["print_settings.values", "values"]);
/** Values that are codes, said in words where the catalogue knows them. */
const coded: Record<string, string> = {
  "print_settings.rendering_intent": "value.rendering_intent",
  printer_status: "value.printer_status",
  "job.status": "value.job_status",
  purpose: "purpose",
  decision: "decision",
};

function known(key: string): key is MessageKey {
  return key in en;
}

/** The label of a field by its path without list indexes (`job.media.name`). */
function labelOf(path: string): string | null {
  const key = `field.${path.replace(/\.\d+(?=\.|$)/g, "")}`;
  return known(key) ? t(key) : null;
}

function number(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
}

/** A leaf value in words, with its unit. */
function valueText(path: string, key: string, v: unknown, ctx: FieldContext): string {
  if (v === null || v === undefined) return "—";
  const plain = path.replace(/\.\d+(?=\.|$)/g, "");
  if (key === "device_id" && typeof v === "string") return ctx.deviceName(v) ?? t("field.device.unknown");
  if (typeof v === "boolean") return t(v ? "common.yes" : "common.no");
  if (typeof v === "string" && /_at$/.test(key)) return formatTime(v);
  if (coded[plain] && typeof v === "string") {
    const k = `${coded[plain]}.${v}`;
    return known(k) ? t(k) : v;
  }
  const pair = Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number") ? (v as number[]) : null;
  if (pair && key === "resolution_dpi") return t("unit.dpi", { x: number(pair[0]), y: number(pair[1]) });
  if (pair && key === "size_mm") return t("unit.size_mm", { w: number(pair[0]), h: number(pair[1]) });
  if (typeof v === "number" && key.endsWith("_ml")) return t("unit.ml", { value: number(v) });
  if (typeof v === "number") return number(v);
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null)) return v.map(String).join(", ");
  return JSON.stringify(v);
}

function walk(obj: Record<string, unknown>, prefix: string, depth: number, vendor: boolean, ctx: FieldContext, out: FieldRow[]): void {
  for (const [key, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (!vendor && hidden.has(key)) continue;
    const label = vendor ? null : labelOf(path);
    const isVendor = vendor || label === null;
    const name = label ?? key;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      out.push({ path, label: name, value: "", vendor: isVendor && !vendorObjects.has(path), group: true, depth });
      walk(v as Record<string, unknown>, path, depth + 1, vendor || vendorObjects.has(path), ctx, out);
    } else if (Array.isArray(v) && v.some((x) => x !== null && typeof x === "object")) {
      v.forEach((item, i) => {
        const itemPath = `${path}.${i}`;
        out.push({ path: itemPath, label: `${name} ${i + 1}`, value: "", vendor: isVendor, group: true, depth });
        if (item !== null && typeof item === "object") walk(item as Record<string, unknown>, itemPath, depth + 1, vendor, ctx, out);
      });
    } else {
      out.push({ path, label: name, value: valueText(path, key, v, ctx), vendor: isVendor, group: false, depth });
    }
  }
}

/** The record's fields in order, groups (software, print settings…) before their fields. */
export function recordFields(body: Record<string, unknown>, ctx: FieldContext): FieldRow[] {
  const out: FieldRow[] = [];
  walk(body, "", 0, false, ctx, out);
  return out;
}
