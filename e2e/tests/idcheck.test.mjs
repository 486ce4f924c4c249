// The demo's second tab, "ID check without WeChat / 无需微信的身份核验": a name + ID-number check through the
// paid providers (Tencent Cloud FaceID, then Aliyun Cloudauth, both played by the sandbox) behind the gateway's
// POST /v1/idchecks. One demo and one browser for the file; tests run in order (the cache test needs the match
// before it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, startDemo } from '../lib/harness.mjs';

let demo;
let browser;
let phone;
let desk;
let examples;

const BAD_ID = '110101199003070039'; // the matching example's number with the wrong check digit

before(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
  phone = await browser.newContext({ viewport: { width: 390, height: 900 }, locale: 'zh-CN' });
  desk = await browser.newContext({ viewport: { width: 1200, height: 960 }, locale: 'zh-CN' });
  examples = (await (await fetch(demo.web + '/api/idcheck/examples')).json()).examples;
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

const example = (outcome) => examples.findIndex((e) => e.outcome === outcome);
/** Calls that reached each provider, and those billed. */
const providers = async () => {
  const s = await demo.sandboxStats();
  return { tencent: s.calls.tencent_idcard, aliyun: s.calls.aliyun_id2meta, billed: s.billed };
};

/** The ID check tab, opened from the first tab as a user would. */
async function openTab(page) {
  await page.goto(demo.web + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('[data-testid="tab-idcheck"]');
  await page.waitForSelector('[data-testid="idcheck-form"]', { state: 'visible' });
  assert.equal(new URL(page.url()).pathname, '/idcheck');
  assert.equal(await page.getAttribute('[data-testid="tab-idcheck"]', 'aria-selected'), 'true');
}

/** Pick an example and wait until both fields are checked valid. */
async function pickExample(page, outcome) {
  const i = example(outcome);
  assert.ok(i >= 0, `an example answering ${outcome}`);
  await page.selectOption('[data-testid="idc-example"]', String(i));
  await page.waitForSelector('#idc-name-ok:not([hidden])');
  await page.waitForSelector('#idc-cred-ok:not([hidden])');
  return examples[i];
}

/** Tick the consent box, submit, and wait for the result: its outcome. */
async function consentAndSubmit(page) {
  assert.equal(await page.isDisabled('[data-testid="idc-submit"]'), true, 'no check without consent');
  await page.check('[data-testid="idc-consent"]');
  await page.waitForSelector('[data-testid="idc-submit"]:not([disabled])');
  await page.click('[data-testid="idc-submit"]');
  const result = page.locator('[data-testid="result"]');
  await result.waitFor({ state: 'visible' });
  assert.equal(await result.getAttribute('data-tab'), 'idcheck');
  return result.getAttribute('data-outcome');
}

describe('ID check without WeChat', () => {
  test('the tab explains itself in both languages', async () => {
    const page = await desk.newPage();
    await openTab(page);
    assert.match(await page.textContent('[data-testid="tab-idcheck"]'), /无需微信的身份核验.*ID check without WeChat/s);
    assert.match(await page.textContent('[data-explain="idcheck"]'), /Tencent Cloud FaceID/);
    assert.equal(await page.isVisible('[data-explain="wechat"]'), false);
    await pickExample(page, 'match');
    await screenshot(page, 'demo-idcheck.png');
    // A direct link opens the same tab.
    await page.goto(demo.web + '/idcheck');
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.isVisible('[data-testid="idcheck-form"]'), true);
    // The tabs from the keyboard: the arrow keys move between them.
    await page.focus('[data-testid="tab-idcheck"]');
    await page.keyboard.press('ArrowLeft');
    await page.waitForSelector('#view-form', { state: 'visible' });
    assert.equal(await page.evaluate(() => document.activeElement.dataset.tab), 'wechat');
    assert.equal(new URL(page.url()).pathname, '/');
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector('[data-testid="idcheck-form"]', { state: 'visible' });
    assert.equal(await page.getAttribute('[data-testid="tab-idcheck"]', 'tabindex'), '0');
    await page.close();
  });

  test('a registered demo person matches, through Tencent, billed; the same pair again is cached', async () => {
    const before = await providers();
    const p = await phone.newPage();
    await openTab(p);
    const e = await pickExample(p, 'match');
    assert.equal(await consentAndSubmit(p), 'match');
    assert.equal(await p.getAttribute('[data-testid="provider"]', 'data-value'), 'tencent');
    assert.match(await p.textContent('[data-testid="provider"]'), /^腾讯云人脸核身/);
    assert.match(await p.textContent('[data-testid="billed"]'), /^是/);
    assert.match(await p.textContent('[data-testid="cached"]'), /^否/);
    assert.equal(await p.textContent('[data-testid="masked-name"]'), '张*');
    assert.equal(await p.textContent('[data-testid="masked-cred"]'), '110***********0038');
    assert.match(await p.textContent('[data-testid="consent-ref"]'), /^demo-consent-[0-9a-f-]{36}$/);
    assert.doesNotMatch(await p.textContent('body'), new RegExp(e.cred_id, 'i'), 'no raw ID number on the page');
    await screenshot(p, 'idcheck-match.png');
    let now = await providers();
    assert.equal(now.tencent, before.tencent + 1);
    assert.equal(now.aliyun, before.aliyun, 'Aliyun is asked only when Tencent fails');
    assert.equal(now.billed.tencent_idcard, before.billed.tencent_idcard + 1);
    const firstRef = await p.textContent('[data-testid="consent-ref"]');

    // Again: back to the form with the values kept and the box unticked (each check is agreed to on its own).
    await p.click('[data-testid="again"]');
    await p.waitForSelector('[data-testid="idcheck-form"]', { state: 'visible' });
    assert.equal(await p.inputValue('[data-testid="idc-name"]'), e.real_name);
    assert.equal(await p.isChecked('[data-testid="idc-consent"]'), false);
    await p.waitForSelector('#idc-cred-ok:not([hidden])');
    assert.equal(await consentAndSubmit(p), 'match');
    assert.equal(await p.getAttribute('[data-testid="result"]', 'data-cached'), 'true');
    assert.match(await p.textContent('[data-testid="cached"]'), /^是/);
    assert.match(await p.textContent('[data-testid="billed"]'), /^否/);
    assert.equal(await p.getAttribute('[data-testid="provider"]', 'data-value'), 'tencent', 'the provider that answered first');
    assert.notEqual(await p.textContent('[data-testid="consent-ref"]'), firstRef);
    await screenshot(p, 'idcheck-cached.png');
    now = await providers();
    assert.equal(now.tencent, before.tencent + 1, 'the cache answered: no second provider call');
    await p.close();
  });

  test('a name with another person\'s ID number is a mismatch', async () => {
    const p = await phone.newPage();
    await openTab(p);
    await pickExample(p, 'mismatch');
    assert.equal(await consentAndSubmit(p), 'mismatch');
    assert.equal(await p.textContent('#result-title'), '姓名与身份证号不一致');
    assert.match(await p.textContent('[data-testid="masked-name"]'), /\*/);
    await p.close();
  });

  test('an invalid ID number is shown as it is typed, and nothing is sent', async () => {
    const before = await providers();
    const p = await phone.newPage();
    const sent = [];
    p.on('request', (r) => { if (r.url().endsWith('/api/idcheck')) sent.push(r.url()); });
    await openTab(p);
    await p.fill('[data-testid="idc-name"]', '张三');
    const cred = p.locator('[data-testid="idc-cred"]');
    await cred.pressSequentially(BAD_ID, { delay: 10 });
    await cred.blur();
    await p.waitForSelector('[data-testid="idc-cred-msg"].error');
    assert.match(await p.textContent('[data-testid="idc-cred-msg"]'), /最后一位.*does not match/s);
    await p.check('[data-testid="idc-consent"]');
    assert.equal(await p.isDisabled('[data-testid="idc-submit"]'), true);
    await p.click('[data-testid="idc-submit"]', { force: true });
    await p.evaluate(() => fetch('/api/idcheck/examples').then((r) => r.json()));
    assert.deepEqual(sent, [], 'the back end was not asked');
    await screenshot(p, 'idcheck-bad-id.png');
    const now = await providers();
    assert.equal(now.tencent + now.aliyun, before.tencent + before.aliyun, 'no provider call');
    await p.close();
  });

  test("both providers failing shows the gateway's user_message and its code", async () => {
    for (const [endpoint, result] of [['tencent_idcard', '-4'], ['aliyun_id2meta', '500']]) {
      const r = await fetch(demo.sandbox + '/sandbox/faults', { method: 'POST', body: JSON.stringify({ endpoint, result }) });
      assert.equal(r.status, 200, endpoint);
    }
    const p = await phone.newPage();
    await openTab(p);
    await pickExample(p, 'no_record');
    assert.equal(await consentAndSubmit(p), 'error');
    assert.equal(await p.textContent('#result-title'), '核验失败');
    assert.equal(await p.textContent('[data-testid="error-code"]'), 'upstream_unavailable');
    const message = await p.textContent('[data-testid="error-message"]');
    assert.match(message, /[\u4e00-\u9fff]/, 'the user_message, in Chinese');
    assert.doesNotMatch(message, /upstream|provider/i, 'never the developer message');
    await p.close();
  });

  test("the demo's logs hold no name or ID number of the checks", async () => {
    const logs = demo.logs();
    assert.ok(logs.includes('demo idcheck'), 'the back end logged its calls');
    for (const e of examples) {
      assert.ok(!logs.toUpperCase().includes(e.cred_id.toUpperCase()), 'an ID number in the logs');
      assert.ok(!logs.includes(e.real_name), 'a name in the logs');
    }
  });
});
