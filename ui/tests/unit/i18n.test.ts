import { describe, expect, it } from "vitest";
import { en, ja } from "../../src/messages";
import { detectLanguage, formatTime, messageKey, placeholders, setLanguage, setUtcOffsets, t } from "../../src/i18n";
import { recordKindLabel } from "../../src/views/records";

describe("the message catalogue", () => {
  it("has every English key in Japanese, with the same placeholders", () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(ja[key], key).toBeTypeOf("string");
      expect(ja[key].trim(), key).not.toBe("");
      expect(placeholders(ja[key]), key).toEqual(placeholders(en[key]));
    }
    expect(Object.keys(ja).sort()).toEqual(Object.keys(en).sort());
  });

  it("translates the screens' words, not just copies them", () => {
    const same = (Object.keys(en) as (keyof typeof en)[]).filter((k) => en[k] === ja[k] && /[a-z]{3}/i.test(en[k]));
    // Only the pass-through of the core's own message, and a unit's symbol, are the same in both.
    expect(same).toEqual(["error.invalid_input", "unit.dpi"]);
  });

  it("fills placeholders and leaves unknown ones visible", () => {
    setLanguage("en");
    expect(t("queue.progress", { sent: 3, total: 10 })).toBe("Sent 3 of 10");
    expect(t("queue.progress", { sent: 3 })).toBe("Sent 3 of {total}");
    setLanguage("ja");
    expect(t("queue.progress", { sent: 3, total: 10 })).toBe("10 件中 3 件を送信");
    setLanguage("en");
  });
});

describe("the language choice", () => {
  it("prefers what the user saved, else the system's first language", () => {
    expect(detectLanguage(["ja-JP", "en"], null)).toBe("ja");
    expect(detectLanguage(["en-GB", "ja"], null)).toBe("en");
    expect(detectLanguage(["ja-JP"], "en")).toBe("en");
    expect(detectLanguage(["fr-FR"], null)).toBe("en");
    expect(detectLanguage([], "bogus")).toBe("en");
  });
});

describe("keys built from codes", () => {
  it("are the catalogue's own keys only", () => {
    expect(messageKey("reject.other")).toBe("reject.other");
    expect(messageKey("reject.no_such_code")).toBeNull();
    // Not what every object has: `"constructor" in en` is true.
    expect(messageKey("constructor")).toBeNull();
    expect(messageKey("toString")).toBeNull();
  });
});

describe("record kinds", () => {
  it("are words in both languages for every kind the server stores, unknown ones as sent", () => {
    setLanguage("en");
    expect(recordKindLabel("device_data")).toBe("Device data");
    expect(recordKindLabel("dfe")).toBe("DFE settings");
    expect(recordKindLabel("measurement")).toBe("Measurement");
    setLanguage("ja");
    expect(recordKindLabel("device_data")).toBe("デバイスデータ");
    expect(recordKindLabel("dfe")).toBe("DFE 設定");
    expect(recordKindLabel("vendor_log")).toBe("vendor_log");
    setLanguage("en");
  });
});

describe("timestamps", () => {
  it("read as Intl's medium date and time in each language, in local time", () => {
    const times = ["2026-12-07T05:03:21Z", "2024-02-29T23:59:59.999Z", "2027-01-01T00:00:00+09:00"];
    for (const [lang, locale] of [["en", "en-GB"], ["ja", "ja-JP"]] as const) {
      setLanguage(lang);
      for (const iso of times) {
        const intl = new Date(iso).toLocaleString(locale, { dateStyle: "medium", timeStyle: "medium" });
        expect(formatTime(iso), `${lang} ${iso}`).toBe(intl);
      }
    }
    expect(formatTime("not a time")).toBe("not a time");
    setLanguage("en");
  });
});

describe("timestamps in the shell's time zone", () => {
  // Europe/Berlin as the shell would give it for 1970 to 2027 (only 2026's changes written out,
  // the rest of the table is not reached): summer time from 29 March 01:00Z to 25 October 01:00Z.
  const berlin = { changes: [[0, 3600], [1_774_746_000_000, 7200], [1_792_890_000_000, 3600]] as [number, number][], until: 1_798_761_600_000 };
  const intl = (iso: string, locale: string, timeZone?: string) =>
    new Date(iso).toLocaleString(locale, { dateStyle: "medium", timeStyle: "medium", timeZone });

  it("read as Intl does in that zone, on both sides of each change", () => {
    setUtcOffsets(berlin);
    const times = ["2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-07-01T12:00:00Z", "2026-10-25T00:59:59Z", "2026-10-25T01:00:00Z", "2026-12-31T23:30:00+09:00"];
    for (const [lang, locale] of [["en", "en-GB"], ["ja", "ja-JP"]] as const) {
      setLanguage(lang);
      for (const iso of times) expect(formatTime(iso), `${lang} ${iso}`).toBe(intl(iso, locale, "Europe/Berlin"));
    }
    setLanguage("en");
  });

  it("fall back to the webview's own local time outside the table", () => {
    setUtcOffsets(berlin);
    for (const iso of ["1969-12-31T23:00:00Z", "2027-01-01T00:00:00Z", "2030-06-01T12:00:00Z"]) {
      expect(formatTime(iso), iso).toBe(intl(iso, "en-GB"));
    }
    setUtcOffsets({ changes: [], until: 0 });
    expect(formatTime("2026-07-01T12:00:00Z")).toBe(intl("2026-07-01T12:00:00Z", "en-GB"));
  });
});
