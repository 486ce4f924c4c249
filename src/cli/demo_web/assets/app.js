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

  // The second tab's outcomes: a paid provider's verdict on the pair (no WeChat user involved).
  const IDCHECK_OUTCOMES = {
    match: { icon: 'ok', zh: '姓名与身份证号一致', en: 'The name and ID number match the authoritative record' },
    mismatch: { icon: 'warn', zh: '姓名与身份证号不一致', en: 'The name and ID number do not match' },
    no_record: { icon: 'info', zh: '证件库中无此身份证号', en: 'The authoritative record has no such ID number' },
    unknown: { icon: 'info', zh: '无法判断核验结果', en: 'The gateway gave an answer this page does not recognise' },
  };

  // Each input, by key; `field` is what /api/validate calls it. The first two are the WeChat tab's, the `idc_`
  // ones the ID check tab's.
  const field = (name, input) => ({ field: name, input, msg: input + '-msg', ok: input + '-ok', valid: false, seq: 0, timer: null, touched: false });
  const fields = {
    real_name: field('real_name', 'name'),
    cred_id: field('cred_id', 'cred'),
    idc_real_name: field('real_name', 'idc-name'),
    idc_cred_id: field('cred_id', 'idc-cred'),
  };
  const WECHAT_FIELDS = ['real_name', 'cred_id'];
  const IDCHECK_FIELDS = ['idc_real_name', 'idc_cred_id'];
  let users = [];
  let examples = [];
  let tab = 'wechat'; // the tab on show, and where "start over" goes back to

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
    for (const v of ['view-form', 'view-idcheck', 'view-busy', 'view-result']) $(v).hidden = v !== view;
  }

  // ---- the tabs: `/` is WeChat's check, `/idcheck` the check without WeChat ----
  function selectTab(name) {
    tab = name;
    for (const b of document.querySelectorAll('.tabs [role="tab"]')) {
      b.setAttribute('aria-selected', String(b.dataset.tab === name));
      // One tab stop for the list; the arrow keys move between the tabs.
      b.tabIndex = b.dataset.tab === name ? 0 : -1;
    }
    for (const e of document.querySelectorAll('[data-explain]')) e.hidden = e.dataset.explain !== name;
    $('mp-title').textContent = name === 'idcheck' ? '身份核验' : '实名认证';
    document.body.dataset.tab = name;
  }

  function openTab(name) {
    if (name === 'idcheck') showIdcheckForm();
    else showForm();
  }

  // ---- the form ----
  function currentUser() {
    return users.find((u) => u.openid === $('user').value) || null;
  }

  function updateButton() {
    $('verify').disabled = !(currentUser() && fields.real_name.valid && fields.cred_id.valid);
    $('idc-submit').disabled = !(fields.idc_real_name.valid && fields.idc_cred_id.valid && $('idc-consent').checked);
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
    const r = await post('/api/validate', { field: f.field, value });
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
    for (const name of WECHAT_FIELDS) {
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
    selectTab('wechat');
    show('view-form');
    pickUser();
  }

  // ---- the result ----
  // `raw`: the machine value behind a label shown in words (kept in data-value).
  function fact(dl, term, value, testid, kind, raw) {
    if (value === null || value === undefined || value === '') return;
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = String(value);
    if (testid) dd.dataset.testid = testid;
    if (raw !== undefined) dd.dataset.value = String(raw);
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
    view.dataset.tab = tab;
    if (tab !== 'idcheck') {
      delete view.dataset.cached;
      delete view.dataset.billed;
    }
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
    for (const [term, value, testid, kind, raw] of facts) fact(dl, term, value, testid, kind, raw);
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
    showResult('error', 'fail', tab === 'idcheck' ? '核验失败' : '验证失败', tab === 'idcheck' ? 'The check failed' : 'The verification failed', [
      ['说明 · Message', e.user_message || FALLBACK_USER_MESSAGE, 'error-message', 'prose'],
      ['错误码 · Error code', e.code, 'error-code'],
      ['微信错误码 · WeChat errcode', e.errcode, 'wechat-errcode'],
      ['HTTP', status],
    ]);
  }

  // ---- the ID check tab ----
  // `keepConsent`: back from a refusal of this very submission; otherwise each check is agreed to on its own
  // and the box starts unticked.
  function showIdcheckForm(keepConsent) {
    history.replaceState(null, '', '/idcheck');
    selectTab('idcheck');
    $('idc-error').textContent = '';
    if (keepConsent !== true) $('idc-consent').checked = false;
    show('view-idcheck');
    for (const name of IDCHECK_FIELDS) {
      if ($(fields[name].input).value !== '') {
        fields[name].touched = true;
        validate(name);
      }
    }
    updateButton();
  }

  function pickExample() {
    const e = examples[Number($('idc-example').value)];
    $('idc-example-note').replaceChildren();
    if (!e) return;
    const en = document.createElement('span');
    en.className = 'en';
    en.textContent = e.note;
    $('idc-example-note').append(e.note_zh, en);
    $('idc-name').value = e.real_name;
    $('idc-cred').value = e.cred_id;
    for (const name of IDCHECK_FIELDS) {
      fields[name].touched = true;
      validate(name);
    }
  }

  // The demo's providers by their configured names; another name is shown as it is.
  const PROVIDERS = { tencent: '腾讯云人脸核身 · Tencent Cloud FaceID', aliyun: '阿里云实人认证 · Aliyun Cloudauth' };
  const OUTCOME_WORDS = { match: '一致', mismatch: '不一致', no_record: '查无记录' };

  const yesNo = (b, yes, no) => (b ? '是 · yes' + (yes ? ' (' + yes + ')' : '') : '否 · no' + (no ? ' (' + no + ')' : ''));

  function showIdcheck(v) {
    const o = IDCHECK_OUTCOMES[v.outcome] || IDCHECK_OUTCOMES.unknown;
    $('view-result').dataset.cached = String(!!v.cached);
    $('view-result').dataset.billed = String(!!v.billed);
    showResult(v.outcome, o.icon, o.zh, o.en, [
      ['姓名 · Name', v.masked_real_name, 'masked-name'],
      ['身份证号 · ID number', v.masked_cred_id, 'masked-cred'],
      ['结果 · Outcome', v.outcome, 'outcome'],
      ['核验服务 · Provider', PROVIDERS[v.provider] || v.provider, 'provider', 'prose', v.provider],
      ['计费 · Billed', yesNo(v.billed), 'billed', null, v.billed],
      ['缓存 · Cached', yesNo(v.cached, '来自网关缓存，未再询问服务商 · from the gateway\'s cache, the provider was not asked'), 'cached', 'prose', v.cached],
      ['未成年人 · Minor', v.minor ? '是 · yes (under 14)' : null],
      ['用途 · Purpose', v.purpose, 'purpose', 'prose'],
      ['同意记录 · Consent ref', v.consent_ref, 'consent-ref'],
      ['核验编号 · Check', v.id],
    ]);
  }

  async function submitIdcheck() {
    $('idc-submit').disabled = true;
    $('idc-error').textContent = '';
    show('view-busy');
    const r = await post('/api/idcheck', {
      real_name: $('idc-name').value,
      cred_id: $('idc-cred').value,
      purpose: $('idc-purpose').value,
      consent: $('idc-consent').checked,
    });
    if (r.ok && r.json && r.json.ok) return showIdcheck(r.json.body);
    if (r.ok && r.json) return showError(r.json.status, r.json.body && r.json.body.error);
    // Refused by the demo's own back end (a field, the consent box): back to the form, with what to fix.
    showIdcheckForm(true);
    if (r.json && r.json.fields) {
      for (const v of r.json.fields) {
        fields['idc_' + v.field].touched = true;
        applyVerdict('idc_' + v.field, v);
      }
    } else {
      $('idc-error').textContent = (r.json && r.json.error && r.json.error.user_message) || FALLBACK_USER_MESSAGE;
    }
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

    try {
      examples = (await fetch('/api/idcheck/examples').then((x) => x.json())).examples || [];
    } catch (_) { examples = []; }
    examples.forEach((e, i) => {
      const opt = document.createElement('option');
      opt.value = String(i);
      opt.textContent = e.real_name + ' · ' + (OUTCOME_WORDS[e.outcome] || '') + ' ' + e.outcome.replace('_', ' ');
      $('idc-example').append(opt);
    });

    select.addEventListener('change', pickUser);
    for (const name of Object.keys(fields)) {
      const input = $(fields[name].input);
      input.addEventListener('input', () => onInput(name));
      input.addEventListener('blur', () => onBlur(name));
    }
    $('verify').addEventListener('click', startVerification);
    $('again').addEventListener('click', () => openTab(tab));
    const tabs = [...document.querySelectorAll('.tabs [role="tab"]')];
    for (const b of tabs) {
      b.addEventListener('click', () => openTab(b.dataset.tab));
      b.addEventListener('keydown', (e) => {
        if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
        e.preventDefault();
        const next = tabs[(tabs.indexOf(b) + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
        openTab(next.dataset.tab);
        next.focus();
      });
    }
    $('idc-example').addEventListener('change', pickExample);
    $('idc-consent').addEventListener('change', updateButton);
    $('idc-submit').addEventListener('click', submitIdcheck);

    const params = new URLSearchParams(location.search);
    if (location.pathname === '/return') {
      selectTab('wechat');
      await handleReturn(params);
    } else if (location.pathname === '/idcheck') showIdcheckForm();
    else showForm();
    document.body.dataset.ready = 'true';
  }

  document.addEventListener('DOMContentLoaded', init);
})();
