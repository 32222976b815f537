// This computer: "Authorise this computer" / "Deauthorise" (background collection and delivery
// on or off), start at login (off until chosen), the signed-in account and sign-out.
import { api, type AppStatus, type WhoAmI } from "../api";
import { h, showError, fill } from "../dom";
import { errorText } from "../format";
import { t } from "../i18n";

export async function computerView(root: HTMLElement, onChange: () => void, onSignOut: () => void): Promise<void> {
  const [status, who] = await Promise.all([api.appStatus(), api.whoami().catch(() => null)]);
  render(root, status, who, onChange, onSignOut);
}

function render(root: HTMLElement, status: AppStatus, who: WhoAmI | null, onChange: () => void, onSignOut: () => void): void {
  const feedback = h("div", { class: "messages", "aria-live": "polite" });
  const run = async (f: () => Promise<unknown>) => {
    try {
      await f();
      onChange();
      await computerView(root, onChange, onSignOut);
    } catch (e) {
      showError(feedback, errorText(e));
    }
  };
  const autostart = h("input", { type: "checkbox", id: "autostart", checked: status.autostart });
  autostart.addEventListener("change", () => void run(() => api.setAutostart(autostart.checked)));
  fill(root, 
    h("h1", { tabindex: -1 }, t("computer.title")),
    h("p", {}, t("computer.explain")),
    h("p", { class: status.authorised ? "ok" : "muted", "data-testid": "authorised" }, status.authorised ? t("status.authorised") : t("status.deauthorised")),
    status.authorised
      ? h("button", { type: "button", class: "danger", onclick: () => run(() => api.setAuthorised(false)) }, t("computer.deauthorise"))
      : h("button", { type: "button", class: "primary", onclick: () => run(() => api.setAuthorised(true)) }, t("computer.authorise")),
    h("div", { class: "check" }, autostart, h("label", { for: "autostart" }, t("computer.autostart"))),
    feedback,
    who ? h("p", {}, t("signin.signedInAs", { name: who.name, organization: who.organization_name })) : null,
    status.server ? h("p", { class: "muted" }, status.server) : null,
    h("button", { type: "button", onclick: () => run(async () => { await api.signOut(); onSignOut(); }) }, t("signin.signOut")),
    h("p", { class: "muted" }, t("computer.version", { version: status.version })),
  );
}
