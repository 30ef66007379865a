// A message's whole life (issue 14) in real Chromium against the real
// server: alice and bob edit, delete, reply, react, mention and search in
// the room while carol's network is cut; back online, carol's screen
// converges to theirs (texts, tombstones, edit marks, quotes, reactions),
// and so does a page loaded afresh; a reaction carol makes offline survives
// her page being closed and reopened. Plus the keyboard paths (↑ edits, Esc
// cancels), the mention badge and notification, search paging, a jump to a
// message that is not loaded, and axe-core scans of the new controls.
//
//   node e2e/life.e2e.mjs --server target/release/server --dist dist [--screenshot /tmp/life.png]
//
// Every wait polls for a condition; nothing sleeps a fixed time.
import { resolve } from 'node:path';
import { args, axe, checks, launchBrowser, recordNotifications, roomBot, serverFixture } from './harness.mjs';

const TIMEOUT = 15_000;
const FILLERS = 60;
const SCREENSHOT = args.screenshot && resolve(args.screenshot);

// The bot posts fast (the rate limit is not what is tested); guests see the
// room's history, so a page loaded afresh shows what the others see.
const fixture = await serverFixture(['--rate-per-sec', '1000', '--rate-burst', '1000', '--guest-history', '*']);
const { base } = fixture;
const browser = await launchBrowser();
const { check, fail, done } = checks('life');
const problems = [];

async function newUser(name, { colorScheme = 'light', permissions = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, colorScheme, permissions });
  await context.addInitScript(recordNotifications);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket connection to .* failed|ERR_INTERNET_DISCONNECTED/.test(m.text())) {
      problems.push(`${name}: console: ${m.text()}`);
    }
  });
  page.on('dialog', async (d) => {
    problems.push(`${name}: a dialog opened: ${d.message()}`);
    await d.dismiss();
  });
  return page;
}

async function join(page, name) {
  await page.goto(base);
  await page.locator('#join-name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await online(page);
}
const online = (page) => page.getByTestId('status').filter({ hasText: 'Online' }).waitFor({ timeout: 40_000 });

/// The message (its whole block: quote, body, reactions, actions) whose body has `text`.
const msg = (page, text) => page.getByTestId('msg').filter({ has: page.getByTestId('message').filter({ hasText: text }) });

async function say(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
  await page.locator('.body.pending').first().waitFor({ state: 'detached' });
}

/// Opens the actions of the message with `text` and presses `button`.
async function act(page, text, button) {
  const m = msg(page, text).last();
  await m.getByTestId('more').click();
  await m.getByTestId('menu').getByRole('button', { name: button, exact: true }).click();
}

async function open(page, testid) {
  await page.getByTestId(testid).click();
}

/// What a reader sees of the room's last `n` messages, the same for every
/// reader: sender, body (with its edit mark, without delivery marks),
/// quote and reactions.
const snapshot = (page, n) =>
  page.evaluate((n) => {
    const all = [...document.querySelectorAll('.messages [data-testid=msg]')];
    return all.slice(-n).map((m) => {
      const body = m.querySelector('[data-testid=message]').cloneNode(true);
      body.querySelectorAll('.mark:not(.edited)').forEach((x) => x.remove());
      return [
        m.closest('.group').querySelector('header .name').textContent,
        body.textContent,
        m.querySelector('[data-testid=quote]')?.textContent ?? '',
        [...m.querySelectorAll('.reactions .chip')].map((c) => c.textContent).join(' '),
      ].join(' | ');
    });
  }, n);
const count = (page) => page.evaluate(() => document.querySelectorAll('.messages [data-testid=msg]').length);

/// Polls until `page` shows the room's last messages as `reference` does.
async function converged(page, reference, n) {
  let mine = [];
  let theirs = [];
  for (const started = Date.now(); Date.now() - started < 30_000; ) {
    [mine, theirs] = [await snapshot(page, n), await snapshot(reference, n)];
    if (mine.length === n && JSON.stringify(mine) === JSON.stringify(theirs)) return mine;
    await page.waitForTimeout(100); // a poll interval, not a bet on speed
  }
  const diff = mine.map((line, i) => (line === theirs[i] ? null : `  got:  ${line}\n  want: ${theirs[i]}`)).filter(Boolean);
  throw new Error(`not the same after 30 s (${mine.length} vs ${theirs.length} messages):\n${diff.slice(0, 5).join('\n')}`);
}

/// Tells the page it is hidden (or visible again) the way a browser would.
const setHidden = (page, hide) =>
  page.evaluate((hide) => {
    if (hide) {
      for (const [prop, value] of [['hidden', true], ['visibilityState', 'hidden']]) {
        Object.defineProperty(document, prop, { configurable: true, get: () => value });
      }
    } else {
      delete document.hidden;
      delete document.visibilityState;
    }
    document.dispatchEvent(new Event('visibilitychange'));
  }, hide);

try {
  await fixture.start();
  const alice = await newUser('alice');
  const bob = await newUser('bob', { permissions: ['notifications'] });
  const carol = await newUser('carol', { colorScheme: 'dark' });
  for (const [page, name] of [[alice, 'alice'], [bob, 'bob'], [carol, 'carol']]) await join(page, name);

  await check('three readers see the first messages, then carol\'s network is cut', async () => {
    for (const text of ['lunch at noon?', 'secret plan', 'typo mesage']) await say(alice, text);
    for (const page of [bob, carol]) await msg(page, 'typo mesage').waitFor();
    await carol.context().setOffline(true);
    await carol.getByTestId('status').filter({ hasText: 'Offline' }).waitFor();
    const botPage = await newUser('bot');
    await botPage.goto(base);
    await roomBot(botPage, ['needle in the haystack', ...Array.from({ length: FILLERS }, (_, i) => `filler ${i + 1}`)], 'filler-bot');
    await botPage.context().close();
    await msg(alice, `filler ${FILLERS}`).waitFor();
  });

  await check('↑ in an empty composer edits my last message; it shows edited everywhere', async () => {
    const box = alice.locator('#composer-input');
    await box.focus();
    await box.press('ArrowUp');
    await alice.getByTestId('editing').waitFor();
    if ((await box.inputValue()) !== 'typo mesage') throw new Error(`the box has ${await box.inputValue()}`);
    await box.fill('typo message fixed');
    await box.press('Enter');
    await alice.getByTestId('editing').waitFor({ state: 'detached' });
    for (const page of [alice, bob]) await msg(page, 'typo message fixed(edited)').waitFor();
  });

  await check('Esc cancels an edit and a reply', async () => {
    const box = alice.locator('#composer-input');
    await box.press('ArrowUp');
    await alice.getByTestId('editing').waitFor();
    await box.press('Escape');
    await alice.getByTestId('editing').waitFor({ state: 'detached' });
    if ((await box.inputValue()) !== '') throw new Error('the edit stayed in the box');
    await act(bob, 'secret plan', 'Reply');
    await bob.getByTestId('replying').filter({ hasText: 'secret plan' }).waitFor();
    await bob.locator('#composer-input').press('Escape');
    await bob.getByTestId('replying').waitFor({ state: 'detached' });
  });

  await check('a deletion asks first, then leaves a tombstone for everyone', async () => {
    await act(alice, 'secret plan', 'Delete');
    const confirm = msg(alice, 'secret plan').getByTestId('confirm-delete');
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
    for (const page of [alice, bob]) {
      await msg(page, 'secret plan').waitFor({ state: 'detached' });
      await page.locator('.body.deleted', { hasText: 'message deleted' }).waitFor();
    }
  });

  await check('a reply shows what it answers, from the original as it is now', async () => {
    await act(bob, 'lunch at noon?', 'Reply');
    await bob.getByTestId('replying').filter({ hasText: 'lunch at noon?' }).waitFor();
    await say(bob, 'yes, count me in');
    await msg(alice, 'yes, count me in').getByTestId('quote').filter({ hasText: 'lunch at noon?' }).waitFor();
    await act(alice, 'lunch at noon?', 'Edit');
    await alice.locator('#composer-input').fill('lunch at 1pm?');
    await alice.locator('#composer-input').press('Enter');
    for (const page of [alice, bob]) {
      await msg(page, 'yes, count me in').getByTestId('quote').filter({ hasText: 'alice lunch at 1pm?' }).waitFor();
    }
  });

  await check('reactions: counts, mine pressed, who in the title, and taken back', async () => {
    await act(bob, 'lunch at 1pm?', 'React with 👍');
    await msg(alice, 'lunch at 1pm?').locator('.chip', { hasText: '👍 1' }).waitFor();
    await act(alice, 'lunch at 1pm?', 'React with 👍');
    await act(alice, 'lunch at 1pm?', 'React with 🎉');
    const thumbs = msg(alice, 'lunch at 1pm?').locator('.chip', { hasText: '👍 2' });
    await thumbs.waitFor();
    if ((await thumbs.getAttribute('aria-pressed')) !== 'true') throw new Error('my reaction is not highlighted');
    if ((await thumbs.getAttribute('title')) !== 'bob, alice') throw new Error(`title: ${await thumbs.getAttribute('title')}`);
    await msg(bob, 'lunch at 1pm?').locator('.chip', { hasText: '🎉 1' }).waitFor();
    await msg(alice, 'lunch at 1pm?').locator('.chip', { hasText: '🎉 1' }).click(); // mine: taken back
    for (const page of [alice, bob]) await msg(page, 'lunch at 1pm?').locator('.chip', { hasText: '🎉' }).waitFor({ state: 'detached' });
    const bobs = msg(bob, 'lunch at 1pm?').locator('.chip', { hasText: '👍 2' });
    if ((await bobs.getAttribute('aria-pressed')) !== 'true') throw new Error('bob\'s own is not highlighted for him');
  });

  await check('@ completes a name; the mention is highlighted, counted apart and notified', async () => {
    await open(bob, 'person-alice'); // the room is not in front: the mention is unread
    await setHidden(bob, true);
    const box = alice.locator('#composer-input');
    await box.fill('');
    await box.pressSequentially('@bob');
    const option = alice.getByTestId('mention-list').getByRole('option', { name: 'bob' });
    await option.waitFor();
    await box.press('Enter');
    if ((await box.inputValue()) !== '@bob ') throw new Error(`completed to "${await box.inputValue()}"`);
    await box.pressSequentially('see you there');
    await box.press('Enter');
    await bob.locator('[data-testid="conv-room"] .badge.mention', { hasText: '@1' }).waitFor();
    await bob.locator('[data-testid="conv-room"] .badge:not(.mention)', { hasText: '1' }).waitFor();
    await bob.waitForFunction(() => window.__notifications.some((n) => n.title === 'alice mentioned you'));
    await setHidden(bob, false);
    await open(bob, 'conv-room');
    await bob.locator('[data-testid="conv-room"] .badge').first().waitFor({ state: 'detached' });
    await bob.locator('.msg.mention', { hasText: '@bob see you there' }).waitFor();
    if (await alice.locator('.msg.mention').count()) throw new Error('alice\'s view highlights a mention of bob');
  });

  await check('a quote shows its original when clicked', async () => {
    await msg(alice, 'yes, count me in').getByTestId('quote').click();
    await alice.waitForFunction(() => document.activeElement?.matches('.msg.focused') && document.activeElement.textContent.includes('lunch at 1pm?'));
  });

  if (SCREENSHOT) await check('the screenshot: a reply, reactions, a tombstone, an open menu', async () => {
    await alice.locator('.messages').evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await msg(alice, 'see you there').getByTestId('more').click();
    await alice.screenshot({ path: SCREENSHOT });
    await alice.keyboard.press('Escape');
    console.log(`     screenshot: ${SCREENSHOT}`);
  });

  const LIFE = 3 + 1 + FILLERS + 2; // alice's three, the bot's, the reply and the mention
  await check('carol, back online, sees what the others see', async () => {
    await carol.context().setOffline(false);
    await online(carol);
    await converged(carol, alice, LIFE);
    await converged(bob, alice, LIFE);
    const lines = await snapshot(carol, LIFE);
    const expect = [
      'alice | lunch at 1pm?(edited) |  | 👍 2',
      'alice | message deleted |  | ',
      'alice | typo message fixed(edited) |  | ',
      'bob | yes, count me in | alice lunch at 1pm? | ',
      'alice | @bob see you there |  | ',
    ];
    const got = [lines[0], lines[1], lines[2], lines[LIFE - 2], lines[LIFE - 1]];
    if (JSON.stringify(got) !== JSON.stringify(expect)) throw new Error(`carol sees:\n${got.join('\n')}`);
  });

  await check('a page loaded afresh shows the same current state', async () => {
    await bob.reload();
    await online(bob);
    await msg(bob, '@bob see you there').waitFor();
    const n = await count(bob);
    if (n < 10) throw new Error(`only ${n} messages loaded`);
    await converged(bob, alice, n);
  });

  await check('search: newest first, a page at a time', async () => {
    await bob.getByTestId('search').fill('filler');
    await bob.getByTestId('search').press('Enter');
    const hits = bob.getByTestId('hit');
    await hits.nth(19).waitFor();
    if (!(await hits.first().textContent()).includes(`filler ${FILLERS}`)) throw new Error(`first: ${await hits.first().textContent()}`);
    await bob.getByTestId('more-results').click();
    await hits.nth(39).waitFor();
    if (!(await hits.nth(20).textContent()).includes(`filler ${FILLERS - 20}`)) throw new Error(`21st: ${await hits.nth(20).textContent()}`);
    await bob.keyboard.press('Escape');
    await bob.getByTestId('search-results').waitFor({ state: 'detached' });
  });

  await check('a search result not loaded is shown in its place, and the hole above it can be filled', async () => {
    if (await msg(bob, 'needle in the haystack').count()) throw new Error('expected the needle outside the first page');
    await bob.getByTestId('search').fill('needle');
    await bob.getByTestId('search').press('Enter');
    await bob.getByTestId('hit').filter({ hasText: 'needle in the haystack' }).click();
    await bob.waitForFunction(() => document.activeElement?.matches('.msg.focused') && document.activeElement.textContent.includes('needle'));
    const gap = bob.getByTestId('gap');
    await gap.waitFor();
    await gap.getByRole('button').click();
    await gap.waitFor({ state: 'detached' });
    await msg(bob, 'filler 1').first().waitFor();
    const total = await count(bob);
    if (total !== LIFE) throw new Error(`${total} messages after filling the hole, expected ${LIFE}`);
  });

  await check('axe-core: no violations with the new controls open (light and dark)', async () => {
    for (const page of [alice, carol]) {
      await msg(page, 'lunch at 1pm?').getByTestId('more').click();
      await msg(page, 'lunch at 1pm?').getByTestId('menu').waitFor();
      await axe(page, 'a message menu, a quote, reactions, a tombstone, an edit mark');
      await page.keyboard.press('Escape');
      await act(page, 'typo message fixed', 'Reply');
      await page.locator('#composer-input').pressSequentially('@b');
      await page.getByTestId('mention-list').waitFor();
      await axe(page, 'the reply bar and the mention list');
      await page.locator('#composer-input').press('Escape'); // the list
      await page.locator('#composer-input').fill('');
      await page.locator('#composer-input').press('Escape'); // the reply
      await page.getByTestId('search').fill('lunch');
      await page.getByTestId('search').press('Enter');
      await page.getByTestId('hit').first().waitFor();
      await axe(page, 'search results');
      await page.keyboard.press('Escape');
    }
  });

  await check('a reaction made offline survives a reload and reaches everyone', async () => {
    await carol.context().setOffline(true);
    await carol.getByTestId('status').filter({ hasText: 'Offline' }).waitFor();
    await act(carol, 'typo message fixed', 'React with 🎉');
    const savedChanges = (page) =>
      page.evaluate(() =>
        Object.entries(localStorage)
          .filter(([key]) => key.includes('.outbox.'))
          .flatMap(([, json]) => JSON.parse(json).changes ?? []),
      );
    const saved = await savedChanges(carol);
    if (saved.length !== 1 || saved[0].kind !== 'react') throw new Error(`saved: ${JSON.stringify(saved)}`);
    // The page goes before it could send it; a new one loads once the
    // network is back, from what the first one saved.
    const context = carol.context();
    await carol.close();
    await context.setOffline(false);
    const again = await context.newPage();
    again.setDefaultTimeout(TIMEOUT);
    again.on('pageerror', (e) => problems.push(`carol again: page error: ${e.message}`));
    await again.goto(base);
    await online(again);
    // (The message is older than the new page's first history page.)
    for (const page of [alice, bob]) {
      await msg(page, 'typo message fixed').locator('.chip', { hasText: '🎉 1' }).waitFor();
    }
    const title = await msg(alice, 'typo message fixed').locator('.chip', { hasText: '🎉 1' }).getAttribute('title');
    if (title !== 'carol') throw new Error(`reacted by: ${title}`);
    await again.waitForFunction(() =>
      Object.entries(localStorage).every(([key, json]) => !key.includes('.outbox.') || !JSON.parse(json).changes),
    );
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
done();
