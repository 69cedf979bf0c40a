// quotaplane's page: read-only, no framework, no inline handlers (CSP: script-src 'self').
// Every value from the server is written with textContent, never parsed as HTML.
'use strict';

(() => {
  const STORAGE = 'quotaplane.key';
  const $ = (id) => document.getElementById(id);
  const state = { key: null, me: null, tenant: null, offset: 0, timer: null };

  /** A GET of a same-origin API path with the key: { status, body, next }. */
  async function get(path) {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${state.key}`, Accept: 'application/json' },
      cache: 'no-store',
    });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    return { status: response.status, body, next: nextPage(response.headers.get('link')) };
  }

  /** The path of a `Link: <…>; rel="next"` (kept on this origin). */
  function nextPage(link) {
    const match = link && /<([^>]+)>\s*;\s*rel="next"/.exec(link);
    if (!match) return null;
    const url = new URL(match[1], window.location.href);
    return url.pathname + url.search;
  }

  /** Every item of a paged list, following `Link` up to `pages` pages. */
  async function all(path, pages) {
    const items = [];
    let next = path;
    for (let i = 0; next && i < pages; i += 1) {
      const page = await get(next);
      if (page.status !== 200 || !Array.isArray(page.body)) return { status: page.status, items };
      items.push(...page.body);
      next = page.next;
    }
    return { status: 200, items };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child ?? '')));
    }
    return node;
  }

  function setStatus(id, text) { $(id).textContent = text; }

  function when(iso) {
    if (!iso) return '';
    const t = new Date(iso);
    return Number.isNaN(t.getTime()) ? String(iso) : t.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }

  /** "1d 02h 03m 04s" until `iso`, by the server's clock. */
  function countdown(iso) {
    if (!iso) return 'never';
    let s = Math.max(0, Math.round((new Date(iso).getTime() - (Date.now() + state.offset)) / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const pad = (n) => String(n).padStart(2, '0');
    return `${d ? `${d}d ` : ''}${pad(h)}h ${pad(m)}m ${pad(s)}s`;
  }

  function tick() {
    for (const cell of document.querySelectorAll('[data-reset-at]')) {
      cell.textContent = countdown(cell.getAttribute('data-reset-at'));
    }
  }

  /** The usage bar of a limit: a progressbar with its values for assistive technology. */
  function bar(limitId, used, limit) {
    if (limit === null || limit === undefined) {
      // No ceiling to fill against: an empty bar, and the values say why.
      return el('div', { class: 'bar unlimited', role: 'progressbar', 'aria-label': `Usage of ${limitId}`,
        'aria-valuemin': 0, 'aria-valuenow': used, 'aria-valuetext': `${used} used, unlimited` });
    }
    const percent = limit > 0 ? Math.round((used / limit) * 100) : (used > 0 ? 100 : 0);
    const node = el('div', {
      class: `bar${percent >= 100 ? ' over' : percent >= 80 ? ' warn' : ''}`,
      role: 'progressbar', 'aria-label': `Usage of ${limitId}`, 'aria-valuemin': 0,
      'aria-valuemax': limit, 'aria-valuenow': Math.min(used, limit),
      'aria-valuetext': `${used} of ${limit} (${percent}%)`,
    }, el('span'));
    node.firstChild.style.width = `${Math.min(100, percent)}%`;
    return node;
  }

  function ownTenant() { return !state.me || state.tenant === state.me.tenant_id; }

  async function loadLimits() {
    const body = $('limits').tBodies[0];
    body.replaceChildren();
    setStatus('limits-status', 'Loading…');
    const path = ownTenant() ? '/v1/limits?limit=1000'
      : `/v1/tenants/${encodeURIComponent(state.tenant)}/limits?limit=1000`;
    const found = await all(path, 20);
    if (found.status !== 200) {
      setStatus('limits-status', `Limits not available (HTTP ${found.status}).`);
      return;
    }
    for (const limit of found.items) {
      const usage = limit.usage || {};
      const used = usage.used ?? 0;
      const ceiling = usage.limit ?? null;
      const button = el('button', { type: 'button', class: 'history', 'data-limit': limit.id,
        'aria-label': `History of ${limit.id}` }, 'Show');
      body.append(el('tr', { 'data-limit': limit.id },
        el('th', { scope: 'row' }, limit.id),
        el('td', {}, limit.metric),
        el('td', {}, bar(limit.id, used, ceiling)),
        el('td', { class: 'num used' }, `${used} / ${ceiling === null ? 'unlimited' : ceiling}`),
        el('td', { class: 'num', 'data-reset-at': usage.reset_at || '' }, countdown(usage.reset_at)),
        el('td', {}, button)));
    }
    setStatus('limits-status', found.items.length ? `${found.items.length} limit(s).` : 'No limits.');
  }

  /** An inline SVG bar chart of periods' usage, with the limit as a dashed line. */
  function chart(limitId, periods) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = (tag, attrs, text) => {
      const node = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const width = 640; const height = 200; const pad = 28;
    const top = Math.max(1, ...periods.map((p) => Math.max(p.used ?? 0, p.limit ?? 0)));
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-labelledby': 'history-title' });
    root.append(svg('title', { id: 'history-title' },
      `Usage of ${limitId} in its last ${periods.length} period(s)`));
    const step = (width - 2 * pad) / Math.max(1, periods.length);
    periods.forEach((p, i) => {
      const h = ((p.used ?? 0) / top) * (height - 2 * pad);
      const rect = svg('rect', { class: 'used', x: pad + i * step + 1, y: height - pad - h,
        width: Math.max(1, step - 2), height: h });
      rect.append(svg('title', {}, `${when(p.period_start)}: ${p.used}${p.limit != null ? ` of ${p.limit}` : ''}${p.partition ? ` (${p.partition})` : ''}`));
      root.append(rect);
      if (p.limit != null) {
        const y = height - pad - (p.limit / top) * (height - 2 * pad);
        root.append(svg('line', { class: 'limit', x1: pad + i * step, x2: pad + (i + 1) * step, y1: y, y2: y }));
      }
    });
    root.append(svg('text', { x: pad, y: height - 8 }, when(periods[0]?.period_start)));
    root.append(svg('text', { x: width - pad, y: height - 8, 'text-anchor': 'end' },
      when(periods[periods.length - 1]?.period_start)));
    root.append(svg('text', { x: 4, y: pad - 8 }, String(top)));
    return root;
  }

  async function loadHistory(limitId) {
    const holder = $('history-chart');
    holder.replaceChildren();
    if (!ownTenant()) {
      setStatus('history-status', 'History is not available for another tenant.');
      return;
    }
    setStatus('history-status', `Loading the history of ${limitId}…`);
    const to = new Date(Date.now() + state.offset);
    const from = new Date(to.getTime() - 90 * 86400 * 1000);
    const path = `/v1/limits/${encodeURIComponent(limitId)}/history?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    const found = await all(path, 10);
    if (found.status !== 200) {
      setStatus('history-status', `History of ${limitId}: not available (HTTP ${found.status}).`);
      return;
    }
    if (!found.items.length) {
      setStatus('history-status', `History of ${limitId}: no ended periods yet.`);
      return;
    }
    const periods = [...found.items].sort((a, b) => String(a.period_start).localeCompare(String(b.period_start)));
    holder.append(chart(limitId, periods));
    setStatus('history-status', `History of ${limitId}: ${periods.length} period(s).`);
  }

  async function loadAlerts() {
    const body = $('alerts').tBodies[0];
    body.replaceChildren();
    if (!ownTenant()) {
      setStatus('alerts-status', 'Alerts are not available for another tenant.');
      return;
    }
    const found = await get('/v1/alerts?limit=20');
    if (found.status !== 200 || !Array.isArray(found.body)) {
      setStatus('alerts-status', `Alerts not available (HTTP ${found.status}).`);
      return;
    }
    for (const a of found.body) {
      const threshold = a.event?.data?.threshold;
      const shown = a.kind === 'reset' ? 'period reset'
        : threshold ? Object.entries(threshold).map(([k, v]) => (k === 'percent' ? `${v}%` : `${v} units`)).join(' ')
          : `${a.threshold}%`;
      body.append(el('tr', {},
        el('td', {}, when(a.created_at)), el('td', {}, a.kind), el('td', {}, a.limit_id),
        el('td', {}, shown), el('td', { class: 'num' }, a.used), el('td', {}, a.status),
        el('td', { class: 'num' }, a.attempts), el('td', {}, a.last_error || '')));
    }
    setStatus('alerts-status', found.body.length ? '' : 'No alerts yet.');
  }

  async function loadAudit() {
    const body = $('audit').tBodies[0];
    body.replaceChildren();
    const found = await get('/v1/audit?limit=50');
    if (found.status !== 200 || !Array.isArray(found.body)) {
      setStatus('audit-status', `Audit log not available (HTTP ${found.status}).`);
      return;
    }
    const records = found.body.filter((r) => !r.tenant_id || r.tenant_id === state.tenant);
    for (const r of records) {
      const resource = r.resource ? `${r.resource.type} ${r.resource.id}` : '';
      body.append(el('tr', {},
        el('td', {}, when(r.at)), el('td', {}, r.action), el('td', {}, resource),
        el('td', {}, r.actor?.key_id || ''), el('td', {}, (r.actor?.roles || []).join(', '))));
    }
    setStatus('audit-status', records.length ? '' : 'No changes recorded.');
  }

  async function loadView() {
    $('view').hidden = false;
    await loadLimits();
    await Promise.all([loadAlerts(), loadAudit()]);
  }

  async function open(key) {
    state.key = key;
    setStatus('who', 'Checking the key…');
    const me = await get('/v1/whoami');
    if (me.status !== 200 || !me.body) {
      setStatus('who', me.status === 401 ? 'The key was not accepted.' : `The key cannot be used (HTTP ${me.status}).`);
      sessionStorage.removeItem(STORAGE);
      state.key = null;
      return;
    }
    sessionStorage.setItem(STORAGE, key);
    state.me = me.body;
    state.tenant = me.body.tenant_id;
    setStatus('who', `Key ${me.body.key_id} of tenant ${me.body.tenant_id} (${me.body.roles.join(', ')}).`);
    const clock = await get('/v1/test-clock');
    state.offset = clock.status === 200 && clock.body?.now ? new Date(clock.body.now).getTime() - Date.now() : 0;
    if (me.body.roles.includes('system')) {
      const tenants = await all('/v1/tenants?limit=1000', 10);
      const select = $('tenant');
      select.replaceChildren(...tenants.items.map((t) => el('option', { value: t.id }, `${t.name} (${t.id})`)));
      select.value = state.tenant;
      $('tenant-section').hidden = false;
    }
    await loadView();
    if (!state.timer) state.timer = window.setInterval(tick, 1000);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('key').value.trim();
      $('key').value = '';
      if (key) open(key);
    });
    $('forget').addEventListener('click', () => {
      sessionStorage.removeItem(STORAGE);
      window.location.reload();
    });
    $('tenant').addEventListener('change', (event) => {
      state.tenant = event.target.value;
      $('history-chart').replaceChildren();
      loadView();
    });
    $('limits').addEventListener('click', (event) => {
      const button = event.target.closest('button.history');
      if (button) loadHistory(button.getAttribute('data-limit'));
    });
    const kept = sessionStorage.getItem(STORAGE);
    if (kept) open(kept);
  });
})();
