// The app's frame: a header (title, sync status, the signed-in user, language), the section
// navigation and the current screen. Core events refresh the status line and the screen that shows what changed.
import { api, followEvents, type AppStatus, type ClientEvent, type FolderEvent, type WhoAmI } from "./api";
import { h, message } from "./dom";
import { errorText, nextQueueStatus, syncText } from "./format";
import { detectLanguage, language, setLanguage, setUtcOffsets, t, type Language } from "./i18n";
import type { MessageKey } from "./messages";
import { computerView } from "./views/computer";
import { consentView } from "./views/consent";
import { previewView } from "./views/preview";
import { live, queueView } from "./views/queue";
import { recordsView } from "./views/records";
import { recentFolderEvents, sourcesView } from "./views/sources";
import { signInView } from "./views/signin";

type Section = "consent" | "sources" | "preview" | "queue" | "records" | "computer";
const sections: Section[] = ["consent", "sources", "preview", "queue", "records", "computer"];

const app = document.getElementById("app") as HTMLElement;
/** The system time zone, asked of the shell once; without it times are said in the webview's
 *  own local time. */
const zoneKnown = api.timeZone().then(setUtcOffsets, () => {});
let status: AppStatus | null = null;
/** Who is signed in (from sign-in, else asked of the server once per start). */
let who: WhoAmI | null = null;
let section: Section = "consent";
const statusLine = h("p", { class: "sync", role: "status", "data-testid": "sync" });
const main = h("main", { id: "main" });

function renderStatus(): void {
  if (!status) return;
  const auth = status.authorised ? t("status.authorised") : t("status.deauthorised");
  statusLine.textContent = status.signed_in ? `${auth} · ${syncText(status.sync, status.queue)}` : syncText(null);
}

/** Whether the user is in the middle of a form on the current screen (then it is not redrawn). */
function busy(): boolean {
  const a = document.activeElement;
  return a !== null && main.contains(a) && ["INPUT", "SELECT", "TEXTAREA"].includes(a.tagName);
}

async function show(next: Section, focus = true): Promise<void> {
  focus ||= document.activeElement?.tagName === "H1" && main.contains(document.activeElement);
  // Redrawn for an event (e.g. a decision made in another app), focus stays on its card.
  const active = document.activeElement;
  const card = main.contains(active) ? active?.closest<HTMLElement>("[data-purpose]")?.dataset.purpose : undefined;
  // Redrawing the same screen (an event) keeps how far its list was paged.
  const same = section === next;
  section = next;
  for (const b of app.querySelectorAll<HTMLButtonElement>("nav button")) {
    if (b.dataset.section === next) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  main.replaceChildren(h("p", {}, t("common.loading")));
  try {
    const views: Record<Section, () => Promise<void>> = {
      consent: () => consentView(main),
      sources: () => sourcesView(main),
      preview: () => previewView(main),
      queue: () => queueView(main, same),
      records: () => recordsView(main),
      computer: () => computerView(main, () => void refreshStatus(), () => void start()),
    };
    await views[next]();
  } catch (e) {
    main.replaceChildren(message(errorText(e), "error"));
  }
  if (focus) main.querySelector<HTMLElement>("h1")?.focus();
  else if (card && next === section) main.querySelector<HTMLElement>(`[data-purpose="${card}"] h3`)?.focus();
}

async function refreshStatus(): Promise<void> {
  status = await api.appStatus();
  renderStatus();
}

function header(): HTMLElement {
  const select = h("select", { id: "language", "aria-label": t("app.language") },
    h("option", { value: "en", selected: language() === "en" }, "English"),
    h("option", { value: "ja", selected: language() === "ja" }, "日本語"));
  select.addEventListener("change", () => {
    const lang = select.value as Language;
    // Saved by the shell, whose notifications follow it; the choice shows at once either way.
    void api.saveLanguage(lang).catch(() => {});
    setLanguage(lang);
    document.documentElement.lang = lang;
    void start(section);
  });
  // The person by name (their e-mail when the account has no name), the e-mail beside it.
  const user = status?.signed_in && who
    ? h("p", { class: "user", "data-testid": "user" },
      h("span", { class: "visually-hidden" }, t("app.signedIn")),
      h("span", { class: "name" }, who.name || who.email),
      who.name ? h("span", { class: "email" }, who.email) : null)
    : null;
  return h("header", {}, h("span", { class: "brand" }, t("app.title")), statusLine, user, select);
}

/** Draws the frame for the app's state (`known`: just asked, else asked now) on `keep`'s screen. */
async function start(keep?: Section, known?: AppStatus): Promise<void> {
  document.title = t("app.title");
  await zoneKnown;
  try {
    status = known ?? await api.appStatus();
  } catch (e) {
    app.replaceChildren(message(errorText(e), "error"));
    return;
  }
  if (!status.signed_in) {
    who = null;
    const accepted = status.server && status.accepted_ca ? { server: status.server, fingerprint: status.accepted_ca } : null;
    const view = signInView(status.server, accepted, (signedIn) => {
      who = signedIn;
      void start();
    });
    app.replaceChildren(header(), h("main", { id: "main" }, view));
    renderStatus();
    view.querySelector<HTMLElement>("h1")?.focus();
    return;
  }
  if (!who) who = await api.whoami().catch(() => null);
  const nav = h("nav", { "aria-label": t("nav.label") },
    h("ul", {}, sections.map((s) => h("li", {}, h("button", { type: "button", "data-section": s, onclick: () => void show(s) }, t(`nav.${s}` as MessageKey))))));
  app.replaceChildren(header(), h("div", { class: "body" }, nav, main));
  renderStatus();
  await show(keep ?? section, false);
}

/** How long events gather before the open screen is redrawn for them. */
const REDRAW_AFTER_MS = 150;
/** The redraw pending or running: for which screen, whether it has started, and whether events
 *  came once it had (then one more follows it). */
let redraw: { section: Section; started: boolean; again: boolean } | null = null;

/** Redraws `which` for an event if it is still the open screen: once for a burst of events
 *  (1,000 files dropped into a watched folder are 1,000 `queue_changed`), one redraw at a time
 *  and one more after it if events came meanwhile, not one overlapping redraw per event. */
function refresh(which: Section): void {
  if (redraw) {
    redraw.section = which;
    redraw.again ||= redraw.started;
    return;
  }
  const pending = { section: which, started: false, again: false };
  redraw = pending;
  setTimeout(() => {
    pending.started = true;
    const target = pending.section;
    const run = async () => {
      if (status?.signed_in && section === target && !busy()) await show(target, false);
    };
    void run().finally(() => {
      redraw = null;
      if (pending.again) refresh(pending.section);
    });
  }, REDRAW_AFTER_MS);
}

function clientEvent(e: ClientEvent): void {
  if (e.type === "sync_state_changed" && status) {
    status.sync = e.state;
    renderStatus();
  } else if (e.type === "queue_changed" && status) {
    status.queue = nextQueueStatus(status.queue, e);
    renderStatus();
  } else if (e.type === "flush_progress") {
    live.progress = e.progress;
  } else if (e.type === "session_ended") {
    void start();
    return;
  }
  // Refresh the open screen when what it shows changed (without moving the focus).
  const affects: Partial<Record<Section, string[]>> = {
    queue: ["queue_changed", "delivered", "rejected", "flush_progress"],
    preview: ["queue_changed", "consent_changed"],
    // A decision delivered, or one read from the server's ledger (made in another app).
    consent: ["delivered", "consent_changed"],
  };
  if (affects[section]?.includes(e.type)) refresh(section);
}

function folderEvent(e: FolderEvent): void {
  recentFolderEvents.unshift(e);
  recentFolderEvents.length = Math.min(recentFolderEvents.length, 50);
  if (section === "sources") refresh("sources");
}

async function boot(): Promise<void> {
  // Asked once at start-up: the language chosen, and then the first screen's state.
  const first = await api.appStatus().catch(() => undefined);
  setLanguage(detectLanguage(navigator.languages ?? [navigator.language], first?.language ?? null));
  document.documentElement.lang = language();
  await followEvents(clientEvent, folderEvent);
  await start(undefined, first);
}

void boot();
