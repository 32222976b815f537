// Sign in: the server address, then its CA fetched from /ca.pem and shown by fingerprint; the
// user ticks that it matches what the server printed before the password form is enabled. A CA
// accepted earlier for the same server (kept after sign-out) is not asked about again. Errors
// are alerts kept in view: focused and scrolled to, below the fold of the long form too.
import { api, type ServerCa, type UiError, type WhoAmI } from "../api";
import { field, h, showError } from "../dom";
import { errorText, groupFingerprint } from "../format";
import { t } from "../i18n";

/** `accepted`: the server and the fingerprint of the CA the user accepted for it earlier. */
export function signInView(
  initialServer: string | null,
  accepted: { server: string; fingerprint: string } | null,
  onSignedIn: (who: WhoAmI) => void,
): HTMLElement {
  let ca: ServerCa | null = null;
  let noCa = false;
  // Signing in with the CA accepted earlier (the app uses the one it kept).
  let useAccepted = accepted !== null && initialServer === accepted.server;
  const status = h("div", { class: "messages", "aria-live": "polite" });
  const server = h("input", { type: "url", name: "server", required: true, autocomplete: "url", value: initialServer ?? "https://localhost:8443" });
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "username" });
  const password = h("input", { type: "password", name: "password", required: true, autocomplete: "current-password" });
  const matches = h("input", { type: "checkbox", name: "fingerprint-matches", id: "fingerprint-matches" });
  const caBox = h("section", { class: "ca", "aria-labelledby": "ca-title", hidden: true });
  const credentials = h("fieldset", { disabled: true }, field(t("signin.email"), email), field(t("signin.password"), password),
    h("button", { type: "submit", class: "primary" }, t("signin.submit")));
  const fail = (e: unknown) => showError(status, errorText(e));
  const fingerprint = (sha256: string) =>
    h("code", { class: "fingerprint", "data-testid": "fingerprint" }, groupFingerprint(sha256).map((g) => h("span", {}, g)));

  const showAccepted = () => {
    if (!accepted) return;
    caBox.hidden = false;
    caBox.replaceChildren(
      h("h2", { id: "ca-title" }, t("signin.ca.acceptedTitle")),
      h("p", { "data-testid": "ca-accepted" }, t("signin.ca.accepted")),
      h("p", { class: "label" }, t("signin.ca.fingerprint")),
      fingerprint(accepted.fingerprint),
    );
    credentials.disabled = false;
  };
  const showCa = () => {
    caBox.hidden = false;
    // The same CA as accepted earlier for this server: nothing to compare again.
    const same = ca !== null && accepted !== null && accepted.server === server.value.trim()
      && groupFingerprint(accepted.fingerprint).join() === groupFingerprint(ca.sha256).join();
    if (ca && same) {
      matches.checked = true;
      caBox.replaceChildren(
        h("h2", { id: "ca-title" }, t("signin.ca.acceptedTitle")),
        h("p", { "data-testid": "ca-accepted" }, t("signin.ca.accepted")),
        h("p", { class: "label" }, t("signin.ca.fingerprint")),
        fingerprint(ca.sha256),
      );
    } else if (ca) {
      const changed = accepted !== null && accepted.server === server.value.trim();
      caBox.replaceChildren(
        h("h2", { id: "ca-title" }, t("signin.ca.title")),
        ...(changed ? [h("p", { class: "message error", role: "alert" }, t("signin.ca.changed"))] : []),
        h("p", {}, t("signin.ca.explain")),
        h("p", { class: "label" }, t("signin.ca.fingerprint")),
        fingerprint(ca.sha256),
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
  // Another address than the accepted one: check that server first.
  server.addEventListener("input", () => {
    const back = accepted !== null && server.value.trim() === accepted.server;
    if (back === useAccepted && !ca && !noCa) return;
    ca = null; noCa = false; matches.checked = false;
    useAccepted = back;
    if (back) showAccepted();
    else { caBox.hidden = true; credentials.disabled = true; }
  });

  const check = h("form", { class: "server", "aria-label": t("signin.fetchCa") },
    field(t("signin.server"), server, t("signin.server.hint")),
    h("button", { type: "submit" }, t("signin.fetchCa")));
  check.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    ca = null; noCa = false; useAccepted = false; matches.checked = false; credentials.disabled = true;
    status.replaceChildren();
    try {
      ca = await api.fetchServerCa(server.value.trim());
    } catch (e) {
      const err = e as UiError;
      // A server with a publicly trusted certificate has no /ca.pem: go on with system roots.
      if (err?.code === "configuration" && /ca\.pem/.test(err.message)) noCa = true;
      else return void fail(e);
    }
    showCa();
    (ca && !matches.checked ? matches : email).focus();
  });

  const login = h("form", { class: "credentials" }, credentials, status);
  login.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!ca && !noCa && !useAccepted) return;
    status.replaceChildren();
    try {
      const who = await api.signIn({
        server: server.value.trim(), email: email.value.trim(), password: password.value,
        // Without a CA of its own here, the app trusts the one accepted earlier for this server.
        caPem: ca?.pem ?? null, confirmedFingerprint: ca && matches.checked ? ca.sha256 : null,
      });
      password.value = "";
      onSignedIn(who);
    } catch (e) {
      fail(e);
    }
  });

  if (useAccepted) showAccepted();
  return h("section", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title", tabindex: -1 }, t("signin.title")), check, caBox, login);
}
