'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { extractCode, createReturnReader } = require('../lib/realname');
const { returnFromCityServices } = require('../testing/harness');

test('extractCode accepts a string or an object holding auth_code, and nothing else', () => {
  assert.equal(extractCode({ code: 'abc' }), 'abc');
  assert.equal(extractCode({ code: '  abc ' }), 'abc');
  assert.equal(extractCode({ code: { auth_code: 'xyz' } }), 'xyz');
  for (const bad of [undefined, null, {}, { code: '' }, { code: 42 }, { code: {} }, { code: { auth_code: 7 } }, 'abc']) {
    assert.equal(extractCode(bad), null, JSON.stringify(bad));
  }
});

test('a code is reported once, however often WeChat repeats the show', () => {
  const r = createReturnReader();
  r.expect();
  assert.deepEqual(r.read(returnFromCityServices({ code: 'c1' })), { code: 'c1' });
  assert.equal(r.read(returnFromCityServices({ code: 'c1' })), null);
  assert.equal(r.read(returnFromCityServices({ code: { auth_code: 'c1' } })), null, 'same code, other form');
  assert.deepEqual(r.read(returnFromCityServices({ code: 'c2' })), { code: 'c2' }, 'a new consent');
});

test('a return without a code counts only while a jump is expected', () => {
  const r = createReturnReader();
  assert.equal(r.read(returnFromCityServices({})), null, 'nothing was expected');
  r.expect();
  assert.deepEqual(r.read(returnFromCityServices(undefined)), { code: null, reason: 'no_code' });
  assert.equal(r.read(returnFromCityServices(undefined)), null, 'reported once');
  r.expect();
  r.cancel();
  assert.equal(r.read(returnFromCityServices({})), null, 'the jump failed: no return is coming');
});

test('shows that are not returns from City Services are ignored', () => {
  const r = createReturnReader();
  r.expect();
  assert.equal(r.read({ scene: 1001, referrerInfo: {} }), null, 'opened from the chat list');
  assert.equal(r.read(undefined), null);
  const other = { scene: 1038, referrerInfo: { appId: 'wxsomeoneelse', extraData: { code: 'c' } } };
  assert.equal(r.read(other), null, 'back from another mini program');
  assert.ok(r.expecting, 'still waiting for City Services');
});
