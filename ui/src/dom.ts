// A small element builder: the screens are plain DOM (no framework; see ARCHITECTURE.md).
// Text is always set as text, never as HTML, so nothing from a file or the server is parsed.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return el;
}

let uid = 0;
/** A unique id for label/control pairs. */
export function id(prefix: string): string {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement, hint?: string): HTMLElement {
  control.id ||= id("f");
  const hintEl = hint ? h("p", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/** A polite live region message (status) or an alert (error). */
export function message(text: string, kind: "status" | "error" = "status"): HTMLElement {
  return h("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/**
 * An error shown in `container` and kept in view: an alert (read out at once), focused and
 * scrolled to, so an error below the fold of a long form is never missed.
 */
export function showError(container: HTMLElement, text: string): HTMLElement {
  const el = message(text, "error");
  el.tabIndex = -1;
  container.replaceChildren(el);
  el.scrollIntoView({ block: "nearest" });
  el.focus({ preventScroll: true });
  return el;
}

/**
 * A table named by `name`: a heading already on the screen (`{ labelledBy: its id }`, so the
 * name is not shown twice), or a caption of its own.
 */
export function table(name: string | { labelledBy: string }, headers: string[], rows: Child[][]): HTMLTableElement {
  return h(
    "table",
    typeof name === "string" ? {} : { "aria-labelledby": name.labelledBy },
    typeof name === "string" ? h("caption", {}, name) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );
}

/** Replaces `root`'s children, skipping empty ones (`null`, `false`) and flattening lists. */
export function fill(root: Element, ...children: (Child | Child[])[]): void {
  root.replaceChildren(...children.flat().filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (typeof c === "number" ? String(c) : c)));
}
