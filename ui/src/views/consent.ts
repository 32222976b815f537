// Consent: the notice (text and version) in the chosen language, one card per purpose with
// three buttons of the same size and weight — allow, don't allow, withdraw — and the history.
import { api, type ConsentHistoryEntry, type ConsentStatus, type Decision, type Notice } from "../api";
import { h, showError, table, fill } from "../dom";
import { errorText } from "../format";
import { formatTime, language, t } from "../i18n";
import type { MessageKey } from "../messages";

export async function consentView(root: HTMLElement): Promise<void> {
  const [notice, statuses, history] = await Promise.all([
    api.consentNotice(language()), api.consentStatus(), api.consentHistory(),
  ]);
  render(root, notice, statuses, history);
}

function render(root: HTMLElement, notice: Notice, statuses: ConsentStatus[], history: ConsentHistoryEntry[]): void {
  const feedback = h("div", { class: "messages", "aria-live": "polite" });
  const decide = async (purpose: ConsentStatus["purpose"], decision: Decision) => {
    try {
      await api.decide(purpose, decision);
      await consentView(root);
      root.querySelector<HTMLElement>(`[data-purpose="${purpose}"] h3`)?.focus();
    } catch (e) {
      showError(feedback, errorText(e));
    }
  };
  const cards = notice.items.map((item) => {
    const s = statuses.find((x) => x.purpose === item.purpose);
    const state = s?.state ?? "never_asked";
    const headingId = `consent-${item.purpose}`;
    return h("article", { class: `purpose state-${state}`, "data-purpose": item.purpose, "aria-labelledby": headingId },
      h("h3", { id: headingId, tabindex: -1 }, item.title),
      h("p", {}, item.text),
      h("p", { class: "state", "data-testid": `state-${item.purpose}` }, t(`consent.state.${state}` as MessageKey),
        s?.pending_upload ? h("span", { class: "pending" }, ` · ${t("consent.pending")}`) : null),
      h("div", { class: "decisions", role: "group", "aria-label": item.title },
        h("button", { type: "button", "aria-pressed": String(state === "granted"), onclick: () => decide(item.purpose, "granted") }, t("consent.grant")),
        h("button", { type: "button", "aria-pressed": String(state === "refused"), onclick: () => decide(item.purpose, "refused") }, t("consent.refuse")),
        h("button", { type: "button", disabled: state !== "granted", onclick: () => decide(item.purpose, "withdrawn") }, t("consent.withdraw")),
      ));
  });
  const historyTable = history.length === 0
    ? h("p", {}, t("consent.history.empty"))
    : table({ labelledBy: "history-title" },
      [t("consent.col.when"), t("consent.col.purpose"), t("consent.col.decision"), t("consent.col.version"), t("consent.col.server")],
      history.map((e) => [formatTime(e.decided_at), t(`purpose.${e.purpose}` as MessageKey), t(`decision.${e.decision}` as MessageKey),
        e.notice_version, !e.delivered ? t("consent.history.notDelivered")
          : e.decision_id === null ? t("consent.history.elsewhere") : t("consent.history.delivered")]));
  fill(root, 
    h("h1", { tabindex: -1 }, t("consent.title")),
    h("p", { class: "notice-version" }, t("consent.version", { version: notice.version })),
    h("p", { class: "notice" }, notice.introduction),
    feedback,
    h("div", { class: "purposes" }, cards),
    h("h2", { id: "history-title" }, t("consent.history")),
    historyTable,
  );
}
