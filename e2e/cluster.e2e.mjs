// End-to-end across nodes: two browsers on two different chat nodes of a
// running cluster (scripts/cluster.sh), and a third through its load
// balancer. They see each other online, exchange a direct message and a
// room message. Starts nothing itself.
//
//   node e2e/cluster.e2e.mjs --lb http://127.0.0.1:8080 \
//        --nodes http://127.0.0.1:8081,http://127.0.0.1:8082
//
// Prints one line per check and `e2e: N passed, M failed`; exits non-zero
// on any failure.
import { chromium } from 'playwright-core';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const LB = args.lb ?? 'http://127.0.0.1:8080';
const [NODE_A, NODE_B] = (args.nodes ?? 'http://127.0.0.1:8081,http://127.0.0.1:8082').split(',');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = 15_000;
// One run's users are new to the cluster's database, whatever ran before.
const run = Date.now().toString(36);

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

async function join(url, name) {
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  await page.goto(url);
  await page.locator('#join-name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByTestId('status').filter({ hasText: 'Online' }).waitFor();
  return page;
}
async function say(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}
const messages = (page) => page.getByTestId('message');

try {
  const [alice, bob, carol] = [`alice${run}`, `bob${run}`, `carol${run}`];
  let pa, pb, pc;
  await check('two browsers join on two different nodes, a third through the load balancer', async () => {
    pa = await join(NODE_A, alice);
    pb = await join(NODE_B, bob);
    pc = await join(LB, carol);
  });

  await check('each sees the others online across nodes', async () => {
    for (const [page, others] of [[pa, [bob, carol]], [pb, [alice, carol]], [pc, [alice, bob]]]) {
      for (const other of others) await page.locator(`[data-testid="person-${other}"] .dot.on`).waitFor();
    }
  });

  await check('a direct message crosses nodes', async () => {
    await pa.getByTestId(`person-${bob}`).click();
    await say(pa, 'hello bob, from another node');
    await pb.getByTestId(`person-${alice}`).click();
    await messages(pb).filter({ hasText: 'hello bob, from another node' }).waitFor();
  });

  await check('a room message reaches both nodes', async () => {
    for (const page of [pa, pb, pc]) await page.getByTestId('conv-room').click();
    await say(pc, `hello room ${run}`);
    for (const page of [pa, pb]) await messages(page).filter({ hasText: `hello room ${run}` }).waitFor();
  });

  await check('no page error', async () => {
    if (problems.length) throw new Error(problems.join('\n'));
  });
} finally {
  await browser.close();
}

console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
