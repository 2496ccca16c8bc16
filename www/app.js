/* silo dashboard: the page's script (www/index.html loads it).
   It lives in its own file so that Caddy's Content-Security-Policy can
   say script-src 'self' with no 'unsafe-inline': an injected inline
   script or on...= handler never runs.  No build, no frameworks, no
   inline handlers: every listener is added here. */
'use strict';
(() => {
  /* ---------- theme: follow the OS, live, no manual toggle ---------- */
  const lightQuery = matchMedia('(prefers-color-scheme: light)');
  const applyTheme = () => document.body.classList.toggle('light-mode', lightQuery.matches);
  applyTheme();
  lightQuery.addEventListener('change', applyTheme);

  /* The h1 leads home: AC itself on silo's own subdomain, else this page. */
  const home = document.getElementById('home');
  home.href = location.hostname === 'silo.aesthetic.computer' ? 'https://aesthetic.computer' : '/';

  const POLL_MS = 10000;
  const TIMEOUT_MS = 8000;

  /* ---------- helpers (all text goes through textContent) ---------- */
  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...kids) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else node.setAttribute(k, String(v));
      }
    }
    for (const kid of kids) {
      if (kid === null || kid === undefined) continue;
      node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  }

  function setText(id, text, title) {
    const node = $(id);
    node.textContent = text;
    if (title) node.title = title; else node.removeAttribute('title');
    node.classList.remove('pending');
    return node;
  }

  const isNum = (n) => typeof n === 'number' && Number.isFinite(n);
  const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const num = (n) => (isNum(n) ? intFmt.format(n) : '—');

  /* Human-readable bytes, SI units (1 MB = 1,000,000 bytes). */
  function bytes(n) {
    if (!isNum(n)) return '—';
    const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    let v = n, i = 0;
    while (Math.abs(v) >= 999.5 && i < units.length - 1) { v /= 1000; i++; }
    if (i === 0) return `${Math.round(v)} B`;
    return `${Math.abs(v) < 99.95 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
  }
  const exactBytes = (n) => (isNum(n) ? `${intFmt.format(n)} bytes` : '');

  function duration(s) {
    if (!isNum(s) || s < 0) return '—';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  }

  function percent(part, whole) {
    if (!isNum(part) || !isNum(whole) || whole <= 0) return '—';
    const p = (100 * part) / whole;
    if (p === 0) return '0%';
    if (p < 0.1) return '<0.1%';
    return `${p < 9.95 ? p.toFixed(1) : Math.round(p)}%`;
  }

  const clock = (d) => d.toLocaleTimeString('en-GB', { hour12: false });
  const day = (d) => d.toLocaleDateString('en-GB', { year: 'numeric', month: 'short', day: 'numeric' });
  const dateTime = (d) => d.toLocaleString('en-GB', {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false,
  });

  /* ---------- fetching: every failure becomes {code, message} ---------- */
  class ApiError extends Error {
    constructor(code, message, status, body) {
      super(message);
      this.code = code;
      this.status = status;
      this.down = !!(body && body.status === 'down');
      this.body = body && typeof body === 'object' ? body : null;
    }
  }

  /* ---------- signed out: to the sign-in page, and back here after ---------- */
  const SIGNIN = '/signin.html';
  let leaving = false;

  function toSignIn() {
    if (leaving) return;
    leaving = true;
    clearTimeout(timer);
    const here = location.pathname + location.search + location.hash;
    location.replace(`${SIGNIN}?next=${encodeURIComponent(here)}`);
  }

  async function getJSON(url, cacheMode = 'no-store') {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      let res;
      try {
        res = await fetch(url, { signal: ctl.signal, cache: cacheMode, headers: { Accept: 'application/json' } });
      } catch (e) {
        if (e && e.name === 'AbortError') throw new ApiError('timeout', `no answer within ${TIMEOUT_MS / 1000} s`, 0);
        throw new ApiError('unreachable', 'silo did not answer', 0);
      }
      if (res.status === 401) {
        toSignIn();
        throw new ApiError('unauthorized', 'signed out', 401);
      }
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      const err = body && typeof body === 'object' && body.error && typeof body.error === 'object' ? body.error : null;
      if (!res.ok || err) {
        throw new ApiError(
          String((err && err.code) || `http_${res.status}`),
          String((err && err.message) || `${res.status} ${res.statusText || 'error'}`.trim()),
          res.status, body);
      }
      if (!body || typeof body !== 'object') throw new ApiError('bad_response', 'the answer was not a JSON object', res.status);
      return body;
    } finally {
      clearTimeout(timer);
    }
  }

  /* Fill an .error-box with "what failed · code message". */
  function fillError(box, what, err) {
    box.replaceChildren(
      el('div', { class: 'error-what', text: `${what} failed` }),
      el('div', null,
        el('span', { class: 'error-code', text: err.code || 'error' }),
        el('span', { class: 'error-message', text: err.message || '' })));
    box.hidden = false;
  }

  /* A source-bound container shows its data, its error, or (state
     "none": a calm answer such as no_snapshot) its data-part="none" note. */
  function showState(container, state, what, err) {
    container.dataset.state = state;
    const box = container.querySelector(':scope > [data-part="error"]');
    for (const part of container.querySelectorAll(':scope > [data-part="ok"]')) part.hidden = state !== 'ok';
    for (const part of container.querySelectorAll(':scope > [data-part="none"]')) part.hidden = state !== 'none';
    if (!box) return;
    if (state === 'error') fillError(box, what, err);
    else { box.hidden = true; box.replaceChildren(); }
  }

  /* ---------- database health ---------- */
  let downSince = null;

  function setDot(state, text, reason) {
    const dot = $('db-dot');
    dot.className = `dot ${state}`;
    const label = $('db-status-text');
    label.replaceChildren(text);
    if (reason) label.append(el('span', { class: 'reason', text: ` · ${reason}` }));
    $('db-status').title = reason ? `${text}: ${reason}` : text;
  }

  function renderHealth(h) {
    downSince = null;
    const state = h.status === 'ok' ? 'ok' : 'warn';
    const status = typeof h.status === 'string' ? h.status : 'unknown';
    const reason = typeof h.reason === 'string' && h.reason ? h.reason : '';
    if (typeof h.database === 'string' && h.database) $('db-name').textContent = h.database;

    setText('v-db-status', status).className = `stat-value ${state}`;
    $('s-db-status').textContent = reason || 'answering';
    $('s-db-status').title = reason;

    setText('v-db-version', h.version ? String(h.version) : '—');
    // The header names the database; the engine (mongod, or FerretDB in
    // the local stack) is what tells this version apart.
    $('s-db-version').textContent = typeof h.engine === 'string' && h.engine ? h.engine : 'server';

    setText('v-db-uptime', duration(h.uptime_s), isNum(h.uptime_s) ? `${num(h.uptime_s)} s` : '');
    if (isNum(h.uptime_s)) {
      const since = new Date(Date.now() - h.uptime_s * 1000);
      $('s-db-uptime').textContent = `since ${h.uptime_s < 72000 ? clock(since).slice(0, 5) : day(since)}`;
      $('s-db-uptime').title = dateTime(since);
    } else {
      $('s-db-uptime').textContent = 'not reported';
    }

    setText('v-db-ping', isNum(h.ping_ms) ? `${h.ping_ms < 10 ? h.ping_ms.toFixed(1) : Math.round(h.ping_ms)} ms` : '—',
      isNum(h.ping_ms) ? `${h.ping_ms} ms round trip` : '');
    const c = h.connections;
    const conns = $('s-db-ping');
    conns.textContent = c && isNum(c.current) ? `${num(c.current)} open · ${num(c.available)} free` : 'connections not reported';
    conns.title = c && isNum(c.current) ? `connections: ${num(c.current)} current, ${num(c.available)} available` : '';

    const ping = isNum(h.ping_ms) ? `${h.ping_ms < 10 ? h.ping_ms.toFixed(1) : Math.round(h.ping_ms)} ms` : '';
    setDot(state, `database ${status}`, reason || ping);
  }

  function failHealth(err) {
    const status = err.down ? 'down' : 'error';
    if (!downSince) downSince = new Date();
    setText('v-db-status', status).className = 'stat-value down';
    $('s-db-status').textContent = `since ${clock(downSince)}`;
    $('s-db-status').title = `${err.code}: ${err.message}`;
    const silo = err.code === 'unreachable' || err.code === 'timeout';
    setDot('down', silo ? 'silo unreachable' : `database ${status}`, err.message);
  }

  /* ---------- collections: stat boxes, categories, table ---------- */
  const CATEGORY_IDS = ['logs', 'chat', 'content', 'identity', 'social', 'other'];
  const catClass = (id) => `cat-${CATEGORY_IDS.includes(id) ? id : 'other'}`;
  let categoryLabels = {};
  let lastCollections = [];
  const sort = { key: 'size_bytes', dir: 'desc' };

  function renderCollectionTotals(data) {
    const t = data.totals || {};
    const n = isNum(t.collections) ? t.collections : (data.collections || []).length;
    setText('v-documents', num(t.documents), isNum(t.documents) ? `${num(t.documents)} documents (estimated)` : '');
    $('s-documents').textContent = `in ${num(n)} collection${n === 1 ? '' : 's'}`;
    setText('v-size', bytes(t.size_bytes), exactBytes(t.size_bytes));
    setText('v-storage', bytes(t.storage_bytes), exactBytes(t.storage_bytes));
    $('s-storage').textContent = isNum(t.storage_bytes) && isNum(t.size_bytes) && t.size_bytes > 0
      ? `on disk · ${percent(t.storage_bytes, t.size_bytes)} of data` : 'on disk';
    setText('v-index', bytes(t.index_bytes), exactBytes(t.index_bytes));
    const indexes = (data.collections || []).reduce((s, c) => s + (c && isNum(c.indexes) ? c.indexes : 0), 0);
    $('s-index').textContent = `${num(indexes)} index${indexes === 1 ? '' : 'es'}`;
  }

  function renderCategories(data) {
    const cats = Array.isArray(data.categories) ? data.categories : [];
    const total = cats.reduce((s, c) => s + (isNum(c.size_bytes) ? c.size_bytes : 0), 0);
    categoryLabels = {};
    for (const c of cats) categoryLabels[c.id] = c.label || c.id;

    const bar = $('category-bar');
    bar.replaceChildren();
    for (const c of cats) {
      if (!isNum(c.size_bytes) || c.size_bytes <= 0 || total <= 0) continue;
      const seg = el('div', {
        class: `seg ${catClass(c.id)}`,
        title: `${c.label || c.id}: ${bytes(c.size_bytes)} (${percent(c.size_bytes, total)}) · ${exactBytes(c.size_bytes)}`,
      });
      seg.style.flexGrow = String(c.size_bytes / total);
      seg.style.flexBasis = '0';
      bar.append(seg);
    }
    if (!bar.childElementCount) bar.append(el('div', { class: 'seg cat-other', title: 'no data' }));

    const body = $('categories-body');
    body.replaceChildren();
    const rows = cats.slice().sort((a, b) => (b.size_bytes || 0) - (a.size_bytes || 0));
    for (const c of rows) {
      const tr = el('tr', { class: c.collections ? null : 'zero', 'data-category': c.id },
        el('td', null, el('span', { class: `swatch ${catClass(c.id)}` }), c.label || c.id),
        el('td', { class: 'num hide-narrow', text: num(c.collections) }),
        el('td', { class: 'num', text: num(c.documents) }),
        el('td', { class: 'num', text: bytes(c.size_bytes), title: exactBytes(c.size_bytes) }),
        el('td', { class: 'num', text: percent(c.size_bytes, total) }),
        el('td', { class: 'num hide-narrow', text: bytes(c.storage_bytes), title: exactBytes(c.storage_bytes) }));
      body.append(tr);
    }
    if (!rows.length) body.append(el('tr', null, el('td', { class: 'dim', colspan: 6, text: 'no categories reported' })));
    const biggest = rows[0];
    $('categories-meta').textContent = biggest && total > 0
      ? `by data size · ${biggest.label || biggest.id} holds ${percent(biggest.size_bytes, total)}` : 'by data size';
  }

  function compareRows(a, b) {
    const th = document.querySelector(`#collections-table th[data-key="${sort.key}"]`);
    const type = th ? th.dataset.type : 'num';
    let r;
    if (type === 'text') {
      const av = sort.key === 'category' ? (categoryLabels[a.category] || a.category || '') : String(a[sort.key] || '');
      const bv = sort.key === 'category' ? (categoryLabels[b.category] || b.category || '') : String(b[sort.key] || '');
      r = av.localeCompare(bv, 'en');
    } else {
      r = (isNum(a[sort.key]) ? a[sort.key] : -1) - (isNum(b[sort.key]) ? b[sort.key] : -1);
    }
    if (r === 0) r = String(a.name).localeCompare(String(b.name), 'en') * (sort.dir === 'asc' ? 1 : -1);
    return sort.dir === 'asc' ? r : -r;
  }

  function renderCollectionRows() {
    const body = $('collections-body');
    const rows = lastCollections.slice().sort(compareRows);
    const maxSize = lastCollections.reduce((m, c) => Math.max(m, isNum(c.size_bytes) ? c.size_bytes : 0), 0);
    body.replaceChildren();
    for (const c of rows) {
      const fill = el('span', { class: catClass(c.category) });
      fill.style.width = maxSize > 0 && isNum(c.size_bytes) ? `${(100 * c.size_bytes) / maxSize}%` : '0';
      const bar = el('span', { class: 'sizebar', 'aria-hidden': 'true' }, fill);
      const avg = isNum(c.avg_obj_bytes) && c.avg_obj_bytes > 0 ? `avg ${bytes(c.avg_obj_bytes)} per document` : null;
      body.append(el('tr', { 'data-collection': c.name },
        el('td', { class: 'name' }, el('span', { class: `swatch narrow-only ${catClass(c.category)}` }), c.name),
        el('td', { class: 'cat hide-narrow' }, el('span', { class: `swatch ${catClass(c.category)}` }), categoryLabels[c.category] || c.category || 'other'),
        el('td', { class: 'num', text: num(c.documents), title: avg }),
        el('td', { class: 'num', title: exactBytes(c.size_bytes) }, bar, el('span', { class: 'sizeval', text: bytes(c.size_bytes) })),
        el('td', { class: 'num hide-narrow', text: bytes(c.storage_bytes), title: exactBytes(c.storage_bytes) }),
        el('td', { class: 'num hide-narrow', text: num(c.indexes) }),
        el('td', { class: 'num hide-narrow', text: bytes(c.index_bytes), title: exactBytes(c.index_bytes) })));
    }
    if (!rows.length) body.append(el('tr', null, el('td', { class: 'dim', colspan: 7, text: 'no collections' })));

    for (const th of document.querySelectorAll('#collections-table th.sortable')) {
      th.setAttribute('aria-sort', th.dataset.key === sort.key ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none');
    }
    const th = document.querySelector(`#collections-table th[data-key="${sort.key}"]`);
    const n = lastCollections.length;
    $('collections-meta').textContent =
      `${num(n)} collection${n === 1 ? '' : 's'} · sorted by ${th ? th.textContent : sort.key} ${sort.dir === 'asc' ? '↑' : '↓'}`;
  }

  function renderCollections(data) {
    lastCollections = (Array.isArray(data.collections) ? data.collections : [])
      .filter((c) => c && typeof c.name === 'string');
    renderCollectionTotals(data);
    renderCategories(data);
    renderCollectionRows();
  }

  function sortBy(th) {
    const key = th.dataset.key;
    if (sort.key === key) sort.dir = sort.dir === 'asc' ? 'desc' : 'asc';
    else { sort.key = key; sort.dir = th.dataset.type === 'text' ? 'asc' : 'desc'; }
    renderCollectionRows();
  }

  for (const th of document.querySelectorAll('#collections-table th.sortable')) {
    th.addEventListener('click', () => sortBy(th));
    th.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(th); }
    });
  }

  /* ---------- users ---------- */
  function renderUsers(u) {
    setText('v-users', num(u.users));
    const share = (n) => (isNum(n) && isNum(u.users) && u.users > 0 ? `${percent(n, u.users)} of users` : '\u00a0');
    setText('v-handles', num(u.handles));
    $('s-handles').textContent = share(u.handles);
    setText('v-verified', num(u.verified));
    $('s-verified').textContent = share(u.verified);
    setText('v-with-did', num(u.with_did));
    $('s-with-did').textContent = isNum(u.with_did) && isNum(u.users) && u.users > 0
      ? `${percent(u.with_did, u.users)} on ATProto` : '\u00a0';
  }

  /* ---------- overview: services and kidlisp panels ---------- */
  const SERVICE_LABELS = { oven: 'oven', session: 'session server', atproto: 'ATProto PDS' };
  const STATUS_CLASS = { ok: 'ok', degraded: 'warn', unreachable: 'down' };
  const ago = (s) => (isNum(s) ? `${duration(s)} ago` : '');

  /* A section the overview could not make, as an ApiError for its panel. */
  function sectionError(section, name) {
    if (!section || typeof section !== 'object') return new ApiError('missing', `no ${name} section`, 200);
    if (section.status !== 'error') return null;
    const e = section.error && typeof section.error === 'object' ? section.error : {};
    return new ApiError(String(e.code || 'error'), String(e.message || `${name} failed`), 200);
  }

  function renderServices(services) {
    const grid = $('services-grid');
    grid.replaceChildren();
    let ok = 0, n = 0;
    for (const [id, label] of Object.entries(SERVICE_LABELS)) {
      const s = services[id];
      if (!s || typeof s !== 'object') continue;
      n++;
      const status = typeof s.status === 'string' ? s.status : 'unknown';
      if (status === 'ok') ok++;
      const cls = STATUS_CLASS[status] || 'warn';
      const latency = isNum(s.latency_ms) ? `${s.latency_ms < 10 ? s.latency_ms.toFixed(1) : Math.round(s.latency_ms)} ms` : '';
      const sub = [latency, isNum(s.age_s) ? `checked ${ago(s.age_s)}` : ''].filter(Boolean).join(' · ');
      grid.append(el('div', { class: `stat-box service ${cls}`, 'data-service': id },
        el('div', { class: 'stat-label' }, el('span', { class: `dot ${cls}` }), label),
        el('div', { class: `stat-value ${cls}`, text: status }),
        el('div', { class: 'stat-sub', text: sub || '\u00a0', title: s.cached_at ? `checked at ${s.cached_at}` : null }),
        typeof s.reason === 'string' && s.reason ? el('div', { class: 'stat-sub reason', text: s.reason }) : null));
    }
    $('services-meta').textContent = n ? `${ok} of ${n} ok` : 'no services reported';
  }

  function renderKidlisp(k) {
    const keeps = k.keeps || {};
    setText('v-kl-total', num(k.total));
    setText('v-kl-kept', num(keeps.kept));
    $('s-kl-kept').textContent = isNum(keeps.tezos_minted) && keeps.tezos_minted > 0
      ? `+ ${num(keeps.tezos_minted)} legacy mints` : 'on Tezos';
    setText('v-kl-pending', num(keeps.pending));
    setText('v-kl-new', num(k.created_30d));
    const top = $('kl-top');
    if (k.top && typeof k.top === 'object') {
      top.replaceChildren('most hit: ', el('span', { class: 'code copy', text: `$${k.top.code}` }),
        ` · ${num(k.top.hits)} hits`, k.top.handle ? ` · ${k.top.handle}` : '');
    } else {
      top.textContent = 'no pieces yet';
    }
    $('kidlisp-meta').textContent = isNum(k.age_s) ? `counted ${ago(k.age_s)}` : '';
  }

  /* ---------- services: the ATProto identity check ----------
     GET /api/services/atproto's identity (silo atproto check): counts
     in boxes, each kind of finding that is not zero as a line below. */
  const count = (o) => (o && isNum(o.count) ? o.count : null);

  function identityLines(id) {
    const lines = [];
    const orphans = id.orphans || {};
    for (const c of Array.isArray(orphans.collections) ? orphans.collections : []) {
      lines.push(`${num(c.references)} in ${c.collection}.${c.field} still name a migrated sub`);
    }
    for (const d of (id.duplicate_dids && id.duplicate_dids.list) || []) {
      lines.push(`DID ${d.did} is mapped from ${(d.subs || []).join(', ')}`);
    }
    for (const h of (id.duplicate_handles && id.duplicate_handles.list) || []) {
      lines.push(`handle ${h.handle} is held by ${(h.ids || []).join(', ')}`);
    }
    for (const u of (id.handles_without_user && id.handles_without_user.list) || []) {
      lines.push(`@handles ${u} has no user`);
    }
    for (const r of (id.policy && id.policy.rules) || []) {
      if (isNum(r.count) && r.count > 0) lines.push(`${num(r.count)} ${r.kind} in ${r.collection} carry an ATProto record`);
    }
    return lines;
  }

  function renderIdentity(a) {
    const id = a.identity;
    if (!id || typeof id !== 'object') {
      $('identity-meta').textContent = 'unavailable';
      const e = a.identity_error && typeof a.identity_error === 'object' ? a.identity_error : {};
      return { identity: new ApiError(String(e.code || 'error'), String(e.message || 'the identity check failed'), 200) };
    }
    setText('v-id-migrated', num(id.migrated));
    $('s-id-migrated').textContent = isNum(id.legacy) ? `${num(id.legacy)} still on legacy ids` : '\u00a0';
    setText('v-id-orphans', num(count(id.orphans)));
    $('s-id-orphans').textContent = id.orphans && isNum(id.orphans.orphaned_subs)
      ? `of ${num(id.orphans.orphaned_subs)} migrated sub${id.orphans.orphaned_subs === 1 ? '' : 's'}` : '\u00a0';
    const dids = count(id.duplicate_dids), handles = count(id.duplicate_handles);
    setText('v-id-dups', isNum(dids) && isNum(handles) ? num(dids + handles) : '—');
    $('s-id-dups').textContent = `${num(dids)} DID${dids === 1 ? '' : 's'} · ${num(handles)} handle${handles === 1 ? '' : 's'}`;
    setText('v-id-nouser', num(count(id.handles_without_user)));
    setText('v-id-policy', num(count(id.policy)));
    $('s-id-policy').textContent = 'reported, not fixed';
    for (const ident of ['v-id-orphans', 'v-id-dups', 'v-id-nouser', 'v-id-policy']) {
      const n = Number(($(ident).textContent || '').replace(/,/g, ''));
      $(ident).classList.toggle('warn', n > 0);
      $(ident).classList.toggle('ok', n === 0);
    }
    $('identity-findings').replaceChildren(...identityLines(id).map((t) => el('li', { text: t })));
    $('identity-meta').textContent = isNum(id.findings)
      ? `${num(id.findings)} finding${id.findings === 1 ? '' : 's'}${isNum(a.age_s) ? ` · checked ${ago(a.age_s)}` : ''}` : '';
    return {};
  }

  /* Returns the panels whose section failed, so load() shows their errors. */
  function renderOverview(o) {
    const failures = {};
    renderServices(o.services && typeof o.services === 'object' ? o.services : {});
    const kErr = sectionError(o.kidlisp, 'kidlisp');
    if (kErr) {
      failures.kidlisp = kErr;
      $('kidlisp-meta').textContent = 'unavailable';
    } else renderKidlisp(o.kidlisp);
    return failures;
  }

  /* ---------- spaces storage: latest snapshot, its parts, history ---------- */
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const NO_SNAPSHOT = 'no_snapshot';

  function svgEl(tag, attrs, ...kids) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const kid of kids) node.append(kid);
    return node;
  }

  const isoDate = (s) => {
    const d = typeof s === 'string' ? new Date(s) : null;
    return d && !Number.isNaN(d.getTime()) ? d : null;
  };

  /* Size cell: share bar (hidden narrow) + human bytes, exact in the title. */
  function sizeCell(n, whole) {
    const fill = el('span', { class: 'spaces' });
    fill.style.width = whole > 0 && isNum(n) ? `${(100 * n) / whole}%` : '0';
    return el('td', { class: 'num', title: exactBytes(n) },
      el('span', { class: 'sizebar', 'aria-hidden': 'true' }, fill),
      el('span', { class: 'sizeval', text: bytes(n) }));
  }

  function renderStorageUsage(u) {
    setText('v-sp-bytes', bytes(u.bytes), exactBytes(u.bytes));
    $('s-sp-bytes').textContent = isNum(u.buckets) ? `in ${num(u.buckets)} bucket${u.buckets === 1 ? '' : 's'}` : '\u00a0';
    setText('v-sp-objects', num(u.objects), isNum(u.objects) ? `${num(u.objects)} objects` : '');
    $('s-sp-objects').textContent = isNum(u.objects) && u.objects > 0 && isNum(u.bytes)
      ? `avg ${bytes(u.bytes / u.objects)} each` : '\u00a0';
    const users = u.users && typeof u.users === 'object' ? u.users : {};
    const guest = u.guest && typeof u.guest === 'object' ? u.guest : {};
    setText('v-sp-users', bytes(users.bytes), exactBytes(users.bytes));
    $('s-sp-users').textContent = [isNum(users.count) ? `${num(users.count)} user${users.count === 1 ? '' : 's'}` : '',
      isNum(guest.bytes) ? `guest ${bytes(guest.bytes)}` : ''].filter(Boolean).join(' · ') || '\u00a0';
    const at = isoDate(u.snapshot_at);
    setText('v-sp-age', duration(u.age_s), at ? `snapshot at ${dateTime(at)}` : '');
    $('s-sp-age').textContent = isNum(u.duration_ms) ? `walk took ${duration(u.duration_ms / 1000)}` : '\u00a0';
    $('storage-meta').textContent = isNum(u.age_s) ? `snapshot ${ago(u.age_s)}` : 'snapshot';
    $('storage-meta').title = at ? dateTime(at) : '';
  }

  function failStorage(err) {
    const none = err.code === NO_SNAPSHOT;
    $('storage-meta').textContent = none ? 'no snapshot yet' : 'unavailable';
    $('storage-meta').title = '';
    const last = none && err.body && err.body.last_attempt && typeof err.body.last_attempt === 'object'
      ? err.body.last_attempt : null;
    const errors = last && Array.isArray(last.errors) ? last.errors : [];
    $('storage-last-attempt').textContent = last
      ? `last attempt ${last.status || '?'} at ${last.finished_at || '?'}${errors.length ? `: ${errors[0]}` : ''}` : '';
  }

  /* Buckets keep their expanded state across polls. */
  const openBuckets = new Set();

  function toggleBucket(button, name) {
    const open = button.getAttribute('aria-expanded') !== 'true';
    if (open) openBuckets.add(name); else openBuckets.delete(name);
    button.setAttribute('aria-expanded', String(open));
    button.textContent = open ? '−' : '+';
    $(button.getAttribute('aria-controls')).hidden = !open;
  }

  function renderStorageBuckets(data) {
    const list = (Array.isArray(data.buckets) ? data.buckets : []).filter((b) => b && typeof b.name === 'string');
    const t = data.totals && typeof data.totals === 'object' ? data.totals : {};
    const total = isNum(t.bytes) ? t.bytes : list.reduce((s, b) => s + (isNum(b.bytes) ? b.bytes : 0), 0);
    const body = $('buckets-body');
    body.replaceChildren();
    list.forEach((b, i) => {
      const prefixes = (Array.isArray(b.prefixes) ? b.prefixes : []).filter((p) => p && typeof p.prefix === 'string');
      const rowId = `bucket-prefixes-${i}`;
      const open = openBuckets.has(b.name);
      let toggle = null;
      if (prefixes.length) {
        toggle = el('button', { class: 'toggle', type: 'button', 'aria-expanded': String(open),
          'aria-controls': rowId, 'aria-label': `${b.name}: ${prefixes.length} prefixes`, text: open ? '−' : '+' });
        toggle.addEventListener('click', () => toggleBucket(toggle, b.name));
      }
      body.append(el('tr', { 'data-bucket': b.name },
        el('td', { class: 'name' }, toggle, b.name),
        el('td', { class: 'num hide-narrow', text: num(b.objects) }),
        sizeCell(b.bytes, total),
        el('td', { class: 'num', text: percent(b.bytes, total) })));
      if (!prefixes.length) return;
      const inner = el('tbody');
      for (const p of prefixes) {
        inner.append(el('tr', { 'data-prefix': p.prefix },
          el('td', { text: p.prefix }),
          el('td', { class: 'num', text: num(p.objects) }),
          el('td', { class: 'num', text: bytes(p.bytes), title: exactBytes(p.bytes) }),
          el('td', { class: 'num', text: percent(p.bytes, b.bytes) })));
      }
      body.append(el('tr', { class: 'prefixes', id: rowId, 'data-prefixes-of': b.name, hidden: !open },
        el('td', { colspan: 4 },
          el('table', { 'aria-label': `${b.name} by prefix` },
            el('thead', null, el('tr', null,
              el('th', { text: 'prefix' }), el('th', { class: 'num', text: 'objects' }),
              el('th', { class: 'num', text: 'size' }), el('th', { class: 'num', text: 'of bucket' }))),
            inner))));
    });
    if (!list.length) body.append(el('tr', null, el('td', { class: 'dim', colspan: 4, text: 'no buckets' })));
  }

  function renderStorageUsers(data) {
    const list = (Array.isArray(data.users) ? data.users : []).filter((u) => u && typeof u.user === 'string');
    const max = list.reduce((m, u) => Math.max(m, isNum(u.bytes) ? u.bytes : 0), 0);
    const body = $('top-users-body');
    body.replaceChildren();
    for (const u of list) {
      const handle = typeof u.handle === 'string' && u.handle ? u.handle : null;
      body.append(el('tr', { 'data-user': u.user },
        el('td', { class: 'num dim', text: num(u.rank) }),
        handle ? el('td', { class: 'name user', text: handle, title: u.user })
          : el('td', { class: 'name user' }, el('span', { class: 'sub', text: u.user, title: 'no handle' })),
        el('td', { class: 'num hide-narrow', text: num(u.objects) }),
        sizeCell(u.bytes, max)));
    }
    if (!list.length) body.append(el('tr', null, el('td', { class: 'dim', colspan: 4, text: 'no user has objects' })));
    $('storage-users-head').textContent = isNum(data.users_with_objects)
      ? `top users · ${num(list.length)} of ${num(data.users_with_objects)} with objects` : 'top users';
  }

  /* Total bytes per good snapshot, oldest first: a line, an area and one
     mark per point (a single point sits mid-chart).  The viewBox takes the
     chart's drawn width, so marks stay round and the ends line up with
     the dates under it (600 while it is hidden). */
  function renderStorageHistory(data) {
    const svg = $('storage-chart');
    const W = Math.round(svg.getBoundingClientRect().width) || 600, H = 120, PAD = 8;
    const points = (Array.isArray(data.points) ? data.points : []).filter((p) => p && isNum(p.bytes));
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.replaceChildren();
    const lo = points.reduce((m, p) => Math.min(m, p.bytes), Infinity);
    const hi = points.reduce((m, p) => Math.max(m, p.bytes), -Infinity);
    const x = (i) => (points.length > 1 ? PAD + (i * (W - 2 * PAD)) / (points.length - 1) : W / 2);
    const y = (b) => (hi > lo ? H - PAD - ((b - lo) * (H - 2 * PAD)) / (hi - lo) : H / 2);
    svg.append(svgEl('line', { class: 'grid', x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5 }));
    const xy = points.map((p, i) => `${x(i).toFixed(1)},${y(p.bytes).toFixed(1)}`);
    if (points.length > 1) {
      svg.append(svgEl('polygon', { class: 'area', points: `${PAD},${H} ${xy.join(' ')} ${W - PAD},${H}` }),
        svgEl('polyline', { class: 'line', points: xy.join(' ') }));
    }
    points.forEach((p, i) => {
      const at = isoDate(p.finished_at);
      svg.append(svgEl('circle', { class: 'mark', cx: x(i).toFixed(1), cy: y(p.bytes).toFixed(1), r: 3.5,
        'data-bytes': p.bytes },
      svgEl('title', null, `${at ? dateTime(at) : p.finished_at}: ${bytes(p.bytes)} · ${num(p.objects)} objects`)));
    });
    const first = points.length ? isoDate(points[0].finished_at) : null;
    const last = points.length ? isoDate(points[points.length - 1].finished_at) : null;
    svg.setAttribute('aria-label', points.length
      ? `total bytes over ${points.length} snapshot${points.length === 1 ? '' : 's'}: ${bytes(points[0].bytes)} to ${bytes(points[points.length - 1].bytes)}`
      : 'no snapshots yet');
    $('storage-chart-from').textContent = first ? dateTime(first) : (points.length ? '' : 'no history yet');
    $('storage-chart-to').textContent = points.length > 1 && last ? dateTime(last) : '';
    $('storage-chart-range').textContent = points.length > 1 ? `${bytes(lo)} – ${bytes(hi)}`
      : points.length ? `1 snapshot · ${bytes(points[0].bytes)}` : '';
  }

  /* ---------- backups: the runs silo.backups records ---------- */
  const NO_BACKUP = 'no_backup';
  const BACKUP_CLASS = { ok: 'ok', stale: 'warn', failing: 'down' };
  const BACKUP_SAYS = {
    ok: 'a good backup within the limit',
    stale: 'the last good backup is older than',
    failing: 'the newest run failed',
  };

  /* The newest run's time, for a short line: "23 Nov 2026, 22:30". */
  const runTime = (s) => { const d = isoDate(s); return d ? dateTime(d) : '—'; };

  function renderBackups(b) {
    const runs = Array.isArray(b.backups) ? b.backups : [];
    if (b.status === 'none') {
      const last = runs.find((r) => r && r.status === 'failed');
      $('backups-last-attempt').textContent = last
        ? `last attempt failed at ${last.finished_at || '?'}${last.error ? `: ${last.error}` : ''}` : '';
      $('backups-meta').textContent = 'no backup yet';
      return { backups: new ApiError(NO_BACKUP, 'no good backup yet', 200) };
    }
    const good = b.last_success && typeof b.last_success === 'object' ? b.last_success : {};
    const box = $('backup-status-box');
    box.className = `stat-box backup-status ${BACKUP_CLASS[b.status] || 'warn'}`;
    setText('v-bk-status', String(b.status || '—'));
    $('s-bk-status').textContent = b.status === 'stale' && isNum(b.stale_after_h)
      ? `${BACKUP_SAYS.stale} ${b.stale_after_h} h` : BACKUP_SAYS[b.status] || ' ';
    setText('v-bk-age', duration(good.age_s), good.finished_at ? `finished ${runTime(good.finished_at)}` : '');
    $('s-bk-age').textContent = good.finished_at ? runTime(good.finished_at) : ' ';
    const size = good.bytes && typeof good.bytes === 'object' ? good.bytes : {};
    setText('v-bk-size', bytes(size.stored), exactBytes(size.stored));
    $('s-bk-size').textContent = [isNum(good.documents) ? `${num(good.documents)} documents` : '',
      good.key_id ? 'encrypted' : 'plain'].filter(Boolean).join(' · ');
    const v = b.last_verification && typeof b.last_verification === 'object' ? b.last_verification : null;
    setText('v-bk-verify', v ? (v.ok ? 'ok' : 'failed') : 'never', v && v.at ? runTime(v.at) : '');
    $('s-bk-verify').textContent = v ? [runTime(v.at), v.error].filter(Boolean).join(' · ') : 'run silo backup verify';
    const body = $('backups-body');
    body.replaceChildren();
    for (const r of runs) {
      if (!r || typeof r !== 'object') continue;
      const rv = r.verification && typeof r.verification === 'object' ? r.verification : null;
      const st = typeof r.status === 'string' ? r.status : '?';
      body.append(el('tr', null,
        el('td', { text: runTime(r.started_at), title: r.id || '' }),
        el('td', { class: `run-status ${st}`, text: st }),
        el('td', { class: 'num', text: bytes(r.bytes && r.bytes.stored), title: exactBytes(r.bytes && r.bytes.stored) }),
        el('td', { class: 'num hide-narrow', text: isNum(r.duration_ms) ? duration(r.duration_ms / 1000) : '—' }),
        el('td', { class: 'hide-narrow', text: rv ? `${rv.ok ? 'ok' : 'failed'} ${runTime(rv.at)}` : 'never' }),
        el('td', { class: 'run-error hide-narrow', text: r.error || '' })));
    }
    $('backups-meta').textContent = isNum(good.age_s) ? `last good ${ago(good.age_s)}` : '';
    return {};
  }

  function failBackups() {
    $('backups-meta').textContent = 'unavailable';
  }

  /* ---------- clients: the cutover view, GET /api/db/clients (admin) ----------
     Each of AC's services (SILO_DB_CLIENTS) with its connections now and
     its last sighting, then every connection group.  A server that does
     not report connections (FerretDB) says so in the note; the services
     still show when they were last seen. */
  function renderClients(c) {
    const services = Array.isArray(c.services) ? c.services : [];
    const groups = Array.isArray(c.groups) ? c.groups : [];
    const note = $('clients-note');
    note.hidden = c.supported !== false && services.length > 0;
    note.textContent = c.supported === false ? `${c.reason || 'not reported'}${c.server_said ? ` (${c.server_said})` : ''}`
      : services.length ? '' : 'no services named: set SILO_DB_CLIENTS';
    const sbody = $('clients-services-body');
    sbody.replaceChildren();
    for (const s of services) {
      if (!s || typeof s !== 'object') continue;
      const seen = isoDate(s.last_seen);
      sbody.append(el('tr', { class: s.connected > 0 ? 'connected' : 'absent' },
        el('td', { text: String(s.name || '?') }),
        el('td', { class: 'hide-narrow', text: String(s.match || '') }),
        el('td', { class: 'num', text: num(s.connected) }),
        el('td', { text: seen ? dateTime(seen) : 'never', title: s.last_seen || '' })));
    }
    const gbody = $('clients-groups-body');
    gbody.replaceChildren();
    for (const g of groups) {
      if (!g || typeof g !== 'object') continue;
      gbody.append(el('tr', null,
        el('td', { text: g.app === null ? '(none sent)' : String(g.app) }),
        el('td', { text: String(g.address || '?') }),
        el('td', { class: 'hide-narrow', text: g.service ? String(g.service) : '' }),
        el('td', { class: 'num', text: num(g.connections) })));
    }
    const seen = services.filter((s) => s && s.connected > 0).length;
    $('clients-meta').textContent = c.supported === false ? 'not reported by this server'
      : `${num(c.connections)} connections · ${seen} of ${services.length} services connected`;
    return {};
  }

  /* ---------- one user: GET /api/users/:id, asked on demand ----------
     The answer carries the user's ids, their documents per collection
     and their Spaces footprint (the /api/storage/user/:id answer, or its
     error, which then shows in the storage part alone; no_snapshot as
     the calm note). */
  function idCell(id, value) {
    const has = typeof value === 'string' && value !== '';
    const td = $(id);
    td.textContent = has ? value : 'none';
    td.classList.toggle('none', !has);
  }

  function renderUserDocs(docs) {
    const list = (Array.isArray(docs.collections) ? docs.collections : [])
      .filter((d) => d && typeof d.name === 'string');
    const total = isNum(docs.total) ? docs.total : list.reduce((n, d) => n + (isNum(d.count) ? d.count : 0), 0);
    setText('v-user-docs', num(total), isNum(total) ? `${num(total)} documents` : '');
    $('s-user-docs').textContent = `in ${num(list.length)} collection${list.length === 1 ? '' : 's'}`;
    const body = $('user-docs-body');
    body.replaceChildren();
    for (const d of list) {
      body.append(el('tr', { 'data-collection': d.name },
        el('td', { class: 'name', text: d.name }),
        el('td', { class: 'num', text: num(d.count) }),
        el('td', { class: 'num', text: percent(d.count, total) })));
    }
    if (!list.length) body.append(el('tr', null, el('td', { class: 'dim', colspan: 3, text: 'no documents' })));
  }

  function renderUserStorage(st) {
    const part = $('user-storage');
    const body = $('user-buckets-body');
    body.replaceChildren();
    if (!st || typeof st !== 'object' || st.error) {
      const e = st && st.error && typeof st.error === 'object' ? st.error : {};
      setText('v-user-bytes', '—');
      $('s-user-bytes').textContent = e.code === NO_SNAPSHOT ? 'no snapshot yet' : 'unavailable';
      // no snapshot yet is a state, as in the storage panel, not a failure
      showState(part, e.code === NO_SNAPSHOT ? 'none' : 'error', 'spaces storage',
        new ApiError(String(e.code || 'missing'), String(e.message || 'no storage answer'), 200));
      return;
    }
    setText('v-user-bytes', bytes(st.bytes), exactBytes(st.bytes));
    $('s-user-bytes').textContent = `${num(st.objects)} object${st.objects === 1 ? '' : 's'}`
      + (isNum(st.age_s) ? ` · snapshot ${ago(st.age_s)}` : '');
    const list = (Array.isArray(st.buckets) ? st.buckets : []).filter((b) => b && typeof b.name === 'string');
    for (const b of list) {
      const kinds = (Array.isArray(b.kinds) ? b.kinds : []).filter((k) => k && typeof k.kind === 'string')
        .map((k) => `${k.kind} ${bytes(k.bytes)}`).join(' · ');
      body.append(el('tr', { 'data-bucket': b.name },
        el('td', { class: 'name', text: b.name }),
        el('td', { class: 'num', text: num(b.objects) }),
        el('td', { class: 'num', text: bytes(b.bytes), title: exactBytes(b.bytes) }),
        el('td', { class: 'kinds hide-narrow', text: kinds })));
    }
    if (!list.length) body.append(el('tr', null, el('td', { class: 'dim', colspan: 4, text: 'nothing in Spaces' })));
    showState(part, 'ok');
  }

  function renderUser(data) {
    const u = data.user && typeof data.user === 'object' ? data.user : {};
    idCell('user-handle', u.handle);
    idCell('user-sub', u.sub);
    idCell('user-did', u.did);
    const created = isoDate(u.created);
    idCell('user-created', created ? dateTime(created) : null);
    $('user-created').title = created ? u.created : '';
    renderUserDocs(data.documents && typeof data.documents === 'object' ? data.documents : {});
    renderUserStorage(data.storage);
    return typeof u.handle === 'string' && u.handle ? u.handle : u.sub;
  }

  let searchSeq = 0;

  async function searchUser(event) {
    event.preventDefault();
    const panel = $('user-search');
    const query = $('user-search-input').value.trim();
    const seq = ++searchSeq;
    if (!query) {
      showState(panel, 'error', 'user search', new ApiError('empty', 'enter a handle, auth0 sub or DID', 0));
      $('user-search-meta').textContent = 'a handle, auth0 sub or DID';
      return;
    }
    panel.dataset.state = 'loading';
    $('user-search-meta').textContent = `looking up ${query}…`;
    let err = null, who = null;
    try {
      const data = await getJSON(`/api/users/${encodeURIComponent(query)}`);
      if (seq !== searchSeq) return;
      who = renderUser(data);
    } catch (e) {
      err = e instanceof ApiError ? e : new ApiError('render', e && e.message ? e.message : String(e), 0);
    }
    if (seq !== searchSeq || leaving) return;
    showState(panel, err ? 'error' : 'ok', `looking up ${query}`, err);
    $('user-search-meta').textContent = err ? `no answer for ${query}` : String(who || query);
  }

  $('user-search-form').addEventListener('submit', searchUser);

  /* ---------- sources: one API call each, each fails on its own ----------
     To add a section (storage, ...): add its markup with an id, its
     content in data-part="ok" children and one empty data-part="error"
     box; write a render(data) that fills it; then add
     { url, containers: [its id], render } here.  A failed call shows
     code + message in that section only.  A render may return
     { containerId: ApiError } for parts of one answer that failed (the
     overview's sections), which then show their own error.  An error
     whose code is the source's `calm` is a state, not a failure: the
     container shows its data-part="none" note instead of a red box. */
  const SOURCES = [
    { url: '/api/db/health', containers: ['group-health'], render: renderHealth, fail: failHealth },
    {
      url: '/api/db/collections',
      containers: ['group-collections', 'categories', 'collections'],
      render: renderCollections,
      fail: () => {
        $('collections-meta').textContent = 'unavailable';
        $('categories-meta').textContent = 'unavailable';
      },
    },
    { url: '/api/db/users/count', containers: ['group-users'], render: renderUsers },
    /* The overview carries an ETag: 'no-cache' lets the browser revalidate. */
    { url: '/api/overview', containers: ['services', 'kidlisp'], render: renderOverview, cache: 'no-cache' },
    { url: '/api/services/atproto', containers: ['identity'], render: renderIdentity,
      fail: () => { $('identity-meta').textContent = 'unavailable'; } },
    /* Spaces storage: every part answers from the same latest snapshot,
       so before the first one they all say no_snapshot together. */
    { url: '/api/storage/usage', containers: ['storage'], render: renderStorageUsage, fail: failStorage, calm: NO_SNAPSHOT },
    { url: '/api/storage/buckets', containers: ['storage-buckets'], render: renderStorageBuckets, calm: NO_SNAPSHOT },
    { url: '/api/storage/top-users?limit=10', containers: ['storage-users'], render: renderStorageUsers, calm: NO_SNAPSHOT },
    { url: '/api/storage/history', containers: ['storage-history'], render: renderStorageHistory, calm: NO_SNAPSHOT },
    /* Backups: status "none" is a state, shown as the note. */
    { url: '/api/backups?limit=7', containers: ['backups'], render: renderBackups, fail: failBackups, calm: NO_BACKUP },
    /* Admins only: asked only when the principal holds its scope. */
    { url: '/api/db/clients', containers: ['clients'], render: renderClients, scope: 'admin:db',
      fail: () => { $('clients-meta').textContent = 'unavailable'; } },
  ];

  async function load(source) {
    let err = null, failures = {};
    try {
      const data = await getJSON(source.url, source.cache);
      failures = source.render(data) || {};
    } catch (e) {
      err = e instanceof ApiError ? e : new ApiError('render', e && e.message ? e.message : String(e), 0);
    }
    if (leaving) return;
    for (const id of source.containers) {
      const e = err || failures[id] || null;
      const state = !e ? 'ok' : e.code === source.calm ? 'none' : 'error';
      showState($(id), state, source.url, e);
    }
    if (err && source.fail) source.fail(err);
  }

  let timer = 0;
  let inFlight = false;

  async function poll() {
    if (inFlight) return;
    inFlight = true;
    clearTimeout(timer);
    try {
      /* One request at a time: on a cold cache each is a miss, and a
         page asking for all at once would itself push silo's workers
         past their cap on expensive work (SILO_BUSY_MAX), which answers
         503 busy.  Cached, the dozen requests take milliseconds each. */
      for (const source of SOURCES) {
        if (!source.scope || granted(source.scope)) await load(source);
      }
      const now = new Date();
      const t = $('updated');
      t.textContent = clock(now);
      t.dateTime = now.toISOString();
      document.body.dataset.polled = String(Number(document.body.dataset.polled || 0) + 1);
    } finally {
      inFlight = false;
      schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden && !leaving) timer = setTimeout(poll, POLL_MS);
  }

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) clearTimeout(timer);
    else poll();
  });

  /* ---------- who is signed in: name, role, sign-out, admin actions ----------
     GET /api/auth/me comes first: a 401 goes to the sign-in page before
     any panel asks.  Each admin-only control names the scope it needs
     (data-scope) and stays hidden unless the principal has it; role
     viewer has only the read:* scopes.  If /me fails otherwise (the
     database is down, where sessions live), the panels still poll and
     show their own errors, with every admin control hidden. */
  let principal = { role: null, scopes: [] };
  const granted = (scope) => principal.role === 'admin' || principal.scopes.includes(scope);

  function showWho(who) {
    const scopes = Array.isArray(who.scopes) ? who.scopes : [];
    const role = typeof who.role === 'string' ? who.role : null;
    principal = { role, scopes };
    document.body.dataset.role = role || who.kind || 'unknown';
    $('who-name').textContent = typeof who.name === 'string' ? who.name : '?';
    $('who-role').textContent = role || (who.kind === 'token' ? 'token' : '');
    $('signout').hidden = who.kind !== 'session';
    $('who').hidden = false;
    for (const node of document.querySelectorAll('[data-scope]')) {
      node.hidden = !granted(node.dataset.scope);
    }
  }

  async function whoAmI() {
    try {
      showWho(await getJSON('/api/auth/me'));
    } catch (e) {
      document.body.dataset.role = 'unknown';
    }
  }

  async function signOut() {
    const button = $('signout');
    const error = $('who-error');
    button.disabled = true;
    error.hidden = true;
    try {
      const res = await fetch('/api/auth/logout', { method: 'POST', cache: 'no-store', credentials: 'same-origin' });
      // 401: the session had already ended; signed out either way.
      if (res.ok || res.status === 401) {
        leaving = true;
        clearTimeout(timer);
        location.replace(SIGNIN);
        return;
      }
      error.textContent = `sign-out failed: ${res.status}`;
    } catch (e) {
      error.textContent = 'sign-out failed: silo did not answer';
    }
    error.hidden = false;
    button.disabled = false;
  }

  $('signout').addEventListener('click', signOut);

  /* An admin action: POST its data-url; 202 started, 409 one runs. */
  async function runAction(button) {
    const result = $(button.dataset.result);
    button.disabled = true;
    result.classList.remove('bad');
    result.textContent = 'starting…';
    try {
      const res = await fetch(button.dataset.url, {
        method: 'POST', cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'application/json' },
      });
      if (res.status === 401) { toSignIn(); return; }
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      const err = body && body.error && typeof body.error === 'object' ? body.error : null;
      if (res.status === 202) result.textContent = 'started';
      else if (res.status === 409) result.textContent = 'one is already running';
      else {
        result.classList.add('bad');
        result.textContent = err ? `${err.code || 'error'}: ${err.message || res.status}` : `${res.status} ${res.statusText}`.trim();
      }
    } catch (e) {
      result.classList.add('bad');
      result.textContent = 'silo did not answer';
    } finally {
      button.disabled = false;
    }
  }

  for (const button of document.querySelectorAll('button.action[data-url]')) {
    button.addEventListener('click', () => runAction(button));
  }

  whoAmI().then(() => { if (!leaving) poll(); });
})();
