// Figures of the real app (run by scripts/bench-desktop.sh under Xvfb, on the release build):
// cold start to the first screen drawn, idle memory of the whole process tree (the app and its
// WebKit processes), and the binary's size. Printed next to the aims; not asserted.
// Start time: just before tauri-driver is asked to launch the app; first screen: the first
// moment WebDriver finds the sign-in heading (polled every 10 ms), so the figure includes the
// WebDriver session set-up, an upper bound of what a user sees. Runs ECSP_STARTUP_RUNS times
// (default 5; the first run warms the disk cache, the median of the rest is reported).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, statSync, rmSync, copyFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { remote } from "webdriverio";

const appBin = path.resolve(process.env.ECSP_DESKTOP_BIN ?? "target/release/ecsp-desktop");
const runs = Number(process.env.ECSP_STARTUP_RUNS ?? 5);
const work = mkdtempSync(path.join(os.tmpdir(), "ecsp-desktop-startup-"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const driver = spawn(process.env.TAURI_DRIVER ?? "tauri-driver", ["--port", String(port)], {
  stdio: "ignore", env: { ...process.env, ECSP_CONFIG_DIR: path.join(work, "config"), ECSP_DATA_DIR: path.join(work, "data") },
});
for (let i = 0; i < 100; i++) {
  const up = await new Promise((r) => { const s = net.connect(port, "127.0.0.1", () => { s.end(); r(true); }); s.on("error", () => r(false)); });
  if (up) break;
  await sleep(100);
}

function children(pid) {
  const out = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}
function tree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}
/** Proportional set size (shared pages split between sharers), in KiB, from smaps_rollup:
 *  the total, and its anonymous part (heaps, JIT, caches) apart from the file-backed one
 *  (mapped libraries: libwebkit2gtk, Mesa, ICU…), which tells what a setting can still win. */
function pss(pid) {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0);
    return { total: field("Pss"), anon: field("Pss_Anon"), file: field("Pss_File") };
  } catch { return { total: 0, anon: 0, file: 0 }; }
}
function command(pid) {
  try { return readFileSync(`/proc/${pid}/comm`, "utf8").trim(); } catch { return "?"; }
}
function rss(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
  } catch { return 0; }
}
function appPid() {
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try { if (readlinkSync(`/proc/${p}/exe`) === appBin) return Number(p); } catch { /* not ours */ }
  }
  return null;
}

const starts = [];
let memory = null;
for (let run = 0; run < runs; run++) {
  rmSync(path.join(work, "config"), { recursive: true, force: true });
  const t0 = performance.now();
  const app = await remote({ hostname: "127.0.0.1", port, logLevel: "error", capabilities: { "tauri:options": { application: appBin } } });
  for (;;) {
    const found = await app.execute(() => document.querySelector("h1")?.textContent ?? "");
    if (found) break;
    await sleep(10);
  }
  starts.push(performance.now() - t0);
  if (run === runs - 1) {
    await sleep(10000); // idle: the first screen shown, nothing happening
    const pid = appPid();
    const pids = pid ? tree(pid) : [];
    const each = pids.map((p) => ({ name: command(p), pss: pss(p), rssKiB: rss(p) }));
    memory = {
      each,
      pssKiB: each.reduce((a, p) => a + p.pss.total, 0),
      rssKiB: each.reduce((a, p) => a + p.rssKiB, 0),
    };
  }
  await app.deleteSession();
  await sleep(500);
}
driver.kill();
rmSync(work, { recursive: true, force: true });

// The engine's own floor, measured the same way in the same run: WebKitGTK's MiniBrowser (from
// the same libwebkit2gtk package) showing about:blank, with the compositing the app turns off
// turned off too. What the app adds is its figure minus this one.
const miniBrowser = process.env.ECSP_MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
let floor = null;
try {
  statSync(miniBrowser);
  const browser = spawn(miniBrowser, ["about:blank"], {
    stdio: "ignore", env: { ...process.env, WEBKIT_DISABLE_COMPOSITING_MODE: "1" },
  });
  await sleep(10000);
  const each = tree(browser.pid).map((p) => ({ name: command(p), pss: pss(p) }));
  floor = { each, pssKiB: each.reduce((a, p) => a + p.pss.total, 0) };
  browser.kill();
} catch (e) {
  console.error(`no engine floor measured (${miniBrowser}): ${e.message}`);
}

const warm = starts.slice(1).sort((a, b) => a - b);
const median = warm.length ? warm[Math.floor(warm.length / 2)] : starts[0];
const size = statSync(appBin).size;
const stripped = path.join(os.tmpdir(), `ecsp-desktop-stripped-${process.pid}`);
copyFileSync(appBin, stripped);
execFileSync("strip", [stripped]);
const strippedSize = statSync(stripped).size;
rmSync(stripped);
const mib = (b) => (b / 1048576).toFixed(1);
console.log("ecsp-desktop figures (Xvfb, WebKitGTK)");
console.log(`  cold start to first screen: first run ${starts[0].toFixed(0)} ms, median of the next ${warm.length} ${median.toFixed(0)} ms   (aim < 1000 ms)`);
console.log(`  idle memory, process tree of ${memory.each.length}: PSS ${mib(memory.pssKiB * 1024)} MiB (RSS sum ${mib(memory.rssKiB * 1024)} MiB)   (aim < 150 MB)`);
for (const p of memory.each) {
  console.log(`    ${p.name.padEnd(16)} PSS ${mib(p.pss.total * 1024).padStart(6)} MiB (anonymous ${mib(p.pss.anon * 1024)}, file-backed ${mib(p.pss.file * 1024)}), RSS ${mib(p.rssKiB * 1024)} MiB`);
}
if (floor) {
  console.log(`  engine floor, MiniBrowser on about:blank (process tree of ${floor.each.length}): PSS ${mib(floor.pssKiB * 1024)} MiB; the app adds ${mib((memory.pssKiB - floor.pssKiB) * 1024)} MiB`);
  for (const p of floor.each) console.log(`    ${p.name.padEnd(16)} PSS ${mib(p.pss.total * 1024).padStart(6)} MiB`);
}
console.log(`  binary size: ${mib(size)} MiB as built, ${mib(strippedSize)} MiB stripped   (aim < 15 MB)`);
