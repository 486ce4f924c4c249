// A fake `wx`, and just enough of the mini-program runtime (App, Page, getApp, setData) to run app.js and the
// verify page in Node. Every wx call is recorded; a test plays WeChat by calling the recorded callbacks.
'use strict';

const path = require('node:path');

const root = path.resolve(__dirname, '..');

function fakeWx() {
  const calls = { navigateToMiniProgram: [], request: [], showToast: [] };
  return {
    calls,
    navigateToMiniProgram(opts) {
      calls.navigateToMiniProgram.push(opts);
    },
    request(opts) {
      calls.request.push(opts);
      return { abort() {} };
    },
    showToast(opts) {
      calls.showToast.push(opts);
    },
  };
}

function instantiatePage(def) {
  const page = Object.assign({}, def, { data: JSON.parse(JSON.stringify(def.data || {})) });
  page.setData = function setData(patch) {
    Object.assign(this.data, patch);
  };
  return page;
}

/** Fresh copies of app.js and the verify page with a fresh fake `wx`; `show(options)` brings the app back. */
function load() {
  for (const id of Object.keys(require.cache)) {
    if (id.startsWith(root + path.sep) && !id.startsWith(__dirname)) delete require.cache[id];
  }
  let appDef = null;
  let pageDef = null;
  const wx = fakeWx();
  global.wx = wx;
  global.App = (d) => {
    appDef = d;
  };
  global.Page = (d) => {
    pageDef = d;
  };
  require(path.join(root, 'app.js'));
  const app = appDef; // WeChat's App instance is the object handed to App()
  global.getApp = () => app;
  require(path.join(root, 'pages', 'verify', 'verify.js'));
  const page = instantiatePage(pageDef);
  page.onShow();
  return {
    app,
    page,
    wx,
    /** The user comes back to the mini program: WeChat calls App.onShow, then the current page's onShow. */
    show(options) {
      app.onShow(options);
      page.onShow();
    },
    /** The user fills the form, as the input events would. */
    fill(name, credId) {
      page.onNameInput({ detail: { value: name } });
      page.onCredInput({ detail: { value: credId } });
    },
  };
}

/** What WeChat passes to App.onShow when the user comes back from City Services. */
function returnFromCityServices(extraData) {
  const referrerInfo = { appId: 'wx308bd2aeb83d3345' };
  if (extraData !== undefined) referrerInfo.extraData = extraData;
  return { scene: 1038, path: 'pages/verify/verify', query: {}, referrerInfo };
}

module.exports = { load, returnFromCityServices };
