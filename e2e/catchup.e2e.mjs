// Catch-up in a real browser: alice's tab loses the network, the room gets
// N messages (10,000 by default) from a bot, the network comes back, and we
// measure how long until the newest is on alice's screen, the longest
// main-thread task meanwhile (PerformanceObserver 'longtask'), the DOM size
// and the page's memory with them all loaded.
//
//   node e2e/catchup.e2e.mjs --server target/release/server --dist dist [--messages 10000]
//
// Targets (issue 12): on screen within 1 s, no task over 100 ms. The checks
// fail only well above them (LIMIT_FACTOR times), so a slow or busy machine
// does not fail the build; the figures are printed for BENCHMARKS.md.
import { args, checks, launchBrowser, roomBot, serverFixture, sleep } from './harness.mjs';

const N = Number(args.messages ?? 10_000);
const TARGET_MS = 1_000;
const TARGET_TASK_MS = 100;
const LIMIT_FACTOR = 4;
/// The most message elements the list may hold (client RENDER_WINDOW plus
/// pending sends); a backlog must not grow the DOM.
const MAX_RENDERED = 250;
const TIMEOUT = 60_000;

// The bot sends as fast as the socket takes it: the server's rate limit is
// out of the way (it is not what is measured).
const fixture = await serverFixture(['--rate-per-sec', '1000000', '--rate-burst', '1000000']);
const { base } = fixture;
const browser = await launchBrowser();
const { check, fail, done } = checks('catchup');
const problems = [];
const figures = {};

/// In the page, before the app: every long task, kept for the report.
function probes() {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
}

/// The bot: `n` room messages "catchup 1" .. "catchup n", all acked.
const bot = (page, n) => roomBot(page, Array.from({ length: n }, (_, i) => `catchup ${i + 1}`));

/// The page's memory: V8's heap and the wasm linear memory (found with the
/// DevTools protocol, the app does not expose it).
async function memory(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const metric = (name) => metrics.find((m) => m.name === name)?.value ?? 0;
  const proto = await cdp.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype' });
  const found = await cdp.send('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId });
  const wasm = await cdp.send('Runtime.callFunctionOn', {
    objectId: found.objects.objectId,
    functionDeclaration: 'function () { return this.reduce((sum, m) => sum + m.buffer.byteLength, 0); }',
    returnByValue: true,
  });
  await cdp.detach();
  return { jsHeap: metric('JSHeapUsedSize'), wasm: wasm.result.value, nodes: metric('Nodes') };
}

const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

try {
  await fixture.start();
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  await context.addInitScript(probes);
  const alice = await context.newPage();
  alice.setDefaultTimeout(TIMEOUT);
  alice.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  alice.on('console', (m) => {
    // Refused connections while offline, and a frame the socket service
    // tried on a socket the network loss had just closed, are expected.
    const expected = /WebSocket connection to .* failed|WebSocket is already in CLOSING or CLOSED state/;
    if (m.type() === 'error' && !expected.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  // What alice's socket receives, by frame type: the backlog must come as a
  // few `replay` frames (the hello asks for them), not a frame a message.
  let framesByType = {};
  alice.on('websocket', (ws) => ws.on('framereceived', (f) => {
    try {
      const type = JSON.parse(f.payload).type;
      framesByType[type] = (framesByType[type] ?? 0) + 1;
    } catch { /* not JSON: counted nowhere */ }
  }));
  const botPage = await (await browser.newContext()).newPage();
  await botPage.goto(base);
  const messages = alice.getByTestId('message');

  await check('alice joins the room', async () => {
    await alice.goto(base);
    await alice.locator('#join-name').fill('alice');
    await alice.getByRole('button', { name: 'Join' }).click();
    await alice.getByTestId('status').filter({ hasText: 'Online' }).waitFor();
    await bot(botPage, 1); // the room is not empty: alice has a cursor to resume from
    await messages.filter({ hasText: 'catchup 1' }).waitFor();
  });

  await check(`${N} messages sent while alice is offline reach her screen after the network returns`, async () => {
    await context.setOffline(true);
    await alice.getByTestId('status').filter({ hasText: 'Offline' }).waitFor();
    await bot(botPage, N); // bodies "catchup 1" .. "catchup N" again, new ids
    await sleep(200); // nothing can reach alice now; let her page settle
    const last = `catchup ${N}`;
    // Watch for the newest message once per frame, from before the network returns.
    await alice.evaluate((last) => {
      window.__online = null;
      window.__seen = new Promise((ok) => {
        const look = () => {
          if (!window.__online && document.querySelector('[data-testid=status]')?.textContent.includes('Online')) window.__online = Date.now();
          const all = document.querySelectorAll('[data-testid=message]');
          const newest = all[all.length - 1];
          if (newest && newest.firstChild?.textContent === last && all.length > 1) ok(Date.now());
          else requestAnimationFrame(look);
        };
        look();
      });
    }, last);
    framesByType = {};
    const back = Date.now();
    await context.setOffline(false);
    const seen = await alice.evaluate(() => window.__seen);
    figures.catchupMs = seen - back;
    figures.welcomeMs = (await alice.evaluate(() => window.__online)) - back;
    const sinceBack = back - (await alice.evaluate(() => performance.timeOrigin));
    const tasks = (await alice.evaluate(() => window.__longTasks)).filter((t) => t.start + t.duration >= sinceBack);
    figures.longTasks = tasks.length;
    figures.longestTaskMs = Math.round(Math.max(0, ...tasks.map((t) => t.duration)));
    figures.replayFrames = framesByType.replay ?? 0;
    figures.messageFrames = framesByType.message ?? 0;
    if (figures.replayFrames === 0 || figures.replayFrames > N / 50 || figures.messageFrames > N / 50) {
      throw new Error(`the backlog came as ${figures.replayFrames} replay and ${figures.messageFrames} message frames`);
    }
    console.log(`     catch-up of ${N}: ${figures.replayFrames} replay frames; on screen ${figures.catchupMs} ms after the network returned ` +
      `(online again after ${figures.welcomeMs} ms) ` +
      `(target ${TARGET_MS}); ${figures.longTasks} long tasks, longest ${figures.longestTaskMs} ms (target ${TARGET_TASK_MS})`);
    if (figures.catchupMs > TARGET_MS * LIMIT_FACTOR) throw new Error(`catch-up took ${figures.catchupMs} ms`);
    if (figures.longestTaskMs > TARGET_TASK_MS * LIMIT_FACTOR) throw new Error(`a main-thread task took ${figures.longestTaskMs} ms`);
  });

  await check('the newest messages are shown in order, once, and the DOM stays bounded', async () => {
    await alice.getByTestId('status').filter({ hasText: 'Online' }).waitFor();
    const texts = await messages.evaluateAll((els) => els.map((e) => e.firstChild?.textContent));
    figures.rendered = texts.length;
    if (texts.length > MAX_RENDERED) throw new Error(`${texts.length} message elements for ${N} messages`);
    const tail = texts.slice(-Math.min(100, N));
    const expected = tail.map((_, i) => `catchup ${N - tail.length + 1 + i}`);
    if (JSON.stringify(tail) !== JSON.stringify(expected)) throw new Error(`out of order or missing: ${tail.slice(-5)}`);
    const m = await memory(alice);
    Object.assign(figures, m);
    console.log(`     with ${N} messages loaded: ${figures.rendered} message elements, ${m.nodes} DOM nodes, ` +
      `JS heap ${mib(m.jsHeap)}, wasm memory ${mib(m.wasm)}`);
  });

  await check('older messages are rendered on scrolling up', async () => {
    const first = async () => messages.first().evaluate((e) => e.firstChild?.textContent);
    const before = await first();
    await alice.locator('.messages').evaluate((el) => { el.scrollTop = 0; });
    await alice.waitForFunction((before) => {
      const m = document.querySelector('[data-testid=message]');
      return m && m.firstChild?.textContent !== before;
    }, before);
    const after = await first();
    const n = (t) => Number(t.split(' ')[1]);
    if (!(n(after) < n(before))) throw new Error(`the first message went from "${before}" to "${after}"`);
  });

  await check('no console errors', async () => {
    if (problems.length) throw new Error(problems.join('\n'));
  });
} catch (e) {
  fail(`setup: ${e.message}`);
} finally {
  await browser.close().catch(() => {});
  await fixture.cleanup();
}
console.log(`catchup figures: ${JSON.stringify(figures)}`);
done();
