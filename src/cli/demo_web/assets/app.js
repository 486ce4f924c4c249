// The demo mini program, played in a browser. Plain JS, no build step, no dependencies.
//
// Validation is not written here: every keystroke (debounced) asks the back end's /api/validate, which runs the
// gateway's own rules (the identity crate). The name and ID number go to the back end only, never into a URL or
// browser storage; the consent page gets an opaque `state` and gives back a code.
'use strict';

(function () {
  const DEBOUNCE_MS = 250;
  const USER_KEY = 'wxrn-demo-user';
  const $ = (id) => document.getElementById(id);

  const OUTCOMES = {
    match: { icon: 'ok', zh: '实名信息一致', en: 'The name and ID number match this WeChat user' },
    id_mismatch: { icon: 'warn', zh: '姓名与证件号不匹配', en: 'The name and ID number do not match' },
    name_mismatch: { icon: 'warn', zh: '用户与姓名不匹配', en: "The name is not this WeChat user's real name" },
    not_verified: { icon: 'info', zh: '该微信用户未完成微信支付实名认证', en: 'This WeChat user has not completed WeChat Pay real-name verification' },
    unknown: { icon: 'info', zh: '无法判断核验结果', en: 'WeChat gave an answer the gateway does not recognise' },
  };

  const fields = {
    real_name: { input: 'name', msg: 'name-msg', ok: 'name-ok', valid: false, seq: 0, timer: null, touched: false },
    cred_id: { input: 'cred', msg: 'cred-msg', ok: 'cred-ok', valid: false, seq: 0, timer: null, touched: false },
  };
  let users = [];

  async function post(path, body) {
    const resp = await fetch(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    let json = null;
    try { json = await resp.json(); } catch (_) { /* empty */ }
    return { status: resp.status, ok: resp.ok, json };
  }

  function show(view) {
    for (const v of ['view-form', 'view-busy', 'view-result']) $(v).hidden = v !== view;
  }

  // ---- the form ----
  function currentUser() {
    return users.find((u) => u.openid === $('user').value) || null;
  }

  function updateButton() {
    $('verify').disabled = !(currentUser() && fields.real_name.valid && fields.cred_id.valid);
  }

  function setMessage(f, kind, zh, en) {
    const p = $(f.msg);
    p.className = 'field-msg' + (kind ? ' ' + kind : '');
    p.replaceChildren();
    if (zh) p.append(zh);
    if (en) {
      const s = document.createElement('span');
      s.className = 'en';
      s.textContent = en;
      p.append(s);
    }
  }

  function applyVerdict(name, v) {
    const f = fields[name];
    const input = $(f.input);
    f.valid = !!v.valid;
    $(f.ok).hidden = !f.valid;
    input.classList.toggle('invalid', false);
    if (f.valid) {
      setMessage(f, '', '', '');
      if (name === 'cred_id') $('guardian-row').hidden = !v.minor;
    } else {
      if (name === 'cred_id') $('guardian-row').hidden = true;
      const e = v.error;
      // While the user is still typing a too-short value, a gentle hint; an error once they leave the field.
      const typing = document.activeElement === input && !f.touched && (e.reason === 'length' || e.reason === 'empty');
      if (e.reason === 'empty' && !f.touched) setMessage(f, '', '', '');
      else setMessage(f, typing ? 'hint' : 'error', e.message_zh, e.message);
      input.classList.toggle('invalid', !typing && e.reason !== 'empty');
      input.dataset.reason = e.reason;
    }
    if (f.valid) delete input.dataset.reason;
    updateButton();
  }

  async function validate(name) {
    const f = fields[name];
    const seq = ++f.seq;
    const value = $(f.input).value;
    const r = await post('/api/validate', { field: name, value });
    if (seq !== f.seq || !r.json) return; // a newer keystroke won
    applyVerdict(name, r.json);
  }

  function onInput(name) {
    const f = fields[name];
    f.valid = false;
    f.touched = false; // typing again: hints until the field is left
    updateButton();
    clearTimeout(f.timer);
    f.timer = setTimeout(() => validate(name), DEBOUNCE_MS);
  }

  function onBlur(name) {
    const f = fields[name];
    if ($(f.input).value !== '') f.touched = true;
    clearTimeout(f.timer);
    validate(name);
  }

  function pickUser() {
    const u = currentUser();
    if (!u) return;
    sessionStorage.setItem(USER_KEY, u.openid);
    $('user-note').textContent = 'openid ' + u.openid + ' · ' + u.note;
    $('name').value = u.real_name;
    $('cred').value = u.cred_id;
    $('guardian').checked = false;
    for (const name of Object.keys(fields)) {
      fields[name].touched = true;
      validate(name);
    }
  }

  async function startVerification() {
    const u = currentUser();
    if (!u) return;
    $('verify').disabled = true;
    $('form-error').textContent = '';
    const r = await post('/api/start', {
      openid: u.openid,
      real_name: $('name').value,
      cred_id: $('cred').value,
      guardian_consent: $('guardian').checked,
    });
    if (r.ok && r.json && r.json.consent_url) {
      // wx.navigateToMiniProgram({appId: 'wx308bd2aeb83d3345', path: 'subPages/city/wxpay-auth/main'}), in a browser.
      location.assign(r.json.consent_url);
      return;
    }
    if (r.json && r.json.fields) {
      for (const v of r.json.fields) {
        fields[v.field].touched = true;
        applyVerdict(v.field, v);
      }
    } else {
      // user_message is written for the person at the page; message is for developers and never shown.
      $('form-error').textContent = (r.json && r.json.error && r.json.error.user_message) || FALLBACK_USER_MESSAGE;
    }
    updateButton();
  }

  function showForm() {
    history.replaceState(null, '', '/');
    show('view-form');
    pickUser();
  }

  // ---- the result ----
  function fact(dl, term, value, testid, kind) {
    if (value === null || value === undefined || value === '') return;
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = String(value);
    if (testid) dd.dataset.testid = testid;
    if (kind) dd.className = kind;
    dl.append(dt, dd);
  }

  const NOTES = {
    declined: ['未经你的同意，无法核验实名信息。需要办理业务时，可重新发起验证。',
      'Nothing is checked without your consent. Start again whenever you need the service.'],
    cancelled: ['你在微信的授权页面返回了，没有进行任何核验。', 'You left the consent page; nothing was checked.'],
    error: ['请重新发起验证：每次验证都需要你重新授权。', 'Start over to try again: each attempt needs your consent again.'],
  };

  function showResult(kind, icon, zh, en, facts) {
    const view = $('view-result');
    view.dataset.outcome = kind;
    $('result-icon').className = 'result-icon ' + icon;
    $('result-title').textContent = zh;
    $('result-title-en').textContent = en;
    const note = NOTES[kind];
    $('result-note').hidden = !note;
    $('result-note').replaceChildren();
    if (note) {
      const e = document.createElement('span');
      e.className = 'en';
      e.textContent = note[1];
      $('result-note').append(note[0], e);
    }
    const dl = $('result-facts');
    dl.replaceChildren();
    for (const [term, value, testid, kind] of facts) fact(dl, term, value, testid, kind);
    show('view-result');
  }

  function showVerification(v) {
    const o = OUTCOMES[v.outcome] || OUTCOMES.unknown;
    showResult(v.outcome, o.icon, o.zh, o.en, [
      ['姓名 · Name', v.masked_real_name, 'masked-name'],
      ['身份证号 · ID number', v.masked_cred_id, 'masked-cred'],
      ['结果 · Outcome', v.outcome, 'outcome'],
      ['微信返回 · WeChat said', [].concat(v.verify_openid || [], v.verify_real_name || []).join(' · ')],
      ['未成年人 · Minor', v.minor ? '是 · yes (under 14)' : null],
      ['核验编号 · Verification', v.id],
    ]);
  }

  // When an answer has no user_message (the network failed): never a developer's sentence.
  const FALLBACK_USER_MESSAGE = '服务繁忙，请稍后重试';

  function showError(status, error) {
    const e = error || { code: 'unknown' };
    // The gateway's user_message, meant for the end user as is; its `message` is for developers and stays in
    // the network tab.
    showResult('error', 'fail', '验证失败', 'The verification failed', [
      ['说明 · Message', e.user_message || FALLBACK_USER_MESSAGE, 'error-message', 'prose'],
      ['错误码 · Error code', e.code, 'error-code'],
      ['微信错误码 · WeChat errcode', e.errcode, 'wechat-errcode'],
      ['HTTP', status],
    ]);
  }

  async function handleReturn(params) {
    const state = params.get('state') || '';
    const code = params.get('code');
    // The code is single use and now ours: keep it out of the address bar and the history.
    history.replaceState(null, '', '/return');
    if (!code) {
      if (state) post('/api/abandon', { state });
      const cancelled = params.get('reason') === 'cancelled';
      showResult(cancelled ? 'cancelled' : 'declined', 'info',
        cancelled ? '你取消了实名验证' : '你拒绝了实名验证',
        cancelled ? 'You cancelled: nothing was checked' : 'You declined: nothing was checked',
        [['原因 · Reason', cancelled ? 'cancelled' : params.get('reason') || 'no code returned', 'reason']]);
      return;
    }
    show('view-busy');
    const r = await post('/api/verify', { state, code });
    if (r.ok && r.json && r.json.ok) showVerification(r.json.body);
    else if (r.ok && r.json) showError(r.json.status, r.json.body && r.json.body.error);
    else showError(r.status, r.json && r.json.error);
  }

  async function init() {
    const r = await fetch('/api/users').then((x) => x.json());
    users = r.users;
    const select = $('user');
    for (const u of users) {
      const opt = document.createElement('option');
      opt.value = u.openid;
      opt.textContent = u.real_name + ' · ' + u.outcome.replace('_', ' ');
      select.append(opt);
    }
    const remembered = sessionStorage.getItem(USER_KEY);
    if (remembered && users.some((u) => u.openid === remembered)) select.value = remembered;
    if (r.admin_url) {
      $('admin-link').href = r.admin_url;
      $('admin-link').hidden = false;
    }

    select.addEventListener('change', pickUser);
    for (const name of Object.keys(fields)) {
      const input = $(fields[name].input);
      input.addEventListener('input', () => onInput(name));
      input.addEventListener('blur', () => onBlur(name));
    }
    $('verify').addEventListener('click', startVerification);
    $('again').addEventListener('click', showForm);

    const params = new URLSearchParams(location.search);
    if (location.pathname === '/return') await handleReturn(params);
    else showForm();
    document.body.dataset.ready = 'true';
  }

  document.addEventListener('DOMContentLoaded', init);
})();
