// Message lookup with {placeholder} substitution, and the language choice (saved in the shell's
// settings, defaulting to the system's: Japanese if it prefers Japanese, else English).
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

/** The system time zone as the shell gives it (`desktop/app/src/time_zone.rs`): `[start,
 *  offset]` pairs in order, start in ms since the epoch (UTC), offset in seconds east of UTC,
 *  and where the table ends (ms). */
export interface UtcOffsets {
  changes: [number, number][];
  until: number;
}
let zone: UtcOffsets = { changes: [], until: 0 };

/** Times are said in this zone from now on (no changes: in the webview's own local time). */
export function setUtcOffsets(table: UtcOffsets): void {
  zone = table;
}

/** The offset in ms at `ms` by the shell's table, or null outside it (or without one). */
function offsetAt(ms: number): number | null {
  const offsets = zone.changes;
  if (offsets.length === 0 || ms < offsets[0][0] || ms >= zone.until) return null;
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid][0] <= ms) lo = mid;
    else hi = mid - 1;
  }
  return offsets[lo][1] * 1000;
}

/** The calendar fields of `ms` in local time: by the shell's table when it covers `ms` (the UTC
 *  fields of the shifted time), else by the webview's own local time. */
function localFields(ms: number): { year: number; month: number; day: number; hours: number; minutes: number; seconds: number } {
  const offset = offsetAt(ms);
  if (offset === null) {
    const d = new Date(ms);
    return { year: d.getFullYear(), month: d.getMonth(), day: d.getDate(), hours: d.getHours(), minutes: d.getMinutes(), seconds: d.getSeconds() };
  }
  const d = new Date(ms + offset);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth(), day: d.getUTCDate(), hours: d.getUTCHours(), minutes: d.getUTCMinutes(), seconds: d.getUTCSeconds() };
}

/** A timestamp in the current language's conventions, local time: what `toLocaleString` with
 *  `dateStyle`/`timeStyle` "medium" gives for en-GB ("7 Dec 2026, 14:03:21") and ja-JP
 *  ("2026/12/07 9:03:21", the hour unpadded), written out here because `Intl`'s date formatting
 *  wakes ICU's locale data in the web process: 6 MiB more for a page of 50 rows in WebKitGTK
 *  (MiniBrowser, the same page with and without it), on a screen the app keeps open. Local time
 *  comes from the shell's table (`setUtcOffsets`) for the same reason: `Date`'s local-time
 *  functions wake ICU's time-zone data. */
export function formatTime(iso: string): string {
  const ms = new Date(iso).getTime();
  if (Number.isNaN(ms)) return iso;
  const { year, month, day, hours, minutes, seconds } = localFields(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${two(minutes)}:${two(seconds)}`;
  return current === "ja"
    ? `${year}/${two(month + 1)}/${two(day)} ${hours}:${time}`
    : `${day} ${MONTHS[month]} ${year}, ${two(hours)}:${time}`;
}
