// What every e2e script shares: flags, a free port, the real server started
// and stopped, headless Chromium, and one line per check.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
export const SERVER = resolve(args.server ?? 'target/release/server');
export const DIST = resolve(args.dist ?? 'dist');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

/// The real server on a free port with a fresh data directory; `extra` are
/// more flags. `start()` may be called again after `stop()` (a restart).
export async function serverFixture(extra = []) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-e2e-'));
  let child;
  const fixture = {
    port,
    base,
    dataDir,
    async start() {
      child = spawn(SERVER, ['--listen', `127.0.0.1:${port}`, '--dist-dir', DIST, '--data-dir', dataDir, '--log', 'warn', ...extra], {
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      for (let i = 0; i < 200; i++) {
        try {
          if ((await fetch(`${base}/healthz`)).ok) return;
        } catch {}
        await sleep(50);
      }
      throw new Error('server did not come up');
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
    async cleanup() {
      if (child && child.exitCode === null) await fixture.stop().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return fixture;
}

export const launchBrowser = () =>
  chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });

/// For `context.addInitScript`: records every notification the page raises
/// in `window.__notifications` (the real constructor still runs).
export function recordNotifications() {
  window.__notifications = [];
  if (!('Notification' in window)) return;
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: options?.body ?? '' });
    }
  };
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/// axe-core on the page as it is: zero violations of any impact.
export async function axe(page, label) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ content: AXE });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  if (result.length) throw new Error(`${label}: ${result.join('\n')}`);
}

/// A guest `name` on a raw WebSocket from `page` (any page of the server's
/// origin) sends `texts` to the project's room, in order; resolves when all
/// are acked.
export async function roomBot(page, texts, name = 'bot') {
  await page.evaluate(async ([texts, name]) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    await new Promise((ok, fail) => {
      ws.onopen = ok;
      ws.onerror = () => fail(new Error('bot socket failed'));
    });
    const welcomed = new Promise((ok) => {
      ws.onmessage = (e) => JSON.parse(e.data).type === 'welcome' && ok();
    });
    ws.send(JSON.stringify({ type: 'hello', protocol: 1, auth: { kind: 'guest', name, color: '#2b7a78', project: 'lobby' } }));
    await welcomed;
    let acked = 0;
    const all = new Promise((ok, fail) => {
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === 'ack' && ++acked === texts.length) ok();
        if (m.type === 'error') fail(new Error(`bot refused: ${e.data}`));
      };
      ws.onclose = (e) => fail(new Error(`bot closed: ${e.code}`));
    });
    texts.forEach((body, i) => ws.send(JSON.stringify({ type: 'send', client_id: `${name}-${Date.now()}-${i}`, to: { kind: 'room' }, body })));
    await all;
    ws.onclose = null;
    ws.close();
  }, [texts, name]);
}

/// Runs named checks and counts them; `done()` prints the total and exits.
export function checks(label = 'e2e') {
  let passed = 0;
  let failed = 0;
  return {
    async check(name, fn) {
      try {
        await fn();
        passed++;
        console.log(`ok   - ${name}`);
      } catch (e) {
        failed++;
        console.log(`FAIL - ${name}\n       ${String(e.message ?? e).split('\n').slice(0, 6).join('\n       ')}`);
      }
    },
    fail(why) {
      failed++;
      console.log(`FAIL - ${why}`);
    },
    done() {
      console.log(`${label}: ${passed} passed, ${failed} failed`);
      process.exit(failed === 0 ? 0 : 1);
    },
  };
}
