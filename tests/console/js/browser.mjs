// The operations console in a real browser: Debian's chromium, headless, driven by
// playwright-core. Starts `belay up` with one extra upstream that pins its tools (the
// misbehaving Python SDK server of the gateway's guard tests), then, as a person would:
//
//   1. opens /ui, is sent to the authorization server's form, signs in as demo;
//   2. watches the overview's live counts grow while the official Python SDK client
//      (calls.py) makes tool calls through the gateway, without reloading the page;
//   3. filters the audit log by tool and finds exactly those calls, the chain intact;
//   4. makes the upstream change a tool's description (a rug pull, applied by a
//      configuration reload), sees the change waiting with its diff, approves it, and the
//      Python client sees the tool again;
//   5. blocks matheval's evaluate tool from the security page, sees the Python client's call
//      refused as blocked, unblocks it and sees the call answered again;
//   6. reloads the configuration from the console and sees what was applied;
//   7. checks the page on a phone-sized screen and that the keyboard reaches the navigation.
//
// Fails on any page error or console error. Screenshots go to $CONSOLE_ARTEFACTS
// (default target/console-browser). Exit 0 when every check passes.

import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../../..");
const BELAY = process.env.BELAY_BIN || join(ROOT, "target/debug/belay");
const PYTHON = process.env.BELAY_PYTHON || join(ROOT, ".tools/bin/python");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTEFACTS = resolve(process.env.CONSOLE_ARTEFACTS || join(ROOT, "target/console-browser"));
const UPSTREAM = join(ROOT, "crates/belay-gateway/tests/python/guarded_upstream.py");
const CALLS = join(HERE, "..", "calls.py");

let failed = 0;
function check(name, ok, detail = "") {
  console.log(`${ok ? "PASS" : "FAIL"} ${name}${!ok && detail ? `: ${detail}` : ""}`);
  if (!ok) failed += 1;
}

// The configuration `belay up` reads; `run` changes the upstream's spec, so a reload
// replaces it (a new process, which reads the state file again).
function config(state, calls, run) {
  const env = { GUARDED_STATE: state, GUARDED_CALLS: calls, GUARDED_RUN: String(run) };
  const table = Object.entries(env)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
    .join(", ");
  return `[gateway]
reload_poll_ms = 200

[[gateway.upstream]]
name = "sdk"
transport = { type = "stdio", command = ${JSON.stringify(PYTHON)}, args = [${JSON.stringify(UPSTREAM)}], env = { ${table} } }

[gateway.upstream.guard]
metadata = "hide"
pin = true
`;
}

function pythonCalls(gateway, password, args) {
  const out = execFileSync(PYTHON, [CALLS, gateway, password, ...args], {
    encoding: "utf8",
    timeout: 90_000,
    stdio: ["ignore", "pipe", "inherit"],
  });
  return JSON.parse(out.trim().split("\n").pop());
}

async function startUp(dir, configFile) {
  // The audit key lives under the config folder: keep it in the test's own.
  const env = { ...process.env, XDG_CONFIG_HOME: join(dir, "config") };
  delete env.BELAY_CONFIG;
  const child = spawn(BELAY, ["--config", configFile, "up", "--port", "0", "--json", "--data-dir", dir], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => {
    log += d;
  });
  const line = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`belay up printed nothing in 60 s:\n${log}`)), 60_000);
    createInterface({ input: child.stdout }).once("line", (l) => {
      clearTimeout(timer);
      ok(l);
    });
    child.once("exit", (code) => fail(new Error(`belay up exited ${code}:\n${log}`)));
  });
  return { child, info: JSON.parse(line), log: () => log };
}

async function until(what, predicate, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main() {
  mkdirSync(ARTEFACTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "belay-console-browser-"));
  const state = join(dir, "upstream-state");
  const calls = join(dir, "upstream-calls.jsonl");
  const configFile = join(dir, "belay.toml");
  writeFileSync(configFile, config(state, calls, 1));
  const up = await startUp(dir, configFile);
  const { info } = up;
  const password = info.user?.password;
  const consoleUrl = info.console;
  const gateway = info.gateway?.url;
  check("belay up prints the console URL and a demo password", Boolean(consoleUrl && password), JSON.stringify(info));

  const headless = !process.env.CONSOLE_HEADED;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless,
    // Chromium's sandbox needs user namespaces that CI containers (running as root) lack.
    args: process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [],
  });
  const errors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // The browser asks for /favicon.ico by itself (the sign-in page names none): not the
      // page's error.
      if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico")) {
        errors.push(`console error: ${m.text()} (${m.location().url})`);
      }
    });

    // 1. Sign in.
    await page.goto(consoleUrl);
    check("an anonymous visit lands on the sign-in form", (await page.locator("input[name=password]").count()) === 1, page.url());
    await page.fill("input[name=username]", "demo");
    await page.fill("input[name=password]", password);
    await page.click("button[value=approve]");
    await page.waitForURL((u) => u.pathname === "/ui", { timeout: 20_000 });
    await page.waitForSelector("#live.on", { timeout: 20_000 });
    check("signed in, the overview is live", true);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "belay_console");
    check(
      "the session cookie is HttpOnly and SameSite=Strict",
      Boolean(session && session.httpOnly && session.sameSite === "Strict"),
      JSON.stringify(session),
    );
    const html = await page.content();
    check("no token in the page", !/eyJ[A-Za-z0-9_-]{10,}\./.test(html));

    // 2. Live counts.
    const requests = async () => Number(await page.locator("[data-stat=requests]").textContent());
    const before = await requests();
    const navigations = [];
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame()) navigations.push(f.url());
    });
    pythonCalls(gateway, password, ["--count", "3"]);
    await page.waitForFunction(
      (n) => Number(document.querySelector("[data-stat=requests]").textContent) >= n,
      before + 3,
      { timeout: 20_000 },
    );
    await page.waitForFunction(
      () => [...document.querySelectorAll("#tools td")].some((td) => td.textContent === "matheval/evaluate"),
      null,
      { timeout: 20_000 },
    );
    check(`live counts grew from ${before} after 3 Python SDK calls, without a reload`, navigations.length === 0, navigations.join(" "));
    await page.screenshot({ path: join(ARTEFACTS, "overview.png"), fullPage: true });

    // 3. The audit log, filtered.
    await page.click("nav a[href='/ui/audit']");
    await page.fill("input[name=tool]", "evaluate");
    await page.click("#audit-filter button[type=submit]");
    await page.waitForURL(/tool=evaluate/);
    const count = await page.locator("#count").textContent();
    check("the audit filter finds exactly the 3 calls", count.startsWith("3 records"), count);
    check("the chain is verified intact", (await page.locator("#chain.ok").count()) === 1, await page.locator("#chain").textContent());
    await page.locator("#records details summary").first().click();
    await page.screenshot({ path: join(ARTEFACTS, "audit.png"), fullPage: true });

    // 4. A rug pull, then approval.
    writeFileSync(state, "pulled");
    writeFileSync(configFile, config(state, calls, 2));
    up.child.kill("SIGHUP");
    await until("the changed tool to wait for approval", async () => {
      await page.goto(`${consoleUrl}/security`);
      return (await page.locator("#pending h2").textContent()).includes("(1)");
    });
    const diff = await page.locator("#pending pre.diff").textContent();
    check("the pending change shows the definition diff", diff.includes("delayed by 15 minutes"), diff);
    await page.screenshot({ path: join(ARTEFACTS, "security-pending.png"), fullPage: true });
    await page.click("button.approve");
    await page.waitForURL((u) => u.pathname === "/ui/security");
    const after = await page.locator("#pending h2").textContent();
    check("approved: nothing waits any more", after.includes("(0)"), after);
    await page.screenshot({ path: join(ARTEFACTS, "security-approved.png"), fullPage: true });
    const seen = pythonCalls(gateway, password, ["--count", "0", "--expect-tool", "sdk__get_quote"]);
    check("the Python SDK client lists the approved tool again", seen.tools.includes("sdk__get_quote"), seen.tools.join(","));
    await page.goto(`${consoleUrl}/audit?tool=get_quote`);
    check("the approval is in the audit log", (await page.content()).includes("console/approve"));

    // 5. Block a tool, see the Python client refused; unblock it.
    await page.goto(`${consoleUrl}/security`);
    await page.selectOption("#block-tool select[name=upstream]", "matheval");
    await page.fill("#block-tool input[name=tool]", "evaluate");
    await page.fill("#block-tool input[name=reason]", "browser test");
    await page.click("#block-tool button[type=submit]");
    await page.waitForURL((u) => u.pathname === "/ui/security");
    const blocked = await page.locator("#blocks tbody").textContent();
    check("the block is listed", blocked.includes("tool `evaluate` of upstream `matheval`"), blocked);
    await page.screenshot({ path: join(ARTEFACTS, "security-blocked.png"), fullPage: true });
    const refused = pythonCalls(gateway, password, ["--count", "1", "--expect-blocked"]);
    check("the Python SDK client's call of the blocked tool is refused", refused.refusals.length === 1, JSON.stringify(refused));
    await page.click("#blocks button.unblock");
    await page.waitForURL((u) => u.pathname === "/ui/security");
    check("unblocked: nothing listed", (await page.locator("#blocks button.unblock").count()) === 0);
    const answered = pythonCalls(gateway, password, ["--count", "1"]);
    check("the Python SDK client's call is answered again", answered.calls === 1, JSON.stringify(answered));
    await page.goto(`${consoleUrl}/audit?tool=evaluate`);
    const trail = await page.content();
    check("the block and unblock are in the audit log", trail.includes("console/block") && trail.includes("console/unblock"));

    // 6. Reload from the console.
    await page.goto(`${consoleUrl}/security`);
    await page.click("#reload");
    await page.waitForSelector("#reload-result", { timeout: 20_000 });
    const reloaded = await page.locator("#reload-result").textContent();
    check("the console reloads the configuration and says what it applied", reloaded.startsWith("Configuration reloaded"), reloaded);

    // 7. Phone and keyboard.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(consoleUrl);
    await page.waitForSelector("#live.on", { timeout: 20_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check("the overview fits a phone's width", overflow <= 1, `${overflow}px too wide`);
    await page.screenshot({ path: join(ARTEFACTS, "overview-phone.png"), fullPage: true });
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.getAttribute("href"));
    check("the keyboard reaches the navigation first", focused === "/ui", String(focused));
  } catch (e) {
    check("the browser session ran to the end", false, e.stack || String(e));
    console.error(up.log().slice(-3000));
  } finally {
    await browser.close();
    up.child.kill("SIGTERM");
    await new Promise((r) => {
      const timer = setTimeout(r, 15_000);
      up.child.once("exit", () => {
        clearTimeout(timer);
        r();
      });
    });
  }
  check("no page error or console error", errors.length === 0, errors.join("\n"));
  console.log(`screenshots in ${ARTEFACTS}`);
  rmSync(dir, { recursive: true, force: true });
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
