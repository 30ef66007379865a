// The app as people use it (issue 12), in real Chromium against the real
// server: a phone-sized user, the scrolled-up cues, links, desktop
// notifications, keyboard shortcuts, readable sign-in errors, axe-core
// scans of every screen in light and dark at desktop and phone size, and the
// README screenshots.
//
//   node e2e/ux.e2e.mjs --server target/release/server --dist dist \
//        [--screenshot docs/screenshot.png] [--phone-screenshot docs/screenshot-phone.png]
import { resolve } from 'node:path';
import { args, axe, checks, launchBrowser, recordNotifications, serverFixture, sleep } from './harness.mjs';

const SCREENSHOT = resolve(args.screenshot ?? 'docs/screenshot.png');
const PHONE_SCREENSHOT = resolve(args['phone-screenshot'] ?? 'docs/screenshot-phone.png');
const TIMEOUT = 15_000;
const DESKTOP = { width: 1100, height: 700 };
const PHONE = { width: 375, height: 812 };
/// Paces a test's own sends well under the server's default rate limit (20
/// frames/s, typing notifications included), so none is refused and resent
/// out of order (the client's paced send queue is issue 12 item 1).
const PACE_MS = 150;

// Fresh guests join the axe scans' screens: they must see the room's history,
// which guests of a project see only where --guest-history opens it.
const fixture = await serverFixture(['--guest-projects', '*', '--guest-history', '*']);
const { base } = fixture;
const browser = await launchBrowser();
const { check, fail, done } = checks('ux');
const problems = [];

async function newUser(name, { viewport = DESKTOP, colorScheme = 'light', permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, permissions, hasTouch: viewport === PHONE });
  await context.addInitScript(recordNotifications);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket connection to .* failed/.test(m.text())) problems.push(`${name}: console: ${m.text()}`);
  });
  return page;
}

async function join(page, name) {
  await page.goto(base);
  await page.locator('#join-name').fill(name);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByTestId('status').filter({ hasText: 'Online' }).waitFor();
}

const messages = (page) => page.getByTestId('message');
async function say(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
  await sleep(PACE_MS);
}

async function openDrawerIfPhone(page) {
  if (await page.getByTestId('drawer-toggle').isVisible()) await page.getByTestId('drawer-toggle').click();
}
async function open(page, testid) {
  await openDrawerIfPhone(page);
  await page.getByTestId(testid).click();
}

try {
  await fixture.start();

  await check('a first visit shows a loading splash, then the join form', async () => {
    const html = await (await fetch(base)).text();
    if (!html.includes('id="splash"')) throw new Error('no splash in index.html');
    const page = await newUser('splash');
    await page.goto(base);
    await page.locator('#join-name').waitFor();
    if (await page.locator('#splash').isVisible()) throw new Error('the splash stays after the app started');
    await page.context().close();
  });

  await check('a bad sign-in link is explained in words, not codes', async () => {
    const page = await newUser('badlink');
    await page.goto(`${base}/?token=not-a-token`);
    const reason = page.getByTestId('signin-reason');
    await reason.waitFor();
    const text = await reason.textContent();
    if (!/not valid/.test(text) || /\(\d{4}\)|Base64/.test(text)) throw new Error(`the form says: ${text}`);
    await page.context().close();
  });

  const alice = await newUser('alice', { permissions: ['notifications'] });
  const bob = await newUser('bob', { viewport: PHONE });
  await join(alice, 'alice');
  await join(bob, 'bob');

  await check('on a phone the conversation comes first with the composer on screen, the others in a drawer', async () => {
    const box = await bob.locator('#composer-input').boundingBox();
    if (!box || box.y < 0 || box.y + box.height > PHONE.height) throw new Error(`the composer is at y=${box?.y}`);
    if (await bob.getByTestId('conv-room').isVisible()) throw new Error('the conversation list is shown over the conversation');
    await bob.getByTestId('drawer-toggle').click();
    await bob.getByTestId('person-alice').waitFor();
    await bob.keyboard.press('Escape');
    await bob.getByTestId('person-alice').waitFor({ state: 'hidden' });
    await say(bob, 'hello from my phone');
    await messages(alice).filter({ hasText: 'hello from my phone' }).waitFor();
    await say(alice, 'hello phone');
    await messages(bob).filter({ hasText: 'hello phone' }).waitFor();
  });

  await check('a busy room opens at the newest message on a phone, composer still on screen', async () => {
    for (let i = 1; i <= 40; i++) await say(alice, `busy ${i}`);
    await alice.locator('.body.pending').first().waitFor({ state: 'detached' });
    await messages(bob).filter({ hasText: /^busy 40/ }).waitFor();
    await bob.reload();
    await bob.getByTestId('status').filter({ hasText: 'Online' }).waitFor();
    const newest = messages(bob).filter({ hasText: /^busy 40/ });
    await newest.waitFor();
    await bob.waitForFunction(() => {
      const el = document.querySelector('.messages');
      return el && el.scrollHeight - el.scrollTop - el.clientHeight < 30;
    });
    if (!(await newest.isVisible())) throw new Error('the newest message is not on screen');
    const box = await bob.locator('#composer-input').boundingBox();
    if (box.y + box.height > PHONE.height) throw new Error(`the composer is at y=${box.y}`);
    await bob.screenshot({ path: PHONE_SCREENSHOT });
    console.log(`     screenshot: ${PHONE_SCREENSHOT}`);
  });

  await check('scrolled up: new messages show a bar and a divider and stay unread until seen', async () => {
    const icon = () => bob.evaluate(() => document.querySelector('link[rel~=icon]')?.href ?? '');
    const plainIcon = await icon();
    await bob.locator('.messages').evaluate((el) => { el.scrollTop = 0; });
    await sleep(300); // the scroll reaches the app
    for (const t of ['while away 1', 'while away 2', 'while away 3']) await say(alice, t);
    await alice.locator('.body.pending').first().waitFor({ state: 'detached' });
    const bar = bob.getByTestId('new-bar');
    await bar.filter({ hasText: '3 new messages' }).waitFor();
    await bob.waitForFunction(() => document.title.startsWith('(3)'));
    // The tab's icon carries a badge while anything is unread.
    const badged = await icon();
    if (!badged.startsWith('data:image/png') || badged === plainIcon) throw new Error(`icon with 3 unread: ${badged.slice(0, 40)}`);
    const divider = bob.getByTestId('new-divider');
    const after = await divider.evaluate((d) => d.nextElementSibling?.textContent ?? '');
    if (!after.includes('while away 1')) throw new Error(`the divider is before "${after.slice(0, 60)}"`);
    await bar.click();
    await bar.waitFor({ state: 'detached' });
    await bob.waitForFunction(() => document.title === 'Chat');
    await bob.waitForFunction((plain) => document.querySelector('link[rel~=icon]')?.href === plain, plainIcon);
  });

  await check('URLs are links that open in a new tab; javascript: is not', async () => {
    await say(alice, 'docs at https://example.org/guide?x=1. and javascript:alert(1)');
    const link = bob.locator('.body a[href="https://example.org/guide?x=1"]');
    await link.waitFor();
    if ((await link.getAttribute('target')) !== '_blank') throw new Error('not a new tab');
    if ((await link.getAttribute('rel')) !== 'noopener noreferrer') throw new Error(`rel=${await link.getAttribute('rel')}`);
    if (await bob.locator('.body a[href^="javascript"]').count()) throw new Error('a javascript: link');
  });

  await check('days are separated and each message has its full date on hover', async () => {
    await bob.locator('.day', { hasText: 'Today' }).first().waitFor();
    const title = await messages(bob).last().getAttribute('title');
    if (!title || !/\d{4}/.test(title)) throw new Error(`title: ${title}`);
  });

  await check('desktop notifications are offered from a button, and a DM to a hidden tab raises one', async () => {
    // Offered while the browser has not been asked (headless Chromium may
    // report "denied" for a context without the permission: then no button).
    const askable = (await bob.evaluate(() => Notification.permission)) === 'default';
    if ((await bob.getByTestId('enable-notifications').isVisible()) !== askable) throw new Error(`button shown: ${!askable}`);
    if (await alice.getByTestId('enable-notifications').count()) throw new Error('the button shows although granted');
    // Another tab in front hides alice's.
    const other = await alice.context().newPage();
    await other.goto('about:blank');
    await other.bringToFront();
    const hidden = await alice.waitForFunction(() => document.visibilityState === 'hidden', null, { timeout: 3_000 }).then(() => true, () => false);
    if (!hidden) {
      // Headless Chromium keeps background tabs "visible": tell the page it
      // is hidden the way a browser would (the property and its event).
      await alice.evaluate((hide) => {
        for (const [prop, value] of [['hidden', hide], ['visibilityState', hide ? 'hidden' : 'visible']]) {
          Object.defineProperty(document, prop, { configurable: true, get: () => value });
        }
        document.dispatchEvent(new Event('visibilitychange'));
      }, true);
    }
    await open(bob, 'person-alice');
    await say(bob, 'a DM for a hidden tab');
    await alice.waitForFunction(() => window.__notifications.length > 0, null, { timeout: TIMEOUT });
    const [n] = await alice.evaluate(() => window.__notifications);
    if (!n.title.includes('bob') || !n.body.includes('a DM for a hidden tab')) throw new Error(JSON.stringify(n));
    if (!hidden) {
      await alice.evaluate(() => {
        delete document.hidden;
        delete document.visibilityState;
        document.dispatchEvent(new Event('visibilitychange'));
      });
    }
    await alice.bringToFront();
    await other.close();
    await open(bob, 'conv-room');
  });

  await check('keyboard: Alt+Down and Alt+Up move between conversations, Ctrl+K finds one by name', async () => {
    await alice.bringToFront();
    await alice.getByTestId('conv-room').click();
    await alice.keyboard.press('Alt+ArrowDown');
    await alice.getByTestId('title').filter({ hasText: 'bob' }).waitFor();
    await alice.keyboard.press('Alt+ArrowUp');
    await alice.getByTestId('title').filter({ hasText: '#' }).waitFor();
    await alice.keyboard.press('Control+k');
    await alice.getByTestId('find').waitFor();
    if (!(await alice.getByTestId('find').evaluate((el) => el === document.activeElement))) throw new Error('the find box is not focused');
    await alice.keyboard.type('bo');
    await alice.keyboard.press('Enter');
    await alice.getByTestId('title').filter({ hasText: 'bob' }).waitFor();
    await alice.getByTestId('conv-room').click();
  });

  await check('the README screenshot (desktop)', async () => {
    await alice.locator('#composer-input').fill('See you all after lunch!');
    await alice.screenshot({ path: SCREENSHOT });
    await alice.locator('#composer-input').fill('');
    console.log(`     screenshot: ${SCREENSHOT}`);
  });

  await check('on a new device anyone who ever signed in can be found and messaged, offline and silent', async () => {
    // dave signs in once, says nothing and leaves; his browser keeps his session.
    const dave = await newUser('dave');
    await join(dave, 'dave');
    await dave.close();
    // eve, in a browser that never saw dave, finds him in the directory.
    const eve = await newUser('eve');
    await join(eve, 'eve');
    await eve.locator('[data-testid="person-dave"]', { hasText: 'offline' }).waitFor();
    await open(eve, 'person-dave');
    await say(eve, 'hello dave, from a new device');
    await eve.locator('.body.pending').first().waitFor({ state: 'detached' });
    // dave comes back in the same browser: the DM is there, unread.
    const daveAgain = await dave.context().newPage();
    daveAgain.setDefaultTimeout(TIMEOUT);
    await daveAgain.goto(base);
    await daveAgain.locator('[data-testid="person-eve"] .badge', { hasText: '1' }).waitFor();
    await open(daveAgain, 'person-eve');
    await messages(daveAgain).filter({ hasText: 'hello dave, from a new device' }).waitFor();
    await dave.context().close();
    await eve.context().close();
  });

  for (const colorScheme of ['light', 'dark']) {
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await check(`axe-core: no violations on the join and chat screens (${colorScheme}, ${size})`, async () => {
        const page = await newUser(`axe-${colorScheme}-${size}`, { viewport, colorScheme });
        await page.goto(base);
        await page.locator('#join-name').waitFor();
        await axe(page, 'join');
        await page.locator('#join-name').fill(`axe ${colorScheme} ${size}`.replace(/ /g, '-'));
        await page.getByRole('button', { name: 'Join' }).click();
        await page.getByTestId('status').filter({ hasText: 'Online' }).waitFor();
        await messages(page).filter({ hasText: 'docs at' }).waitFor();
        await axe(page, 'chat');
        if (size === 'phone') {
          await page.getByTestId('drawer-toggle').click();
          await page.getByTestId('conv-room').waitFor();
          await axe(page, 'chat with the drawer open');
        }
        await page.context().close();
      });
    }
  }

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
