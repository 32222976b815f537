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

/** `key` when the catalogue has words for it (a key built from a code the core or the server
 *  sent), else null: the caller falls back to its general words. */
export function messageKey(key: string): MessageKey | null {
  return Object.hasOwn(en, key) ? (key as MessageKey) : null;
}

export function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A timestamp in the current language's conventions, local time: what `toLocaleString` with
 *  `dateStyle`/`timeStyle` "medium" gives for en-GB ("7 Dec 2026, 14:03:21") and ja-JP
 *  ("2026/12/07 9:03:21", the hour unpadded), written out here because `Intl`'s date formatting
 *  wakes ICU's locale data in the web process: 6 MiB more for a page of 50 rows in WebKitGTK
 *  (MiniBrowser, the same page with and without it), on a screen the app keeps open. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, "0");
  const minutes = `${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return current === "ja"
    ? `${d.getFullYear()}/${two(d.getMonth() + 1)}/${two(d.getDate())} ${d.getHours()}:${minutes}`
    : `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}, ${two(d.getHours())}:${minutes}`;
}
