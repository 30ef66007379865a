// End-to-end: builds nothing itself; takes the server binary and the built
// client (dist/), starts the real server on a free port, and drives headless
// Chromium sessions (two guests, then a host-token user) through joining,
// presence, direct and room messages, an XSS attempt, a server restart and a
// lost network they must survive, history paging and a phone-sized layout.
// (The README screenshots are ux.e2e.mjs's; --screenshot takes one here too.)
//
//   node e2e/chat.e2e.mjs --server target/release/server --dist dist \
//        [--screenshot docs/screenshot.png] [--phone-screenshot /tmp/phone.png]
//
// Needs `npm ci --prefix e2e` once (playwright-core, which downloads no
// browser) and Chromium at /usr/bin/chromium (or $CHROMIUM). Prints one line
// per check and `e2e: N passed, M failed`; exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const SERVER = resolve(args.server ?? 'target/release/server');
const DIST = resolve(args.dist ?? 'dist');
// The README screenshots are taken by ux.e2e.mjs; this one only on request.
const SCREENSHOT = args.screenshot && resolve(args.screenshot);
const PHONE_SCREENSHOT = args['phone-screenshot'] && resolve(args['phone-screenshot']);
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = 15_000;
const XSS = '<img src=x onerror=alert(1)>';

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
// A token as a host application would mint it (same secret as the server).
const hostToken = (user, name) =>
  execFileSync(SERVER, ['token', '--user', user, '--name', name, '--project', 'lobby', '--data-dir', dataDir]).toString().trim();
async function shown(page, text) {
  return messages(page).filter({ hasText: text }).count();
}

try {
  await startServer();
  const alice = await newUser('alice');
  const bob = await newUser('bob');

  await check('both users join from the form', async () => {
    for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
      await page.goto(base);
      // An empty name is refused inline, without alert().
      await page.getByRole('button', { name: 'Join' }).click();
      await page.getByRole('alert').filter({ hasText: 'name' }).waitFor();
      await page.locator('#join-name').fill(name);
      await page.getByRole('button', { name: 'Join' }).click();
      await status(page).filter({ hasText: 'Online' }).waitFor();
    }
  });

  await check('each sees the other online', async () => {
    await alice.locator('[data-testid="person-bob"] .dot.on').waitFor();
    await bob.locator('[data-testid="person-alice"] .dot.on').waitFor();
  });

  await check('they exchange direct messages', async () => {
    await open(alice, 'person-bob');
    await say(alice, 'hello bob');
    await alice.locator('.body.sent', { hasText: 'hello bob' }).waitFor();
    await bob.locator('[data-testid="person-alice"] .badge', { hasText: '1' }).waitFor();
    await open(bob, 'person-alice');
    await messages(bob).filter({ hasText: 'hello bob' }).waitFor();
    await say(bob, 'hi alice');
    await messages(alice).filter({ hasText: 'hi alice' }).waitFor();
  });

  await check('typing shows in the other user\'s conversation', async () => {
    await alice.locator('#composer-input').pressSequentially('typing…', { delay: 20 });
    await bob.locator('.typing', { hasText: 'alice is typing' }).waitFor();
    await alice.locator('#composer-input').fill('');
  });

  await check('a room message reaches the other user', async () => {
    await open(alice, 'conv-room');
    await open(bob, 'conv-room');
    await say(alice, 'hello room');
    await messages(bob).filter({ hasText: 'hello room' }).waitFor();
  });

  await check('an XSS payload shows as text and runs nothing', async () => {
    await say(alice, XSS);
    await messages(bob).filter({ hasText: XSS }).waitFor();
    const images = await bob.locator('.messages img').count();
    if (images !== 0) throw new Error(`${images} <img> elements were created`);
    await sleep(300);
    if (problems.some((p) => p.includes('dialog'))) throw new Error(problems.join('\n'));
  });

  let carol;
  await check('a token in the URL signs in without the form (host-app embedding)', async () => {
    carol = await newUser('carol');
    await carol.goto(`${base}/#token=${hostToken('carol-1', 'carol')}&project=lobby`);
    await status(carol).filter({ hasText: 'Online' }).waitFor();
    if (await carol.locator('#join-name').count()) throw new Error('the join form was shown');
    if (new URL(carol.url()).hash) throw new Error(`the token stayed in the URL: ${carol.url()}`);
    await alice.locator('[data-testid="person-carol"] .dot.on').waitFor();
  });

  await check('a user who went offline stays in the sidebar and can still get DMs', async () => {
    await open(alice, 'person-carol');
    await say(alice, 'are you there?');
    await open(carol, 'person-alice');
    await messages(carol).filter({ hasText: 'are you there?' }).waitFor();
    await open(carol, 'conv-room');
    await carol.context().close();
    await alice.locator('[data-testid="person-carol"] .dot:not(.on)').waitFor();
    await alice.locator('[data-testid="person-carol"]', { hasText: 'offline' }).waitFor();
    await say(alice, 'message while you were away');
    await alice.locator('.body.sent', { hasText: 'message while you were away' }).waitFor();
  });

  await check('both reconnect by themselves after a server restart and keep chatting', async () => {
    await stopServer();
    await status(alice).filter({ hasText: 'Reconnecting' }).waitFor();
    await status(bob).filter({ hasText: 'Reconnecting' }).waitFor();
    await startServer();
    // Each may be in a backoff wait; they must come back on their own.
    await status(alice).filter({ hasText: 'Online' }).waitFor({ timeout: 40_000 });
    await status(bob).filter({ hasText: 'Online' }).waitFor({ timeout: 40_000 });
    await open(alice, 'conv-room');
    await say(bob, 'back after the restart');
    await messages(alice).filter({ hasText: 'back after the restart' }).waitFor();
    await open(alice, 'person-bob');
    await say(alice, 'dm after the restart');
    await bob.locator('[data-testid="person-alice"] .badge').waitFor();
    await alice.locator('[data-testid="person-bob"] .dot.on').waitFor();
  });

  await check('no message is shown twice after the reconnect', async () => {
    await open(bob, 'conv-room');
    for (const text of ['hello room', 'back after the restart']) {
      const n = await messages(bob).filter({ hasText: text }).count();
      if (n !== 1) throw new Error(`"${text}" shown ${n} times`);
    }
  });

  if (SCREENSHOT) await check('the screenshot: the room after the restart', async () => {
    mkdirSync(resolve(SCREENSHOT, '..'), { recursive: true });
    await open(alice, 'conv-room');
    await alice.locator('.body.sent').last().waitFor();
    await alice.locator('#composer-input').fill('See you all after lunch!');
    await alice.screenshot({ path: SCREENSHOT });
    await alice.locator('#composer-input').fill('');
    console.log(`     screenshot: ${SCREENSHOT}`);
  });

  await check('the layout fits a phone: conversation first, the others in a drawer', async () => {
    await alice.setViewportSize({ width: 360, height: 640 });
    await sleep(100);
    const overflow = await alice.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) throw new Error(`${overflow}px wider than the screen`);
    for (const selector of ['#composer-input', '[data-testid="drawer-toggle"]', '[data-testid="status"]']) {
      if (!(await alice.locator(selector).isVisible())) throw new Error(`${selector} is not visible`);
    }
    if (await alice.getByTestId('conv-room').isVisible()) throw new Error('the conversation list covers the conversation');
    const box = await alice.locator('#composer-input').boundingBox();
    if (!box || box.y + box.height > 640) throw new Error('the composer is below the fold');
    await alice.getByTestId('drawer-toggle').click();
    await alice.getByTestId('conv-room').waitFor();
    await alice.keyboard.press('Escape');
    await alice.getByTestId('conv-room').waitFor({ state: 'hidden' });
    if (PHONE_SCREENSHOT) await alice.screenshot({ path: PHONE_SCREENSHOT });
  }).finally(() => alice.setViewportSize({ width: 1100, height: 700 }));

  await check('the offline user gets the stored DM when back, with an unread badge', async () => {
    carol = await newUser('carol (back)');
    await carol.goto(`${base}/#token=${hostToken('carol-1', 'carol')}`);
    await status(carol).filter({ hasText: 'Online' }).waitFor();
    await carol.locator('[data-testid="person-alice"] .badge', { hasText: '1' }).waitFor();
    await open(carol, 'person-alice');
    await messages(carol).filter({ hasText: 'message while you were away' }).waitFor();
    await carol.locator('[data-testid="person-alice"] .badge').waitFor({ state: 'detached' });
  });

  await check('a tab that loses the network says so, resumes by itself and counts missed DMs once', async () => {
    await open(bob, 'person-alice'); // read what is there, so the count starts at zero
    await open(bob, 'conv-room');
    await bob.locator('[data-testid="person-alice"] .badge').waitFor({ state: 'detached' });
    await sleep(300); // let the read marker reach the server
    await bob.context().setOffline(true);
    await status(bob).filter({ hasText: 'Offline' }).waitFor();
    await open(alice, 'person-bob');
    await say(alice, 'missed 1');
    await say(alice, 'missed 2');
    await alice.locator('.body.sent', { hasText: 'missed 2' }).waitFor();
    await bob.context().setOffline(false);
    await status(bob).filter({ hasText: 'Online' }).waitFor();
    const badge = bob.locator('[data-testid="person-alice"] .badge');
    await messages(alice).filter({ hasText: 'missed 2' }).waitFor();
    await badge.waitFor();
    await sleep(500); // a double count would show by now
    const n = await badge.textContent();
    if (n !== '2') throw new Error(`the unread badge says ${n}, expected 2`);
    await open(bob, 'person-alice');
    for (const text of ['missed 1', 'missed 2']) {
      await messages(bob).filter({ hasText: text }).waitFor();
      if ((await shown(bob, text)) !== 1) throw new Error(`"${text}" shown twice`);
    }
    await open(bob, 'conv-room');
  });

  await check('a reload keeps the identity and older messages load on scrolling up', async () => {
    await open(carol, 'conv-room');
    for (let i = 1; i <= 55; i++) {
      await say(carol, `history ${i}`);
      await sleep(40); // stay under the server's rate limit
    }
    await carol.locator('.body.sent', { hasText: /^history 55/ }).waitFor();
    await messages(bob).filter({ hasText: /^history 55/ }).waitFor();
    await bob.reload();
    await status(bob).filter({ hasText: 'Online' }).waitFor();
    await bob.getByText('Signed in as').filter({ hasText: 'bob' }).waitFor();
    await messages(bob).filter({ hasText: /^history 55/ }).waitFor();
    if (await shown(bob, 'back after the restart')) throw new Error('expected only the newest page first');
    await bob.locator('.messages').evaluate((el) => { el.scrollTop = 0; });
    await messages(bob).filter({ hasText: 'back after the restart' }).waitFor();
    for (const text of ['hello room', 'back after the restart', /^history 1\b/, /^history 55/]) {
      const n = await shown(bob, text);
      if (n !== 1) throw new Error(`"${text}" shown ${n} times`);
    }
  });

  await check('a message typed while disconnected survives a reload and is delivered once', async () => {
    await open(bob, 'person-alice');
    await open(alice, 'person-bob');
    // Bob's next sockets go to a stand-in that never answers, so the
    // message cannot reach the server before the reload.
    let standIn = true;
    await bob.routeWebSocket(/\/ws$/, (ws) => { if (!standIn) ws.connectToServer(); });
    await bob.context().setOffline(true);
    await status(bob).filter({ hasText: 'Offline' }).waitFor();
    const text = 'typed before a reload';
    await say(bob, text);
    await bob.locator('.body.pending', { hasText: text }).waitFor();
    await bob.context().setOffline(false);
    await bob.reload(); // the page loads, its socket reaches only the stand-in
    await sleep(1000);
    if (await shown(alice, text)) throw new Error('the message got through before the reload');
    standIn = false;
    await bob.reload();
    await status(bob).filter({ hasText: 'Online' }).waitFor();
    await open(bob, 'person-alice');
    await bob.locator('.body.sent', { hasText: text }).waitFor();
    await messages(alice).filter({ hasText: text }).waitFor();
    await sleep(500); // a second copy would show by now
    for (const [page, who] of [[bob, 'bob'], [alice, 'alice']]) {
      const n = await shown(page, text);
      if (n !== 1) throw new Error(`${who} shows "${text}" ${n} times`);
    }
  });

  await check('messages typed in two tabs while disconnected are both delivered after a reload', async () => {
    const one = await newUser('dave');
    await one.goto(`${base}/#token=${hostToken('dave-1', 'dave')}&project=lobby`);
    await status(one).filter({ hasText: 'Online' }).waitFor();
    const two = await one.context().newPage(); // the same browser: shared storage
    two.setDefaultTimeout(TIMEOUT);
    await two.goto(base);
    await status(two).filter({ hasText: 'Online' }).waitFor();
    // New sockets go to a stand-in that never answers, as above.
    let standIn = true;
    await one.context().routeWebSocket(/\/ws$/, (ws) => { if (!standIn) ws.connectToServer(); });
    await one.context().setOffline(true);
    const texts = ['typed in tab one', 'typed in tab two'];
    for (const [page, text] of [[one, texts[0]], [two, texts[1]]]) {
      await status(page).filter({ hasText: 'Offline' }).waitFor();
      await open(page, 'conv-room');
      await say(page, text);
      await page.locator('.body.pending', { hasText: text }).waitFor();
    }
    await two.close(); // its unsent message now lives only in storage
    await one.context().setOffline(false);
    await one.reload();
    await sleep(1000);
    for (const text of texts) {
      if (await shown(alice, text)) throw new Error(`"${text}" got through before the reload`);
    }
    standIn = false;
    await one.reload();
    await status(one).filter({ hasText: 'Online' }).waitFor();
    await open(alice, 'conv-room');
    for (const text of texts) await messages(alice).filter({ hasText: text }).waitFor();
    await sleep(500); // a second copy would show by now
    for (const text of texts) {
      const n = await shown(alice, text);
      if (n !== 1) throw new Error(`alice shows "${text}" ${n} times`);
    }
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

console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
