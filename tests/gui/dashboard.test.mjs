// The web dashboard in a real browser (Debian's chromium, driven by
// puppeteer-core): a `moonbase daemon` on the test driver, listening on a
// unix socket, http://127.0.0.1 (the dashboard) and https://127.0.0.1 (a TLS
// client whose browser session is revoked). Everything talks to 127.0.0.1
// only: chromium resolves no other name, and every request it makes is
// checked. Run by ctest (gui/dashboard):
//   node tests/gui/dashboard.test.mjs BUILD_DIR SRC_DIR
// Screenshots go to BUILD_DIR/gui-screenshots (docs/gui.md shows them).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, statSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import assert from "node:assert/strict";
import net from "node:net";

const [build, src] = [resolve(process.argv[2] || "build"), resolve(process.argv[3] || ".")];
const require = createRequire(resolve(build, "gui-tests", "package.json"));
const puppeteer = require("puppeteer-core");
const bin = resolve(build, "moonbase");
const shots = resolve(build, "gui-screenshots");
mkdirSync(shots, { recursive: true });
rmSync(join(shots, "failure.png"), { force: true });
const started = Date.now();
const home = mkdtempSync(join(tmpdir(), "mb-gui-"));
const clientHome = mkdtempSync(join(tmpdir(), "mb-gui-client-"));
const baseEnv = { ...process.env, MOONBASE_HOME: home, NO_COLOR: "1" };
delete baseEnv.MOONBASE_SERVER;
const results = [];
let daemon = null, browser = null, page = null, imagehost = null;

function mb(args, env = {}, input) {
  return execFileSync(bin, args, { env: { ...baseEnv, ...env }, encoding: "utf8", input,
    timeout: 60000, stdio: ["pipe", "pipe", "pipe"] });
}
const viaDaemon = () => ({ MOONBASE_SERVER: `unix://${home}/d.sock` });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on("error", reject);
  });
}

async function step(name, fn) {
  const t = Date.now();
  await fn();
  results.push(`${name}: ok (${Date.now() - t} ms)`);
  console.log(`ok - ${name} (${Date.now() - t} ms)`);
}

async function waitFor(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  // ---------------------------------------------------------------- set-up
  mb(["set", "local.driver=test"]);
  // an image host on 127.0.0.1 (nginx): the remote "local", with tiny (the
  // instances' image, cached first) and gamma (downloaded by the form's launch)
  const streams = [];
  for (const [i, name] of ["tiny", "gamma"].entries()) {
    const img = join(home, "img-" + name);
    mkdirSync(img);
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", join(img, "disk.qcow2"),
      `${17 + i}M`]);
    writeFileSync(join(img, "metadata.json"), JSON.stringify({ os: "testos", release: name,
      release_title: `Test ${name}`, aliases: name, arch: "amd64" }, null, 2) + "\n");
    streams.push(`${img}=2026010${i + 1}`);
  }
  execFileSync("bash", [join(src, "tests/images/make-streams.sh"), join(home, "streams"),
    ...streams], { stdio: "ignore" });
  imagehost = join(home, "streams");
  const hostUrl = execFileSync("bash", [join(src, "tests/lib/imagehost.sh"), "start", imagehost],
    { encoding: "utf8", env: { ...process.env, MB_IMAGEHOST_LIFETIME: "600" } }).trim();
  mb(["remote", "add", "local", hostUrl.endsWith("/") ? hostUrl : hostUrl + "/"]);
  mb(["set", "local.image.default=local:tiny"]);
  mb(["images", "pull", "--quiet", "local:tiny"]);
  // 100 instances (the table's performance) plus two named ones, from the CLI
  const names = Array.from({ length: 98 }, (_, i) => `bulk-${String(i).padStart(3, "0")}`);
  execFileSync("sh", ["-c", `printf '%s\\n' ${names.join(" ")} alpha beta | ` +
    `xargs -P 4 -I{} ${bin} launch local:tiny --name {} --quiet`],
  { env: baseEnv, timeout: 120000 });
  const httpPort = await freePort(), tlsPort = await freePort();
  daemon = spawn(bin, ["daemon", "--quiet", "--listen", `unix:${home}/d.sock`,
    "--listen", `http://127.0.0.1:${httpPort}`, "--listen", `https://127.0.0.1:${tlsPort}`],
  { env: baseEnv, stdio: ["ignore", "ignore", "inherit"] });
  await waitFor("the daemon", () => existsSync(`${home}/d.sock`));
  const origin = `http://127.0.0.1:${httpPort}`;
  // a TLS client, trusted with a one-time token (it carries the daemon CA's fingerprint)
  const tlsEnv = { MOONBASE_HOME: clientHome, MOONBASE_SERVER: `https://127.0.0.1:${tlsPort}` };
  const token = mb(["trust", "token"]).trim();
  await waitFor("the TLS listener", () => {
    try { mb(["authenticate", token], tlsEnv); return true; } catch (_) { return false; }
  });
  const recipeDir = mkdtempSync(join(tmpdir(), "mb-gui-recipe-"));
  writeFileSync(join(recipeDir, "moonbase.lua"), 'instance "web" { image = "local:tiny", ' +
    'memory = "512M" }\ninstance "db" { image = "local:tiny" }\noutput("web", ' +
    'ref("web").name)\n');

  results.push(`set-up (100 instances, daemon, TLS client): ${Date.now() - started} ms`);
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
      "--no-default-browser-check", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      "--proxy-server=direct://", "--proxy-bypass-list=*"],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const problems = [];
  const watch = (p) => {
    p.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
    p.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    p.on("request", (r) => {
      const u = new URL(r.url());
      if (u.protocol !== "data:" && u.hostname !== "127.0.0.1") {
        problems.push(`request to ${r.url()}`);
      }
    });
  };
  watch(page);
  const expectedErrors = (re) => {
    for (let i = problems.length - 1; i >= 0; i--) if (re.test(problems[i])) problems.splice(i, 1);
  };

  // ---------------------------------------------------------------- tests
  await step("refuses requests without a session", async () => {
    const r = await fetch(`${origin}/v1/instances`);
    assert.equal(r.status, 401);
    assert.match((await r.json()).error.message, /moonbase gui/);
    await page.goto(origin + "/", { waitUntil: "load" });
    await page.waitForSelector("body[data-ready=login]");
    assert.match(await page.$eval("main", (e) => e.textContent), /Not logged in/);
    expectedErrors(/401/);
  });

  let transfer = 0;
  await step("logs in with a one-time link; the list shows the CLI's instances", async () => {
    const link = mb(["gui", "--print"], viaDaemon()).trim();
    assert.match(link, new RegExp(`^${origin}/login\\?token=[0-9a-f]+$`));
    const cdp = await page.createCDPSession();
    await cdp.send("Network.enable");
    cdp.on("Network.loadingFinished", (e) => { transfer += e.encodedDataLength; });
    const t0 = Date.now();
    await page.goto(link, { waitUntil: "networkidle0" });
    await page.waitForSelector("main[data-loaded=yes] tr[data-name=alpha]");
    results.push(`first load: ${Date.now() - t0} ms to a table of 100 rows, ` +
      `${(transfer / 1024).toFixed(1)} KiB transferred`);
    assert.ok(transfer < 300 * 1024, `first load transferred ${transfer} bytes`);
    await cdp.detach();
    assert.equal(new URL(page.url()).search, "", "no token left in the URL");
    const rows = await page.$$eval("tbody tr", (t) => t.length);
    assert.equal(rows, 100);
    assert.equal(await page.$eval("tr[data-name=beta]", (e) => e.dataset.state), "running");
    // the link works once
    const again = await fetch(link, { redirect: "manual" });
    assert.equal(again.status, 403);
    await page.screenshot({ path: join(shots, "instances.png") });
  });

  await step("updates when an instance is stopped from the CLI", async () => {
    mb(["stop", "alpha"], viaDaemon());
    await page.waitForSelector("tr[data-name=alpha][data-state=stopped]", { timeout: 5000 });
    const r = await page.evaluate(() => window.mbLastRender);
    const ms = r.rendered - r.received;
    results.push(`table of 100 updated ${ms.toFixed(1)} ms after the event arrived`);
    assert.ok(ms < 100, `the table took ${ms} ms to update`);
  });

  await step("filters and bulk-starts from the table", async () => {
    await page.select("select[aria-label='Filter by state']", "stopped");
    assert.equal(await page.$$eval("tbody tr:not([hidden])", (t) => t.length), 1);
    await page.click("tr[data-name=alpha] input[type=checkbox]");
    await page.click("button:not([disabled])::-p-text(Start)");
    await page.waitForSelector("tr[data-name=alpha][data-state=running]", { timeout: 10000 });
    assert.match(mb(["info", "alpha"], viaDaemon()), /running/);
    await page.select("select[aria-label='Filter by state']", "");
    await page.type("input[type=search]", "bulk-00");
    assert.equal(await page.$$eval("tbody tr:not([hidden])", (t) => t.length), 10);
    await page.click("thead input[type=checkbox]");
    await page.click("button::-p-text(Delete)");
    await page.waitForSelector("dialog[open]");
    await page.click("dialog button::-p-text(Cancel)");
    assert.match(mb(["info", "bulk-000"], viaDaemon()), /running/);
    await page.click("button::-p-text(Delete)");
    await page.waitForSelector("dialog[open]");
    await page.click("#confirm-ok");
    await waitFor("bulk-00x deleted", async () => (await page.$$eval(
      "tbody tr[data-state=deleted]:not([hidden])", (t) => t.length)) === 10);
    assert.match(mb(["info", "bulk-005"], viaDaemon()), /deleted/);
  });

  await step("launches from the form and shows it running", async () => {
    await page.goto(origin + "/#/launch");
    await page.waitForSelector("form.launch");
    // a bad size is refused before anything is sent
    // the catalogue of the image host
    await page.waitForSelector("select[aria-label=Remote] option[value=local]");
    await page.select("select[aria-label=Remote]", "local");
    await page.click("button::-p-text(Show images)");
    await page.waitForSelector("tr[data-image='local:gamma'] button");
    assert.match(await page.$eval(".catalogue", (e) => e.textContent), /Test gamma/);
    await page.click("tr[data-image='local:gamma'] button");
    assert.equal(await page.$eval("input[name=image]", (e) => e.value), "local:gamma");
    await page.type("input[name=name]", "formvm");
    await page.$eval("input[name=memory]", (e) => { e.value = "lots"; });
    await page.click("#launch-submit");
    await waitFor("the size error", async () => /memory: invalid size "lots"/.test(
      await page.$eval("#notice", (e) => e.textContent)));
    await page.$eval("input[name=memory]", (e) => { e.value = "512M"; });
    await page.click("#launch-submit");
    await waitFor("the launch", async () => /Launched formvm/.test(
      await page.$eval("#notice", (e) => e.textContent)), 30000);
    // the image was downloaded: its progress line and bar
    assert.match(await page.$eval(".log", (e) => e.textContent), /local:gamma: 100%/);
    assert.equal(await page.$eval("progress", (e) => [e.hidden, e.value].join()), "false,100");
    await page.screenshot({ path: join(shots, "launch.png") });
    await page.goto(origin + "/#/instances");
    await page.waitForSelector("tr[data-name=formvm][data-state=running]");
    const info = JSON.parse(mb(["info", "formvm", "--format", "json"], viaDaemon()));
    assert.equal(info.formvm.memory, 512 * 1024 * 1024);
  });

  await step("the browser terminal runs hostname and exits", async () => {
    await page.goto(origin + "/#/instance/formvm");
    await page.waitForSelector("dd[data-field=state]");
    await page.waitForSelector("[data-field=memory-use]", { timeout: 10000 });
    await page.click("#open-terminal");
    await page.waitForSelector(".xterm-helper-textarea");
    await waitFor("the terminal", async () => /Connected/.test(
      await page.$eval(".term-status", (e) => e.textContent)));
    const host = "formvm"; // the test driver's guest is a sandbox named after it
    // what the terminal shows: its rows on the page, and its buffer
    const screenText = () => page.evaluate(() => {
      const b = window.mbTerminal.buffer.active, out = [];
      for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
      return [document.querySelector(".xterm-rows").textContent, out.join("\n")];
    });
    // typed after the prompt, as a user does
    await waitFor("the prompt", async () => (await screenText())[1].includes("#"));
    await page.focus(".xterm-helper-textarea");
    await page.keyboard.type("hostname\n");
    // its answer on a line of its own (the prompt may name the host too)
    await waitFor("hostname's answer in the terminal", async () =>
      (await screenText())[1].split("\n").some((l) => l.trim() === host));
    await waitFor("hostname's answer on the page", async () =>
      (await screenText())[0].includes(host));
    await page.screenshot({ path: join(shots, "terminal.png") });
    await page.keyboard.type("exit 3\n");
    await waitFor("the exit status", async () => /exit status 3/.test(
      await page.$eval(".term-status", (e) => e.textContent)));
  });

  await step("takes, restores and deletes a snapshot", async () => {
    const info = () => JSON.parse(mb(["info", "formvm", "--format", "json"], viaDaemon())).formvm;
    const snapNames = () => (info().snapshots || []).map((x) => x.name).sort();
    const cpus = info().cpus;
    await page.goto(origin + "/#/instance/formvm");
    await page.waitForSelector("dd[data-field=state]");
    await page.type(".snapshot-form input[name=name]", "s1");
    await page.type(".snapshot-form input[name=comment]", "from the browser");
    await page.click(".snapshot-form button[type=submit]");
    await page.waitForSelector("tr[data-snapshot=s1]");
    assert.deepEqual(snapNames(), ["s1"]);
    assert.equal(info().snapshots[0].comment, "from the browser");
    // changed from the CLI after the snapshot: the restore brings s1's state back
    mb(["stop", "formvm"], viaDaemon());
    mb(["set", `local.formvm.cpus=${cpus + 2}`], viaDaemon());
    await page.goto(origin + "/#/instance/formvm");
    // (the list is drawn again on every event about formvm: click in one go)
    const press = (sel) => waitFor(sel, () => page.evaluate((q) => {
      const b = document.querySelector(q);
      if (b) b.click();
      return b !== null;
    }, sel));
    await press("tr[data-snapshot=s1] button[data-action=restore]");
    await page.click("#confirm-ok"); // not destructive: the state before is kept
    const kept = await waitFor("the restore's notice", async () => {
      const t = await page.$eval("#notice", (e) => e.textContent);
      const m = /restored to s1 \(the state before is kept as ([a-z0-9-]+)\)/.exec(t);
      return m && m[1];
    });
    const after = info();
    assert.equal(after.cpus, cpus);
    assert.equal(after.state, "running"); // s1 was taken running
    assert.deepEqual(snapNames(), [kept, "s1"].sort());
    await page.waitForSelector(`tr[data-snapshot=${kept}]`);
    await page.screenshot({ path: join(shots, "snapshots.png") });
    await press("tr[data-snapshot=s1] button[data-action=delete]");
    await page.click("#confirm-ok");
    await waitFor("s1 gone from the page", async () =>
      (await page.$("tr[data-snapshot=s1]")) === null);
    assert.deepEqual(snapNames(), [kept]);
    // the page samples CPU and memory of a running instance every 2 s: one sample
    // may ask just after the CLI's stop and get 409 (the page then reloads its state)
    expectedErrors(/status of 409/);
  });

  await step("a recipe: plan, up (outputs), down", async () => {
    await page.goto(origin + "/#/recipes");
    await page.waitForSelector("input[name=path]");
    await page.type("input[name=path]", recipeDir);
    await page.click("button::-p-text(Plan)");
    await page.waitForSelector("tr[data-action=create]");
    assert.equal(await page.$$eval("tr[data-action=create]", (t) => t.length), 2);
    await page.click("button::-p-text(Up)");
    await page.waitForSelector(".outputs dd", { timeout: 30000 });
    assert.match(await page.$eval(".outputs", (e) => e.textContent), /web/);
    assert.match(await page.$eval(".log", (e) => e.textContent), /web/);
    await page.waitForSelector("tr[data-action=keep]");
    await page.screenshot({ path: join(shots, "recipes.png") });
    assert.match(mb(["list"], viaDaemon()), /\S+-web\s+running/);
    await page.click("button::-p-text(Down)");
    // down stops them: the plan says up would start them again
    await page.waitForSelector("tr[data-action=change]", { timeout: 30000 });
    assert.match(await page.$eval("tr[data-action=change]", (e) => e.textContent),
      /start \(stopped → running\)/);
    assert.match(mb(["list"], viaDaemon()), /\S+-web\s+stopped/);
  });

  await step("refuses a cross-origin POST and one without the CSRF header", async () => {
    const cookie = (await page.cookies()).find((c) => c.name === "mb_session");
    assert.ok(cookie.httpOnly, "the session cookie is HttpOnly");
    const csrf = await page.evaluate(async () => (await (await fetch("/v1/session"))
      .json()).result[0].csrf);
    const headers = { Cookie: `mb_session=${cookie.value}`, "X-Moonbase-Csrf": csrf,
      "Content-Type": "application/json" };
    let r = await fetch(`${origin}/v1/instances/beta/stop`, { method: "POST",
      headers: { ...headers, Origin: "http://evil.example" }, body: "{}" });
    assert.equal(r.status, 403);
    assert.match((await r.json()).error.message, /cross-origin/);
    const status = await page.evaluate(async () => (await fetch("/v1/instances/beta/stop",
      { method: "POST", body: "{}" })).status);
    assert.equal(status, 403);
    expectedErrors(/403/);
    assert.match(mb(["info", "beta"], viaDaemon()), /running/);
  });

  await step("settings, and a revoked client's session ends", async () => {
    // a browser session of the TLS client (its link opened on the loopback listener)
    const tlsLink = mb(["gui", "--print"], tlsEnv).trim();
    const path = new URL(tlsLink).pathname + new URL(tlsLink).search;
    const ctx = await browser.createBrowserContext();
    const other = await ctx.newPage();
    watch(other);
    await other.goto(origin + path);
    await other.waitForSelector("main[data-loaded=yes]");
    assert.match(await other.$eval("#who", (e) => e.textContent), /^client /);
    // revoke it from the first session's settings page
    await page.goto(origin + "/#/settings");
    await page.waitForSelector("tr[data-key='local.driver'] input");
    assert.equal(await page.$eval("tr[data-key='local.driver'] input", (e) => e.value), "test");
    await page.waitForSelector("tr[data-fingerprint] button");
    await page.screenshot({ path: join(shots, "settings.png") });
    await page.click("tr[data-fingerprint] button");
    await page.click("#confirm-ok");
    await page.waitForSelector("main ::-p-text(No TLS client is trusted)");
    const trusted = JSON.parse(mb(["trust", "list", "--format", "json"], viaDaemon()));
    assert.equal(Object.keys(trusted).length, 0, "the client is no longer trusted");
    const r = await other.evaluate(async () => {
      const a = await fetch("/v1/instances");
      return [a.status, (await a.json()).error.message];
    });
    assert.equal(r[0], 403);
    assert.match(r[1], /no longer trusted/);
    expectedErrors(/403/);
    await ctx.close();
  });

  await step("readable on a phone", async () => {
    await page.setViewport({ width: 390, height: 844 });
    await page.goto(origin + "/#/instances");
    await page.waitForSelector("main[data-loaded=yes]");
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `the page is ${wide} px wide on a 390 px screen`);
    await page.screenshot({ path: join(shots, "phone.png") });
  });

  await step("screenshots render, no console errors, no request off 127.0.0.1", async () => {
    for (const f of ["instances", "launch", "terminal", "recipes", "settings", "phone"]) {
      assert.ok(statSync(join(shots, f + ".png")).size > 8000, `${f}.png looks empty`);
    }
    assert.deepEqual(problems, []);
  });
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error("not ok -", e.stack || e);
  if (page) {
    await page.screenshot({ path: join(shots, "failure.png") }).catch(() => {});
    console.error("# the page:", await page.$eval("body", (b) => b.innerText.slice(0, 3000))
      .catch(() => "?"));
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  if (daemon) {
    daemon.kill("SIGTERM");
    await new Promise((r) => { daemon.on("exit", r); setTimeout(r, 5000); });
  }
  if (imagehost) {
    try {
      execFileSync("bash", [join(src, "tests/lib/imagehost.sh"), "stop", imagehost],
        { stdio: "ignore" });
    } catch (_) { /* not started */ }
  }
  rmSync(home, { recursive: true, force: true });
  rmSync(clientHome, { recursive: true, force: true });
  for (const r of results) console.log("#", r);
  console.log(`# wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
process.exit(failed ? 1 : 0);
