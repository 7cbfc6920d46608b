// The dashboard's shell: sign-in (with 2FA), the navigation a role may
// see, and the hash router (`#/users?search=x`) that renders one page.

import { post, get, session, keepSession, endSession, whenSignedOut, ApiFailure } from './api.js';
import { PAGES, h } from './pages.js';

const STAFF = ['admin', 'support'];
const $ = (id) => document.getElementById(id);

function pagesFor(role) {
  return PAGES.filter((p) => p.roles.includes(role));
}

function showSignIn(message) {
  $('shell').hidden = true;
  $('signin').hidden = false;
  $('login-form').hidden = false;
  $('twofa-form').hidden = true;
  $('signin-error').textContent = message || '';
  $('email').focus();
}

/** Accepts a signed-in account only when it is staff. */
function accept(body) {
  const user = body.user;
  if (!user || !STAFF.includes(user.role)) {
    endSession();
    showSignIn('This dashboard is for admin and support accounts.');
    return;
  }
  keepSession(body.token, user);
  location.hash = `#/${pagesFor(user.role)[0].id}`;
  start();
}

async function signIn(ev) {
  ev.preventDefault();
  $('signin-error').textContent = '';
  const button = ev.submitter || $('login-form').querySelector('button');
  button.disabled = true;
  try {
    const body = await post('/auth/login', { email: $('email').value, password: $('password').value });
    if (body.requires2FA) {
      $('login-form').hidden = true;
      $('twofa-form').hidden = false;
      $('twofa-form').dataset.tempToken = body.tempToken;
      $('code').value = '';
      $('code').focus();
      return;
    }
    accept(body);
  } catch (e) {
    $('signin-error').textContent = e instanceof ApiFailure ? e.message : String(e);
  } finally {
    button.disabled = false;
  }
}

async function verify(ev) {
  ev.preventDefault();
  $('signin-error').textContent = '';
  try {
    const body = await post('/auth/verify-2fa', { tempToken: $('twofa-form').dataset.tempToken, code: $('code').value.trim() });
    accept(body);
  } catch (e) {
    $('signin-error').textContent = e instanceof ApiFailure ? e.message : String(e);
  }
}

function signOut() {
  endSession();
  location.hash = '';
  showSignIn('Signed out.');
}

let rendering = 0;
async function route() {
  const s = session();
  if (!s) return showSignIn();
  const allowed = pagesFor(s.user.role);
  const [path, search] = location.hash.replace(/^#\/?/, '').split('?');
  const page = allowed.find((p) => p.id === path) || allowed[0];
  for (const a of $('nav-links').querySelectorAll('a')) a.classList.toggle('current', a.dataset.page === page.id);
  const main = $('main');
  const mine = ++rendering;
  main.replaceChildren(h('h1', {}, page.title));
  main.dataset.page = page.id;
  main.setAttribute('aria-busy', 'true');
  try {
    const body = h('div.page');
    await page.render(body, new URLSearchParams(search || ''), s.user);
    if (mine === rendering) main.append(body);
  } catch (e) {
    if (mine === rendering) main.append(h('p.error', {}, e instanceof ApiFailure ? `${e.status}: ${e.message}` : String(e)));
  } finally {
    if (mine === rendering) main.setAttribute('aria-busy', 'false');
  }
}

function start() {
  const s = session();
  if (!s) return showSignIn();
  $('signin').hidden = true;
  $('shell').hidden = false;
  $('who').textContent = `${s.user.firstName || ''} ${s.user.lastName || ''} (${s.user.role})`;
  $('nav-links').replaceChildren(...pagesFor(s.user.role).map((p) =>
    h('a', { href: `#/${p.id}`, 'data-page': p.id }, p.title)));
  route();
}

$('login-form').addEventListener('submit', signIn);
$('twofa-form').addEventListener('submit', verify);
$('signout').addEventListener('click', signOut);
window.addEventListener('hashchange', route);
whenSignedOut(() => showSignIn('Your session ended; please sign in again.'));

// A kept session is checked once against the server before use.
if (session()) {
  get('/auth/me').then(start).catch(() => { endSession(); showSignIn(); });
} else {
  showSignIn();
}
