// Drives the official socket.io-client against a running BaiTech server and
// prints one JSON object of observations on stdout; tests/api/chat.rs
// asserts on it. Env: BASE, TOKEN_A, TOKEN_B, TOKEN_C, USER_A, USER_B, USER_C,
// TOKEN_ADMIN, CONV, FOREIGN, BOOKING (A is its customer, B its technician,
// C a stranger).
// NODE_PATH points at tests/node/node_modules.
'use strict';
const { io } = require('socket.io-client');

const { BASE, TOKEN_A, TOKEN_B, TOKEN_C, TOKEN_ADMIN, USER_A, USER_B, USER_C, CONV, FOREIGN, BOOKING } = process.env;
const out = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const once = (sock, ev, ms = 3000) =>
  new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    sock.once(ev, (data) => {
      clearTimeout(t);
      resolve(data === undefined ? true : data);
    });
  });

// The first `ev` whose payload satisfies `pred` (null after `ms`).
const onceWhere = (sock, ev, pred, ms = 3000) =>
  new Promise((resolve) => {
    const seen = (data) => {
      if (!pred(data)) return;
      clearTimeout(t);
      sock.off(ev, seen);
      resolve(data);
    };
    const t = setTimeout(() => {
      sock.off(ev, seen);
      resolve(null);
    }, ms);
    sock.on(ev, seen);
  });

const as = (token) => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

function connect(opts) {
  return io(BASE, { reconnection: false, forceNew: true, timeout: 5000, ...opts });
}

async function refused(opts) {
  const s = connect(opts);
  const err = await once(s, 'connect_error');
  s.close();
  return err ? err.message : null;
}

async function main() {
  out.noToken = await refused({ transports: ['websocket'] });
  out.badToken = await refused({ transports: ['websocket'], auth: { token: 'not-a-jwt' } });

  // A: websocket with auth.token, the web client's way.
  const a = connect({ transports: ['websocket'], auth: { token: TOKEN_A } });
  const aSeen = [];
  a.onAny((ev, data) => aSeen.push({ ev, data }));
  out.connectedA = !!(await once(a, 'connect'));
  out.transportA = a.io.engine.transport.name;

  // B: long-polling only, token in the Authorization header.
  const onlineAtA = once(a, 'user:online');
  const b = connect({ transports: ['polling'], extraHeaders: { Authorization: `Bearer ${TOKEN_B}` } });
  const bSeen = [];
  b.onAny((ev, data) => bSeen.push({ ev, data }));
  out.connectedB = !!(await once(b, 'connect'));
  out.transportB = b.io.engine.transport.name;
  out.online = await onlineAtA;

  // Joins: web client's name for A, the original's for B; a foreign conversation is refused.
  a.emit('user:join', USER_A);
  let joined = once(a, 'conversation:joined');
  a.emit('conversation:join', CONV);
  out.joinedA = await joined;
  joined = once(b, 'conversation:joined');
  b.emit('join_conversation', CONV);
  out.joinedB = await joined;
  const refusedJoin = once(a, 'error');
  a.emit('conversation:join', FOREIGN);
  out.foreignJoin = await refusedJoin;

  // Typing reaches the other side in both vocabularies, never the sender.
  const typingNew = once(b, 'typing:start');
  const typingOld = once(b, 'user_typing');
  a.emit('typing:start', { conversationId: CONV });
  out.typingNew = await typingNew;
  out.typingOld = await typingOld;
  await sleep(200);
  out.typingEchoedToSender = aSeen.some((e) => e.ev === 'typing:start' || e.ev === 'user_typing');

  // A REST send by B reaches A as message:new (and new_message), timed
  // from the start of the request. The first send also opens the HTTP
  // connection; the figure asserted on is the median of the next five.
  const post = (text) =>
    fetch(`${BASE}/api/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN_B}` },
      body: JSON.stringify({ conversation: CONV, type: 'text', text }),
    });
  out.latenciesMs = [];
  for (const text of ['warm up', 'socket hello', 'two', 'three', 'four', 'five']) {
    const gotNew = once(a, 'message:new');
    const gotOld = once(a, 'new_message');
    const t0 = performance.now();
    const res = await post(text);
    const got = await gotNew;
    out.latenciesMs.push(performance.now() - t0);
    if (text === 'socket hello') {
      out.sendStatus = res.status;
      out.messageNew = got;
      out.messageOld = await gotOld;
    } else {
      await gotOld;
    }
  }
  out.latencyMs = out.latenciesMs.slice(1).sort((x, y) => x - y)[2];

  // A confirms delivery over the socket: the sender hears message:delivered.
  const delivered = once(b, 'message:delivered');
  a.emit('message:delivered', { messageId: out.messageNew._id });
  out.delivered = await delivered;

  // A REST-created group reaches its members as conversation:created.
  const created = once(b, 'conversation:created');
  const group = await fetch(`${BASE}/api/v1/conversations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN_A}` },
    body: JSON.stringify({ type: 'group', name: 'Socket group', participants: [USER_B] }),
  });
  out.groupStatus = group.status;
  out.conversationCreated = await created;

  // An update of the group reaches each member with their OWN unreadCount:
  // B wrote once (A has 1 unread, B none), then A adds C.
  const groupId = out.conversationCreated && out.conversationCreated._id;
  const inGroup = onceWhere(a, 'message:new', (m) => m && m.conversation === groupId);
  await fetch(`${BASE}/api/v1/messages`, {
    method: 'POST',
    headers: as(TOKEN_B),
    body: JSON.stringify({ conversation: groupId, type: 'text', text: 'for the group' }),
  });
  await inGroup;
  const updA = once(a, 'conversation:updated');
  const updB = once(b, 'conversation:updated');
  const addC = await fetch(`${BASE}/api/v1/conversations/${groupId}/participants`, {
    method: 'POST',
    headers: as(TOKEN_A),
    body: JSON.stringify({ userId: USER_C }),
  });
  out.addStatus = addC.status;
  const [ua, ub] = [await updA, await updB];
  out.updated = {
    unreadA: ua && ua.unreadCount,
    unreadB: ub && ub.unreadCount,
    countA: ua && ua.participantCount,
    countB: ub && ub.participantCount,
  };

  // Bookings: the parties subscribe, a stranger is refused; the technician's
  // location reaches the customer only; a status change reaches the room.
  const c = connect({ transports: ['websocket'], auth: { token: TOKEN_C } });
  const cSeen = [];
  c.onAny((ev) => cSeen.push(ev));
  out.connectedC = !!(await once(c, 'connect'));
  let sub = once(a, 'booking:subscribed');
  a.emit('subscribe_booking', BOOKING);
  out.bookingSubscribedA = await sub;
  sub = once(b, 'booking:subscribed');
  b.emit('booking:subscribe', { bookingId: BOOKING });
  out.bookingSubscribedB = await sub;
  const strangerRefused = once(c, 'error');
  c.emit('subscribe_booking', BOOKING);
  out.bookingStranger = await strangerRefused;
  const locA = once(a, 'technician_location');
  b.emit('update_location', { bookingId: BOOKING, location: { type: 'Point', coordinates: [36.8, -1.29] } });
  out.locationAtCustomer = await locA;
  await sleep(150);
  out.locationAtTechnician = bSeen.some((e) => e.ev === 'technician_location');
  const notTech = once(a, 'error', 1000);
  a.emit('update_location', { bookingId: BOOKING, location: { coordinates: [0, 0] } });
  out.locationFromCustomer = await notTech;
  const updated = once(a, 'booking_updated');
  const updatedNew = once(b, 'booking:updated');
  const accepted = await fetch(`${BASE}/api/v1/bookings/${BOOKING}/status`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN_B}` },
    body: JSON.stringify({ status: 'accepted' }),
  });
  out.acceptStatus = accepted.status;
  out.bookingUpdated = await updated;
  out.bookingUpdatedNew = await updatedNew;
  await sleep(100);
  out.strangerSawBooking = cSeen.some((ev) => ev.startsWith('booking_') || ev === 'booking:updated' || ev === 'technician_location');
  c.close();

  // A second tab of B comes and goes: B stays online for A; then B goes
  // away for good and A hears user:offline once.
  const mark = aSeen.length;
  const b2 = connect({ transports: ['websocket'], auth: { token: TOKEN_B } });
  await once(b2, 'connect');
  b2.close();
  await sleep(300);
  out.presenceFlickers = aSeen
    .slice(mark)
    .filter((e) => (e.ev === 'user:offline' || e.ev === 'user:online') && e.data && e.data.userId === USER_B).length;
  const offline = once(a, 'user:offline');
  b.close();
  out.offline = await offline;

  // An admin's notification reaches A under the original's event name
  // `notification` and under `notification:new`, the same document.
  const isNotice = (n) => n && n.title === 'Maintenance tonight';
  const notice = onceWhere(a, 'notification', isNotice);
  const noticeNew = onceWhere(a, 'notification:new', isNotice);
  const posted = await fetch(`${BASE}/api/v1/notifications`, {
    method: 'POST',
    headers: as(TOKEN_ADMIN),
    body: JSON.stringify({ recipient: USER_A, type: 'system_update', title: 'Maintenance tonight', message: 'From 2am' }),
  });
  out.noticeStatus = posted.status;
  out.notice = await notice;
  out.noticeNew = await noticeNew;
  a.close();
}

main()
  .catch((e) => {
    out.error = String(e && e.stack ? e.stack : e);
  })
  .finally(() => {
    process.stdout.write(JSON.stringify(out) + '\n');
    process.exit(0);
  });
