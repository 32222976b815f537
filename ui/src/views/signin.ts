// Sign in: the server address, then its CA fetched from /ca.pem and shown by fingerprint; the
// user ticks that it matches what the server printed before the password form is enabled.
import { api, type ServerCa, type UiError, type WhoAmI } from "../api";
import { field, h, message } from "../dom";
import { errorText, groupFingerprint } from "../format";
import { t } from "../i18n";

export function signInView(initialServer: string | null, onSignedIn: (who: WhoAmI) => void): HTMLElement {
  let ca: ServerCa | null = null;
  let noCa = false;
  const status = h("div", { class: "messages", "aria-live": "polite" });
  const server = h("input", { type: "url", name: "server", required: true, autocomplete: "url", value: initialServer ?? "https://localhost:8443" });
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "username" });
  const password = h("input", { type: "password", name: "password", required: true, autocomplete: "current-password" });
  const matches = h("input", { type: "checkbox", name: "fingerprint-matches", id: "fingerprint-matches" });
  const caBox = h("section", { class: "ca", "aria-labelledby": "ca-title", hidden: true });
  const credentials = h("fieldset", { disabled: true }, field(t("signin.email"), email), field(t("signin.password"), password),
    h("button", { type: "submit", class: "primary" }, t("signin.submit")));
  const show = (el: HTMLElement) => status.replaceChildren(el);

  const showCa = () => {
    caBox.hidden = false;
    if (ca) {
      caBox.replaceChildren(
        h("h2", { id: "ca-title" }, t("signin.ca.title")),
        h("p", {}, t("signin.ca.explain")),
        h("p", { class: "label" }, t("signin.ca.fingerprint")),
        h("code", { class: "fingerprint", "data-testid": "fingerprint" }, groupFingerprint(ca.sha256).map((g) => h("span", {}, g))),
        h("div", { class: "check" }, matches, h("label", { for: matches.id }, t("signin.ca.matches"))),
      );
    } else {
      caBox.replaceChildren(h("h2", { id: "ca-title" }, t("signin.ca.title")), h("p", {}, t("signin.ca.none")));
    }
    credentials.disabled = ca !== null && !matches.checked;
  };
  matches.addEventListener("change", () => {
    credentials.disabled = !matches.checked;
  });

  const check = h("form", { class: "server", "aria-label": t("signin.fetchCa") },
    field(t("signin.server"), server, t("signin.server.hint")),
    h("button", { type: "submit" }, t("signin.fetchCa")));
  check.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    ca = null; noCa = false; matches.checked = false; credentials.disabled = true;
    status.replaceChildren();
    try {
      ca = await api.fetchServerCa(server.value.trim());
    } catch (e) {
      const err = e as UiError;
      // A server with a publicly trusted certificate has no /ca.pem: go on with system roots.
      if (err?.code === "configuration" && /ca\.pem/.test(err.message)) noCa = true;
      else return show(message(errorText(e), "error"));
    }
    showCa();
    (ca ? matches : email).focus();
  });

  const login = h("form", { class: "credentials" }, credentials);
  login.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!ca && !noCa) return;
    try {
      const who = await api.signIn({
        server: server.value.trim(), email: email.value.trim(), password: password.value,
        caPem: ca?.pem ?? null, confirmedFingerprint: ca && matches.checked ? ca.sha256 : null,
      });
      password.value = "";
      onSignedIn(who);
    } catch (e) {
      show(message(errorText(e), "error"));
    }
  });

  return h("section", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", tabindex: -1 }, t("signin.title")), check, caBox, login, status);
}
