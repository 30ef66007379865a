// End-to-end: message order at full typing speed. One browser sends 100
// messages as fast as the composer allows (fill + Enter in a loop) while a
// second watches; both must show them in order, and the sender's socket
// must see no `rate_limited` error and no close: the client paces its sends
// within `welcome.limits` (client-core's send queue).
//
//   node e2e/order.e2e.mjs --server target/release/server --dist dist
//
// Same setup as chat.e2e.mjs (playwright-core, Chromium at /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const SERVER = resolve(args.server ?? 'target/release/server');
const DIST = resolve(args.dist ?? 'dist');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = 15_000;

const freePort = () =>
  new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), 'chat-e2e-'));

let server;
async function startServer() {
  server = spawn(SERVER, ['--listen', `127.0.0.1:${port}`, '--dist-dir', DIST, '--data-dir', dataDir, '--log', 'warn'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {}
    await sleep(50);
  }
  throw new Error('server did not come up');
}
async function stopServer() {
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  await exited;
}

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   - ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL - ${name}\n       ${String(e.message ?? e).split('\n').slice(0, 6).join('\n       ')}`);
  }
}

const flags = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: flags });
const problems = [];

async function newUser(name, viewport = { width: 1100, height: 700 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    // The browser logs refused WebSocket connections while the server is
    // down for the restart; those are expected.
    if (m.type() === 'error' && !/WebSocket connection to .* failed/.test(m.text())) problems.push(`${name}: console: ${m.text()}`);
  });
  page.on('dialog', async (d) => {
    problems.push(`${name}: a dialog opened: ${d.message()}`);
    await d.dismiss();
  });
  return page;
}

const status = (page) => page.getByTestId('status');
const messages = (page) => page.getByTestId('message');
async function say(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}
async function open(page, testid) {
  await page.getByTestId(testid).click();
}
async function shown(page, text) {
  return messages(page).filter({ hasText: text }).count();
}

const COUNT = 100;
const numbers = async (page) =>
  (await messages(page).allTextContents()).map((t) => t.match(/order (\d+)/)).filter(Boolean).map((m) => Number(m[1]));

try {
  await startServer();
  const alice = await newUser('alice');
  const bob = await newUser('bob');
  // What alice's page sees on its socket.
  const wire = { refused: [], closed: [], sent: 0 };
  alice.on('websocket', (ws) => {
    ws.on('framereceived', ({ payload }) => {
      if (String(payload).includes('"rate_limited"')) wire.refused.push(String(payload));
    });
    ws.on('framesent', () => wire.sent++);
    ws.on('close', () => wire.closed.push(ws.url()));
  });

  await check('both users join', async () => {
    for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
      await page.goto(base);
      await page.locator('#join-name').fill(name);
      await page.getByRole('button', { name: 'Join' }).click();
      await status(page).filter({ hasText: 'Online' }).waitFor();
    }
    await alice.locator('[data-testid="person-bob"] .dot.on').waitFor();
  });

  await check(`${COUNT} messages typed at full speed arrive in order for everyone`, async () => {
    for (let i = 1; i <= COUNT; i++) await say(alice, `order ${i}`);
    const expected = Array.from({ length: COUNT }, (_, i) => i + 1);
    // Generous: pacing at the default limits takes a few seconds.
    const deadline = Date.now() + 60_000;
    for (const [page, name] of [[bob, 'bob'], [alice, 'alice']]) {
      let seen = [];
      while (Date.now() < deadline) {
        seen = await numbers(page);
        if (seen.length >= COUNT) break;
        await sleep(200);
      }
      if (JSON.stringify(seen) !== JSON.stringify(expected)) throw new Error(`${name} shows ${seen.join(' ')}`);
    }
    await alice.locator('.body.sent', { hasText: `order ${COUNT}` }).waitFor();
    if (await alice.locator('.body.pending, .body.failed').count()) throw new Error('alice has unsent messages');
  });

  await check('after a reload the order is the same', async () => {
    await bob.reload();
    await status(bob).filter({ hasText: 'Online' }).waitFor();
    const deadline = Date.now() + 30_000;
    let seen = [];
    while (Date.now() < deadline && !seen.includes(COUNT)) {
      seen = await numbers(bob);
      await sleep(200);
    }
    // The newest page of history: consecutive, ending with the last one.
    const expected = Array.from({ length: seen.length }, (_, i) => COUNT - seen.length + 1 + i);
    if (!seen.length || JSON.stringify(seen) !== JSON.stringify(expected)) throw new Error(`bob shows ${seen.join(' ')}`);
  });

  await check('no rate_limited refusal and no close on the sender\'s socket', async () => {
    if (wire.refused.length) throw new Error(`${wire.refused.length} refusals, first: ${wire.refused[0]}`);
    if (wire.closed.length) throw new Error(`closed: ${wire.closed.join(', ')}`);
    if (wire.sent < COUNT) throw new Error(`only ${wire.sent} frames sent`);
  });

  await check('no console errors', async () => {
    if (problems.length) throw new Error(problems.join('\n'));
  });
} catch (e) {
  failed++;
  console.log(`FAIL - setup: ${e.message}`);
} finally {
  await browser.close().catch(() => {});
  if (server && server.exitCode === null) await stopServer().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
}

console.log(`e2e order: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
