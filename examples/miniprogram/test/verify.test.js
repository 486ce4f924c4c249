'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { load, returnFromCityServices } = require('../testing/harness');
const config = require('../config');

const NAME = '张三';
const ID = '110101199003070038';

test('the jump opens City Services consent page', () => {
  const t = load();
  t.fill(NAME, ID);
  t.page.startVerification();
  assert.equal(t.wx.calls.navigateToMiniProgram.length, 1);
  const jump = t.wx.calls.navigateToMiniProgram[0];
  assert.equal(jump.appId, 'wx308bd2aeb83d3345');
  assert.equal(jump.path, 'subPages/city/wxpay-auth/main');
  assert.equal(jump.extraData, undefined, 'nothing personal goes to City Services');
  assert.equal(t.page.data.status, 'jumping');
  assert.equal(t.wx.calls.request.length, 0);
});

test('empty fields do not jump', () => {
  const t = load();
  t.fill(NAME, '  ');
  t.page.startVerification();
  assert.equal(t.wx.calls.navigateToMiniProgram.length, 0);
  assert.equal(t.wx.calls.showToast.length, 1);
});

test('the return with a code calls the back end, which answers the outcome', () => {
  const t = load();
  t.app.globalData.session = 'sess-1';
  t.fill(NAME, ID);
  t.page.startVerification();
  t.show(returnFromCityServices({ code: 'code-1' }));

  assert.equal(t.wx.calls.request.length, 1);
  const req = t.wx.calls.request[0];
  assert.equal(req.url, config.backendUrl + config.verifyPath);
  assert.equal(req.method, 'POST');
  assert.deepEqual(req.data, { real_name: NAME, cred_id: ID, code: 'code-1' });
  assert.equal(req.header.Authorization, 'Bearer sess-1');
  assert.equal(t.page.data.status, 'verifying');

  req.success({ statusCode: 200, data: { outcome: 'match', masked_real_name: '张*', masked_cred_id: '110***********0038' } });
  assert.equal(t.page.data.status, 'done');
  assert.equal(t.page.data.outcome, 'match');
  assert.equal(t.page.data.maskedName, '张*');
  assert.equal(t.page.data.message, '实名信息一致');
});

test('the auth_code object form works the same', () => {
  const t = load();
  t.fill(NAME, ID);
  t.page.startVerification();
  t.show(returnFromCityServices({ code: { auth_code: 'code-2' } }));
  assert.equal(t.wx.calls.request.length, 1);
  assert.equal(t.wx.calls.request[0].data.code, 'code-2');
});

test('the return without a code is a decline, and the back end is not called', () => {
  for (const extraData of [undefined, {}, { code: '' }]) {
    const t = load();
    t.fill(NAME, ID);
    t.page.startVerification();
    t.show(returnFromCityServices(extraData));
    assert.equal(t.page.data.status, 'declined', JSON.stringify(extraData));
    assert.equal(t.wx.calls.request.length, 0);
  }
});

test('a failed jump says so, and a later show is not mistaken for a decline', () => {
  const t = load();
  t.fill(NAME, ID);
  t.page.startVerification();
  t.wx.calls.navigateToMiniProgram[0].fail({ errMsg: 'navigateToMiniProgram:fail cancel' });
  assert.equal(t.page.data.status, 'failed');
  assert.equal(t.page.data.errorCode, 'jump_failed');
  assert.equal(t.page.data.message, '无法打开微信实名验证页面，请稍后重试');
  assert.doesNotMatch(t.page.data.message, /fail/, 'errMsg is a developer hint');
  t.show(returnFromCityServices({}));
  assert.equal(t.page.data.status, 'failed');
  assert.equal(t.wx.calls.request.length, 0);
});

test('a repeated scene-1038 show with the same code does not call the back end twice', () => {
  const t = load();
  t.fill(NAME, ID);
  t.page.startVerification();
  const options = returnFromCityServices({ code: 'code-3' });
  t.show(options);
  t.wx.calls.request[0].success({ statusCode: 200, data: { outcome: 'id_mismatch' } });
  // The user switches away and back: WeChat reports the same extraData again.
  t.show(options);
  t.show(options);
  assert.equal(t.wx.calls.request.length, 1);
  assert.equal(t.page.data.status, 'done');
  assert.equal(t.page.data.outcome, 'id_mismatch');
});

test('back-end errors show the user_message, never the developer message, and keep their code', () => {
  const t = load();
  t.fill(NAME, ID);
  t.page.startVerification();
  t.show(returnFromCityServices({ code: 'code-4' }));
  t.wx.calls.request[0].success({
    statusCode: 422,
    data: { error: { code: 'invalid_code', message: 'WeChat rejected the code', user_message: '授权已失效，请重新点击核验' } },
  });
  assert.equal(t.page.data.status, 'failed');
  assert.equal(t.page.data.errorCode, 'invalid_code');
  assert.equal(t.page.data.message, '授权已失效，请重新点击核验');

  t.page.startOver();
  t.page.startVerification();
  t.show(returnFromCityServices({ code: 'code-5' }));
  t.wx.calls.request[1].fail({ errMsg: 'request:fail timeout' });
  assert.equal(t.page.data.errorCode, 'network');
  assert.equal(t.page.data.message, '网络不给力，请检查网络后重试');

  // An answer without user_message (a proxy's error page, an old gateway): a generic sentence, not `message`.
  t.page.startOver();
  t.page.startVerification();
  t.show(returnFromCityServices({ code: 'code-7' }));
  t.wx.calls.request[2].success({ statusCode: 503, data: { error: { code: 'upstream_unavailable', message: 'WeChat did not answer usefully' } } });
  assert.equal(t.page.data.message, '验证失败，请稍后重试');
});

test('a page reloaded while away does not send an empty form', () => {
  const t = load();
  t.fill(NAME, ID);
  t.page.startVerification();
  t.fill('', ''); // WeChat reclaimed the page: its data is back to the start
  t.show(returnFromCityServices({ code: 'code-6' }));
  assert.equal(t.wx.calls.request.length, 0);
  assert.equal(t.page.data.errorCode, 'form_lost');
});
