// The business mini program's App. City Services hands the consent code back in `referrerInfo.extraData`, which
// only `App.onShow` receives (a Page's `onShow` does not), so the App reads it and keeps it for the page.
'use strict';

const { createReturnReader } = require('./lib/realname');

const returns = createReturnReader();

App({
  globalData: {
    /** Set by your login flow; sent to your back end, which resolves it to the user's openid. */
    session: null,
  },

  /** The latest return from City Services not yet handled by a page. */
  pendingReturn: null,

  onShow(options) {
    const ret = returns.read(options);
    if (ret) this.pendingReturn = ret;
  },

  /** Call right before `wx.navigateToMiniProgram`. */
  expectRealnameReturn() {
    this.pendingReturn = null;
    returns.expect();
  },

  /** The jump failed: no return is coming. */
  cancelRealnameReturn() {
    returns.cancel();
  },

  /** The return to act on, once: `{code}` or `{code: null, reason}`; `null` when there is none. */
  takeRealnameReturn() {
    const ret = this.pendingReturn;
    this.pendingReturn = null;
    return ret;
  },
});
