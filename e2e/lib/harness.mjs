// Starts `wxrealname demo` on free ports with a temporary data directory, and Debian's chromium through
// playwright-core. Nothing is downloaded: the binary is the one cargo built, the browser the system's.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
export const screenshotDir = join(repoRoot, 'docs', 'screenshots');

const BIN = process.env.WXRN_BIN ? resolve(process.env.WXRN_BIN) : resolve(here, '..', '..', 'target', 'debug', 'wxrealname');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Run the demo; resolves once its banner is out, with the URLs it printed. */
export async function startDemo() {
  const dataDir = mkdtempSync(join(tmpdir(), 'wxrn-e2e-'));
  const child = spawn(
    BIN,
    ['demo', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--sandbox-addr', '127.0.0.1:0', '--web-addr', '127.0.0.1:0'],
    { env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const banner = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the demo printed no banner in 60 s:\n' + stderr)), 60_000);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      if (/Ctrl-C stops/.test(stdout)) {
        clearTimeout(timer);
        ok(stdout);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`the demo exited with ${code}:\n${stderr}`));
    });
  });
  const url = (label) => {
    const m = banner.match(new RegExp('^\\s+' + label + '\\s+(http://\\S+)', 'm'));
    if (!m) throw new Error(`no ${label} URL in the banner:\n${banner}`);
    return m[1];
  };
  const demo = {
    web: url('demo app'),
    gateway: url('gateway'),
    sandbox: url('sandbox'),
    adminToken: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
    banner,
    logs: () => stderr,
    async sandboxStats() {
      return (await fetch(demo.sandbox + '/sandbox/stats')).json();
    },
    async users() {
      return (await (await fetch(demo.web + '/api/users')).json()).users;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return demo;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A PNG of `page` in docs/screenshots/ (the README links them). */
export async function screenshot(page, name, options = {}) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, name), animations: 'disabled', ...options });
}
