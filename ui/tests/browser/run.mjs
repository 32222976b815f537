// UI tests in Debian's Chromium (playwright-core, no downloaded browser) against the real UI
// code served by vite, with the Tauri IPC mocked (harness.ts). Each test checks behaviour; every
// screen is checked with axe-core (no serious or critical violation) and photographed in
// English and Japanese into $ECSP_ARTIFACTS (default ../target/desktop-artifacts/browser).
// Prints cargo's "test result:" line so scripts/test.sh counts it.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createServer } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));
const uiRoot = path.resolve(here, "../..");
const artifacts = process.env.ECSP_ARTIFACTS ?? path.resolve(uiRoot, "../target/desktop-artifacts/browser");
mkdirSync(artifacts, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    } catch { /* next */ }
  }
  throw new Error("Debian's chromium is not installed (scripts/setup-debian.sh installs it)");
}

const server = await createServer({ root: uiRoot, logLevel: "error", server: { port: 0, host: "127.0.0.1" } });
await server.listen();
const base = server.resolvedUrls.local[0].replace(/\/$/, "");
const browser = await chromium.launch({
  executablePath: chromiumPath(),
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

async function open(lang = "en", query = "") {
  const context = await browser.newContext({ locale: lang === "ja" ? "ja-JP" : "en-GB", viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}/tests/browser/harness.html${query}`);
  await page.waitForSelector("h1");
  page.errors = errors;
  return page;
}

async function axe(page, screen) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert(bad.length === 0, `${screen}: accessibility violations ${JSON.stringify(bad.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) })))}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

/** No heading said twice on a screen (a table's caption under a heading of the same words). */
async function noHeadingTwice(page, screen) {
  const names = await page.evaluate(() => [...document.querySelectorAll("h1, h2, h3, caption, legend, [role=heading]")]
    .filter((el) => el.getClientRects().length > 0)
    .map((el) => el.textContent.trim()));
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  assert(twice.length === 0, `${screen}: headings shown twice: ${JSON.stringify(twice)} of ${JSON.stringify(names)}`);
}

/** Whether the element is wholly inside the window (not below the fold). */
async function inView(locator) {
  return locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;
  });
}

async function go(page, label) {
  await page.getByRole("button", { name: label, exact: true }).click();
  await page.waitForFunction((l) => document.querySelector("main h1")?.textContent?.length && document.querySelector("nav [aria-current=page]")?.textContent === l, label);
}

test("sign-in shows the CA fingerprint and enables the password only once it is confirmed", async () => {
  const page = await open();
  // Start-up asks the shell for the app's state once (the language chosen and the first screen).
  const asked = await page.evaluate(() => window.__ecsp.backend.state.calls.filter((c) => c === "app_status").length);
  assert(asked === 1, `app_status asked ${asked} times at start-up`);
  await axe(page, "sign-in");
  await page.getByLabel("Server address").fill("http://localhost:8443");
  await page.getByRole("button", { name: "Check the server" }).click();
  await page.getByRole("alert").waitFor();
  assert((await page.getByRole("alert").textContent()).includes("https://"), "plain HTTP is refused with a reason");
  await page.getByLabel("Server address").fill("https://localhost:8443");
  await page.getByRole("button", { name: "Check the server" }).click();
  const fp = await page.getByTestId("fingerprint").innerText();
  const expected = await page.evaluate(() => window.__ecsp.backend.fingerprint);
  assert(fp.replace(/\s+/g, ":") === expected, `fingerprint shown in full (${fp})`);
  assert(await page.getByLabel("E-mail").isDisabled(), "credentials wait for the fingerprint check");
  await shot(page, "en-01-sign-in-fingerprint");
  await page.getByLabel("The fingerprint matches the one the server printed").check();
  await page.getByLabel("E-mail").fill("operator@example.com");
  await page.getByLabel("Password").fill("wrong");
  // Enter in the password field from the top of the page (a click would scroll the button
  // into the middle of the window first). The default window (1100×760) with the fingerprint
  // panel shown: the error is an alert, scrolled into view and focused, not below the fold.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByLabel("Password").press("Enter");
  const error = page.getByText("E-mail or password is wrong");
  await error.waitFor();
  assert((await error.getAttribute("role")) === "alert", "the error is an alert");
  assert(await inView(error), `the error is in view: ${JSON.stringify(await error.boundingBox())} in ${JSON.stringify(page.viewportSize())}`);
  assert(await error.evaluate((el) => document.activeElement === el), "focus moved to the error");
  await shot(page, "en-01b-sign-in-wrong-password");
  await page.getByLabel("Password").fill("correct horse");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
  assert(await page.evaluate(() => window.__ecsp.backend.state.signedIn), "signed in");
  // The signed-in person in the header: name and e-mail.
  const user = await page.getByTestId("user").innerText();
  assert(user.includes("Pat Operator") && user.includes("operator@example.com"), `the header names the user: ${user}`);
  assert(page.errors.length === 0, page.errors.join("; "));
});

test("signing out keeps the accepted CA: signing in again to the same server does not ask again", async () => {
  const page = await open();
  await page.getByLabel("Server address").fill("https://localhost:8443");
  await page.getByRole("button", { name: "Check the server" }).click();
  await page.getByLabel("The fingerprint matches the one the server printed").check();
  await page.getByLabel("E-mail").fill("operator@example.com");
  await page.getByLabel("Password").fill("correct horse");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
  await go(page, "This computer");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { level: 1, name: "Sign in" }).waitFor();
  assert((await page.getByLabel("Server address").inputValue()) === "https://localhost:8443", "the server is kept");
  await page.getByTestId("ca-accepted").waitFor();
  assert((await page.getByTestId("fingerprint").innerText()).replace(/\s+/g, ":") === await page.evaluate(() => window.__ecsp.backend.fingerprint), "the accepted fingerprint is shown");
  assert((await page.getByLabel("The fingerprint matches the one the server printed").count()) === 0, "nothing to confirm again");
  assert(await page.getByLabel("E-mail").isEnabled(), "the credentials are open at once");
  await axe(page, "sign-in with an accepted CA");
  await noHeadingTwice(page, "sign-in with an accepted CA");
  await shot(page, "en-01c-sign-in-accepted-ca");
  await page.getByLabel("E-mail").fill("operator@example.com");
  await page.getByLabel("Password").fill("correct horse");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  // Back where the user was.
  await page.getByRole("heading", { level: 1, name: "This computer" }).waitFor();
  assert(await page.evaluate(() => window.__ecsp.backend.state.signedIn), "signed in again");
  // Checking the server again finds the same CA and says so, with nothing to tick.
  await go(page, "This computer");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Check the server" }).click();
  await page.getByTestId("ca-accepted").waitFor();
  assert(await page.getByLabel("E-mail").isEnabled(), "the same CA needs no new confirmation");
  // Another server is checked from the start.
  await page.getByLabel("Server address").fill("https://other.example:8443");
  assert(await page.getByLabel("E-mail").isDisabled(), "another server waits for its check");
  assert(page.errors.length === 0, page.errors.join("; "));
});

test("consent: allow, refuse and withdraw are equally easy, the history records each", async () => {
  const page = await open("en", "?signedIn");
  await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
  assert((await page.getByText("Notice version 2026-11").count()) === 1, "notice version shown");
  const card = page.locator('[data-purpose="job_info"]');
  const sizes = await card.getByRole("button").evaluateAll((bs) => bs.map((b) => [b.getBoundingClientRect().width, b.getBoundingClientRect().height, getComputedStyle(b).fontWeight]));
  assert(sizes.length === 3 && sizes.every((s) => JSON.stringify(s) === JSON.stringify(sizes[0])), `same size and weight: ${JSON.stringify(sizes)}`);
  await card.getByRole("button", { name: "Allow", exact: true }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="state-job_info"]')?.textContent?.startsWith("Allowed"));
  await page.locator('[data-purpose="job_info"]').getByRole("button", { name: "Withdraw" }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="state-job_info"]')?.textContent?.startsWith("Withdrawn"));
  const rows = await page.locator("table tbody tr").count();
  assert(rows === 2, `two decisions in the history (${rows})`);
  await axe(page, "consent");
  await noHeadingTwice(page, "consent");
  await shot(page, "en-02-consent");
});

test("the preview marks the job part, and a refusal removes it", async () => {
  const page = await open("en", "?signedIn");
  await page.evaluate(() => window.__ecsp.backend.state.consents.set("job_info", "granted"));
  await go(page, "What will be sent");
  const gated = page.locator('.gated[data-purpose="job_info"]');
  assert((await gated.count()) === 1, "one gated part");
  assert((await gated.innerText()).includes("Will be sent"), "marked as sent while allowed");
  assert((await gated.innerText()).includes("brochure.pdf"), "the exact job part is shown");
  // Labelled fields in words with their units; the raw JSON only behind a closed disclosure.
  const first = page.locator("article.preview-record").first();
  const field = async (scope, path) => (await scope.locator(`dt[data-field="${path}"]`).innerText()) + " = " + (await scope.locator(`dt[data-field="${path}"] + dd`).innerText());
  const expected = [
    [first, "print_settings.preset_name", "Preset = Proof"],
    [first, "print_settings.resolution_dpi", "Resolution = 1440 × 720 dpi"],
    [first, "print_settings.rendering_intent", "Rendering intent = Relative colorimetric"],
    [first, "device_id", "Printer = Epson SC-P9500 (X4Y0012345)"],
    [first, "software.name", "Product = Fiery XF"],
    [gated, "job.size_mm", "Size = 210 × 297 mm"],
    [gated, "job.ink_used_ml", "Ink used = 12.5 ml"],
    [gated, "job.status", "Status = Completed"],
    [gated, "job.job_name", "Job name = Spring brochure"],
  ];
  for (const [scope, path, want] of expected) {
    const got = await field(scope, path);
    assert(got === want, `${path}: ${got} (want ${want})`);
  }
  const vendor = await first.locator('dt[data-field="print_settings.values.ink_limit"]').innerText();
  assert(vendor.includes("ink_limit") && vendor.includes("as the DFE names it"), `a vendor key is kept and marked: ${vendor}`);
  const shown = await page.locator("main").innerText();
  for (const key of ["print_settings", "device_id", "record_id", "dfe", "{", "0f6c1d2e-", "5b1f0a52-"]) {
    assert(!shown.includes(key), `no key, JSON or id in the visible text: ${key}`);
  }
  const disclosure = first.locator(":scope > details.raw");
  assert((await disclosure.count()) === 1 && !(await disclosure.evaluate((d) => d.open)), "the raw JSON is behind a closed disclosure");
  await disclosure.locator("summary").click();
  const json = JSON.parse(await disclosure.locator("pre").innerText());
  assert(json.print_settings.values.ink_limit === 280 && json.record_id.startsWith("0f6c1d2e"), "the disclosure holds the exact JSON");
  await disclosure.locator("summary").click();
  await axe(page, "preview");
  await noHeadingTwice(page, "preview");
  await shot(page, "en-03-preview");
  await go(page, "Consent");
  await page.locator('[data-purpose="job_info"]').getByRole("button", { name: "Don't allow" }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="state-job_info"]')?.textContent?.startsWith("Not allowed"));
  await go(page, "What will be sent");
  assert((await page.locator(".gated").count()) === 0, "no job part after refusing");
});

test("queue: rejected records show the server's reason and can be retried or removed", async () => {
  const page = await open("en", "?signedIn");
  await go(page, "Queue");
  assert((await page.getByText("must be at most 400").count()) === 1, "server reason shown");
  assert((await page.getByText("The server refused a value in this record.").count()) === 1, "the rejection said by its code");
  // A failed attempt before a retry is said by its kind; the core's words only in the tooltip.
  const retryReason = page.locator("main tbody tr:first-child td:nth-child(4)");
  assert((await retryReason.innerText()) === "The server could not be reached; it will be sent again by itself.", "the network failure in words");
  assert((await retryReason.locator(".retry-reason").getAttribute("title")).includes("Connection refused"), "the detail kept in the tooltip");
  assert((await page.getByTestId("count-rejected").innerText()) === "1", "one rejected");
  await axe(page, "queue");
  await noHeadingTwice(page, "queue");
  // Progress from the core's events.
  await page.evaluate(() => window.__ecsp.emit("ecsp://client", [{ type: "flush_progress", progress: { sent: 3, rejected: 0, total: 7 } }]));
  await page.evaluate(() => window.__ecsp.emit("ecsp://client", [{ type: "queue_changed", status: { queued: 1, in_flight: 0, rejected: 1, sent: 3 } }]));
  await page.getByText("Sent 3 of 7").first().waitFor();
  await shot(page, "en-04-queue");
  // Each row names its printer in words; no record id shows, and the buttons say which row.
  assert((await page.locator("main tbody tr:first-child td:first-child").innerText()).includes("Epson SC-P9500 (X4Y0012345)"), "the printer by name");
  assert(!(await page.locator("main").innerText()).includes("0f6c1d2e"), "no record id on the screen");
  await page.getByRole("button", { name: /^Retry: DFE settings, Epson SC-P9500 \(X4Y0012345\), / }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="count-rejected"]')?.textContent === "0");
  await page.evaluate(() => { window.__ecsp.backend.state.queue[1].state = "rejected"; });
  await go(page, "DFE sources");
  await go(page, "Queue");
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: /^Remove: DFE settings, / }).click();
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 1);
  assert((await page.evaluate(() => window.__ecsp.backend.state.queue.length)) === 1, "removed");
});

test("queue: a long backlog is listed 50 at a time, with how many there are and a button for more", async () => {
  const page = await open("en", "?signedIn");
  await page.evaluate(() => {
    const q = window.__ecsp.backend.state.queue;
    for (let i = 0; i < 118; i++) q.push({ ...q[0], record_id: `1f6c1d2e-0000-4000-8000-${String(i).padStart(12, "0")}` });
  });
  await go(page, "Queue");
  const rows = () => page.evaluate(() => document.querySelectorAll("tbody tr").length);
  assert((await rows()) === 50, "the first 50 listed");
  assert((await page.getByTestId("queue-shown").innerText()).includes("The newest 50 of 120 are listed."), "says how many there are");
  await page.getByRole("button", { name: "Show 50 more" }).click();
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 100);
  assert((await page.evaluate(() => document.activeElement?.textContent)) === "Show 20 more", "the keyboard stays on the button");
  // An event redraws the screen without folding the list back.
  await page.evaluate(() => window.__ecsp.emit("ecsp://client", [{ type: "queue_changed", status: { queued: 119, in_flight: 0, rejected: 1, sent: 3 } }]));
  await page.waitForTimeout(300);
  assert((await rows()) === 100, "still 100 after an event");
  // A burst of events (files dropped into a watched folder) redraws the screen a few times, not
  // once per event, and ends showing what the last one changed.
  const listed = () => page.evaluate(() => window.__ecsp.backend.state.calls.filter((c) => c === "queue_list").length);
  const before = await listed();
  await page.evaluate(() => {
    const s = window.__ecsp.backend.state;
    for (let i = 0; i < 200; i++) {
      if (i === 199) s.queue.push({ ...s.queue[0], record_id: "1f6c1d2e-0000-4000-8000-999999999999" });
      window.__ecsp.emit("ecsp://client", [{ type: "queue_changed", status: { queued: 119, in_flight: 0, rejected: 1, sent: 3 } }]);
    }
  });
  await page.waitForFunction(() => document.querySelector('[data-testid="queue-shown"]')?.textContent?.includes("of 121"));
  await page.waitForTimeout(400);
  const redraws = (await listed()) - before;
  assert(redraws >= 1 && redraws <= 3, `200 events redrew the queue ${redraws} times`);
  await page.getByRole("button", { name: "Show 21 more" }).click();
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 121);
  assert((await page.getByTestId("queue-shown").count()) === 0, "all listed: no button");
  await axe(page, "queue-paged");
});

test("sources, server records and authorisation", async () => {
  const page = await open("en", "?signedIn");
  await go(page, "DFE sources");
  // The quarantine reason in words by its code, the reader's detail beside it; no raw code.
  const reason = await page.locator('main tbody tr:first-child td:nth-child(2)').innerText();
  assert(reason.includes("damaged or incomplete") && reason.includes("the XML ends inside <ResourcePool>"), `quarantine reason: ${reason}`);
  assert(!(await page.locator("main").innerText()).includes("malformed"), "no reason code shown");
  assert((await page.locator('main tbody tr:last-child td:nth-child(2)').innerText()).startsWith("The file could not be read."), "a reason without a code is said generally");
  // Not watching, and why: every reason.
  const why = await page.getByTestId("watching").innerText();
  assert(why.includes("deauthorised") && why.includes("No folder is set"), `not watching says why: ${why}`);
  // The folder picker (the dialog plugin) fills the path; typing stays possible.
  await page.getByRole("button", { name: "Choose…" }).click();
  await page.waitForFunction(() => document.querySelector('input[name="folder"]').value === "/srv/dfe/picked");
  const options = await page.evaluate(() => window.__ecsp.backend.state.dialogOptions);
  assert(options?.directory === true && options?.multiple === false, `a folder is picked: ${JSON.stringify(options)}`);
  await page.evaluate(() => { window.__ecsp.backend.state.picked = null; });
  await page.getByRole("button", { name: "Choose…" }).click();
  await page.waitForFunction(() => window.__ecsp.backend.state.dialogOptions !== null);
  assert((await page.getByLabel("Hot folder").inputValue()) === "/srv/dfe/picked", "cancelling the picker keeps the path");
  await page.getByLabel("Hot folder").fill("/srv/dfe/hot");
  await page.getByLabel("Printer this DFE drives").selectOption({ index: 1 });
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  await page.evaluate(() => window.__ecsp.emit("ecsp://folder", [{ event: "captured", file: "job-17.jdf", record_ids: ["x"], withheld: ["job_info"] }]));
  await page.getByText("job-17.jdf: captured without job information").waitFor();
  await axe(page, "sources");
  await noHeadingTwice(page, "sources");
  await shot(page, "en-05-sources");
  await go(page, "On the server");
  assert((await page.getByText("J-1000").count()) === 1, "stored job id shown");
  assert((await page.getByText("none", { exact: true }).count()) === 2, "a record without job part says so");
  const kinds = await page.locator("main tbody td:nth-child(3)").allInnerTexts();
  assert(JSON.stringify(kinds) === JSON.stringify(["DFE settings", "DFE settings", "Device data"]), `kinds in words: ${kinds}`);
  // Times in the shell's time zone (the fake's is Tokyo, UTC+9), not the browser's.
  const captured = await page.locator("main tbody td:nth-child(1)").allInnerTexts();
  assert(captured[0] === "21 Nov 2026, 19:00:00", `captured at in the shell's zone: ${captured}`);
  await axe(page, "records");
  await noHeadingTwice(page, "records");
  // A short screen fits the window (the header, taller with the user's name, is not scrolled off).
  const fit = await page.evaluate(() => ({ scroll: document.documentElement.scrollHeight, height: window.innerHeight }));
  assert(fit.scroll <= fit.height, `the screen fits the window: ${JSON.stringify(fit)}`);
  await shot(page, "en-06-records");
  await go(page, "This computer");
  await page.getByRole("button", { name: "Authorise this computer" }).click();
  await page.getByRole("button", { name: "Deauthorise" }).waitFor();
  assert(await page.evaluate(() => window.__ecsp.backend.state.authorised), "authorised");
  assert((await page.getByTestId("sync").innerText()).startsWith("Authorised"), "status line follows");
  assert(!(await page.getByLabel("Start ECSP Desktop when I log in").isChecked()), "start at login is opt-in");
  await axe(page, "computer");
  await noHeadingTwice(page, "computer");
  await shot(page, "en-07-computer");
  await page.getByRole("button", { name: "Deauthorise" }).click();
  await page.getByRole("button", { name: "Authorise this computer" }).waitFor();
  assert(!(await page.evaluate(() => window.__ecsp.backend.state.authorised)), "deauthorised");
});

test("the header never says up to date over a rejected or waiting record", async () => {
  const page = await open("en", "?signedIn");
  await go(page, "Queue");
  // The fake queue holds one waiting and one rejected record; the sync service is idle.
  await page.evaluate(() => window.__ecsp.emit("ecsp://client", [{ type: "sync_state_changed", state: { state: "idle" } }]));
  await page.waitForFunction(() => document.querySelector('[data-testid="sync"]')?.textContent?.includes("1 rejected"));
  assert(!(await page.getByTestId("sync").innerText()).includes("Up to date"), "not up to date over a rejection");
  await axe(page, "status with a rejection");
  await shot(page, "en-08-status-rejected");
  await page.evaluate(() => window.__ecsp.emit("ecsp://client", [{ type: "queue_changed", status: { queued: 2, in_flight: 0, rejected: 0, sent: 3 } }]));
  await page.waitForFunction(() => document.querySelector('[data-testid="sync"]')?.textContent?.endsWith("2 waiting to be sent"));
  await page.evaluate(() => window.__ecsp.emit("ecsp://client", [{ type: "queue_changed", status: { queued: 0, in_flight: 0, rejected: 0, sent: 5 } }]));
  await page.waitForFunction(() => document.querySelector('[data-testid="sync"]')?.textContent?.endsWith("Up to date"));
  const ja = await open("ja", "?signedIn");
  await ja.evaluate(() => window.__ecsp.emit("ecsp://client", [{ type: "sync_state_changed", state: { state: "idle" } }]));
  await ja.waitForFunction(() => document.querySelector('[data-testid="sync"]')?.textContent?.includes("1 件が拒否されました"));
  await shot(ja, "ja-08-status-rejected");
});

test("a decision read from the server redraws the consent screen and says where it was made", async () => {
  const page = await open("en", "?signedIn");
  await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
  assert((await page.getByTestId("state-job_info").innerText()).startsWith("Not decided"), "not decided at first");
  // Granted in the CLI: the core reads it from the server's ledger and says so.
  await page.evaluate(() => {
    const s = window.__ecsp.backend.state;
    s.consents.set("job_info", "granted");
    s.history.unshift({ decision_id: null, purpose: "job_info", decision: "granted", notice_version: "2026-11", decided_at: "2026-11-22T08:03:00Z", delivered: true });
    window.__ecsp.emit("ecsp://client", [{ type: "consent_changed", purpose: "job_info", decision: "granted" }]);
  });
  await page.waitForFunction(() => document.querySelector('[data-testid="state-job_info"]')?.textContent?.startsWith("Allowed"));
  assert((await page.getByText("On the server (decided in another app)").count()) === 1, "the history says it was decided elsewhere");
  await axe(page, "consent decided elsewhere");
  await shot(page, "en-09-consent-elsewhere");
});

test("keyboard: the sections are reachable with Tab and Enter, and focus moves to the heading", async () => {
  const page = await open("en", "?signedIn");
  await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.textContent === "Queue");
  }
  assert(reached, "Tab reaches the Queue section");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.tagName === "H1" && document.activeElement.textContent === "Queue");
  // A visible focus ring on buttons.
  await page.keyboard.press("Shift+Tab");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert(outline !== "none", `focus is visible (${outline})`);
});

test("Japanese: every screen in Japanese, accessible", async () => {
  const page = await open("ja");
  await page.getByRole("heading", { level: 1, name: "サインイン" }).waitFor();
  await page.getByLabel("サーバーのアドレス").fill("https://localhost:8443");
  await page.getByRole("button", { name: "サーバーを確認" }).click();
  await page.getByTestId("fingerprint").waitFor();
  await axe(page, "ja sign-in");
  await shot(page, "ja-01-sign-in-fingerprint");
  await page.getByLabel("フィンガープリントはサーバーが表示したものと一致します").check();
  await page.getByLabel("メールアドレス").fill("operator@example.com");
  await page.getByLabel("パスワード").fill("wrong");
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.getByLabel("パスワード").press("Enter");
  const jaError = page.getByRole("alert");
  await jaError.waitFor();
  assert((await jaError.innerText()).includes("パスワードが違う"), "ja sign-in error");
  assert(await inView(jaError), "ja: the error is in view");
  await shot(page, "ja-01b-sign-in-wrong-password");
  const signedIn = await open("ja", "?signedIn");
  await signedIn.evaluate(() => window.__ecsp.backend.state.consents.set("job_info", "granted"));
  const screens = [["同意", "02-consent"], ["DFE の取得元", "05-sources"], ["送信される内容", "03-preview"], ["送信キュー", "04-queue"], ["サーバー上のデータ", "06-records"], ["このコンピューター", "07-computer"]];
  await go(signedIn, "DFE の取得元");
  for (const [label, name] of screens) {
    await go(signedIn, label);
    assert((await signedIn.locator("main h1").innerText()) === label, `${label} heading`);
    assert(await signedIn.evaluate(() => document.documentElement.lang === "ja"), "lang=ja");
    await axe(signedIn, `ja ${label}`);
    await noHeadingTwice(signedIn, `ja ${label}`);
    // (The queue quotes the server's own words, which name the field.)
    const text = label === "送信キュー" ? "" : await signedIn.locator("main").innerText();
    for (const key of ["print_settings", "device_data", "malformed", "preset_name", "{"]) assert(!text.includes(key), `ja ${label}: no key ${key}`);
    await shot(signedIn, `ja-${name}`);
  }
  // Japanese words for the fields, the quarantine reason and why the folder is not watched.
  await go(signedIn, "送信される内容");
  assert((await signedIn.locator('dt[data-field="print_settings.resolution_dpi"] + dd').first().innerText()) === "1440 × 720 dpi", "ja unit");
  assert((await signedIn.locator('dt[data-field="print_settings.preset_name"]').first().innerText()) === "プリセット", "ja label");
  await go(signedIn, "DFE の取得元");
  assert((await signedIn.locator("main tbody").innerText()).includes("壊れているか"), "ja quarantine reason");
  assert((await signedIn.getByTestId("watching").innerText()).includes("認可解除中"), "ja not watching why");
  assert((await signedIn.getByTestId("user").innerText()).includes("Pat Operator"), "ja header names the user");
  // Switching the language on the fly.
  await signedIn.getByLabel("言語").selectOption("en");
  await signedIn.getByRole("heading", { level: 1, name: "DFE sources" }).waitFor();
  // Saved by the shell (its notifications follow it), not in the webview's storage.
  await signedIn.waitForFunction(() => window.__ecsp.backend.state.language === "en");
  assert(await signedIn.evaluate(() => localStorage.length === 0), "nothing kept in the webview's storage");
});

test("Japanese queue in a narrow window: states, buttons and the menu are not broken mid-word, the reason stays readable", async () => {
  const page = await open("ja", "?signedIn");
  await page.setViewportSize({ width: 720, height: 760 });
  await go(page, "送信キュー");
  await page.getByRole("button", { name: "再試行", exact: false }).first().waitFor();
  // Lines a piece of text takes: its fragments' distinct tops.
  const broken = await page.evaluate(() => [...document.querySelectorAll("main tbody td:nth-child(3), main .row-actions button, nav button")]
    .map((el) => {
      const range = document.createRange();
      range.selectNodeContents(el);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      return { text: el.textContent, lines: tops.size };
    })
    .filter((x) => x.lines > 1));
  await shot(page, "ja-04-queue-narrow");
  // The rejection in Japanese by its code, the server's English words kept beside it.
  const reasonText = await page.locator("main tbody tr:last-child td:nth-child(4)").innerText();
  assert(reasonText.includes("サーバーがこのレコードの値を受け付けませんでした"), `rejection in Japanese: ${reasonText}`);
  assert(reasonText.includes("サーバーの説明（英語）") && reasonText.includes("must be at most 400"), `server's words kept: ${reasonText}`);
  const retryText = await page.locator("main tbody tr:first-child td:nth-child(4)").innerText();
  assert(retryText === "サーバーに接続できませんでした。自動的に再送します。", `the network failure in Japanese: ${retryText}`);
  const checked = await page.locator("main tbody td:nth-child(3), main .row-actions button, nav button").count();
  assert(checked >= 4, `queue cells checked (${checked})`);
  assert(broken.length === 0, `broken across lines: ${JSON.stringify(broken)}`);
  const reasonWidth = await page.evaluate(() => document.querySelector("main tbody tr:last-child td:nth-child(4)").getBoundingClientRect().width);
  assert(reasonWidth >= 120, `the reason column is ${reasonWidth}px wide`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
});

let passed = 0;
let failed = 0;
for (const t of tests) {
  try {
    await t.fn();
    passed++;
    console.log(`test ${t.name} ... ok`);
  } catch (e) {
    failed++;
    console.log(`test ${t.name} ... FAILED\n  ${e.stack ?? e}`);
  }
}
await browser.close();
await server.close();
console.log(`\ntest result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed; 0 ignored; 0 measured; 0 filtered out`);
console.log(`screenshots: ${artifacts}`);
process.exit(failed ? 1 : 0);
