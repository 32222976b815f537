// Message lookup with {placeholder} substitution, and the language choice (saved in
// localStorage, defaulting to the system's: Japanese if it prefers Japanese, else English).
import { en, ja, type MessageKey } from "./messages";

export type Language = "en" | "ja";
const catalogues: Record<Language, Record<MessageKey, string>> = { en, ja };
let current: Language = "en";

export function detectLanguage(preferred: readonly string[], saved: string | null): Language {
  if (saved === "en" || saved === "ja") return saved;
  const first = preferred.find((l) => l.trim() !== "") ?? "en";
  return first.toLowerCase().startsWith("ja") ? "ja" : "en";
}

export function setLanguage(lang: Language): void {
  current = lang;
}

export function language(): Language {
  return current;
}

/** The message `key` in the current language, with `{name}` replaced from `params`. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = catalogues[current][key] ?? en[key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}

export function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
}

/** A timestamp in the current language's conventions. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(current === "ja" ? "ja-JP" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "medium",
  });
}
