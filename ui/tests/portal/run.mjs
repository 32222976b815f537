// Browser tests of the server's portal (server-mock/src/portal) in Debian's Chromium, driven by
// playwright-core, against the real reference server (target/debug/ecsp-server) with the ES
// agent simulator (target/debug/ecsp-agent simulate) answering remote operations. Each page is
// checked with axe-core (no serious or critical violation) under the portal's own strict CSP,
// and photographed into $ECSP_ARTIFACTS (default target/portal-artifacts), in English and
// Japanese. Prints cargo's "test result:" line so scripts/test.sh counts it.
//
// Run inside a D-Bus session with an unlocked keyring (the agent keeps its secret there), as
// scripts/test.d/65-portal.sh does.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createHash, X509Certificate } from "node:crypto";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const artifacts = process.env.ECSP_ARTIFACTS ?? path.join(repo, "target/portal-artifacts");
mkdirSync(artifacts, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const serverBin = path.join(repo, process.env.ECSP_SERVER_BIN ?? "target/debug/ecsp-server");
const agentBin = path.join(repo, process.env.ECSP_AGENT_BIN ?? "target/debug/ecsp-agent");

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    } catch { /* next */ }
  }
  throw new Error("Debian's chromium is not installed (scripts/setup-debian.sh installs it)");
}

const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

async function until(what, check, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// ---- the server and the simulator ------------------------------------------------------------

const work = mkdtempSync(path.join(os.tmpdir(), "ecsp-portal-"));
const port = await freePort();
const base = `https://localhost:${port}`;
const server = spawn(serverBin, ["--listen", `127.0.0.1:${port}`, "--data-dir", path.join(work, "server")], { stdio: ["ignore", "pipe", "pipe"] });
let out = "";
server.stdout.on("data", (d) => { out += d; });
server.stderr.on("data", () => {});
await until("the server to start", () => /simulated printers:/.test(out), 60000);
const passwords = Object.fromEntries([...out.matchAll(/^\s+(\S+@\S+)\s+\S+\s+(\S+)$/gm)].map((m) => [m[1].split("@")[0], { email: m[1], password: m[2] }]));
const [, agentId, agentSecret] = out.match(/agent (\S+)\s+secret (\S+)/) ?? [];
const fingerprint = out.match(/SHA-256 fingerprint: (\S+)/)?.[1];

// The demo devices, as the API lists them (the simulator plays them).
const adminToken = (await api("POST", "/api/v1/auth/login", passwords.admin)).access_token;
const devices = await api("GET", "/api/v1/devices", null, adminToken);

// The API over HTTPS, trusting the server's own CA (Node's fetch has no per-call CA).
function api(method, route, body, token) {
  const ca = readFileSync(path.join(work, "server/tls/ca.pem"));
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${route}`, {
      method, ca,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    }, (res) => {
      let data = "";
      res.on("data", (d) => { data += d; });
      res.on("end", () => res.statusCode < 300 ? resolve(JSON.parse(data)) : reject(new Error(`${method} ${route}: ${res.statusCode} ${data}`)));
    });
    req.on("error", reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

const agentDir = path.join(work, "agent");
const agentEnv = { ...process.env, ECSP_AGENT_DIR: agentDir, ECSP_AGENT_SECRET: agentSecret, RUST_LOG: "warn" };
execFileSync(agentBin, ["enrol", "--server", base, "--ca-fingerprint", fingerprint, "--agent-id", agentId, "--kind", "dc"], { env: agentEnv, stdio: "inherit" });
const simulator = spawn(agentBin, ["simulate", "--every", "5", "--time-scale", "0.02", ...devices.flatMap((d) => ["--device", `${d.manufacturer},${d.model},${d.serial_number}`])], { env: agentEnv, stdio: ["ignore", "inherit", "inherit"] });
// Wait for its first reports, so the pages show real device state.
await until("the simulator's first upload", async () => {
  const records = await api("GET", `/api/v1/devices/${devices[0].device_id}/records?kind=device_data&limit=1`, null, adminToken);
  return (records.items ?? records).length > 0;
}, 60000);

// ---- the browser ------------------------------------------------------------------------------

// The test CA is not in Chromium's store. Rather than ignoring every certificate error, the
// browser trusts exactly the key the server presents (its SPKI's SHA-256, as a user would after
// comparing the fingerprint the server printed): any other certificate still fails.
const serverSpki = await new Promise((resolve, reject) => {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: readFileSync(path.join(work, "server/tls/ca.pem")) }, () => {
    const der = new X509Certificate(socket.getPeerCertificate(false).raw).publicKey.export({ type: "spki", format: "der" });
    socket.end();
    resolve(createHash("sha256").update(der).digest("base64"));
  });
  socket.on("error", reject);
});
const browser = await chromium.launch({
  executablePath: chromiumPath(),
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-quic",
    `--ignore-certificate-errors-spki-list=${serverSpki}`],
});

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

// Everything but the certificate's issuer (CSP, cookies, HSTS) is the browser's own.
async function newPage(lang = "en") {
  const context = await browser.newContext({ locale: lang === "ja" ? "ja-JP" : "en-GB", viewport: { width: 1180, height: 800 } });
  const page = await context.newPage();
  page.cspViolations = [];
  page.on("console", (m) => { if (/Content Security Policy/.test(m.text())) page.cspViolations.push(m.text()); });
  page.on("pageerror", (e) => { throw e; });
  return page;
}

async function signIn(who, lang = "en") {
  const page = await newPage(lang);
  await page.goto(`${base}/portal/`);
  await page.getByLabel(lang === "ja" ? "メールアドレス" : "E-mail address").fill(passwords[who].email);
  await page.getByLabel(lang === "ja" ? "パスワード" : "Password").fill(passwords[who].password);
  await page.getByRole("button", { name: lang === "ja" ? "サインイン" : "Sign in", exact: true }).click();
  await page.waitForURL(/\/portal\/devices$/);
  return page;
}

// axe is evaluated through the DevTools protocol, which the page's CSP does not govern; no
// script is added to the page.
async function axe(page, screen) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert(bad.length === 0, `${screen}: accessibility violations ${JSON.stringify(bad.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) })))}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

async function check(page, name) {
  await axe(page, name);
  await shot(page, name);
  assert(page.cspViolations.length === 0, `${name}: CSP violations ${page.cspViolations}`);
}

test("every role signs in and sees its own organisation's devices, in both languages", async () => {
  for (const [who, lang] of [["operator", "en"], ["support", "en"], ["admin", "en"], ["technician", "ja"]]) {
    const page = await signIn(who, lang);
    await check(page, `devices-${who}-${lang}`);
    const text = await page.locator("main").innerText();
    if (who !== "operator" && who !== "technician") {
      for (const d of devices) assert(text.includes(d.serial_number), `${who} sees ${d.serial_number}`);
    }
    assert(!text.includes("FOREIGN"), "no other organisation's device");
    if (lang === "ja") assert(text.includes("デバイス"), "Japanese page");
    await page.context().close();
  }
});

test("a device page shows the simulator's report, and an unknown device is not found", async () => {
  const page = await signIn("admin");
  await page.getByRole("link", { name: devices[0].model }).first().click();
  await page.getByRole("heading", { name: "Consumables" }).waitFor();
  await check(page, "device-admin");
  const res = await page.goto(`${base}/portal/devices/00000000-0000-4000-8000-000000000000`);
  assert(res.status() === 404, `unknown device answers ${res.status()}`);
  await check(page, "not-found");
  await page.context().close();
});

// A colour bar of twelve patches as a spectrophotometer reads it (reflectance 380–730 nm),
// measured three times as the printer drifts; one patch is named as markup.
function stripMeasurement(deviceId, hoursAgo, drift) {
  const sig = (x, c, w) => 1 / (1 + Math.exp(-(x - c) / w));
  const paper = (l) => 0.86 + 0.04 * sig(l, 430, 10);
  const inks = {
    "Paper": paper,
    "Cyan 100": (l) => 0.07 + 0.5 * sig(l, 400, 12) * (1 - sig(l, 570, 15)),
    "Magenta 100": (l) => 0.06 + 0.4 * (1 - sig(l, 470, 12)) + 0.8 * sig(l, 600, 12),
    "Yellow 100": (l) => 0.05 + 0.82 * sig(l, 500, 12),
    "Black 100": () => 0.03,
    "Red": (l) => 0.05 + 0.8 * sig(l, 600, 12),
    "Green": (l) => 0.05 + 0.35 * sig(l, 480, 12) * (1 - sig(l, 580, 12)),
    "Blue": (l) => 0.05 + 0.3 * (1 - sig(l, 500, 12)),
  };
  for (const [name, ink] of [["Cyan 50", "Cyan 100"], ["Magenta 50", "Magenta 100"], ["Yellow 50", "Yellow 100"]]) {
    inks[name] = (l) => (inks[ink](l) + paper(l)) / 2;
  }
  inks["<script>alert(1)</script>"] = (l) => (inks["Black 100"](l) + paper(l)) / 2;
  const condition = { illumination: "M1", geometry: "45/0", bandpass_corrected: true, backing: "white" };
  const samples = Object.entries(inks).map(([patch, f]) => ({
    patch, condition,
    spectrum: {
      start_nm: 380, interval_nm: 10,
      values: Array.from({ length: 36 }, (_, i) => {
        const l = 380 + 10 * i;
        const v = patch === "Paper" ? f(l) : f(l) * (1 - drift) + drift * 0.2 * sig(l, 550, 40);
        return Math.round(Math.min(1, Math.max(0.01, v)) * 10000) / 10000;
      }),
    },
  }));
  return {
    record_id: crypto.randomUUID(),
    captured_at: new Date(Date.now() - hoursAgo * 3600e3).toISOString(),
    device_id: deviceId,
    software: { name: "i1Pro3 driver", version: "3.1.0" },
    environment: { os_name: "Android", os_version: "15", app_version: "0.1.0", device_model: "Pixel 9" },
    instrument: { manufacturer: "X-Rite", model: "i1Pro3", serial_number: "1234567", firmware_version: "1.2.3" },
    settings: { paper: "Epson Premium Luster 260", printing_condition: "FOGRA51" },
    samples,
  };
}

test("a measurement page shows its plots with their tables, by keyboard, in both languages", async () => {
  const device = devices[0];
  const measured = [stripMeasurement(device.device_id, 72, 0), stripMeasurement(device.device_id, 48, 0.02), stripMeasurement(device.device_id, 1, 0.06)];
  await api("POST", "/api/v1/uploads/measurements", { schema_version: 1, records: measured }, adminToken);
  const page = await signIn("admin");
  await page.goto(`${base}/portal/devices/${device.device_id}`);
  await page.getByRole("link", { name: "Measurements and their plots" }).click();
  await page.getByRole("heading", { name: /Measurements/ }).waitFor();
  await check(page, "measurements-admin");
  const rows = await page.locator("tbody tr").count();
  assert(rows === 3, `three measurements listed (${rows})`);
  await page.locator("tbody tr").first().getByRole("link").click();
  await page.waitForURL(/\/portal\/records\//);
  assert(page.url().endsWith(measured[2].record_id), "the newest first");
  const plots = page.locator("svg.plot");
  assert(await plots.count() === 4, `four plots (${await plots.count()})`);
  for (const name of ["Spectral reflectance factor", "a*b* diagram", "of each patch against the reference", "newest measurements against the reference"]) {
    assert(await page.getByRole("img", { name: new RegExp(name.replace(/[*]/g, "\\*")) }).count() === 1, `a plot named "${name}"`);
  }
  assert(await page.locator("main script").count() === 0, "no script element from a patch name");
  assert((await page.locator("main").innerText()).includes("<script>alert(1)</script>"), "the name shown as text");
  await check(page, "measurement-plots-admin");
  // Each plot on its own too, at full size, to judge its legibility.
  for (let i = 0; i < 4; i++) await page.locator("figure").nth(i).screenshot({ path: path.join(artifacts, `measurement-plot-${i + 1}.png`) });
  // The values behind each plot open from the keyboard.
  const summary = page.locator("summary").first();
  await summary.focus();
  await page.keyboard.press("Enter");
  assert(await page.locator("details").first().evaluate((d) => d.open), "the spectra table opens with Enter");
  assert(await page.getByRole("cell", { name: "0.030", exact: true }).count() > 0, "black's reflectance in the table");
  // By default against the newest earlier comparable measurement: the middle one.
  assert(await page.locator(`dd a[href="/portal/records/${measured[1].record_id}"]`).count() === 1, "the middle measurement is the default reference");
  assert((await page.locator("main").innerText()).includes("newest earlier comparable measurement"), "the default reference is named");
  // Another reference, chosen with the keyboard: the first measurement.
  await page.locator("#reference").focus();
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.waitForURL(/reference=/);
  assert(page.url().includes(`reference=${measured[0].record_id}`), `the chosen reference (${page.url()})`);
  assert(await page.locator("svg.plot").count() === 4, "plots against the chosen reference");
  await check(page, "measurement-plots-chosen-reference");
  await page.context().close();

  const ja = await signIn("admin", "ja");
  await ja.goto(`${base}/portal/records/${measured[2].record_id}`);
  assert((await ja.locator("main").innerText()).includes("基準との色差"), "Japanese page");
  assert(await ja.locator("svg.plot").count() === 4, "the same plots in Japanese");
  await check(ja, "measurement-plots-ja");
  for (let i = 0; i < 4; i++) await ja.locator("figure").nth(i).screenshot({ path: path.join(artifacts, `measurement-plot-${i + 1}-ja.png`) });
  await ja.context().close();
});

test("service support runs head cleaning and watches it succeed", async () => {
  const page = await signIn("support");
  await page.goto(`${base}/portal/devices/${devices[0].device_id}`);
  await check(page, "device-support");
  const form = page.locator("form.op-request", { has: page.locator('input[value="head_cleaning"]') });
  await form.getByRole("button").click();
  await page.waitForURL(/\/portal\/operations\//);
  await shot(page, "operation-live");
  await page.getByText("Succeeded", { exact: true }).first().waitFor({ timeout: 60000 });
  await check(page, "operation-succeeded");
  const text = await page.locator("main").innerText();
  assert(/All nozzles firing/.test(text) && !/nozzles_ok/.test(text), "the result is shown in words");
  assert(page.cspViolations.length === 0, "the live page's script ran within the CSP");
  await page.context().close();
});

test("a user withdraws a consent and the page shows it", async () => {
  const page = await signIn("technician");
  await page.goto(`${base}/portal/consent`);
  await page.getByRole("button", { name: "Grant: GPS position" }).click();
  await page.getByRole("status").waitFor();
  await page.getByRole("button", { name: "Withdraw: GPS position" }).click();
  await page.getByRole("status").waitFor();
  await check(page, "consent-after-withdraw");
  const history = await page.locator("table").last().innerText();
  assert(/Withdrawn/.test(history) && /Granted/.test(history), "both decisions in the history");
  assert(await page.getByRole("button", { name: "Grant: GPS position" }).isVisible(), "granting again is one click");
  await page.context().close();
});

test("a user sets an alert rule and reads it back, in both languages", async () => {
  const ja = await signIn("operator", "ja");
  await ja.goto(`${base}/portal/alerts`);
  await check(ja, "alerts-empty-ja");
  await ja.getByLabel("条件").selectOption("consumable_low");
  await ja.getByLabel("しきい値").fill("15");
  await ja.getByLabel("対象プリンター").selectOption({ label: `${devices[0].model} ${devices[0].serial_number}` });
  await ja.getByLabel("送信方法").selectOption("webhook");
  await ja.getByLabel("Webhook のアドレス（https://…）").fill("https://hooks.example.com/ecsp");
  await ja.getByRole("button", { name: "ルールを作成" }).click();
  const made = await ja.locator("main").innerText();
  assert(made.includes("whsec_"), `the webhook's secret is shown once: ${made}`);
  await check(ja, "alert-rule-created-ja");
  await ja.goto(`${base}/portal/alerts`);
  const listed = await ja.locator("main table").innerText();
  assert(listed.includes("消耗品の残量") && listed.includes(devices[0].serial_number) && !listed.includes("whsec_"), `listed in words: ${listed}`);
  await check(ja, "alerts-ja");
  await ja.context().close();
  const en = await signIn("operator");
  await en.goto(`${base}/portal/alerts`);
  await check(en, "alerts");
  await en.getByRole("link", { name: /consumable falls/ }).click();
  await check(en, "alert-rule");
  await en.context().close();
});

test("the fleet dashboard shows the simulator's printers, its charts and their values, in both languages", async () => {
  const page = await signIn("admin");
  await page.goto(`${base}/portal/fleet`);
  assert((await page.locator("svg.plot").count()) === 3, "three charts");
  const states = await page.locator("#states-caption").innerText();
  assert(/3 printers/.test(states), `the simulator's three printers are counted: ${states}`);
  await check(page, "fleet");
  await page.getByLabel("Show production in").selectOption("jobs");
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForURL(/unit=jobs/);
  await page.context().close();
  const ja = await signIn("admin", "ja");
  await ja.goto(`${base}/portal/fleet?unit=ft2`);
  assert((await ja.locator("h1").innerText()) === "フリートの稼働状況");
  await check(ja, "fleet-ja");
  await ja.context().close();
});

test("a form without its CSRF token, or a browser without the cookie, is refused", async () => {
  const page = await signIn("technician");
  await page.goto(`${base}/portal/consent`);
  await page.evaluate(() => document.querySelectorAll('input[name="csrf"]').forEach((i) => { i.value = "forged"; }));
  await page.getByRole("button", { name: "Grant: Photos" }).click();
  await page.waitForLoadState();
  assert((await page.locator("h1").innerText()).includes("expired"), "the forged form is refused");
  await check(page, "csrf-refused");
  const fresh = await newPage();
  const res = await fresh.goto(`${base}/portal/devices`);
  assert(fresh.url().endsWith("/portal/sign-in"), `no cookie ends at sign-in (${fresh.url()}, ${res.status()})`);
  await check(fresh, "sign-in-en");
  await fresh.context().close();
  const ja = await newPage("ja");
  await ja.goto(`${base}/portal/sign-in`);
  await check(ja, "sign-in-ja");
  await ja.context().close();
  await page.context().close();
});

test("administrators' pages pass the same checks, and the keyboard reaches the content first", async () => {
  const page = await signIn("admin");
  for (const [name, route] of [["admin-users", "users"], ["admin-rights", "rights"], ["admin-agents", "agents"], ["admin-audit", "audit"]]) {
    await page.goto(`${base}/portal/admin/${route}`);
    await check(page, name);
  }
  // The audit log in the zone chosen in the settings, in Japanese too.
  await page.goto(`${base}/portal/settings`);
  await check(page, "settings");
  await page.locator("#time-zone").selectOption("Asia/Tokyo");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(/saved=1/);
  await page.goto(`${base}/portal/admin/audit?reads=1`);
  assert((await page.locator("main").innerText()).includes(" JST"), "the audit log in the chosen zone");
  const audit = await signIn("admin", "ja");
  await audit.goto(`${base}/portal/admin/audit`);
  await check(audit, "admin-audit-ja");
  await audit.context().close();
  // Device groups: made on their page, a device filed under one, the fleet filtered by it.
  await page.goto(`${base}/portal/admin/groups`);
  await page.getByLabel("Name").fill("Osaka plant");
  await page.getByRole("button", { name: "Create a group" }).click();
  const device = `${devices[0].model} ${devices[0].serial_number}`;
  await page.getByLabel(`Group: ${device}`).selectOption({ label: "Osaka plant" });
  await page.getByRole("button", { name: `Save: ${device}` }).click();
  await page.getByRole("link", { name: "Osaka plant" }).waitFor();
  await check(page, "admin-groups");
  await page.goto(`${base}/portal/devices`);
  await page.getByLabel("Group").selectOption({ label: "Osaka plant" });
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/group=/);
  const listed = await page.locator("main table").innerText();
  assert(listed.includes(devices[0].serial_number) && !listed.includes(devices[1].serial_number), `filtered by group: ${listed}`);
  await check(page, "devices-by-group");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  assert(focused === "Skip to content", `the first Tab stop is the skip link (${focused})`);
  await page.context().close();
  // A form the browser lets through but the server's rules refuse ("tanaka@example" passes the
  // browser's e-mail check, not the server's: no dot in the domain), told in the page's language.
  const ja = await signIn("admin", "ja");
  await ja.goto(`${base}/portal/admin/users`);
  await ja.getByLabel("メールアドレス", { exact: true }).fill("tanaka@example");
  await ja.getByLabel("名前", { exact: true }).fill("田中 一郎");
  await ja.getByRole("button", { name: "ユーザーを追加" }).click();
  const refusal = await ja.locator("main").innerText();
  assert(refusal.includes("メールアドレス: name@example.com のような形式のメールアドレスを入力してください"), `refusal in Japanese: ${refusal}`);
  assert(!refusal.includes("must be"), `no English rule on a Japanese page: ${refusal}`);
  const kept = await ja.getByLabel("名前", { exact: true }).inputValue();
  assert(kept === "田中 一郎", `the form keeps what was typed (${kept})`);
  await check(ja, "admin-user-refused-ja");
  await ja.context().close();
});

let passed = 0;
let failed = 0;
for (const t of tests) {
  try {
    await t.fn();
    passed++;
    console.log(`test portal::${t.name} ... ok`);
  } catch (e) {
    failed++;
    console.log(`test portal::${t.name} ... FAILED\n${e.stack}`);
  }
}
await browser.close();
simulator.kill();
server.kill();
rmSync(work, { recursive: true, force: true });
console.log(`test result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed; 0 ignored; 0 measured; 0 filtered out`);
process.exit(failed ? 1 : 0);
