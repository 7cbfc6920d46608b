// The dashboard's pages. Each renders into `main` from the JSON API: the
// modules' own routes wherever they exist, `/api/v1/admin/...` for the
// rest. Built with DOM calls only (never innerHTML with data), so names and
// texts from users cannot inject markup.

import { get, post, put, del, query, privateFileUrl, ApiFailure } from './api.js';
import { barChart, lineChart, donutChart, gauge } from './charts.js';

// ------------------------------------------------------------ DOM helpers

/** `h('tag.class', {attr: v, onclick: f}, ...children)`. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const node = document.createElement(tag);
  if (classes.length) node.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'value') node.value = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function toast(message, kind = 'ok') {
  const t = document.getElementById('toast');
  t.textContent = message;
  t.className = `toast ${kind}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = 'toast'; }, 4000);
}

/** Runs an action from a button: disables it meanwhile, reports the outcome, then `after()`. */
function action(label, fn, after, cls = '') {
  const b = h(`button${cls ? '.' + cls : ''}`, { type: 'button' }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const res = await fn();
      toast((res && res.message) || `${label}: done`);
      if (after) await after();
    } catch (e) {
      toast(e instanceof ApiFailure ? e.message : String(e), 'error');
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

function table(columns, rows, rowAttrs = () => ({})) {
  if (!rows.length) return h('p.empty', {}, 'Nothing here.');
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', rowAttrs(r), columns.map((c) => h('td', {}, c.cell(r)))))));
}

function pager(body, go) {
  if (!body || !(body.pages > 1)) return h('span');
  return h('div.pager', {},
    body.page > 1 ? h('button', { type: 'button', onclick: () => go(body.page - 1) }, '‹ Previous') : null,
    ` page ${body.page} of ${body.pages} (${body.total}) `,
    body.page < body.pages ? h('button', { type: 'button', onclick: () => go(body.page + 1) }, 'Next ›') : null);
}

function select(name, options, value) {
  return h('select', { name, 'aria-label': name },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

const person = (u) => {
  if (!u) return '—';
  if (typeof u === 'string') return u;
  return [u.firstName, u.lastName].filter(Boolean).join(' ') || u.email || u._id || '—';
};
const when = (v) => {
  if (v === undefined || v === null || v === '') return '—';
  const d = typeof v === 'number' ? new Date(v) : new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace('T', ' ').slice(0, 16);
};
const money = (v, currency = 'KES') => (typeof v === 'number' ? `${currency} ${v.toLocaleString('en-KE', { maximumFractionDigits: 2 })}` : '—');
const idOf = (x) => (x && typeof x === 'object' ? x._id || x.id : x);

function failure(e) {
  return h('p.error', {}, e instanceof ApiFailure ? `${e.status}: ${e.message}` : String(e));
}

/** Which API paths this build serves, from its OpenAPI document (fetched once). */
let served = null;
async function isServed(path) {
  if (!served) {
    served = fetch('/api-docs.json', { credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : { paths: {} }))
      .then((doc) => new Set(Object.keys(doc.paths || {})))
      .catch(() => new Set());
  }
  const paths = await served;
  return paths.has(path) || paths.has(`${path}/`);
}

function notAvailable(what) {
  return h('div.notice', {}, h('strong', {}, `${what}: module not available`),
    ' in this build of the server. This page works once the module is installed.');
}

function section(title, ...children) {
  return h('section.card', {}, h('h2', {}, title), ...children);
}

// ------------------------------------------------------------ overview

async function overview(main) {
  const o = await get('/admin/overview?days=30');
  const roles = o.usersByRole.map((r) => ({ label: r.role, value: r.count }));
  const days = o.bookingsPerDay.map((d) => ({ label: d.date.slice(5), bookings: d.created, gmv: d.gmv }));
  const totalUsers = roles.reduce((s, r) => s + r.value, 0);
  const totalGmv = o.bookingsPerDay.reduce((s, d) => s + d.gmv, 0);
  main.append(
    h('div.stats', {},
      h('div.stat', {}, h('span', {}, 'Accounts'), h('strong', { 'data-stat': 'users' }, totalUsers)),
      h('div.stat', {}, h('span', {}, 'Held in escrow'), h('strong', { 'data-stat': 'escrow' }, money(o.escrowHeld, o.currency))),
      h('div.stat', {}, h('span', {}, `GMV, ${o.days} days`), h('strong', {}, money(totalGmv, o.currency))),
      h('div.stat', {}, h('span', {}, 'Dead jobs'), h('strong', { 'data-stat': 'dead-jobs' }, o.jobs.dead))),
    h('div.grid', {},
      section('Users by role', donutChart(roles, { title: 'Users by role' })),
      section(`Bookings per day (${o.days} days)`, barChart(days.map((d) => ({ label: d.label, value: d.bookings })), { title: 'Bookings per day' })),
      section(`GMV per day (${o.currency})`, lineChart(days.map((d) => ({ label: d.label, value: d.gmv })), { title: 'GMV per day' })),
      await ticketsSection()));
}

/** Open tickets and SLA attainment, from the support module's own routes. */
async function ticketsSection() {
  if (!(await isServed('/api/v1/support/tickets'))) return section('Support tickets', notAvailable('Support'));
  try {
    const body = await get('/support/tickets?limit=100');
    const tickets = body.tickets || [];
    const open = tickets.filter((t) => !['resolved', 'closed'].includes(t.status)).length;
    const met = tickets.filter((t) => t.sla && t.sla.firstResponseTime && t.sla.firstResponseTime.met
      && t.sla.resolutionTime && t.sla.resolutionTime.met).length;
    const attainment = tickets.length ? (100 * met) / tickets.length : 0;
    const byPriority = ['urgent', 'high', 'medium', 'low'].map((p) => ({
      label: p, value: tickets.filter((t) => t.priority === p && !['resolved', 'closed'].includes(t.status)).length,
    }));
    return section('Support tickets',
      h('p', {}, `${open} open of the latest ${tickets.length}; SLA attainment (both clocks met):`),
      gauge(attainment, { title: 'SLA attainment' }),
      donutChart(byPriority, { title: 'Open tickets by priority', centre: String(open) }));
  } catch (e) {
    if (e instanceof ApiFailure && e.isMissingRoute) return section('Support tickets', notAvailable('Support'));
    return section('Support tickets', failure(e));
  }
}

// ------------------------------------------------------------ users

async function users(main, params) {
  const state = { search: params.get('search') || '', role: params.get('role') || '', status: params.get('status') || '', page: 1 };
  const list = h('div');
  const queue = h('div');
  const form = h('form.filters', {},
    h('input', { name: 'search', placeholder: 'Search names, bio, skills', value: state.search, 'aria-label': 'search' }),
    select('role', [['', 'any role'], ['customer', 'customer'], ['technician', 'technician'], ['corporate', 'corporate'], ['support', 'support'], ['admin', 'admin']], state.role),
    select('status', [['', 'any status'], ['active', 'active'], ['suspended', 'suspended'], ['deactivated', 'deactivated'], ['banned', 'banned']], state.status),
    h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    Object.assign(state, { search: f.get('search'), role: f.get('role'), status: f.get('status'), page: 1 });
    load();
  });

  async function load() {
    list.replaceChildren(h('p.loading', {}, 'Loading…'));
    try {
      const body = await get(`/users${query({ search: state.search, role: state.role, status: state.status, page: state.page, limit: 20 })}`);
      list.replaceChildren(
        table([
          { title: 'Name', cell: (u) => person(u) },
          { title: 'Email', cell: (u) => u.email || '—' },
          { title: 'Role', cell: (u) => roleControl(u) },
          { title: 'Status', cell: (u) => h('span.badge', { 'data-status': u.status }, u.status || '—') },
          { title: 'KYC', cell: (u) => (u.kyc && u.kyc.status) || '—' },
          { title: 'Joined', cell: (u) => when(u.createdAt) },
          { title: '', cell: (u) => statusActions(u) },
        ], body.users || [], (u) => ({ 'data-id': u._id })),
        pager(body, (p) => { state.page = p; load(); }));
    } catch (e) {
      list.replaceChildren(failure(e));
    }
  }

  function roleControl(u) {
    const sel = select('role', ['customer', 'technician', 'corporate', 'support', 'admin'].map((r) => [r, r]), u.role);
    const save = action('Change role', () => put(`/users/${u._id}`, { role: sel.value }), load, 'small');
    return h('span.inline', {}, sel, save);
  }

  function statusActions(u) {
    if (u.status === 'active') return action('Suspend', () => put(`/users/${u._id}`, { status: 'suspended' }), load, 'danger');
    if (['suspended', 'deactivated', 'banned'].includes(u.status)) return action('Reactivate', () => put(`/users/${u._id}`, { status: 'active' }), load);
    return '';
  }

  async function loadQueue() {
    queue.replaceChildren(h('p.loading', {}, 'Loading…'));
    try {
      const body = await get('/users?kycStatus=pending&limit=50');
      const rows = body.users || [];
      queue.replaceChildren(rows.length
        ? h('div.kyc-list', {}, rows.map((u) => kycCard(u)))
        : h('p.empty', {}, 'No KYC submission is waiting.'));
    } catch (e) {
      queue.replaceChildren(failure(e));
    }
  }

  function kycCard(u) {
    const detail = h('div.kyc-docs', {}, h('p.loading', {}, 'Loading documents…'));
    const reason = h('input', { name: 'reason', placeholder: 'Reason (required to reject)', 'aria-label': 'reason' });
    const card = h('article.kyc', { 'data-id': u._id },
      h('h3', {}, person(u), ' ', h('small', {}, u.email || '')),
      detail,
      h('div.actions', {},
        action('Approve', () => put(`/users/${u._id}/kyc`, { status: 'approved' }), refresh, 'approve'),
        reason,
        action('Reject', () => put(`/users/${u._id}/kyc`, { status: 'rejected', reason: reason.value }), refresh, 'danger')));
    get(`/users/${u._id}`).then((b) => {
      const k = (b.user && b.user.kyc) || {};
      const docs = ['idFrontImage', 'idBackImage', 'selfieImage']
        .filter((key) => k[key] && k[key].url)
        .map((key) => {
          const img = h('img', { alt: key });
          const link = h('a', { target: '_blank', rel: 'noopener' }, img);
          privateFileUrl(k[key].url).then((blob) => {
            img.src = blob;
            link.href = blob;
          }).catch((e) => img.replaceWith(failure(e)));
          return h('figure', {}, link, h('figcaption', {}, key));
        });
      detail.replaceChildren(
        h('p', {}, `${k.idType || '?'} ${k.idNumber || ''}, submitted ${when(k.submittedAt)}`),
        docs.length ? h('div.docs', {}, docs) : h('p.empty', {}, 'No document images.'));
    }).catch((e) => detail.replaceChildren(failure(e)));
    return card;
  }

  async function refresh() {
    await Promise.all([load(), loadQueue()]);
  }

  main.append(section('Accounts', form, list), section('KYC review queue', queue));
  await refresh();
}

// ------------------------------------------------------------ bookings

const BOOKING_STATUSES = ['pending', 'matching', 'assigned', 'accepted', 'en_route', 'arrived', 'in_progress', 'paused',
  'completed', 'cancelled', 'disputed', 'refunded'];

async function bookings(main) {
  const state = { status: '', page: 1 };
  const list = h('div');
  const detail = h('div');
  const form = h('form.filters', {},
    select('status', [['', 'any status'], ...BOOKING_STATUSES.map((s) => [s, s])], ''),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.status = new FormData(form).get('status');
    state.page = 1;
    load();
  });

  async function load() {
    list.replaceChildren(h('p.loading', {}, 'Loading…'));
    try {
      const body = await get(`/bookings${query({ status: state.status, page: state.page, limit: 20 })}`);
      list.replaceChildren(table([
        { title: 'Number', cell: (b) => h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); open(b._id); } }, b.bookingNumber || b._id) },
        { title: 'Service', cell: (b) => `${b.serviceCategory || ''} · ${b.serviceType || ''}` },
        { title: 'Customer', cell: (b) => person(b.customer) },
        { title: 'Technician', cell: (b) => person(b.technician) },
        { title: 'Status', cell: (b) => h('span.badge', { 'data-status': b.status }, b.status) },
        { title: 'Total', cell: (b) => money(b.pricing && b.pricing.totalAmount, b.pricing && b.pricing.currency) },
        { title: 'Created', cell: (b) => when(b.createdAt) },
      ], body.bookings || [], (b) => ({ 'data-id': b._id })), pager(body, (p) => { state.page = p; load(); }));
    } catch (e) {
      list.replaceChildren(failure(e));
    }
  }

  async function open(id) {
    detail.replaceChildren(h('p.loading', {}, 'Loading…'));
    try {
      const body = await get(`/bookings/${id}`);
      const b = body.booking || body.data || body;
      const tech = h('input', { name: 'technician', placeholder: 'Technician id', 'aria-label': 'technician id' });
      const resolution = select('resolution', [['customer_favor', 'customer favour (refund)'], ['technician_favor', 'technician favour'],
        ['partial_refund', 'partial refund'], ['no_action', 'no action']], 'customer_favor');
      const notes = h('input', { name: 'resolutionNotes', placeholder: 'Resolution notes', 'aria-label': 'resolution notes' });
      const refund = h('input', { name: 'refundAmount', type: 'number', min: '0', step: '0.01', placeholder: 'Refund amount', 'aria-label': 'refund amount' });
      const reopen = () => open(id).then(load);
      detail.replaceChildren(section(`Booking ${b.bookingNumber || id}`,
        h('p', {}, `${b.serviceCategory || ''} · ${b.serviceType || ''} — ${b.description || ''}`),
        h('p', {}, 'Customer: ', person(b.customer), ' · Technician: ', person(b.technician), ' · Status: ', h('strong', {}, b.status)),
        h('h3', {}, 'Timeline'),
        h('ol.timeline', {}, (b.statusHistory || []).map((s) => h('li', {},
          h('strong', {}, s.status), ` ${when(s.changedAt)}`, s.reason ? ` — ${s.reason}` : '', s.notes ? ` — ${s.notes}` : ''))),
        h('h3', {}, 'Assign a technician'),
        h('div.actions', {}, tech, action('Assign', () => put(`/bookings/${id}/assign-technician`, { technician: tech.value.trim() }), reopen)),
        b.dispute && b.dispute.status && ['open', 'investigating'].includes(b.dispute.status)
          ? h('div', {}, h('h3', {}, 'Resolve the dispute'),
            h('p', {}, `Raised ${when(b.dispute.raisedAt)}: ${b.dispute.reason || ''}`),
            h('div.actions', {}, resolution, notes, refund,
              action('Resolve', () => put(`/bookings/${id}/dispute/resolve`, {
                resolution: resolution.value,
                resolutionNotes: notes.value,
                refundAmount: refund.value === '' ? undefined : Number(refund.value),
              }), reopen)))
          : h('p', {}, b.dispute && b.dispute.status ? `Dispute ${b.dispute.status}: ${b.dispute.resolution || ''}` : 'No dispute.')));
    } catch (e) {
      detail.replaceChildren(failure(e));
    }
  }

  main.append(section('Bookings', form, list), detail);
  await load();
}

// ------------------------------------------------------------ payments

async function payments(main) {
  const state = { page: 1 };
  const list = h('div');
  const hooks = h('div');
  const ledger = h('div', {}, h('p', {}, 'Recomputes every balance from the postings (read-only).'));

  async function load() {
    list.replaceChildren(h('p.loading', {}, 'Loading…'));
    try {
      const body = await get(`/transactions${query({ page: state.page, limit: 20 })}`);
      list.replaceChildren(table([
        { title: 'Number', cell: (t) => t.transactionNumber || t._id },
        { title: 'Type', cell: (t) => t.type },
        { title: 'Method', cell: (t) => t.paymentMethod },
        { title: 'Gross', cell: (t) => money(t.amount && t.amount.gross, t.amount && t.amount.currency) },
        { title: 'Status', cell: (t) => h('span.badge', { 'data-status': t.status }, t.status) },
        { title: 'Escrow', cell: (t) => (t.escrow && t.escrow.held ? 'held' : t.escrow && t.escrow.releasedAt ? 'released' : '—') },
        { title: 'Created', cell: (t) => when(t.createdAt) },
        { title: '', cell: (t) => (t.escrow && t.escrow.held ? refundControls(t) : '') },
      ], body.transactions || [], (t) => ({ 'data-id': t._id })), pager(body, (p) => { state.page = p; load(); }));
    } catch (e) {
      list.replaceChildren(failure(e));
    }
  }

  function refundControls(t) {
    const reason = h('input', { name: 'reason', placeholder: 'Refund reason', 'aria-label': 'refund reason' });
    return h('span.inline', {},
      action('Release', () => post(`/transactions/${t._id}/release-escrow`), load),
      reason,
      action('Refund', () => post(`/transactions/${t._id}/refund`, { reason: reason.value }), load, 'danger'));
  }

  async function loadHooks() {
    try {
      const body = await get('/admin/webhooks?outcome=review&limit=50');
      hooks.replaceChildren(table([
        { title: 'Received', cell: (w) => when(w.receivedAt) },
        { title: 'Provider', cell: (w) => w.provider },
        { title: 'Event', cell: (w) => w.eventType || w.eventKey },
        { title: 'Detail', cell: (w) => w.detail || '—' },
        { title: 'Body', cell: (w) => h('details', {}, h('summary', {}, 'raw'), h('pre', {}, w.rawBody)) },
      ], body.webhooks || []));
    } catch (e) {
      hooks.replaceChildren(failure(e));
    }
  }

  const check = action('Run the ledger check', async () => {
    const r = await get('/admin/ledger-check');
    ledger.replaceChildren(
      h('p', { class: r.ok ? 'ok' : 'error', 'data-ledger': r.ok ? 'ok' : 'violated' },
        r.ok ? `Ledger OK: ${r.accounts} accounts, ${r.entries} entries, ${r.postings} postings.` : 'Ledger VIOLATED'),
      r.problems.length ? h('ul', {}, r.problems.map((p) => h('li', {}, p))) : '');
    return { message: r.ok ? 'Ledger OK' : 'Ledger violated' };
  });

  main.append(section('Transactions', list), section('Webhooks kept for review', hooks), section('Ledger check', check, ledger));
  await Promise.all([load(), loadHooks()]);
}

// ------------------------------------------------------------ support

async function support(main, params, me) {
  if (!(await isServed('/api/v1/support/tickets'))) {
    main.append(section('Support queue', notAvailable('Support')));
    return;
  }
  const state = { status: '', page: 1 };
  const list = h('div');
  const form = h('form.filters', {},
    select('status', [['', 'any status'], ...['open', 'assigned', 'in_progress', 'waiting_customer', 'waiting_internal', 'resolved', 'closed', 'reopened'].map((s) => [s, s])], ''),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.status = new FormData(form).get('status');
    state.page = 1;
    load();
  });

  async function load() {
    list.replaceChildren(h('p.loading', {}, 'Loading…'));
    try {
      const body = await get(`/support/tickets${query({ status: state.status, page: state.page, limit: 20 })}`);
      list.replaceChildren(table([
        { title: 'Ticket', cell: (t) => t.ticketNumber || t._id },
        { title: 'Subject', cell: (t) => t.subject },
        { title: 'Customer', cell: (t) => person(t.customer) },
        { title: 'Priority', cell: (t) => h('span.badge', { 'data-priority': t.priority }, t.priority) },
        { title: 'Status', cell: (t) => t.status },
        { title: 'Assignee', cell: (t) => person(t.assignedTo) },
        { title: 'SLA', cell: (t) => slaText(t.sla) },
        { title: '', cell: (t) => ticketActions(t) },
      ], body.tickets || [], (t) => ({ 'data-id': t._id })), pager(body, (p) => { state.page = p; load(); }));
    } catch (e) {
      list.replaceChildren(e instanceof ApiFailure && e.isMissingRoute ? notAvailable('Support') : failure(e));
    }
  }

  function ticketActions(t) {
    const summary = h('input', { name: 'summary', placeholder: 'Closing summary', 'aria-label': 'closing summary' });
    return h('span.inline', {},
      idOf(t.assignedTo) === me._id ? '' : action('Assign to me', () => put(`/support/tickets/${t._id}/assign`, { agentId: me._id }), load),
      ['closed', 'resolved'].includes(t.status) ? '' : h('span.inline', {}, summary,
        action('Close', () => put(`/support/tickets/${t._id}/close`, { summary: summary.value, resolutionType: 'solved' }), load)));
  }

  main.append(section('Support queue', form, list));
  await load();
}

function slaText(sla) {
  if (!sla) return '—';
  const clock = (c) => (c && c.met === true ? 'met' : c && c.met === false ? 'missed' : 'running');
  return `first response ${clock(sla.firstResponseTime)}, resolution ${clock(sla.resolutionTime)}`;
}

// ------------------------------------------------------------ moderation

async function moderation(main) {
  const posts = h('div');
  const reviews = h('div');

  async function loadPosts() {
    if (!(await isServed('/api/v1/posts'))) {
      posts.replaceChildren(notAvailable('Posts'));
      return;
    }
    try {
      const body = await get('/posts?limit=20');
      posts.replaceChildren(table([
        { title: 'Author', cell: (p) => person(p.author) },
        { title: 'Type', cell: (p) => p.type },
        { title: 'Caption', cell: (p) => (p.caption || '').slice(0, 140) },
        { title: 'Posted', cell: (p) => when(p.createdAt) },
        { title: '', cell: (p) => removeControl((reason) => del(`/posts/${p._id}`, { reason }), loadPosts) },
      ], body.posts || [], (p) => ({ 'data-id': p._id })));
    } catch (e) {
      posts.replaceChildren(e instanceof ApiFailure && e.isMissingRoute ? notAvailable('Posts') : failure(e));
    }
  }

  async function loadReviews() {
    try {
      const body = await get('/reviews?limit=20');
      reviews.replaceChildren(table([
        { title: 'Reviewer', cell: (r) => person(r.reviewer) },
        { title: 'About', cell: (r) => person(r.reviewee) },
        { title: 'Stars', cell: (r) => (r.rating && typeof r.rating === 'object' ? r.rating.overall : r.rating) ?? '—' },
        { title: 'Comment', cell: (r) => (r.comment || r.title || '').slice(0, 140) },
        { title: 'Written', cell: (r) => when(r.createdAt) },
        { title: '', cell: (r) => removeControl(() => del(`/reviews/${r._id}`), loadReviews) },
      ], body.reviews || [], (r) => ({ 'data-id': r._id })));
    } catch (e) {
      reviews.replaceChildren(failure(e));
    }
  }

  function removeControl(remove, after) {
    const reason = h('input', { name: 'reason', placeholder: 'Reason', 'aria-label': 'removal reason' });
    return h('span.inline', {}, reason, action('Remove', () => remove(reason.value), after, 'danger'));
  }

  main.append(section('Posts', posts), section('Reviews', reviews));
  await Promise.all([loadPosts(), loadReviews()]);
}

// ------------------------------------------------------------ jobs

async function jobs(main) {
  const state = { status: 'dead', page: 1 };
  const list = h('div');
  const tabs = h('div.tabs', {}, ['dead', 'queued', 'running', 'done', ''].map((s) =>
    h('button', { type: 'button', 'data-tab': s || 'all', onclick: () => { state.status = s; state.page = 1; load(); } }, s || 'all')));

  async function load() {
    for (const b of tabs.children) b.classList.toggle('current', b.dataset.tab === (state.status || 'all'));
    list.replaceChildren(h('p.loading', {}, 'Loading…'));
    try {
      const body = await get(`/admin/jobs${query({ status: state.status, page: state.page, limit: 20 })}`);
      list.replaceChildren(table([
        { title: 'Id', cell: (j) => j.id },
        { title: 'Kind', cell: (j) => j.kind },
        { title: 'Status', cell: (j) => h('span.badge', { 'data-status': j.status }, j.status) },
        { title: 'Attempts', cell: (j) => `${j.attempts}/${j.maxAttempts}` },
        { title: 'Due', cell: (j) => when(j.runAt) },
        { title: 'Last error', cell: (j) => j.lastError || '—' },
        { title: '', cell: (j) => (j.status === 'dead' ? action('Requeue', () => post(`/admin/jobs/${j.id}/requeue`), load)
          : j.status === 'queued' ? action('Retry now', () => post(`/admin/jobs/${j.id}/retry`), load) : '') },
      ], body.jobs || [], (j) => ({ 'data-id': j.id })), pager(body, (p) => { state.page = p; load(); }));
    } catch (e) {
      list.replaceChildren(failure(e));
    }
  }

  main.append(section('Jobs', tabs, list));
  await load();
}

// ------------------------------------------------------------ configuration

async function configuration(main) {
  const body = await get('/admin/config');
  main.append(section('Effective configuration',
    h('p', {}, 'What this process runs with (flags, then BAITECH_* environment, then the config file, then defaults). Secrets are masked.'),
    table([
      { title: 'Setting', cell: (s) => h('code', {}, s.name) },
      { title: 'Value', cell: (s) => (s.isSecret ? h('span.secret', {}, 'set (hidden)') : h('code', {}, s.value)) },
      { title: 'What it does', cell: (s) => s.help },
    ], body.settings || [])));
}

// ------------------------------------------------------------ the list

/** Every page: who may open it, and how it renders. */
export const PAGES = [
  { id: 'overview', title: 'Overview', roles: ['admin'], render: overview },
  { id: 'users', title: 'Users', roles: ['admin'], render: users },
  { id: 'bookings', title: 'Bookings', roles: ['admin'], render: bookings },
  { id: 'payments', title: 'Payments', roles: ['admin'], render: payments },
  { id: 'support', title: 'Support queue', roles: ['admin', 'support'], render: support },
  { id: 'moderation', title: 'Moderation', roles: ['admin'], render: moderation },
  { id: 'jobs', title: 'Jobs', roles: ['admin'], render: jobs },
  { id: 'config', title: 'Configuration', roles: ['admin'], render: configuration },
];
