// The admin console. Plain JS, no build step, no dependencies: it reads /admin/api/* with the admin token and
// draws what it gets. Every value goes into the page as text (textContent / SVG attributes), never as markup.
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
  const LABELS = {
    match: 'match',
    id_mismatch: 'ID mismatch',
    name_mismatch: 'name mismatch',
    not_verified: 'not verified',
    unknown: 'unknown',
    error: 'error',
  };

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
    if (resp.status === 401) throw new Unauthorized('the admin token was refused');
    if (!resp.ok) {
      let msg = 'HTTP ' + resp.status;
      try {
        const body = await resp.json();
        if (body && body.error) msg = body.error.code + ': ' + body.error.message;
      } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    return resp.json();
  }

  // ---- formatting ----
  const pad = (n) => String(n).padStart(2, '0');
  function clock(iso, withDate) {
    const d = new Date(iso);
    const t = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    return withDate ? d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + t : t;
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
  const plural = (n, word) => n + ' ' + word + (n === 1 ? '' : 's');
  const percent = (x) => (x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0) + '%';

  function badge(row) {
    const series = row.outcome || 'error';
    const label = row.outcome ? LABELS[row.outcome] || row.outcome : row.error_code || 'error';
    return el('span', { class: 'pill', style: { '--c': COLORS[series] || COLORS.unknown }, 'data-outcome': series }, label);
  }

  // ---- sections ----
  function renderKpis(o) {
    const t = o.totals;
    const tiles = [
      ['Verifications', o.rows, 'in the ' + (o.window === 'hour' ? 'last hour' : 'last 24 hours'), null],
      ['Matches', t.match, o.rows ? percent(t.match / o.rows) + ' of all' : '', 'match'],
      ['Mismatches', t.id_mismatch + t.name_mismatch, t.id_mismatch + ' ID · ' + t.name_mismatch + ' name', 'id_mismatch'],
      ['Not verified', t.not_verified, 'no WeChat Pay real name', 'not_verified'],
      ['Errors', t.error, plural(Object.keys(o.errors).length, 'kind'), 'error'],
      ['Rate-limited', o.rate_limited.count, 'requests refused', null],
      ['WeChat error rate', o.wechat.calls ? percent(o.wechat.error_rate) : '—', plural(o.wechat.calls, 'call'), null],
    ];
    const box = $('kpis');
    box.replaceChildren(
      ...tiles.map(([label, value, note, series]) =>
        el('div', { class: 'kpi', style: series ? { '--c': COLORS[series] } : {} },
          el('span', { class: 'kpi-label' }, label),
          el('span', { class: 'kpi-value', 'data-kpi': label }, value),
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
      const parts = [];
      for (const k of o.series) {
        const c = b.counts[k] || 0;
        if (!c) continue;
        const h = (c / max) * plotH;
        y -= h;
        g.append(svg('rect', { x, y, width: barW, height: Math.max(h, 1), fill: COLORS[k], rx: 1.5, 'data-series': k }));
        parts.push(LABELS[k] + ': ' + c);
      }
      const when = clock(b.start, o.window === 'day');
      g.append(svg('title', {}, when + (parts.length ? '\n' + parts.join('\n') : '\nno verifications')));
      // A transparent full-height target so the tooltip shows on empty buckets too.
      g.prepend(svg('rect', { x: L + i * step, y: T, width: step, height: plotH, fill: 'transparent' }));
      root.append(g);
      if (i % labelEvery === 0) {
        const d = new Date(b.start);
        root.append(svg('text', { x: L + i * step + step / 2, y: H - 10, class: 'tick', 'text-anchor': 'middle' },
          pad(d.getHours()) + ':' + pad(d.getMinutes())));
      }
    });
    $('chart').replaceChildren(root);
    $('chart-caption').textContent =
      'per ' + o.bucket + ', ' + clock(o.from, true) + ' – ' + clock(o.to, o.window === 'day') +
      (o.truncated ? ' (only the newest rows were read)' : '');
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
        el('td', {}, e.description),
        el('td', { class: 'num' }, e.count),
        el('td', { class: 'bar-col' },
          el('span', { class: 'hbar' }, el('span', { style: { width: (e.rate * 100).toFixed(1) + '%', background: e.errcode === 0 ? COLORS.match : COLORS.error } })),
          el('span', { class: 'muted small' }, percent(e.rate)))));
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No calls to WeChat in this window'))]));
    $('wechat-caption').textContent = plural(o.wechat.calls, 'call') + ' · ' + (o.wechat.calls ? percent(o.wechat.error_rate) : '0%') + ' failed';
  }

  function renderLimited(o) {
    const body = $('limited').tBodies[0];
    const rows = o.rate_limited.recent.map((r) =>
      el('tr', {}, el('td', {}, clock(r.at, true)), el('td', { class: 'mono' }, r.appid), el('td', { class: 'mono' }, r.openid), el('td', { class: 'mono' }, r.key_id)));
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'None in this window'))]));
    $('limited-caption').textContent = o.rate_limited.count + ' in this window';
  }

  function renderTokens(t) {
    const body = $('tokens').tBodies[0];
    const rows = t.apps.map((a) =>
      el('tr', { 'data-appid': a.appid },
        el('td', { class: 'mono' }, a.appid),
        el('td', {}, a.kind),
        el('td', {}, a.cached ? duration(a.age_secs) : el('span', { class: 'muted' }, 'none held')),
        el('td', {}, a.refresh_in_secs === null ? '—' : a.refresh_in_secs <= 0 ? 'on next call' : 'in ' + duration(a.refresh_in_secs)),
        el('td', { class: 'num' }, a.fetches + (a.failures ? ' (' + a.failures + ' failed)' : '')),
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
        el('td', {}, badge(v), v.minor ? el('span', { class: 'pill minor' }, 'minor') : null),
        el('td', { class: 'num mono' }, v.errcode === null ? '—' : v.errcode),
        el('td', { class: 'num' }, v.latency_ms + ' ms')));
    body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'No verifications yet'))]));
  }

  // ---- flow ----
  async function refresh() {
    try {
      const [o, t, list] = await Promise.all([
        api('/admin/api/overview?window=' + windowName),
        api('/admin/api/tokens'),
        api('/admin/api/verifications?limit=50'),
      ]);
      renderKpis(o);
      renderChart(o);
      renderErrcodes(o);
      renderLimited(o);
      renderTokens(t);
      renderRecent(list);
      $('banner').hidden = true;
      $('updated').textContent = 'Updated ' + clock(new Date().toISOString());
      document.body.dataset.loaded = 'true';
    } catch (e) {
      if (e instanceof Unauthorized) {
        signOut('The admin token was refused.');
        return;
      }
      $('banner').textContent = 'Could not load: ' + e.message;
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
      const t = $('token').value.trim();
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      $('login-error').textContent = '';
      showDash();
    });
    $('signout').addEventListener('click', () => signOut(''));
    $('refresh').addEventListener('click', refresh);
    $('auto').addEventListener('change', schedule);
    for (const b of document.querySelectorAll('.seg button')) {
      b.addEventListener('click', () => {
        windowName = b.dataset.window;
        for (const o of document.querySelectorAll('.seg button')) o.classList.toggle('on', o === b);
        refresh();
      });
    }
    if (token()) showDash();
    else signOut('');
  });
})();
