// End-to-end in the real app: the release/debug binary of desktop/app (front end embedded),
// driven through tauri-driver and WebKitWebDriver, against the reference server (ecsp-server)
// on loopback. Run it inside Xvfb and a private D-Bus session with an unlocked GNOME Keyring
// (scripts/test.d/60-desktop.sh does). Environment:
//   ECSP_DESKTOP_BIN  the app binary (built with --features embed-ui)
//   ECSP_SERVER_BIN   the reference server binary
//   TAURI_DRIVER      tauri-driver (default: on PATH)
//   ECSP_ARTIFACTS    where screenshots go
// Prints cargo's "test result:" line.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { remote } from "webdriverio";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const appBin = path.resolve(repo, process.env.ECSP_DESKTOP_BIN ?? "target/debug/ecsp-desktop");
const serverBin = path.resolve(repo, process.env.ECSP_SERVER_BIN ?? "target/debug/ecsp-server");
const artifacts = process.env.ECSP_ARTIFACTS ?? path.join(repo, "target/desktop-artifacts/e2e");
mkdirSync(artifacts, { recursive: true });
const work = mkdtempSync(path.join(os.tmpdir(), "ecsp-desktop-e2e-"));
const hot = path.join(work, "hot");
mkdirSync(hot);
const ticket = readFileSync(path.join(repo, "core/dfe/data/digital-printing-combined.jdf"), "utf8");
const children = [];
// However this script ends (a set-up step throwing too), the server, the driver and the work
// folder go with it.
process.on("exit", () => {
  for (const c of children) c.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
});

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, f, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}
function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

// ---- the reference server -------------------------------------------------------------------
const serverPort = await freePort();
const serverDir = path.join(work, "server");
let server = null;
let printed = "";
async function startServer() {
  const child = spawn(serverBin, ["--listen", `127.0.0.1:${serverPort}`, "--data-dir", serverDir], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", () => {});
  // The line after the demo accounts (or the one a restart prints instead).
  await until("the server to start", () => /Sign in:|\nNext:|Existing data directory/.test(out), 60000);
  printed ||= out;
  server = child;
}
function stopServer() {
  return new Promise((resolve) => {
    server.once("exit", resolve);
    server.kill("SIGTERM");
  });
}
await startServer();
const fingerprint = /SHA-256 fingerprint: ([0-9A-F:]+)/.exec(printed)[1];
const operatorLine = printed.split("\n").find((l) => /^\s+operator\S*@\S+\s+\S+\s+\S+/.test(l));
const [, email, , password] = operatorLine.trim().match(/^(\S+)\s+(\S+)\s+(\S+)$/) ?? [];
const caPem = readFileSync(path.join(serverDir, "tls", "ca.pem"));
const serverUrl = `https://localhost:${serverPort}`;

function request(method, p, body, token) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", servername: "localhost", port: serverPort, method, path: p, ca: caPem,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      let data = "";
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolve({ status: res.statusCode, json: data ? JSON.parse(data) : null }));
    });
    req.on("error", reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}
let token = null;
async function serverRecords() {
  // One sign-in per server start (password hashing is slow); again after a 401.
  let devices = token ? await request("GET", "/api/v1/devices", null, token) : { status: 401 };
  if (devices.status === 401) {
    token = (await request("POST", "/api/v1/auth/login", { email, password })).json.access_token;
    devices = await request("GET", "/api/v1/devices", null, token);
  }
  devices = devices.json;
  const all = [];
  for (const d of devices) all.push(...(await request("GET", `/api/v1/devices/${d.device_id}/records?limit=500`, null, token)).json);
  return all;
}
const byJob = (records, jobId) => records.find((r) => JSON.stringify(r.record).includes(jobId) || r.record?.job?.job_id === jobId);

// ---- the app through tauri-driver ---------------------------------------------------------------
const driverPort = await freePort();
const driver = spawn(process.env.TAURI_DRIVER ?? "tauri-driver", ["--port", String(driverPort)], {
  stdio: ["ignore", "inherit", "inherit"],
  // A zone other than the machine's UTC, so times said in UTC would show.
  env: { ...process.env, ECSP_CONFIG_DIR: path.join(work, "config"), ECSP_DATA_DIR: path.join(work, "data"), LANG: "C.UTF-8", TZ: "Asia/Tokyo" },
});
children.push(driver);
await until("tauri-driver", () => new Promise((r) => { const s = net.connect(driverPort, "127.0.0.1", () => { s.end(); r(true); }); s.on("error", () => r(false)); }), 20000);

let passed = 0;
let failed = 0;
let app = null;
const step = async (name, fn) => {
  try {
    await fn();
    passed++;
    console.log(`test ${name} ... ok`);
  } catch (e) {
    failed++;
    console.log(`test ${name} ... FAILED\n  ${e.stack ?? e}`);
    if (app) await app.saveScreenshot(path.join(artifacts, `failed-${passed + failed}.png`)).catch(() => {});
    throw e;
  }
};
const shot = (name) => app.saveScreenshot(path.join(artifacts, `${name}.png`));
const $ = (sel) => app.$(sel);
async function button(text) {
  const b = await app.$(`//button[normalize-space(.)="${text}"]`);
  await b.waitForClickable({ timeout: 20000 });
  return b;
}
async function go(section) {
  await (await button(section)).click();
  await app.waitUntil(async () => (await (await $("main h1")).getText()) === section, { timeout: 20000 });
}
async function jobCard(text) {
  const b = await app.$(`//article[@data-purpose="job_info"]//button[normalize-space(.)="${text}"]`);
  await b.waitForClickable({ timeout: 20000 });
  await b.click();
}
async function jobState(prefix) {
  await app.waitUntil(async () => (await (await $('[data-testid="state-job_info"]')).getText()).startsWith(prefix), { timeout: 20000 });
}
const drop = (name, jobId) => writeFileSync(path.join(hot, name), ticket.replace("J-2024-0815", jobId));

try {
  const t0 = Date.now();
  app = await remote({
    hostname: "127.0.0.1", port: driverPort, logLevel: "error", connectionRetryCount: 0,
    capabilities: { "tauri:options": { application: appBin } },
  });
  await (await $("h1")).waitForDisplayed({ timeout: 30000 });
  console.log(`first screen after ${Date.now() - t0} ms (debug build, through WebDriver)`);

  await step("sign in after comparing the server's CA fingerprint", async () => {
    await (await $('input[name="server"]')).setValue(serverUrl);
    await (await button("Check the server")).click();
    const fp = await $('[data-testid="fingerprint"]');
    await fp.waitForDisplayed({ timeout: 20000 });
    const hex = (x) => x.replace(/[^0-9A-F]/gi, "").toUpperCase();
    const shown = await fp.getText();
    assert(hex(shown) === hex(fingerprint) && hex(shown).length === 64, `the app shows the fingerprint the server printed (${shown} vs ${fingerprint})`);
    await shot("01-sign-in-fingerprint");
    await (await $("#fingerprint-matches")).click();
    await (await $('input[name="email"]')).setValue(email);
    // A wrong password first: in the default window (1100×760), with the fingerprint panel
    // shown, the error is an alert in view (it was below the fold).
    await (await $('input[name="password"]')).setValue("not the password");
    await app.execute(() => window.scrollTo(0, 0));
    await app.keys("Enter");
    const alert = await $('[role="alert"]');
    await alert.waitForDisplayed({ timeout: 30000 });
    const where = await app.execute(() => {
      const el = document.querySelector('[role="alert"]');
      const r = el.getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, height: window.innerHeight, width: window.innerWidth, text: el.textContent };
    });
    assert(where.text.includes("E-mail or password is wrong"), `the error says why: ${where.text}`);
    assert(where.top >= 0 && where.bottom <= where.height, `the error is in view: ${JSON.stringify(where)}`);
    await shot("01b-sign-in-wrong-password");
    await (await $('input[name="password"]')).setValue(password);
    await (await button("Sign in")).click();
    await app.waitUntil(async () => (await (await $("main h1")).getText()) === "Consent", { timeout: 30000 });
    // The signed-in person in the header.
    const user = await (await $('[data-testid="user"]')).getText();
    assert(user.includes(email), `the header names the user: ${user}`);
  });

  await step("refuse job information: the server holds the upload without a job part", async () => {
    await jobCard("Don't allow");
    await jobState("Not allowed");
    await shot("02-consent-refused");
    await go("DFE sources");
    // Not watching, and why; the folder picker's button beside the typed path.
    const why = await (await $('[data-testid="watching"]')).getText();
    assert(why.includes("deauthorised") && why.includes("No folder is set"), `not watching says why: ${why}`);
    assert(await (await button("Choose…")).isDisplayed(), "the folder picker's button");
    await (await $('input[name="folder"]')).setValue(hot);
    const select = await $('select[name="device"]');
    await select.selectByIndex(1);
    await (await button("Save")).click();
    await go("This computer");
    await (await button("Authorise this computer")).click();
    await (await button("Deauthorise")).waitForDisplayed({ timeout: 20000 });
    await shot("03-computer-authorised");
    drop("refused.jdf", "J-E2E-REFUSED");
    const rec = await until("the refused-consent upload on the server", async () => (await serverRecords()).find((r) => r.kind === "dfe" && !r.record.job), 60000);
    assert(!JSON.stringify(rec.record).includes("J-E2E-REFUSED"), "no job information left the machine");
    assert(existsSync(path.join(hot, "done", "refused.jdf")), "the file moved to done/");
  });

  await step("grant: the next ticket arrives with its job part", async () => {
    await go("Consent");
    await jobCard("Allow");
    await jobState("Allowed");
    drop("granted.jdf", "J-E2E-GRANTED");
    const rec = await until("the granted upload", async () => byJob(await serverRecords(), "J-E2E-GRANTED"), 60000);
    assert(rec.record.job?.job_id === "J-E2E-GRANTED", "job part stored");
    // A broken ticket is quarantined, its reason said in words with the reader's detail.
    writeFileSync(path.join(hot, "broken.jdf"), ticket.slice(0, Math.floor(ticket.length / 2)));
    await until("the broken ticket quarantined", () => existsSync(path.join(hot, "quarantine", "broken.jdf")), 30000);
    await go("DFE sources");
    await app.waitUntil(async () => (await (await $("main")).getText()).includes("damaged or incomplete"), { timeout: 20000 });
    const row = await (await $("//tr[td[1][normalize-space(.)='broken.jdf']]")).getText();
    assert(row.includes("Reader:") && !row.includes("kind: malformed"), `quarantine reason in words: ${row}`);
    assert((await (await $('[data-testid="watching"]')).getText()) === "Watching this folder", "watching once authorised");
    await shot("04-sources");
    await go("On the server");
    await app.waitUntil(async () => (await (await $("main")).getText()).includes("J-E2E-GRANTED"), { timeout: 20000 });
    // Times in the app's time zone (Tokyo, from the shell's table of its offsets), not UTC.
    const captured = await app.execute(() => [...document.querySelectorAll("main tbody td:first-child")].map((td) => td.textContent));
    const inTokyo = (await serverRecords()).map((r) => new Date(r.captured_at).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium", timeZone: "Asia/Tokyo" }));
    assert(captured.length > 0 && captured.every((c) => inTokyo.includes(c)), `captured times in Tokyo time: ${captured} (server: ${inTokyo})`);
    // A short screen fits the window: nothing scrolls, the header's top is not cut off.
    const fit = await app.execute(() => ({ scroll: document.documentElement.scrollHeight, height: window.innerHeight, top: document.querySelector("header").getBoundingClientRect().top }));
    assert(fit.scroll <= fit.height && fit.top === 0, `the screen fits the window: ${JSON.stringify(fit)}`);
    await shot("05-records");
  });

  await step("withdraw while offline: the queued job part never leaves", async () => {
    await stopServer();
    drop("offline.jdf", "J-E2E-OFFLINE");
    await until("the offline ticket captured", () => existsSync(path.join(hot, "done", "offline.jdf")), 30000);
    await go("What will be sent");
    await app.waitUntil(async () => (await (await $("main")).getText()).includes("J-E2E-OFFLINE"), { timeout: 20000 });
    // Labelled fields, the printer by name; the JSON only behind its disclosure.
    // (Without the closed disclosures: WebKit's element text includes their content.)
    const shown = await app.execute(() => {
      const main = document.querySelector("main").cloneNode(true);
      for (const d of main.querySelectorAll("details")) d.remove();
      return main.textContent;
    });
    for (const label of ["Job ID", "Print settings", "DFE software", "Printer"]) assert(shown.includes(label), `the preview labels ${label}`);
    for (const key of ["print_settings", "device_id", "record_id", "\"job_id\""]) assert(!shown.includes(key), `no key ${key} shown`);
    await shot("06-preview-with-job-part");
    await go("Consent");
    await jobCard("Withdraw");
    await jobState("Withdrawn");
    await go("What will be sent");
    const text = await (await $("main")).getText();
    assert(!text.includes("J-E2E-OFFLINE"), "the job part is gone from the preview");
    await shot("07-preview-after-withdrawal");
    await startServer();
    await go("Queue");
    await (await button("Send now")).click();
    await shot("08-queue");
    await until("the offline record delivered", async () => (await serverRecords()).filter((r) => r.kind === "dfe").length >= 3, 90000);
    const all = await serverRecords();
    assert(!JSON.stringify(all).includes("J-E2E-OFFLINE"), "the withdrawn job part never reached the server");
  });

  await step("deauthorise: nothing more is sent", async () => {
    await go("This computer");
    await (await button("Deauthorise")).click();
    await (await button("Authorise this computer")).waitForDisplayed({ timeout: 20000 });
    await shot("09-computer-deauthorised");
    const before = (await serverRecords()).length;
    drop("after.jdf", "J-E2E-AFTER");
    await sleep(7000);
    assert(existsSync(path.join(hot, "after.jdf")), "the file stays in the folder, unread");
    assert((await serverRecords()).length === before, "the server received nothing more");
    assert(!readdirSync(path.join(hot, "done")).includes("after.jdf"), "not captured");
  });

  await step("sign out and in again: the accepted CA is kept, nothing to confirm again", async () => {
    await (await button("Sign out")).click();
    await app.waitUntil(async () => (await (await $("main h1")).getText()) === "Sign in", { timeout: 20000 });
    await (await $('[data-testid="ca-accepted"]')).waitForDisplayed({ timeout: 20000 });
    const hex = (x) => x.replace(/[^0-9A-F]/gi, "").toUpperCase();
    assert(hex(await (await $('[data-testid="fingerprint"]')).getText()) === hex(fingerprint), "the accepted fingerprint is shown");
    assert(!(await (await $("#fingerprint-matches")).isExisting()), "nothing to confirm again");
    await shot("10-sign-in-accepted-ca");
    await (await $('input[name="email"]')).setValue(email);
    await (await $('input[name="password"]')).setValue(password);
    await (await button("Sign in")).click();
    await app.waitUntil(async () => (await (await $("main h1")).getText()) === "This computer", { timeout: 30000 });
  });
} catch {
  // Counted above; the remaining steps depend on the failed one.
} finally {
  if (app) await app.deleteSession().catch(() => {});
  for (const c of children) c.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
console.log(`\ntest result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed; 0 ignored; 0 measured; 0 filtered out`);
console.log(`screenshots: ${artifacts}`);
process.exit(failed || passed < 6 ? 1 : 0);
