// The admin console. Plain JS, no build step, no dependencies: it reads /admin/api/* with the admin token and
// draws what it gets. Every value goes into the page as text (textContent / SVG attributes), never as markup.
//
// Bilingual: Chinese or English (the switch in the header, remembered in localStorage; first the browser's
// language: English for an English browser, Chinese otherwise). Every sentence is in TEXT below, both languages
// side by side. Times are shown in a named time zone, Asia/Shanghai unless the switch says UTC or the browser's.
'use strict';

(function () {
  const TOKEN_KEY = 'wxrn-admin-token';
  const REFRESH_MS = 5000;
  const COLORS = {
    match: '#07c160',
    id_mismatch: '#ff8f1f',
    name_mismatch: '#f7ba1e',
    not_verified: '#576b95',
    unknown: '#b2b2b2',
    error: '#fa5151',
  };
  const LANG_KEY = 'wxrn-admin-lang';
  const TZ_KEY = 'wxrn-admin-tz';
  const DEFAULT_TZ = 'Asia/Shanghai';

  // [English, Chinese]. `{n}`-style placeholders are filled by t().
  const TEXT = {
    title: ['wxrealname · Admin console', 'wxrealname · 管理控制台'],
    subtitle: ['Admin console', '管理控制台'],
    time_zone: ['Time zone', '时区'],
    tz_browser: ['Browser local', '本机时区'],
    auto_refresh: ['Auto-refresh', '自动刷新'],
    refresh: ['Refresh', '刷新'],
    sign_out: ['Sign out', '退出'],
    sign_in: ['Sign in', '登录'],
    token: ['Admin token', '管理令牌'],
    login_help: [
      ["Enter the gateway's admin token (the ", ['admin_token'], ' setting; ', ['wxrealname demo'], ' prints it and keeps it in ', ['DATA_DIR/admin.token'], '). It is kept in this browser tab only.'],
      ['请输入网关的管理令牌（即 ', ['admin_token'], ' 配置项；', ['wxrealname demo'], ' 会打印它，并保存在 ', ['DATA_DIR/admin.token'], '）。令牌只保存在当前浏览器标签页中。'],
    ],
    refused: ['The admin token was refused.', '管理令牌被拒绝。'],
    could_not_load: ['Could not load: {what}', '加载失败：{what}'],
    updated: ['Updated {time}', '更新于 {time}'],
    outcomes_over_time: ['Outcomes over time', '核验结果趋势'],
    last_hour: ['Last hour', '最近 1 小时'],
    last_day: ['Last 24 hours', '最近 24 小时'],
    errcodes: ['WeChat errcodes', '微信错误码'],
    meaning: ['meaning', '含义'],
    calls: ['calls', '调用次数'],
    share: ['share', '占比'],
    tokens: ['Access tokens', '接口调用凭据（access token）'],
    tokens_note: ['one provider per app', '每个小程序一个'],
    app: ['app', '小程序'],
    kind: ['kind', '类型'],
    age: ['age', '已持有'],
    next_refresh: ['next refresh', '下次刷新'],
    fetches: ['fetches', '获取次数'],
    last_error: ['last error', '最近错误'],
    rate_limited_title: ['Rate-limit rejections', '限流拒绝'],
    api_key: ['API key', 'API 密钥'],
    recent: ['Recent verifications', '最近核验'],
    masked_only: ['masked values only', '仅显示脱敏值'],
    time: ['time', '时间'],
    name: ['name', '姓名'],
    id_number: ['ID number', '身份证号'],
    result: ['result', '结果'],
    latency: ['latency', '耗时'],
    footer: [
      'Served by the gateway · data from the audit trail · no personal data leaves it unmasked',
      '由网关提供 · 数据来自审计记录 · 个人信息一律脱敏显示',
    ],
    kpi_verifications: ['Verifications', '核验次数'],
    kpi_matches: ['Matches', '一致'],
    kpi_mismatches: ['Mismatches', '不一致'],
    kpi_not_verified: ['Not verified', '未实名'],
    kpi_errors: ['Errors', '错误'],
    kpi_rate_limited: ['Rate-limited', '被限流'],
    kpi_wechat_error_rate: ['WeChat error rate', '微信错误率'],
    in_last_hour: ['in the last hour', '最近 1 小时'],
    in_last_day: ['in the last 24 hours', '最近 24 小时'],
    of_all: ['{p} of all', '占全部 {p}'],
    mismatch_split: ['{id} ID · {name} name', '证件 {id} · 姓名 {name}'],
    no_wechat_pay_name: ['no WeChat Pay real name', '未完成微信支付实名'],
    kinds: ['{n} kind(s)', '{n} 种'],
    requests_refused: ['requests refused', '次请求被拒'],
    calls_n: ['{n} call(s)', '{n} 次调用'],
    per_bucket: ['per {bucket}, {from} – {to} ({tz})', '每{bucket}，{from} – {to}（{tz}）'],
    minute: ['minute', '分钟'],
    hour: ['hour', '小时'],
    truncated: [' (only the newest rows were read)', '（只读取了最新的记录）'],
    no_verifications: ['no verifications', '无核验'],
    no_calls: ['No calls to WeChat in this window', '这段时间没有调用微信'],
    failed_share: ['{calls} · {p} failed', '{calls} · 失败 {p}'],
    none_in_window: ['None in this window', '这段时间没有'],
    n_in_window: ['{n} in this window', '这段时间 {n} 次'],
    none_held: ['none held', '未持有'],
    on_next_call: ['on next call', '下次调用时'],
    in_duration: ['in {d}', '{d} 后'],
    failed_n: [' ({n} failed)', '（失败 {n} 次）'],
    minor: ['minor', '未成年'],
    no_verifications_yet: ['No verifications yet', '还没有核验记录'],
    match: ['match', '一致'],
    id_mismatch: ['ID mismatch', '证件不一致'],
    name_mismatch: ['name mismatch', '姓名不一致'],
    not_verified: ['not verified', '未实名'],
    unknown: ['unknown', '未知'],
    error: ['error', '错误'],
  };

  // WeChat's errcodes in Chinese; the English comes from the server (wechat::ErrCode::description).
  const ERRCODES_ZH = {
    0: '成功', '-1': '系统繁忙，请稍后再试', 40001: 'access token 无效或不是最新', 40002: 'grant_type 无效',
    40003: 'openid 无效', 40013: 'appid 无效', 40014: 'access token 无效', 40029: 'js_code 无效',
    40097: '参数无效（如 cred_type）', 40125: 'AppSecret 无效', 40164: '调用方 IP 不在白名单中',
    40226: '高风险用户，登录被拦截', 41001: '缺少 access token', 42001: 'access token 已过期',
    45009: '今日调用额度已用完', 45011: '调用太频繁，已达每分钟额度', 48001: '没有该接口权限',
    80113: 'code 无效、已过期或已使用', none: '无应答（超时或连接中断）',
  };

  let lang = localStorage.getItem(LANG_KEY) || (/^en\b/i.test(navigator.language || '') ? 'en' : 'zh');
  let tz = localStorage.getItem(TZ_KEY) || DEFAULT_TZ;

  /** The sentence `key` in the chosen language, `{name}`s filled from `args`. */
  function t(key, args) {
    const pair = TEXT[key];
    let s = pair ? pair[lang === 'zh' ? 1 : 0] : key;
    for (const [k, v] of Object.entries(args || {})) s = s.split('{' + k + '}').join(String(v));
    return s;
  }
  const LABELS = new Proxy({}, { get: (_, k) => (TEXT[k] ? t(k) : k) });

  const $ = (id) => document.getElementById(id);
  let windowName = 'hour';
  let timer = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'style') for (const [p, val] of Object.entries(v)) e.style.setProperty(p, val);
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class Unauthorized extends Error {}

  async function api(path) {
    const resp = await fetch(path, {
      headers: { Authorization: 'Bearer ' + token(), Accept: 'application/json' },
      cache: 'no-store',
    });
    if (resp.status === 401) throw new Unauthorized(t('refused'));
    if (!resp.ok) {
      let msg = 'HTTP ' + resp.status;
      try {
        const body = await resp.json();
        if (body && body.error) msg = body.error.code + ': ' + (body.error.message || '');
      } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    return resp.json();
  }

  // ---- formatting ----
  /** The wall-clock parts of an instant in the chosen time zone. */
  function parts(iso) {
    const opts = { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    if (tz !== 'local') opts.timeZone = tz;
    const out = {};
    for (const p of new Intl.DateTimeFormat('en-US', opts).formatToParts(new Date(iso))) out[p.type] = p.value;
    return out;
  }
  function clock(iso, withDate) {
    const p = parts(iso);
    const time = p.hour + ':' + p.minute + ':' + p.second;
    return withDate ? p.year + '-' + p.month + '-' + p.day + ' ' + time : time;
  }
  /** The chosen zone as a reader wants it named: "Asia/Shanghai, UTC+8". */
  function zoneName() {
    const name = tz === 'local' ? Intl.DateTimeFormat().resolvedOptions().timeZone || 'local' : tz;
    const opts = { timeZoneName: 'shortOffset' };
    if (tz !== 'local') opts.timeZone = tz;
    const off = new Intl.DateTimeFormat('en-US', opts).formatToParts(new Date()).find((x) => x.type === 'timeZoneName');
    const offset = off ? off.value.replace('GMT', 'UTC').replace(/^UTC$/, 'UTC+0') : '';
    return name === 'UTC' ? 'UTC' : name + (offset ? ', ' + offset : '');
  }
  function duration(secs) {
    if (secs === null || secs === undefined) return '—';
    const neg = secs < 0;
    let s = Math.abs(secs);
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const txt = h ? h + ' h ' + m + ' min' : m ? m + ' min ' + s + ' s' : s + ' s';
    return neg ? '-' + txt : txt;
  }
  const plural = (n, key) => t(key, { n }).replace('(s)', n === 1 ? '' : 's');
  const percent = (x) => (x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0) + '%';

  function badge(row) {
    const series = row.outcome || 'error';
    const label = row.outcome ? LABELS[row.outcome] || row.outcome : row.error_code || 'error';
    return el('span', { class: 'pill', style: { '--c': COLORS[series] || COLORS.unknown }, 'data-outcome': series }, label);
  }

  // ---- sections ----
  function renderKpis(o) {
    const n = o.totals;
    // data-kpi keeps the English name in both languages: tests and scripts find a tile by it.
    const tiles = [
      ['Verifications', 'kpi_verifications', o.rows, t(o.window === 'hour' ? 'in_last_hour' : 'in_last_day'), null],
      ['Matches', 'kpi_matches', n.match, o.rows ? t('of_all', { p: percent(n.match / o.rows) }) : '', 'match'],
      ['Mismatches', 'kpi_mismatches', n.id_mismatch + n.name_mismatch, t('mismatch_split', { id: n.id_mismatch, name: n.name_mismatch }), 'id_mismatch'],
      ['Not verified', 'kpi_not_verified', n.not_verified, t('no_wechat_pay_name'), 'not_verified'],
      ['Errors', 'kpi_errors', n.error, plural(Object.keys(o.errors).length, 'kinds'), 'error'],
      ['Rate-limited', 'kpi_rate_limited', o.rate_limited.count, t('requests_refused'), null],
      ['WeChat error rate', 'kpi_wechat_error_rate', o.wechat.calls ? percent(o.wechat.error_rate) : '—', plural(o.wechat.calls, 'calls_n'), null],
    ];
    const box = $('kpis');
    box.replaceChildren(
      ...tiles.map(([id, label, value, note, series]) =>
        el('div', { class: 'kpi', style: series ? { '--c': COLORS[series] } : {} },
          el('span', { class: 'kpi-label' }, t(label)),
          el('span', { class: 'kpi-value', 'data-kpi': id }, value),
          el('span', { class: 'kpi-note' }, note)))
    );
  }

  function niceMax(n) {
    if (n <= 4) return 4;
    const pow = Math.pow(10, Math.floor(Math.log10(n)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= n) return m * pow;
    return 10 * pow;
  }

  function renderChart(o) {
    const W = 960, H = 260, L = 40, R = 12, T = 14, B = 30;
    const n = o.buckets.length;
    const totals = o.buckets.map((b) => o.series.reduce((s, k) => s + (b.counts[k] || 0), 0));
    const max = niceMax(Math.max(0, ...totals));
    const plotW = W - L - R, plotH = H - T - B;
    const step = plotW / n;
    const barW = Math.max(2, step * 0.72);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Outcomes per ' + o.bucket, class: 'chart-svg' });
    for (let i = 0; i <= 4; i++) {
      const v = (max / 4) * i;
      const y = T + plotH - (v / max) * plotH;
      root.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: i ? 'grid' : 'axis' }));
      root.append(svg('text', { x: L - 8, y: y + 4, class: 'tick', 'text-anchor': 'end' }, Number.isInteger(v) ? v : v.toFixed(1)));
    }
    const labelEvery = o.window === 'hour' ? 10 : 3;
    o.buckets.forEach((b, i) => {
      const x = L + i * step + (step - barW) / 2;
      let y = T + plotH;
      const g = svg('g', { class: 'bar', 'data-total': totals[i] });
      const lines = [];
      for (const k of o.series) {
        const c = b.counts[k] || 0;
        if (!c) continue;
        const h = (c / max) * plotH;
        y -= h;
        g.append(svg('rect', { x, y, width: barW, height: Math.max(h, 1), fill: COLORS[k], rx: 1.5, 'data-series': k }));
        lines.push(LABELS[k] + ': ' + c);
      }
      const when = clock(b.start, o.window === 'day');
      g.append(svg('title', {}, when + (lines.length ? '\n' + lines.join('\n') : '\n' + t('no_verifications'))));
      // A transparent full-height target so the tooltip shows on empty buckets too.
      g.prepend(svg('rect', { x: L + i * step, y: T, width: step, height: plotH, fill: 'transparent' }));
      root.append(g);
      if (i % labelEvery === 0) {
        const p = parts(b.start);
        root.append(svg('text', { x: L + i * step + step / 2, y: H - 10, class: 'tick', 'text-anchor': 'middle' },
          p.hour + ':' + p.minute));
      }
    });
    $('chart').replaceChildren(root);
    $('chart-caption').textContent =
      t('per_bucket', { bucket: t(o.bucket), from: clock(o.from, true), to: clock(o.to, o.window === 'day'), tz: zoneName() }) +
      (o.truncated ? t('truncated') : '');
    $('legend').replaceChildren(
      ...o.series.map((k) =>
        el('span', { class: 'legend-item' }, el('i', { style: { background: COLORS[k] } }), LABELS[k] + ' ' + (o.totals[k] || 0)))
    );
  }

  function renderErrcodes(o) {
    const body = $('errcodes').tBodies[0];
    const rows = o.wechat.errcodes.map((e) =>
      el('tr', { 'data-errcode': e.errcode === null ? 'none' : e.errcode },
        el('td', { class: 'mono' }, e.errcode === null ? '—' : e.errcode),
        el('td', {}, lang === 'zh' ? ERRCODES_ZH[e.errcode === null ? 'none' : e.errcode] || e.description : e.description),
        el('td', { class: 'num' }, e.count),
        el('td', { class: 'bar-col' },
          el('span', { class: 'hbar' }, el('span', { style: { width: (e.rate * 100).toFixed(1) + '%', background: e.errcode === 0 ? COLORS.match : COLORS.error } })),
          el('span', { class: 'muted small' }, percent(e.rate)))));
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4, class: 'empty' }, t('no_calls')))]));
    $('wechat-caption').textContent = t('failed_share', { calls: plural(o.wechat.calls, 'calls_n'), p: o.wechat.calls ? percent(o.wechat.error_rate) : '0%' });
  }

  function renderLimited(o) {
    const body = $('limited').tBodies[0];
    const rows = o.rate_limited.recent.map((r) =>
      el('tr', {}, el('td', {}, clock(r.at, true)), el('td', { class: 'mono' }, r.appid), el('td', { class: 'mono' }, r.openid), el('td', { class: 'mono' }, r.key_id)));
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4, class: 'empty' }, t('none_in_window')))]));
    $('limited-caption').textContent = t('n_in_window', { n: o.rate_limited.count });
  }

  function renderTokens(tokens) {
    const body = $('tokens').tBodies[0];
    const rows = tokens.apps.map((a) =>
      el('tr', { 'data-appid': a.appid },
        el('td', { class: 'mono' }, a.appid),
        el('td', {}, a.kind),
        el('td', {}, a.cached ? duration(a.age_secs) : el('span', { class: 'muted' }, t('none_held'))),
        el('td', {}, a.refresh_in_secs === null ? '—' : a.refresh_in_secs <= 0 ? t('on_next_call') : t('in_duration', { d: duration(a.refresh_in_secs) })),
        el('td', { class: 'num' }, a.fetches + (a.failures ? t('failed_n', { n: a.failures }) : '')),
        el('td', { class: a.last_error ? 'error small' : 'muted' }, a.last_error || '—')));
    body.replaceChildren(...rows);
  }

  function renderRecent(list) {
    const body = $('recent').tBodies[0];
    const rows = list.verifications.map((v) =>
      el('tr', { 'data-id': v.id },
        el('td', {}, clock(v.checked_at, true)),
        el('td', { class: 'mono' }, v.appid),
        el('td', { class: 'mono' }, v.openid),
        el('td', {}, v.masked_real_name),
        el('td', { class: 'mono' }, v.masked_cred_id),
        el('td', {}, badge(v), v.minor ? el('span', { class: 'pill minor' }, t('minor')) : null),
        el('td', { class: 'num mono' }, v.errcode === null ? '—' : v.errcode),
        el('td', { class: 'num' }, v.latency_ms + ' ms')));
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 8, class: 'empty' }, t('no_verifications_yet')))]));
  }

  /** The page's fixed text in the chosen language, and the time zone in the time columns' headings. */
  function applyStatic() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
    for (const e of document.querySelectorAll('[data-i18n-placeholder]')) {
      e.placeholder = t(e.dataset.i18nPlaceholder);
      e.setAttribute('aria-label', e.placeholder);
    }
    for (const e of document.querySelectorAll('.time-head')) e.textContent = t('time') + ' (' + zoneName() + ')';
    for (const b of document.querySelectorAll('button[data-lang]')) b.classList.toggle('on', b.dataset.lang === lang);
    const help = TEXT.login_help[lang === 'zh' ? 1 : 0];
    $('login-help').replaceChildren(...help.map((s) => (Array.isArray(s) ? el('code', {}, s[0]) : s)));
  }

  // ---- flow ----
  async function refresh() {
    try {
      const [o, tokens, list] = await Promise.all([
        api('/admin/api/overview?window=' + windowName),
        api('/admin/api/tokens'),
        api('/admin/api/verifications?limit=50'),
      ]);
      renderKpis(o);
      renderChart(o);
      renderErrcodes(o);
      renderLimited(o);
      renderTokens(tokens);
      renderRecent(list);
      $('banner').hidden = true;
      $('updated').textContent = t('updated', { time: clock(new Date().toISOString()) + ' (' + zoneName() + ')' });
      document.body.dataset.loaded = 'true';
    } catch (e) {
      if (e instanceof Unauthorized) {
        signOut(t('refused'));
        return;
      }
      $('banner').textContent = t('could_not_load', { what: e.message });
      $('banner').hidden = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = $('auto').checked ? setInterval(refresh, REFRESH_MS) : null;
  }

  function showDash() {
    $('login').hidden = true;
    $('dash').hidden = false;
    $('controls').hidden = false;
    refresh();
    schedule();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(timer);
    delete document.body.dataset.loaded;
    $('dash').hidden = true;
    $('controls').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').value = '';
    $('token').focus();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const entered = $('token').value.trim();
      if (!entered) return;
      sessionStorage.setItem(TOKEN_KEY, entered);
      $('login-error').textContent = '';
      showDash();
    });
    $('signout').addEventListener('click', () => signOut(''));
    $('refresh').addEventListener('click', refresh);
    $('auto').addEventListener('change', schedule);
    for (const b of document.querySelectorAll('.seg button[data-window]')) {
      b.addEventListener('click', () => {
        windowName = b.dataset.window;
        for (const o of document.querySelectorAll('.seg button[data-window]')) o.classList.toggle('on', o === b);
        refresh();
      });
    }
    for (const b of document.querySelectorAll('button[data-lang]')) {
      b.addEventListener('click', () => {
        lang = b.dataset.lang;
        localStorage.setItem(LANG_KEY, lang);
        applyStatic();
        if (document.body.dataset.loaded) refresh();
      });
    }
    $('tz').value = tz;
    $('tz').addEventListener('change', () => {
      tz = $('tz').value;
      localStorage.setItem(TZ_KEY, tz);
      applyStatic();
      if (document.body.dataset.loaded) refresh();
    });
    applyStatic();
    if (token()) showDash();
    else signOut('');
  });
})();
