// Drives the embedded admin dashboard in headless Chromium (playwright-core
// with Debian's chromium), as tests/api/admin_browser.rs asks: sign in with
// and without 2FA, visit every page, suspend a user, approve a KYC,
// requeue a dead job, run the ledger check, and sign in as support.
// Everything comes from the environment; prints one JSON line per step and
// exits non-zero on the first failure or on any console error.

const path = require('path');
const fs = require('fs');
const os = require('os');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`missing env ${name}`);
  return v;
};
const { chromium } = require(path.join(env('BAITECH_NODE_MODULES'), 'playwright-core'));

const BASE = env('BASE');
const PAGES = ['overview', 'users', 'bookings', 'payments', 'support', 'moderation', 'jobs', 'config'];
const consoleErrors = [];

function step(name, extra = {}) {
  process.stdout.write(`${JSON.stringify({ step: name, ...extra })}\n`);
}

async function signIn(page, email, password) {
  await page.goto(`${BASE}/admin`);
  await page.waitForSelector('#login-form:not([hidden])');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
}

async function settled(page, id) {
  await page.waitForSelector(`main[data-page="${id}"][aria-busy="false"]`, { timeout: 15000 });
  const errors = await page.$$eval('main .error', (els) => els.map((e) => e.textContent).filter(Boolean));
  if (errors.length) throw new Error(`page ${id} shows errors: ${errors.join(' | ')}`);
}

async function open(page, id) {
  await page.click(`nav a[data-page="${id}"]`);
  await settled(page, id);
}

async function signOut(page) {
  await page.click('#signout');
  await page.waitForSelector('#login-form:not([hidden])');
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'baitech-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env('BAITECH_CHROMIUM'),
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => consoleErrors.push(`requestfailed: ${r.url()} ${r.failure() && r.failure().errorText}`));

    // 1. An admin with 2FA: password, then the code; then every page.
    await signIn(page, env('TFA_EMAIL'), env('TFA_PASSWORD'));
    await page.waitForSelector('#twofa-form:not([hidden])');
    await page.fill('#code', env('TFA_CODE'));
    await page.click('#twofa-form button[type=submit]');
    await settled(page, 'overview');
    await page.waitForSelector('main svg.chart');
    const charts = await page.$$eval('main svg.chart', (els) => els.length);
    if (charts < 3) throw new Error(`overview drew ${charts} charts`);
    const stored = await page.evaluate(() => Object.keys(sessionStorage));
    if (!stored.includes('baitech.admin.token')) throw new Error('token not in sessionStorage');
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    step('signed in with 2FA', { charts });
    for (const id of PAGES) {
      await open(page, id);
      const title = await page.textContent('main h1');
      step('page rendered', { id, title });
    }
    await signOut(page);

    // 2. An admin without 2FA does the day's work.
    await signIn(page, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'));
    await settled(page, 'overview');
    step('signed in');

    await open(page, 'users');
    await page.selectOption('form.filters select[name=role]', 'customer');
    await page.click('form.filters button[type=submit]');
    const row = `tr[data-id="${env('SUSPEND_ID')}"]`;
    await page.click(`${row} button:has-text("Suspend")`);
    await page.waitForSelector(`${row} .badge[data-status="suspended"]`);
    step('suspended a user');

    const kyc = `article.kyc[data-id="${env('KYC_ID')}"]`;
    await page.waitForSelector(`${kyc} img`);
    const loaded = await page.$$eval(`${kyc} img`, (imgs) => Promise.all(imgs.map((img) => (img.complete
      ? Promise.resolve(img.naturalWidth)
      : new Promise((res) => { img.onload = () => res(img.naturalWidth); img.onerror = () => res(0); })))));
    if (!loaded.length || loaded.some((w) => !(w > 0))) throw new Error(`KYC documents did not load: ${loaded}`);
    await page.click(`${kyc} button:has-text("Approve")`);
    await page.waitForSelector(kyc, { state: 'detached' });
    step('approved a KYC', { documents: loaded.length });

    await open(page, 'bookings');
    const booking = `tr[data-id="${env('BOOKING_ID')}"]`;
    await page.click(`${booking} a`);
    await page.waitForSelector('ol.timeline li');
    const timeline = await page.$$eval('ol.timeline li', (els) => els.map((e) => e.textContent));
    if (!timeline[0].startsWith('pending')) throw new Error(`timeline: ${timeline}`);
    step('booking timeline', { entries: timeline.length });

    await open(page, 'jobs');
    const job = `tr[data-id="${env('DEAD_JOB_ID')}"]`;
    await page.click(`${job} button:has-text("Requeue")`);
    await page.waitForSelector(job, { state: 'detached' });
    step('requeued a dead job');

    await open(page, 'payments');
    await page.click('button:has-text("Run the ledger check")');
    await page.waitForSelector('[data-ledger="ok"]');
    step('ledger check ok');

    await open(page, 'config');
    const masked = await page.$$eval('main .secret', (els) => els.length);
    const leaked = (await page.textContent('main')).includes(env('JWT_SECRET'));
    if (leaked || masked < 1) throw new Error(`config: masked ${masked}, leaked ${leaked}`);
    step('configuration masked', { masked });
    await signOut(page);

    // 3. Support staff see the support parts only.
    await signIn(page, env('SUPPORT_EMAIL'), env('SUPPORT_PASSWORD'));
    await settled(page, 'support');
    const links = await page.$$eval('nav a[data-page]', (els) => els.map((e) => e.dataset.page));
    if (links.join() !== 'support') throw new Error(`support sees ${links}`);
    step('support sees the support queue only');
    await signOut(page);

    // 4. Other roles are turned away, with nothing kept.
    await signIn(page, env('CUSTOMER_EMAIL'), env('CUSTOMER_PASSWORD'));
    await page.waitForSelector('#signin-error:has-text("admin and support")');
    const kept = await page.evaluate(() => sessionStorage.getItem('baitech.admin.token'));
    if (kept) throw new Error('a customer token was kept');
    step('customer refused');

    if (consoleErrors.length) throw new Error(`console errors:\n${consoleErrors.join('\n')}`);
    step('done');
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ failed: String(e && e.stack || e), consoleErrors })}\n`);
  process.exit(1);
});
