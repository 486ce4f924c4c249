// The whole flow in a browser: `wxrealname demo`'s mini program page, the sandbox's consent page, the gateway
// behind the demo's back end, and the admin console. One demo and one browser for the file; tests run in order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startDemo } from '../lib/harness.mjs';

let demo;
let browser;
let phone; // a phone-sized context: the mini program and WeChat's pages as a user sees them
let desk; // a desktop context: the demo with its explanation, and the admin console
let users;

const BAD_ID = '110101199003070039'; // the adult demo user's number with the wrong check digit

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
  phone = await browser.newContext({ viewport: { width: 390, height: 780 }, locale: 'zh-CN' });
  desk = await browser.newContext({ viewport: { width: 1200, height: 860 }, locale: 'zh-CN' });
  users = await demo.users();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

const user = (outcome, note) => users.find((u) => u.outcome === outcome && (!note || u.note.includes(note)));
const checks = async () => (await demo.sandboxStats()).calls.checkrealnameinfo;

/** The demo page with `openid` picked, ready to verify. */
async function openForm(page, openid) {
  await page.goto(demo.web + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.selectOption('[data-testid="user-picker"]', openid);
  await page.waitForSelector('[data-testid="verify"]:not([disabled])');
}

async function toConsent(page) {
  await page.click('[data-testid="verify"]');
  await page.waitForURL((u) => u.href.startsWith(demo.sandbox + '/consent?'));
  await page.waitForSelector('[data-testid="consent-agree"]');
}

/** The result view's outcome, once the page is back from the consent page. */
async function resultOf(page) {
  await page.waitForURL((u) => u.href.startsWith(demo.web + '/return'));
  const result = page.locator('[data-testid="result"]');
  await result.waitFor({ state: 'visible' });
  return result.getAttribute('data-outcome');
}

describe('the demo mini program', () => {
  test('happy path: agree on the consent page, the gateway answers match, masked', async () => {
    const u = user('match', 'adult');
    const before = await checks();
    const page = await desk.newPage();
    await openForm(page, u.openid);
    assert.equal(await page.inputValue('[data-testid="name"]'), u.real_name);
    await screenshot(page, 'demo-form.png');
    await page.close();

    const p = await phone.newPage();
    await openForm(p, u.openid);
    await toConsent(p);
    const consentUrl = p.url();
    assert.ok(!consentUrl.includes(u.cred_id), 'the ID number stays on the server');
    assert.equal(await p.textContent('[data-testid="consent-openid"]'), u.openid);
    assert.match(await p.textContent('body'), /WeChat Pay real-name record/);
    await screenshot(p, 'consent.png');

    await p.click('[data-testid="consent-agree"]');
    assert.equal(await resultOf(p), 'match');
    assert.equal(new URL(p.url()).search, '', 'the code is taken out of the address bar');
    assert.equal(await p.textContent('[data-testid="masked-name"]'), '张*');
    assert.equal(await p.textContent('[data-testid="masked-cred"]'), '110***********0038');
    assert.doesNotMatch(await p.textContent('body'), new RegExp(u.cred_id));
    await screenshot(p, 'result-match.png');
    assert.equal(await checks(), before + 1);
    await p.close();
  });

  test('every other demo user gets its own outcome', async () => {
    const rest = users.filter((u) => !(u.outcome === 'match' && u.note.includes('adult')));
    assert.ok(rest.length >= 4);
    for (const u of rest) {
      const p = await phone.newPage();
      await openForm(p, u.openid);
      await toConsent(p);
      await p.click('[data-testid="consent-agree"]');
      assert.equal(await resultOf(p), u.outcome, u.openid);
      assert.match(await p.textContent('[data-testid="masked-name"]'), /\*/);
      if (u.outcome === 'name_mismatch') await screenshot(p, 'result-name-mismatch.png');
      await p.close();
    }
  });

  test('decline and cancel return without a code, and the gateway is not called', async () => {
    const u = user('match', 'adult');
    const before = await checks();
    const p = await phone.newPage();
    await openForm(p, u.openid);
    await toConsent(p);
    await p.click('[data-testid="consent-decline"]');
    assert.equal(await resultOf(p), 'declined');
    assert.equal(await p.textContent('[data-testid="reason"]'), 'declined');
    await screenshot(p, 'declined.png');

    await p.click('[data-testid="again"]');
    await p.waitForSelector('[data-testid="verify"]:not([disabled])');
    await toConsent(p);
    await p.click('[data-testid="consent-cancel"]');
    assert.equal(await resultOf(p), 'cancelled');
    assert.equal(await checks(), before, 'no check without a code');
    await p.close();
  });

  test("a WeChat failure shows the user's message in Chinese and the error code, never the developer message", async () => {
    const fault = await fetch(demo.sandbox + '/sandbox/faults', {
      method: 'POST',
      body: JSON.stringify({ endpoint: 'checkrealnameinfo', errcode: -1 }),
    });
    assert.equal(fault.status, 200);
    const p = await phone.newPage();
    await openForm(p, user('match', 'adult').openid);
    await toConsent(p);
    await p.click('[data-testid="consent-agree"]');
    assert.equal(await resultOf(p), 'error');
    assert.equal(await p.textContent('[data-testid="error-code"]'), 'upstream_unavailable');
    // The gateway's user_message for upstream_unavailable (crates/i18n/src/api.rs), as the end user reads it.
    assert.equal(await p.textContent('[data-testid="error-message"]'), '微信服务繁忙，请重新点击核验');
    const text = await p.textContent('body');
    assert.doesNotMatch(text, /did not answer usefully|ask the user/, 'the developer message stays off the page');
    await screenshot(p, 'result-error.png');
    await p.close();
  });

  test('a bad ID number is caught as it is typed, before the jump', async () => {
    const u = user('match', 'adult');
    const stats = await demo.sandboxStats();
    const p = await phone.newPage();
    const sandboxRequests = [];
    const starts = [];
    p.on('request', (r) => {
      if (r.url().startsWith(demo.sandbox)) sandboxRequests.push(r.url());
      if (r.url().endsWith('/api/start')) starts.push(r.url());
    });
    await openForm(p, u.openid);

    const cred = p.locator('[data-testid="cred"]');
    await cred.fill('');
    await cred.pressSequentially(BAD_ID.slice(0, 10), { delay: 15 });
    // Still typing: a gentle hint from the server's length rule, not an error.
    await p.waitForSelector('[data-testid="cred-msg"].hint');
    assert.equal(await p.isDisabled('[data-testid="verify"]'), true);
    await cred.pressSequentially(BAD_ID.slice(10), { delay: 15 });
    await p.waitForSelector('[data-testid="cred-msg"].error');
    assert.match(await p.textContent('[data-testid="cred-msg"]'), /最后一位.*does not match/s);
    assert.equal(await cred.getAttribute('data-reason'), 'checksum');
    assert.equal(await p.isDisabled('[data-testid="verify"]'), true);
    await screenshot(p, 'bad-id.png');

    // Even a forced click goes nowhere.
    await p.click('[data-testid="verify"]', { force: true });
    // A round trip from the page: anything the click had queued would have gone out before it.
    await p.evaluate(() => fetch('/api/users').then((r) => r.json()));
    assert.deepEqual(starts, [], 'the back end was not asked to start');
    assert.ok(p.url().startsWith(demo.web), p.url());
    assert.deepEqual(sandboxRequests, [], 'the consent page was never visited');
    const now = await demo.sandboxStats();
    assert.equal(now.codes_issued, stats.codes_issued);
    assert.equal(now.calls.checkrealnameinfo, stats.calls.checkrealnameinfo, 'no gateway call');

    // Fixing the digit turns it valid again, live.
    await cred.press('End');
    await cred.press('Backspace');
    await cred.pressSequentially('8');
    await p.waitForSelector('[data-testid="verify"]:not([disabled])');
    assert.equal(await p.textContent('[data-testid="cred-msg"]'), '');
    await p.close();
  });

  test('a name with Latin letters is refused by the same rules as the gateway', async () => {
    const p = await phone.newPage();
    await openForm(p, user('match', 'adult').openid);
    const name = p.locator('[data-testid="name"]');
    await name.fill('Zhang San');
    await name.blur();
    await p.waitForSelector('[data-testid="name-msg"].error');
    assert.match(await p.textContent('[data-testid="name-msg"]'), /汉字/);
    assert.equal(await p.isDisabled('[data-testid="verify"]'), true);
    await p.close();
  });
});

describe('the admin console', () => {
  test('refuses a wrong token', async () => {
    const p = await desk.newPage();
    await p.goto(demo.gateway + '/admin');
    await p.fill('#token', 'not-the-token');
    await p.click('#login-form button[type="submit"]');
    // A Chinese browser (the context's locale) gets the Chinese console.
    await p.waitForSelector('#login-error:text("管理令牌被拒绝")');
    assert.equal(await p.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await p.isVisible('#dash'), false);
    await p.close();
  });

  test('shows the new rows, the chart, errcodes and tokens', async () => {
    // One more verification, so the newest row is known.
    const u = user('id_mismatch');
    const flow = await phone.newPage();
    await openForm(flow, u.openid);
    await toConsent(flow);
    await flow.click('[data-testid="consent-agree"]');
    assert.equal(await resultOf(flow), 'id_mismatch');
    await flow.close();

    const p = await desk.newPage();
    await p.goto(demo.gateway + '/admin');
    await p.fill('#token', demo.adminToken);
    await p.click('#login-form button[type="submit"]');
    await p.waitForSelector('body[data-loaded="true"]');

    const rows = p.locator('#recent tbody tr[data-id]');
    assert.ok((await rows.count()) >= users.length + 2, 'every verification so far is listed');
    const newest = rows.first();
    assert.equal(await newest.locator('[data-outcome]').getAttribute('data-outcome'), 'id_mismatch');
    assert.match(await newest.textContent(), /李\*/);
    assert.match(await newest.textContent(), new RegExp(u.openid));

    assert.ok((await p.locator('#chart svg rect[data-series="match"]').count()) >= 1, 'match bars');
    assert.ok((await p.locator('#chart svg rect[data-series="id_mismatch"]').count()) >= 1, 'mismatch bars');
    assert.equal(await p.locator('#errcodes tbody tr[data-errcode="0"]').count(), 1);
    assert.equal(await p.locator('#errcodes tbody tr[data-errcode="-1"]').count(), 1, 'the injected system-busy');
    assert.ok((await p.locator('#chart svg rect[data-series="error"]').count()) >= 1, 'error bars');
    const token = p.locator('#tokens tbody tr').first();
    assert.match(await token.textContent(), /wxd0000000000de301/);
    assert.match(await p.textContent('[data-kpi="Matches"]'), /^[1-9]\d*$/);

    // Times are in a named zone, Asia/Shanghai by default, and agree with it: the newest row was just written.
    assert.match(await p.textContent('#recent thead .time-head'), /^时间 \(Asia\/Shanghai, UTC\+8\)$/);
    const shanghaiNow = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai', dateStyle: 'short' }).format(new Date());
    assert.ok((await newest.locator('td').first().textContent()).startsWith(shanghaiNow), 'a Shanghai date');
    assert.match(await p.textContent('#chart-caption'), /Asia\/Shanghai/);
    assert.equal(await p.textContent('h2[data-i18n="recent"]'), '最近核验');

    const text = await p.textContent('body');
    for (const x of users) assert.ok(!text.includes(x.cred_id), 'no raw ID number in the console');
    assert.ok(!text.includes(demo.adminToken), 'the token is not shown');
    await p.evaluate(() => window.scrollTo(0, 0));
    await screenshot(p, 'admin.png', { fullPage: true });

    await p.click('.seg button[data-window="day"]');
    await p.waitForFunction(() => document.querySelectorAll('#chart svg g.bar').length === 24);

    // The switch: English, remembered; UTC on request.
    await p.click('button[data-lang="en"]');
    await p.waitForSelector('h2[data-i18n="recent"]:text("Recent verifications")');
    assert.equal(await p.getAttribute('html', 'lang'), 'en');
    await p.selectOption('#tz', 'UTC');
    await p.waitForSelector('#recent thead .time-head:text("time (UTC)")');
    await p.reload();
    await p.waitForSelector('body[data-loaded="true"]');
    assert.equal(await p.textContent('h2[data-i18n="recent"]'), 'Recent verifications');
    await p.click('button[data-lang="zh"]');
    await p.selectOption('#tz', 'Asia/Shanghai');
    await p.close();
  });
});

describe('privacy', () => {
  test("the demo's logs hold no name or ID number", async () => {
    const logs = demo.logs();
    assert.ok(logs.includes('demo verification'), 'the back end logged its calls');
    for (const u of users) {
      assert.ok(!logs.includes(u.cred_id), `ID number of ${u.openid} in the logs`);
      assert.ok(!logs.includes(u.real_name), `name of ${u.openid} in the logs`);
    }
  });
});
