// The verify page: name and ID number, the jump to City Services' consent page, and the call to the business's
// back end with the code that comes back.
'use strict';

const { CITY_SERVICES_APPID, CONSENT_PATH } = require('../../lib/realname');
const config = require('../../config');

/** What the back end's outcomes mean to the user. */
const OUTCOMES = {
  match: '实名信息一致',
  id_mismatch: '姓名与证件号不匹配',
  name_mismatch: '用户与姓名不匹配',
  not_verified: '该微信用户未完成微信支付实名认证',
  unknown: '无法判断核验结果',
};

Page({
  data: {
    name: '',
    credId: '',
    /** idle | jumping | verifying | done | declined | failed */
    status: 'idle',
    outcome: '',
    message: '',
    maskedName: '',
    maskedCredId: '',
    errorCode: '',
  },

  onNameInput(e) {
    this.setData({ name: e.detail.value });
  },

  onCredInput(e) {
    this.setData({ credId: e.detail.value });
  },

  startVerification() {
    if (!this.data.name.trim() || !this.data.credId.trim()) {
      wx.showToast({ title: '请填写姓名和身份证号', icon: 'none' });
      return;
    }
    const app = getApp();
    app.expectRealnameReturn();
    this.setData({ status: 'jumping', message: '', errorCode: '' });
    wx.navigateToMiniProgram({
      appId: CITY_SERVICES_APPID,
      path: CONSENT_PATH,
      // `success` only means the jump happened: the code arrives later, in App.onShow.
      fail: (err) => {
        console.warn('navigateToMiniProgram failed', err && err.errMsg);
        app.cancelRealnameReturn();
        this.setData({
          status: 'failed',
          errorCode: 'jump_failed',
          // errMsg ("navigateToMiniProgram:fail ...") is for developers: it goes to the console, not the user.
          message: '无法打开微信实名验证页面，请稍后重试',
        });
      },
    });
  },

  onShow() {
    const ret = getApp().takeRealnameReturn();
    if (!ret) return;
    if (!ret.code) {
      this.setData({ status: 'declined', message: '你没有完成授权，未进行实名核验' });
      return;
    }
    this.verify(ret.code);
  },

  verify(code) {
    if (!this.data.name || !this.data.credId) {
      // WeChat reclaimed the page while the user was away: the values are gone, and this code with them.
      this.setData({ status: 'failed', errorCode: 'form_lost', message: '页面已重新加载，请重新填写后验证' });
      return;
    }
    this.setData({ status: 'verifying' });
    const session = getApp().globalData.session;
    wx.request({
      url: config.backendUrl + config.verifyPath,
      method: 'POST',
      header: Object.assign({ 'content-type': 'application/json' }, session ? { Authorization: 'Bearer ' + session } : {}),
      data: { real_name: this.data.name, cred_id: this.data.credId, code },
      success: (res) => {
        const body = res.data || {};
        if (res.statusCode === 200 && body.outcome) {
          this.setData({
            status: 'done',
            outcome: body.outcome,
            message: OUTCOMES[body.outcome] || OUTCOMES.unknown,
            maskedName: body.masked_real_name || '',
            maskedCredId: body.masked_cred_id || '',
          });
          return;
        }
        const error = body.error || {};
        // `user_message` is written for the user and shown as is; `message` is for developers, never shown.
        this.setData({
          status: 'failed',
          errorCode: error.code || 'http_' + res.statusCode,
          message: error.user_message || '验证失败，请稍后重试',
        });
      },
      fail: (err) => {
        console.warn('wx.request failed', err && err.errMsg);
        this.setData({ status: 'failed', errorCode: 'network', message: '网络不给力，请检查网络后重试' });
      },
    });
  },

  startOver() {
    this.setData({ status: 'idle', outcome: '', message: '', errorCode: '', maskedName: '', maskedCredId: '' });
  },
});
