import { describe, expect, it } from "vitest";
import { recordFields } from "../../src/fields";
import { quarantineReasonText, folderEventText } from "../../src/format";
import { setLanguage } from "../../src/i18n";

const ctx = { deviceName: (id: string) => (id === "d1" ? "Epson SC-P9500 (X1)" : null) };

describe("a record as labelled fields", () => {
  it("labels known fields with units and words, keeps vendor keys marked, hides ids", () => {
    setLanguage("en");
    const rows = recordFields({
      record_id: "0f6c1d2e-0000-4000-8000-000000000001",
      device_id: "d1",
      print_settings: { resolution_dpi: [720, 1440], rendering_intent: "saturation", values: { ink_limit: 280, "Vendor Mode": true } },
      job: { job_id: "J-1", ink_used_ml: 3.456, status: "something_new", media: [{ part: "Cover", size_mm: [210, 297] }] },
      printer_status: "down",
      added_later: "x",
    }, ctx);
    const text = Object.fromEntries(rows.filter((r) => !r.group).map((r) => [r.path, `${r.label}=${r.value}${r.vendor ? " (vendor)" : ""}`]));
    expect(rows.some((r) => r.path === "record_id")).toBe(false);
    expect(text["device_id"]).toBe("Printer=Epson SC-P9500 (X1)");
    expect(text["print_settings.resolution_dpi"]).toBe("Resolution=720 × 1440 dpi");
    expect(text["print_settings.rendering_intent"]).toBe("Rendering intent=Saturation");
    expect(text["print_settings.values.ink_limit"]).toBe("ink_limit=280 (vendor)");
    expect(text["print_settings.values.Vendor Mode"]).toBe("Vendor Mode=Yes (vendor)");
    expect(text["job.ink_used_ml"]).toBe("Ink used=3.46 ml");
    expect(text["job.status"]).toBe("Status=something_new");
    expect(text["job.media.0.size_mm"]).toBe("Size=210 × 297 mm");
    expect(text["printer_status"]).toBe("Printer state=Down (out of order)");
    expect(text["added_later"]).toBe("added_later=x (vendor)");
    expect(rows.find((r) => r.path === "job.media.0")?.label).toBe("Medium 1");
    // A printer that is not the user's is not shown by its id.
    expect(recordFields({ device_id: "d2" }, ctx)[0].value).toBe("A printer not in your list");
    setLanguage("ja");
    const ja = recordFields({ print_settings: { preset_name: "Proof" }, job: { ink_used_ml: 2 } }, ctx);
    expect(ja.map((r) => r.label)).toEqual(["印刷設定", "プリセット", "ジョブ情報", "インク使用量"]);
    expect(ja[3].value).toBe("2 mL");
    setLanguage("en");
  });
});

describe("quarantine reasons", () => {
  it("are said by their code in the chosen language, an unknown code generally", () => {
    setLanguage("en");
    expect(quarantineReasonText("too_large")).toBe("The file is larger than the app reads.");
    expect(quarantineReasonText("no_such_code")).toBe("The file could not be read.");
    expect(quarantineReasonText(null)).toBe("The file could not be read.");
    expect(folderEventText({ event: "quarantined", file: "a.jdf", reason: { file: "a.jdf", kind: "malformed", location: null, message: "x" } }))
      .toBe("a.jdf: quarantined. The file is damaged or incomplete (not well-formed).");
    setLanguage("ja");
    expect(quarantineReasonText("unsupported")).toMatch(/JDF、JMF/);
    setLanguage("en");
  });
});
