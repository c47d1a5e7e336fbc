// The web app in a real browser: Debian's chromium, headless, driven by
// playwright-core, against the real outpostd and agents web.sh started.
//
// Environment: OUTPOST_URL, ADMIN_TOKEN, VIEWER_TOKEN, ARTIFACTS (where the
// screenshots go), SYNC (a directory: this script asks web.sh for a server
// restart there), AGENTS_DIR (the agents' work directories, each with its
// worker's own token), PLAYWRIGHT (the playwright-core module's path), CHROMIUM.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const { chromium } = await import(process.env.PLAYWRIGHT);
const base = process.env.OUTPOST_URL;
const artifacts = process.env.ARTIFACTS;
const sync = process.env.SYNC;
mkdirSync(artifacts, { recursive: true });

let step = 'start';
const problems = [];
function check(cond, what) {
  if (!cond) throw new Error(`${step}: ${what}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function shot(page, name) {
  // A value the DOM helpers let through as text would show as "null" or "undefined".
  const stray = await page.evaluate(() => {
    const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const bad = [];
    for (let n = w.nextNode(); n; n = w.nextNode()) {
      if (/^(null|undefined|NaN|\[object Object\])$/.test(n.nodeValue.trim())) bad.push(n.parentElement.outerHTML.slice(0, 120));
    }
    return bad;
  });
  if (stray.length) problems.push(`${name}: stray text: ${stray.join(' | ')}`);
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

function watch(page, who) {
  // No request may leave the site, and the CSP must never have to refuse one.
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith(base.replace('http', 'ws'))) {
      problems.push(`${who}: a request left the site: ${u}`);
    }
  });
  page.on('console', (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/i.test(t)) problems.push(`${who}: CSP: ${t}`);
    if (m.type() === 'error' && !/status of 40[13]|status of 409|status of 422|status of 400|ERR_CONNECTION_REFUSED|WebSocket connection/.test(t)) {
      problems.push(`${who}: console error: ${t}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`${who}: uncaught: ${e.message}`));
  page.on('dialog', (d) => d.accept());
}

async function signIn(page, token) {
  await page.goto(`${base}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15000 });
}

// A call with the admin token, from outside the browser (another client).
function adminCall(method, path, body) {
  return fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${process.env.ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await ctx.newPage();
watch(page, 'admin');
page.setDefaultTimeout(20000);

try {
  // ---- sign in: a bad token is refused at its field ----
  step = 'sign-in';
  await page.goto(`${base}/`);
  await shot(page, '01-sign-in');
  await page.getByLabel('Token').fill('opt_not-a-real-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const tokenInput = page.getByLabel('Token');
  await page.locator('[data-error-for="token"]:not(:empty)').waitFor();
  check(await tokenInput.getAttribute('aria-invalid') === 'true', 'a bad token marks the token field invalid');
  await signIn(page, process.env.ADMIN_TOKEN);
  const cookies = await ctx.cookies();
  const c = cookies.find((x) => x.name === 'outpost_session');
  check(c && c.httpOnly && c.sameSite === 'Strict', `the session cookie is HttpOnly and SameSite=Strict: ${JSON.stringify(c)}`);
  check(c.value !== process.env.ADMIN_TOKEN, 'the cookie holds a session id, not the token');
  check(await page.evaluate(() => document.cookie) === '', 'no script can read the cookie');
  await page.locator('[data-count="pending"]').waitFor();
  await page.locator('tr[data-worker="w1"]').waitFor();
  // The capacity is GET /api/v1/site's: w1 and w2 take instances, broken-1 (failed) does not.
  const capText = (await page.locator('[data-capacity]').textContent()).trim();
  check(capText === '2 of 3 workers take instances; in use: cpu 0 / 6, memory 0 / 6144 MB, slots 0 / 6.',
    `the dashboard's capacity line: got "${capText}"`);
  await shot(page, '02-dashboard');

  // ---- a field error shown at its field ----
  step = 'field error';
  await page.goto(`${base}/#/instances`);
  const create = page.locator('form[aria-labelledby="create-title"]');
  await create.getByLabel('Definition').selectOption('lab');
  await create.getByLabel('Owner').fill('ana');
  const start = await create.getByLabel('Slot starts').inputValue();
  // An end before the start: the server's 422 names timeslot_end.
  const d = new Date(start);
  d.setHours(d.getHours() - 1);
  const p = (n) => String(n).padStart(2, '0');
  await create.getByLabel('Slot ends').fill(`${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`);
  await create.getByRole('button', { name: 'Create' }).click();
  const endErr = create.locator('[data-error-for="timeslot_end"]');
  await endErr.filter({ hasText: /timeslot_end/ }).waitFor();
  check(await create.getByLabel('Slot ends').getAttribute('aria-invalid') === 'true', 'the end field is marked invalid');
  check(await create.locator('[data-error-for="owner"]').textContent() === '', 'no error at another field');
  await shot(page, '03-instances-field-error');

  // ---- create an instance and watch it reach running, live ----
  step = 'create and run';
  const end = new Date(Date.now() + 3600e3);
  await create.getByLabel('Slot ends').fill(`${end.getFullYear()}-${p(end.getMonth() + 1)}-${p(end.getDate())}T${p(end.getHours())}:${p(end.getMinutes())}`);
  await create.getByLabel('Slot starts').fill(start);
  // A reload would lose this mark: every check below says none happened.
  await page.evaluate(() => { window.noReload = true; });
  const notReloaded = async () => page.evaluate(() => window.noReload === true);
  await create.getByRole('button', { name: 'Create' }).click();
  const row = page.locator('tr[data-instance]').last();
  await row.waitFor();
  const id = await row.getAttribute('data-instance');
  const rowOf = page.locator(`tr[data-instance="${id}"]`);
  await page.locator(`tr[data-instance="${id}"][data-state="running"]`).waitFor({ timeout: 30000 });
  check(await notReloaded(), 'running showed without a reload');
  await shot(page, '04-instances-running');

  // ---- its usage, as its worker's heartbeat brings it, in another tab ----
  step = 'usage';
  const admin = { Authorization: `Bearer ${process.env.ADMIN_TOKEN}` };
  const onWorker = (await (await fetch(`${base}/api/v1/instances/${id}`, { headers: admin })).json()).worker;
  const own = readFileSync(join(process.env.AGENTS_DIR, onWorker, 'worker.token'), 'utf8').trim();
  const hb = await fetch(`${base}/api/v1/agent/heartbeat`, {
    method: 'POST', headers: { Authorization: `Bearer ${own}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: onWorker, usage: [{ id: Number(id), cpu_usec: 1000000, cpu_millicores: 980,
      memory_bytes: 100 * 1048576, memory_peak_bytes: 120 * 1048576 }] }),
  });
  check(hb.status === 200, `a heartbeat with usage: ${hb.status}`);
  const upage = await ctx.newPage();
  watch(upage, 'usage');
  upage.setDefaultTimeout(20000);
  await upage.goto(`${base}/#/instances/${id}`);
  // The figures are the last sample's: this one's, or the agent's own if it contains.
  await upage.locator('dd[data-field="cpu used"]', { hasText: /^\d+\.\d\d cores$/ }).waitFor();
  await upage.locator('dd[data-field="memory"]', { hasText: /^\d+ MB \/ 256 MB \(peak \d+ MB\)$/ }).waitFor();
  await upage.goto(`${base}/#/instances?worker=${onWorker}`);
  await upage.locator(`tr[data-instance="${id}"] td[data-usage]`, { hasText: /cores/ }).waitFor();
  await upage.goto(`${base}/#/workers`);
  const iso = (await upage.locator('tr[data-worker="w1"] td[data-isolation]').textContent()).trim();
  check(['none', 'cgroup-v1', 'cgroup-v2'].includes(iso), `w1's isolation on the workers page: "${iso}"`);
  await shot(upage, '04b-workers-isolation');
  await upage.close();

  // ---- stop it: stopped, with its grade ----
  step = 'stop';
  await rowOf.getByRole('button', { name: `stop instance ${id}`, exact: true }).click();
  await page.locator(`tr[data-instance="${id}"][data-state="stopped"]`).waitFor({ timeout: 30000 });
  const grade = await page.locator(`tr[data-instance="${id}"] td[data-grade]`).textContent();
  check(grade.trim() === '87 / 100', `the grade in the row: got "${grade}"`);
  check(await notReloaded(), 'stopped showed without a reload');
  await shot(page, '05-instances-stopped');

  // ---- the dashboard counts it, and says what happened in the server's words ----
  step = 'dashboard counts';
  await page.goto(`${base}/#/`);
  await page.locator('[data-count="stopped"] .display-6', { hasText: /^1$/ }).waitFor();
  const lastState = await page.evaluate(async () => {
    const evs = (await (await fetch('/api/v1/events?since=0&limit=1000&types=instance.state')).json()).items;
    return evs[evs.length - 1];
  });
  check(/^[a-z]+ -> stopped/.test(lastState.summary), `the server's summary of the stop: "${lastState.summary}"`);
  const shown = page.locator(`.event-list li[data-seq="${lastState.seq}"] [data-summary]`);
  await shown.waitFor();
  check(await shown.textContent() === lastState.summary, 'the dashboard shows the server\'s summary');

  step = 'instance detail';
  await page.goto(`${base}/#/instances/${id}`);
  await page.locator('dd[data-field="grade"]', { hasText: '87 / 100' }).waitFor();
  await page.locator('[aria-label="Transitions"] li', { hasText: 'stopped' }).last().waitFor();
  await page.locator('[data-placement]').filter({ hasText: /^on w[12]; placed by binpack/ }).waitFor();
  await page.locator('pre.log-view', { hasText: 'graded' }).waitFor();
  await shot(page, '06-instance-detail');

  // ---- cordon a worker ----
  step = 'cordon';
  await page.goto(`${base}/#/workers`);
  await page.getByRole('button', { name: 'cordon worker w2', exact: true }).click();
  await page.locator('tr[data-worker="w2"][data-state="cordoned"]').waitFor();
  check(await page.getByRole('button', { name: 'uncordon worker w2' }).isEnabled(), 'uncordon is offered');
  await shot(page, '07-workers');

  // ---- a failed worker is terminated (its actions come from GET /api/v1/states) ----
  step = 'terminate a failed worker';
  await page.locator('tr[data-worker="broken-1"][data-state="failed"]').waitFor();
  const termBroken = page.getByRole('button', { name: 'terminate worker broken-1', exact: true });
  check(await termBroken.isEnabled(), 'terminate is offered for a failed worker');
  check(!(await page.getByRole('button', { name: 'cordon worker broken-1', exact: true }).isEnabled()), 'cordon is not offered for a failed worker');
  await page.locator('#w-term').check();
  await termBroken.click();
  await page.locator('tr[data-worker="broken-1"][data-state="terminated"]').waitFor();

  // ---- a runbook: a missing parameter at its field, a dry run's output, a real run's ----
  step = 'runbook';
  await page.goto(`${base}/#/runbooks`);
  await page.locator('[data-runbook="greet"]').waitFor();
  await shot(page, '08-runbooks');
  await page.locator('[data-runbook="greet"]').click();
  const rbForm = page.locator('form[aria-labelledby="rb-form-title"]');
  await rbForm.getByRole('button', { name: 'Start' }).click();
  await rbForm.locator('[data-error-for="params.who"]:not(:empty)').waitFor();
  await rbForm.getByLabel('who (required)').fill('ana');
  check(await rbForm.getByLabel(/Dry run/).isChecked(), 'dry run is the default');
  await rbForm.getByRole('button', { name: 'Start' }).click();
  // A dry run starts no program: it says what would run.
  await page.locator('pre.run-output', { hasText: 'would run ["sh","-c"' }).waitFor();
  await page.locator('[data-run-status="succeeded"]').waitFor();
  await page.locator('pre.run-output', { hasText: 'OUTPOST_PARAM_WHO' }).waitFor();
  check(!(await page.locator('pre.run-output', { hasText: 'hello ana' }).count()), 'a dry run ran the program');
  await page.locator('tr[data-run] [data-state="succeeded"]').first().waitFor();
  await shot(page, '09-runbook-dry-run');
  await rbForm.getByLabel(/Dry run/).uncheck();
  await rbForm.getByRole('button', { name: 'Start' }).click();
  await page.locator('pre.run-output', { hasText: 'hello ana dry=0' }).waitFor();
  await page.locator('pre.run-output', { hasText: 'second line' }).waitFor();
  await page.locator('[data-run-status="succeeded"]').waitFor();

  // ---- the other pages ----
  step = 'pages';
  await page.goto(`${base}/#/definitions`);
  await page.locator('tr[data-definition="lab"]').waitFor();
  await shot(page, '10-definitions');
  await page.goto(`${base}/#/definitions/lab`);
  await page.locator('label[for="mode-json"]').click();
  check(await page.getByRole('radio', { name: 'JSON' }).isChecked(), 'the JSON mode is chosen');
  const json = page.getByLabel('The definition as JSON');
  const body = JSON.parse(await json.inputValue());
  body.resources.cpu = 'two';
  await json.fill(JSON.stringify(body));
  await page.getByRole('button', { name: 'Create the new version' }).click();
  await page.locator('[data-error-for="json"]', { hasText: 'resources.cpu' }).waitFor();
  body.resources.cpu = 1;
  body.description = 'made in the browser';
  await json.fill(JSON.stringify(body));
  await page.getByRole('button', { name: 'Create the new version' }).click();
  await page.getByRole('listitem').filter({ hasText: 'version 2 (latest)' }).waitFor();
  await shot(page, '11-definition');
  step = 'scale';
  await page.goto(`${base}/#/templates`);
  const pcs = page.locator('[data-template="pcs"]');
  await pcs.locator('[data-desired="0"]').waitFor();
  await pcs.getByLabel(/^Workers/).fill('5');
  await pcs.getByRole('button', { name: 'Scale' }).click();
  await pcs.locator('[data-error-for="count"]', { hasText: 'max 2' }).waitFor();
  await pcs.getByLabel(/^Workers/).fill('1');
  await pcs.getByRole('button', { name: 'Scale' }).click();
  await page.locator('[data-template="pcs"] [data-desired="1"]').waitFor();
  await shot(page, '12-templates');
  await page.goto(`${base}/#/workers`);
  await page.locator('tr[data-worker="pcs-1"][data-state="provisioning"]').waitFor();

  // ---- load, then follow: what happens while a list loads, or is shown ----
  // The scaler's provision writes a scaling.action event, which carries no
  // worker: the shown list loads again, and pcs-2 shows without a reload.
  step = 'scaled while shown';
  await page.evaluate(() => { window.noReload = true; });
  const scaled = await adminCall('POST', '/api/v1/templates/pcs/scale', { count: 2 });
  check(scaled.status === 200, `scaling pcs to 2 answered ${scaled.status}`);
  await page.locator('tr[data-worker="pcs-2"][data-state="provisioning"]').waitFor({ timeout: 10000 });
  check(await notReloaded(), 'pcs-2 showed without a reload');
  // A change made after the server read the list, whose event comes before
  // the page has its answer: the answer is held back here (the browser sees
  // it 400 ms late), so each time the event comes while the page loads.
  step = 'changed while the list loads';
  for (let k = 0; k < 4; k += 1) {
    await page.goto(`${base}/#/events`);
    await page.locator('[data-page="events"]').waitFor();
    let read;
    const served = new Promise((resolve) => { read = resolve; });
    await page.route(/\/api\/v1\/workers\?/, async (route) => {
      const answer = await route.fetch();
      read();
      await sleep(400);
      await route.fulfill({ response: answer });
    });
    const before = (await (await adminCall('GET', '/api/v1/workers/w2')).json()).state;
    const action = before === 'cordoned' ? 'uncordon' : 'cordon';
    await page.evaluate(() => { location.hash = '#/workers'; });
    await served;
    const done = await adminCall('POST', `/api/v1/workers/w2/${action}`);
    check(done.status === 200, `${action} w2 answered ${done.status}`);
    const want = (await done.json()).state;
    await page.locator(`tr[data-worker="w2"][data-state="${want}"]`).waitFor({ timeout: 5000 })
      .catch(() => { throw new Error(`${step}: round ${k + 1}: w2 did not show ${want} (${action} while the list loaded)`); });
    await page.unroute(/\/api\/v1\/workers\?/);
  }
  check(await notReloaded(), 'the workers page followed without a reload');
  await page.goto(`${base}/#/events`);
  await page.locator('.event-list li[data-type="worker.state"]').first().waitFor();
  await page.getByLabel('Types').fill('worker.*');
  check(await page.locator('.event-list li:not([data-type^="worker."])').count() === 0, 'the type filter keeps worker events only');
  const cordoned = page.locator('.event-list li[data-type="worker.state"] [data-summary]', { hasText: 'ready -> cordoned' });
  check(await cordoned.count() > 0, 'the events page shows the server\'s summary of the cordon');
  await shot(page, '13-events');

  // ---- the stream after a drop: the server restarts, the page resumes ----
  step = 'drop and resume';
  await page.goto(`${base}/#/instances`);
  await page.locator('#conn[data-state="live"]').waitFor();
  await page.evaluate(() => { window.noReload = true; });
  const seqBefore = await page.evaluate(async () => (await (await fetch('/api/v1/events?since=9223372036854775807&limit=1')).json()).last_seq);
  writeFileSync(join(sync, 'want-restart'), '1');
  await page.locator('#conn[data-state="offline"]').waitFor({ timeout: 20000 });
  await shot(page, '14-offline');
  while (!existsSync(join(sync, 'restarted'))) await sleep(100);
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 30000 });
  const since = Number(await page.locator('#conn').getAttribute('data-since'));
  check(since >= seqBefore, `it subscribed again from the last event it saw (${since}), not from 0 (before: ${seqBefore})`);
  // Made while the page was away from the server: it shows without a reload.
  const made = await page.evaluate(async () => {
    const now = new Date();
    const r = await fetch('/api/v1/instances', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Outpost-CSRF': '1' },
      body: JSON.stringify({ definition: 'lab', owner: 'after-restart', timeslot_start: now.toISOString(), timeslot_end: new Date(now.getTime() + 600e3).toISOString() }),
    });
    return (await r.json()).id;
  });
  await page.locator(`tr[data-instance="${made}"]`).waitFor();
  check(await notReloaded(), 'the page resumed without a reload');

  // ---- a phone's width ----
  step = 'narrow';
  await page.setViewportSize({ width: 375, height: 800 });
  await page.getByRole('button', { name: 'Show the menu' }).click();
  await page.getByRole('link', { name: 'Workers' }).click();
  await page.locator('tr[data-worker="w1"]').waitFor();
  await shot(page, '15-workers-phone');
  await page.setViewportSize({ width: 1400, height: 900 });

  // ---- a viewer: the same site, read-only ----
  step = 'viewer';
  const vctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const vpage = await vctx.newPage();
  watch(vpage, 'viewer');
  await signIn(vpage, process.env.VIEWER_TOKEN);
  await vpage.goto(`${base}/#/instances`);
  await vpage.locator(`tr[data-instance="${id}"]`).waitFor();
  check(await vpage.locator('form[aria-labelledby="create-title"]').count() === 0, 'a viewer has no create form');
  check(await vpage.locator('button[data-action="stop"]').count() === 0, 'a viewer has no stop button');
  await vpage.goto(`${base}/#/workers`);
  await vpage.locator('tr[data-worker="w1"]').waitFor();
  check(await vpage.locator('button[data-action="cordon"]').count() === 0, 'a viewer has no cordon button');
  // Even by hand, a viewer's cookie cannot change anything.
  const st = await vpage.evaluate(async () => (await fetch('/api/v1/workers/w1/cordon', { method: 'POST', headers: { 'X-Outpost-CSRF': '1' } })).status);
  check(st === 403, `a viewer's POST is refused with 403, got ${st}`);
  await shot(vpage, '16-viewer-workers');
  await vctx.close();

  // ---- sign out ----
  step = 'sign out';
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Token').waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
  check(after === 401, `after signing out the session is gone (GET /api/v1/session: ${after})`);
  await page.reload();
  await page.getByLabel('Token').waitFor();
  await shot(page, '17-signed-out');

  check(problems.length === 0, `problems seen:\n  ${problems.join('\n  ')}`);
  console.log(`web app scenario passed; screenshots in ${artifacts}`);
} catch (e) {
  await shot(page, 'failure').catch(() => {});
  console.error(`FAIL: ${e.message}`);
  if (problems.length) console.error(`also:\n  ${problems.join('\n  ')}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
