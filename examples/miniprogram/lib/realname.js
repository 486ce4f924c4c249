// The real-name check's mini-program half, as plain functions: what City Services is, where its consent page
// lives, and how to read what it hands back. No `wx` in here, so it is tested without a device.
'use strict';

/** WeChat City Services, which hosts the official consent page. */
const CITY_SERVICES_APPID = 'wx308bd2aeb83d3345';
const CONSENT_PATH = 'subPages/city/wxpay-auth/main';
/** `App.onShow`'s scene when the user comes back from another mini program. */
const SCENE_BACK_FROM_MINI_PROGRAM = 1038;

/**
 * The code in City Services' `extraData`: `code` as a string, or (as one report has it) an object holding
 * `auth_code`. Anything else is no code.
 */
function extractCode(extraData) {
  if (!extraData || typeof extraData !== 'object') return null;
  const c = extraData.code;
  const text = typeof c === 'string' ? c : c && typeof c === 'object' ? c.auth_code : null;
  return typeof text === 'string' && text.trim() !== '' ? text.trim() : null;
}

/**
 * Reads `App.onShow(options)` for returns from City Services, once each.
 *
 * - `expect()` before jumping; `cancel()` if the jump failed.
 * - `read(options)` answers `null` for a show that is not (or no longer) a return to act on, `{code}` for a fresh
 *   code, and `{code: null, reason: 'no_code'}` for a return without one: the user declined or backed out (some
 *   developers also see this after agreeing; either way there is nothing to verify).
 *
 * WeChat repeats `referrerInfo.extraData` on later scene-1038 shows, so a code is reported once only, and a return
 * without a code only while a jump is expected.
 */
function createReturnReader() {
  const seen = new Set();
  let expecting = false;
  return {
    expect() {
      expecting = true;
    },
    cancel() {
      expecting = false;
    },
    get expecting() {
      return expecting;
    },
    read(options) {
      if (!options || Number(options.scene) !== SCENE_BACK_FROM_MINI_PROGRAM) return null;
      const ref = options.referrerInfo || {};
      if (ref.appId && ref.appId !== CITY_SERVICES_APPID) return null;
      const code = extractCode(ref.extraData);
      if (code) {
        if (seen.has(code)) return null;
        seen.add(code);
        expecting = false;
        return { code };
      }
      if (!expecting) return null;
      expecting = false;
      return { code: null, reason: 'no_code' };
    },
  };
}

module.exports = {
  CITY_SERVICES_APPID,
  CONSENT_PATH,
  SCENE_BACK_FROM_MINI_PROGRAM,
  extractCode,
  createReturnReader,
};
