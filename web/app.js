// bllm dashboard: the page's own code, no libraries. Everything comes from
// the read-only API of bllm-dashboard (same origin; the token is a cookie).
'use strict';

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const seen = {};		// session id -> statuses this page saw, in order
let sessions = [];
let serverSkew = 0;		// server time minus this browser's
let view = null;		// what is shown: {kind, id, ...}
let sessionStream = null;

// Errors of this page show in the page itself (and tests look for them).
function reportError(msg) {
  const ul = document.getElementById('errors');
  const li = document.createElement('li');
  li.textContent = String(msg);
  ul.appendChild(li);
  ul.hidden = false;
}
window.addEventListener('error', e => reportError(e.message));
window.addEventListener('unhandledrejection', e => reportError(e.reason));

// h('tag', {attr: value, onclick: fn}, child...): a DOM element; strings become text.
function h(tag, attrs, ...children) {
  const svg = ['svg', 'rect', 'line', 'text', 'g', 'title'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

const fmtCost = c => (typeof c === 'number' ? '$' + c.toFixed(4) : '-');
const fmtNum = n => (typeof n === 'number' ? n.toLocaleString('en') : '-');
function fmtMs(ms) {
  if (typeof ms !== 'number' || ms < 0) return '-';
  if (ms < 10000) return (ms / 1000).toFixed(1) + 's';
  const s = Math.round(ms / 1000);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
  return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
}
const t = iso => (iso ? Date.parse(iso) : NaN);
const now = () => Date.now() + serverSkew;
function elapsed(s) {
  const end = s.status === 'running' ? now() : t(s.completed_at || s.updated_at);
  return end - t(s.created_at);
}
const statusBadge = st => h('span', { class: 'status ' + (st || ''), 'data-status': st }, st || '-');

function noteSeen(list) {
  for (const s of list) {
    const a = seen[s.id] || (seen[s.id] = []);
    if (a[a.length - 1] !== s.status) a.push(s.status);
  }
}

// The session list, running ones on top.
function renderList() {
  const rows = sessions.map(s => h('tr', { class: s.status, id: 'session-' + s.id, 'data-status': s.status,
                                         'data-seen': (seen[s.id] || []).join(' ') },
    h('td', {}, h('a', { href: '#/session/' + s.id }, s.id)),
    h('td', {}, statusBadge(s.status)),
    h('td', { class: 'agent' }, s.status === 'running' ? (s.current_agent || '-') : '-'),
    h('td', { class: 'num' }, s.cycle || 0),
    h('td', { class: 'num' }, fmtNum((s.input_tokens || 0) + (s.output_tokens || 0) +
                                     (s.cache_read_tokens || 0) + (s.cache_creation_tokens || 0))),
    h('td', { class: 'num' }, fmtCost(s.cost_usd)),
    h('td', { class: 'num elapsed', 'data-created': s.created_at }, fmtMs(elapsed(s))),
    h('td', { class: 'request' }, s.request || '')));
  main.replaceChildren(
    h('h2', {}, 'Sessions ', h('span', { class: 'muted' }, '(' + sessions.length + ')')),
    sessions.length ? h('table', { id: 'sessions' },
      h('thead', {}, h('tr', {}, ['Session', 'Status', 'Agent', 'Cycle', 'Tokens', 'Cost', 'Elapsed', 'Request']
        .map((x, i) => h('th', { class: i >= 3 && i <= 6 ? 'num' : null }, x)))),
      h('tbody', {}, rows))
      : h('p', { class: 'muted', id: 'empty' }, 'No sessions yet: run bllm-manage and they appear here.'));
}

// Live list: the server sends the list again whenever the history changes.
function startLive() {
  const es = new EventSource('/api/live');
  es.addEventListener('open', () => { conn.textContent = 'live'; conn.classList.add('live'); });
  es.addEventListener('error', () => { conn.textContent = 'reconnecting'; conn.classList.remove('live'); });
  es.addEventListener('sessions', e => {
    const d = JSON.parse(e.data);
    serverSkew = t(d.now) - Date.now();
    sessions = d.sessions;
    noteSeen(sessions);
    if (view && view.kind === 'list') renderList();
    if (view && view.kind === 'session') {
      const s = sessions.find(x => x.id === view.id);
      if (s && view.status !== s.status) loadSession(view.id, true);
    }
  });
}

// One session: a timeline (a row per agent, a bar per worker run) and details.
async function loadSession(id, keepSelection) {
  const [info, events] = await Promise.all([api('/api/session?id=' + encodeURIComponent(id)),
                                            api('/api/events?id=' + encodeURIComponent(id))]);
  if (!view || view.kind !== 'session' || view.id !== id) return;
  view.info = info;
  view.events = events;
  view.status = info.session.status;
  if (!keepSelection) view.selected = null;
  renderSession();
  if (!sessionStream && info.session.status === 'running') {
    sessionStream = new EventSource('/api/stream?id=' + encodeURIComponent(id));
    let skip = events.length;	// the stream starts at the journal's beginning
    sessionStream.addEventListener('event', e => {
      if (skip > 0) { skip--; return; }
      view.events.push(JSON.parse(e.data));
      scheduleRender();
    });
    sessionStream.addEventListener('end', () => { closeStream(); loadSession(id, true); });
  }
}
let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  setTimeout(() => { renderPending = false; if (view && view.kind === 'session') renderSession(); }, 250);
}
function closeStream() { if (sessionStream) { sessionStream.close(); sessionStream = null; } }

// Worker runs from the journal (fresher than the history while running).
function runsOf(events, info) {
  const runs = new Map();
  const top = events.find(e => e.parent_id === null && e.type === 'init');
  for (const e of events) {
    if (!e.run_id) continue;
    let r = runs.get(e.run_id);
    if (!r) {
      r = { run_id: e.run_id, agent: e.agent, start: t(e.ts), end: NaN, status: 'running', events: [] };
      runs.set(e.run_id, r);
    }
    r.events.push(e);
    if (e.type === 'result') { r.end = t(e.ts); r.status = e.status; r.result = e; }
  }
  for (const w of info.workers) {
    const r = runs.get(w.run_id);
    if (r) r.task = w.task;
  }
  return { runs: [...runs.values()], topRun: top ? top.run_id : null };
}

function renderSession() {
  const { info, events } = view;
  const s = info.session;
  const { runs, topRun } = runsOf(events, info);
  const agents = [];
  for (const r of runs) if (!agents.includes(r.agent)) agents.push(r.agent);
  const t0 = t(s.created_at) || Math.min(...runs.map(r => r.start));
  const t1 = Math.max(s.status === 'running' ? now() : 0,
                      ...runs.map(r => (isNaN(r.end) ? (s.status === 'running' ? now() : r.start) : r.end)), t0 + 1);
  const W = 900, left = 90, rowH = 26, H = agents.length * rowH + 30;
  const x = ms => left + (W - left - 10) * (ms - t0) / (t1 - t0);
  const svg = h('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: 'timeline', role: 'img' });
  agents.forEach((a, i) => {
    svg.appendChild(h('text', { x: 4, y: 20 + i * rowH + 13 }, a));
    svg.appendChild(h('line', { class: 'axis', x1: left, x2: W - 10, y1: 20 + i * rowH + rowH - 2, y2: 20 + i * rowH + rowH - 2 }));
  });
  svg.appendChild(h('text', { x: left, y: 12 }, '0s'));
  svg.appendChild(h('text', { x: W - 60, y: 12 }, fmtMs(t1 - t0)));
  for (const r of runs) {
    const i = agents.indexOf(r.agent);
    const end = isNaN(r.end) ? (s.status === 'running' ? now() : r.start) : r.end;
    const bx = x(r.start), bw = Math.max(3, x(end) - x(r.start));
    const color = getComputedStyle(document.documentElement).getPropertyValue('--' + r.status).trim() || '#999';
    const bar = h('rect', { class: 'bar' + (view.selected === r.run_id ? ' selected' : ''), x: bx, y: 20 + i * rowH + 3,
                            width: bw, height: rowH - 8, rx: 3, fill: color, 'data-run': r.run_id,
                            'data-status': r.status, 'data-agent': r.agent,
                            onclick: () => { view.selected = r.run_id; renderSession(); } },
      h('title', {}, `${r.agent}: ${r.status}, ${fmtMs(end - r.start)}`));
    svg.appendChild(bar);
  }
  const sel = runs.find(r => r.run_id === view.selected);
  main.replaceChildren(
    h('h2', {}, 'Session ', s.id, ' ', statusBadge(s.status)),
    h('dl', { class: 'kv' },
      h('dt', {}, 'Request'), h('dd', {}, s.request || '-'),
      h('dt', {}, 'Workspace'), h('dd', {}, s.workspace || '-'),
      h('dt', {}, 'Agents'), h('dd', {}, s.agents || '-'),
      h('dt', {}, 'Tokens / cost'), h('dd', {}, fmtNum(s.input_tokens + s.output_tokens + s.cache_read_tokens +
                                                      s.cache_creation_tokens) + ' / ' + fmtCost(s.cost_usd)),
      h('dt', {}, 'Elapsed'), h('dd', {}, fmtMs(elapsed(s))),
      h('dt', {}, 'Verified'), h('dd', {}, s.verified === null ? '-' : s.verified ? 'yes' : 'no'),
      h('dt', {}, 'Files changed'), h('dd', {}, (s.files_changed || []).join(', ') || '-')),
    h('div', { class: 'timeline' }, svg),
    h('p', { class: 'muted' }, 'Click a bar for its task, text, tool calls, diffs and verification.'),
    sel ? runDetail(sel, sel.run_id === topRun) : null,
    info.errors.length ? h('div', { class: 'detail' }, h('h3', {}, 'Errors'),
      h('ul', {}, info.errors.map(e => h('li', {}, h('b', {}, e.type), ' ', e.agent || '', ': ', e.message)))) : null);
}

// The lines of a text, without the empty one after a final newline.
const linesOf = s => { const a = String(s || '').split('\n'); if (a.length > 1 && a[a.length - 1] === '') a.pop(); return a; };

function diffOf(name, input) {
  if (name === 'Edit' && input)
    return h('pre', { class: 'diff' },
      linesOf(input.old_string).map(l => h('span', { class: 'del' }, '- ' + l)),
      linesOf(input.new_string).map(l => h('span', { class: 'add' }, '+ ' + l)));
  if (name === 'Write' && input)
    return h('pre', { class: 'diff' }, linesOf(input.content).map(l => h('span', { class: 'add' }, '+ ' + l)));
  return null;
}

function runDetail(r, isTop) {
  const task = r.task || (r.events.find(e => e.type === 'task') || {}).text;
  const texts = r.events.filter(e => e.type === 'text').map(e => e.text);
  const results = new Map(r.events.filter(e => e.type === 'tool_result').map(e => [e.tool_use_id, e]));
  const calls = r.events.filter(e => e.type === 'tool_use');
  const v = r.result && r.result.verification;
  return h('div', { class: 'detail', id: 'run-detail' },
    h('h3', {}, r.agent, ' ', statusBadge(r.status), isTop ? ' (the manager)' : ''),
    task ? h('div', {}, h('b', {}, 'Task'), h('pre', {}, task)) : null,
    texts.length ? h('div', {}, h('b', {}, 'Text'), h('pre', {}, texts.join('\n\n'))) : null,
    calls.length ? h('div', {}, h('b', {}, 'Tool calls'), calls.map(c => {
      const res = results.get(c.tool_use_id);
      return h('div', { class: 'result' },
        h('code', {}, c.name, ' ', JSON.stringify(c.input).slice(0, 300)),
        res ? h('span', { class: 'muted' }, res.is_error ? ' failed' : ' ok',
                typeof res.exit_code === 'number' ? ' (exit ' + res.exit_code + ')' : '') : h('span', { class: 'muted' }, ' running'),
        diffOf(c.name, c.input));
    })) : null,
    v ? h('div', {}, h('b', {}, 'Verification: ', v.verified ? 'verified' : 'not verified'),
      h('ul', {}, (v.commands || []).map(c => h('li', {}, h('code', {}, c.command), ' exit ', c.exit_code)))) : null);
}

// Per-agent statistics, as SVG bar charts.
function barChart(title, data, fmt, colors) {
  const names = Object.keys(data);
  const series = colors.length;
  const max = Math.max(1e-9, ...names.flatMap(n => data[n].map(v => v || 0)));
  const W = 360, rowH = 18 * series + 8, left = 80, H = names.length * rowH + 10;
  const svg = h('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart' });
  names.forEach((n, i) => {
    svg.appendChild(h('text', { x: 4, y: i * rowH + 16 }, n));
    data[n].forEach((v, k) => {
      const w = (W - left - 70) * (v || 0) / max;
      svg.appendChild(h('rect', { x: left, y: i * rowH + 4 + k * 18, width: Math.max(1, w), height: 14, fill: colors[k] }));
      svg.appendChild(h('text', { x: left + w + 4, y: i * rowH + 15 + k * 18 }, v === null ? '-' : fmt(v)));
    });
  });
  return h('div', { class: 'card' }, h('h3', {}, title), names.length ? svg : h('p', { class: 'muted' }, 'no data'));
}

async function renderStats() {
  const st = await api('/api/stats');
  const a = st.agents;
  const pick = f => Object.fromEntries(Object.keys(a).map(n => [n, f(a[n])]));
  main.replaceChildren(h('h2', {}, 'Statistics per agent'), h('div', { class: 'cards', id: 'stats' },
    barChart('Latency p50 / p95 (ms)', pick(x => [x.latency_p50_ms, x.latency_p95_ms]), v => Math.round(v), ['#7aa7e8', '#2d5bd7']),
    barChart('Tokens: input, output, cache read', pick(x => [x.input_tokens, x.output_tokens, x.cache_read_input_tokens]),
             fmtNum, ['#8fc79f', '#2e9d57', '#c9b26b']),
    barChart('Cost (USD)', pick(x => [x.cost_usd]), fmtCost, ['#d08a1a']),
    barChart('Prompt cache hit rate', pick(x => [x.cache_hit_rate]), v => Math.round(v * 100) + '%', ['#9b3fbf']),
    barChart('Errors by type', Object.fromEntries(Object.entries(st.errors).map(([k, v]) => [k, [v]])), String, ['#d04545'])));
}

async function renderSearch(q) {
  const found = await api('/api/search?q=' + encodeURIComponent(q));
  main.replaceChildren(h('h2', {}, 'Search: ', q, ' ', h('span', { class: 'muted' }, '(' + found.length + ')')),
    h('div', { id: 'results' }, found.map(m => h('div', { class: 'result' },
      h('a', { href: '#/session/' + m.session_id }, m.session_id), ' ', statusBadge(m.status), ' ',
      h('span', { class: 'muted' }, m.agent + '/' + m.kind), h('div', {},
        // The snippet marks matches as [word]: shown as <mark>, everything else as text.
        String(m.snippet).split(/(\[[^\]]*\])/).map(p => (p.startsWith('[') && p.endsWith(']') ? h('mark', {}, p.slice(1, -1)) : p)))))));
}

function route() {
  closeStream();
  const hash = decodeURIComponent(location.hash.slice(1) || '/');
  const go = p => p.catch(e => reportError(e.message || e));
  if (hash.startsWith('/session/')) {
    view = { kind: 'session', id: hash.slice(9) };
    go(loadSession(view.id));
  } else if (hash === '/stats') {
    view = { kind: 'stats' };
    go(renderStats());
  } else if (hash.startsWith('/search/')) {
    view = { kind: 'search' };
    go(renderSearch(hash.slice(8)));
  } else {
    view = { kind: 'list' };
    renderList();
  }
}

document.getElementById('search').addEventListener('submit', e => {
  e.preventDefault();
  const q = document.getElementById('q').value.trim();
  if (q) location.hash = '#/search/' + encodeURIComponent(q);
});
window.addEventListener('hashchange', route);
// The token is in a cookie now: keep it out of the address bar and history.
if (location.search.includes('token=')) history.replaceState(null, '', location.pathname + location.hash);
setInterval(() => {
  if (view && view.kind === 'list')
    for (const td of document.querySelectorAll('tr.running td.elapsed'))
      td.textContent = fmtMs(now() - t(td.dataset.created));
}, 1000);
startLive();
route();
