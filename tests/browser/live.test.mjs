// The web app's merge rule (web/js/live.js) in node, no browser: a list read
// at seq N and the events N-2..N+3, in every order the app can see them in
// (the stream is in order; the load starts before any event newer than N
// is seen, and lands anywhere after), must end as the site is after N+3.
// Also: two loads landing out of order, a load that fails, an item a filter
// keeps out. Run by live.sh; the first argument is the web directory.
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const web = process.argv[2];
const { LiveList } = await import(pathToFileURL(join(web, 'js/live.js')).href);

let failures = 0;
let checks = 0;
function check(cond, what) {
  checks += 1;
  if (!cond) {
    failures += 1;
    console.error(`FAIL: ${what}`);
  }
}

// The site: workers a, b (c appears at 10, d at 12), each event carrying its
// worker as it is after the event, as the server's do.
const N = 10;
const events = [
  { seq: 8, name: 'a', state: 'cordoned' },
  { seq: 9, name: 'b', state: 'draining' },
  { seq: 10, name: 'c', state: 'provisioning' },
  { seq: 11, name: 'a', state: 'ready' },
  { seq: 12, name: 'd', state: 'provisioning' },
  { seq: 13, name: 'b', state: 'stopped' },
].map((e) => ({ seq: e.seq, kind: 'worker', type: 'worker.state', data: { worker: { name: e.name, state: e.state, v: e.seq } } }));
const start = { a: 'ready', b: 'ready' };

function siteAt(seq) {
  const s = { ...start };
  for (const ev of events) if (ev.seq <= seq) s[ev.data.worker.name] = ev.data.worker.state;
  return s;
}
const listAt = (seq) => Object.entries(siteAt(seq)).map(([name, state]) => ({ name, state }));
const shown = (live) => Object.fromEntries(live.values().map((w) => [w.name, w.state]));
const same = (x, y) => JSON.stringify(Object.entries(x).sort()) === JSON.stringify(Object.entries(y).sort());

const make = () => new LiveList({
  keyOf: (w) => w.name,
  itemOf: (ev) => (ev.data && ev.data.worker) || null,
});

// Every interleaving: the load begins after `b` events (only those at or
// below N can come before it: the list is read after it begins) and lands
// after `l` events (b <= l <= 6).
const want = siteAt(13);
let orders = 0;
for (let b = 0; b <= events.length; b += 1) {
  if (b > 0 && events[b - 1].seq > N) break;
  for (let l = b; l <= events.length; l += 1) {
    const live = make();
    const steps = [];
    for (let i = 0; i <= events.length; i += 1) {
      if (i === b) { live.begin(); steps.push('begin'); }
      if (i === l) { live.land(listAt(N), N); steps.push(`land@${N}`); }
      if (i < events.length) { live.event(events[i]); steps.push(String(events[i].seq)); }
    }
    orders += 1;
    check(same(shown(live), want), `${steps.join(' ')}: shows ${JSON.stringify(shown(live))}, want ${JSON.stringify(want)}`);
  }
}

// The rule the app had: events dropped while the page loads, every later
// one applied whatever its number. The same orders must catch it out, or
// this test could not fail.
{
  let caught = 0;
  for (let b = 0; b <= 3; b += 1) {
    for (let l = b; l <= events.length; l += 1) {
      const m = new Map();
      let loading = false;
      for (let i = 0; i <= events.length; i += 1) {
        if (i === b) loading = true;
        if (i === l) { m.clear(); for (const w of listAt(N)) m.set(w.name, w.state); loading = false; }
        if (i < events.length && !loading && i >= l) m.set(events[i].data.worker.name, events[i].data.worker.state);
      }
      if (!same(Object.fromEntries(m), want)) caught += 1;
    }
  }
  check(caught > 0, 'the old rule (drop while loading, apply all after) is wrong in some order');
}

// Two loads that overlap, the newer landing first: the older is dropped,
// and what came meanwhile stays applied.
{
  const live = make();
  live.begin();			// load 1, reads at 9
  live.event(events[0]);
  live.event(events[1]);
  live.begin();			// load 2, reads at 11
  live.event(events[2]);
  live.event(events[3]);
  check(live.land(listAt(11), 11) === true, 'the newer load lands');
  live.event(events[4]);
  check(live.land(listAt(9), 9) === false, 'the older load, landing after, is dropped');
  live.event(events[5]);
  check(same(shown(live), want), `overlapping loads: shows ${JSON.stringify(shown(live))}`);
  check(live.kept.length === 0, 'nothing is kept once no load is under way');
}

// A reload that began before an event and read before it: the event, seen
// while it was under way, is applied again after it lands.
{
  const live = make();
  live.begin();
  live.land(listAt(10), 10);
  live.begin();			// a reload reads at 10 ...
  live.event(events[3]);	// ... 11 comes before its answer
  live.land(listAt(10), 10);
  check(live.get('a').state === 'ready', 'an event seen during a reload that read before it is kept');
}

// A failed load changes nothing and keeps nothing.
{
  const live = make();
  live.begin();
  live.land(listAt(10), 10);
  live.begin();
  live.event(events[3]);
  live.fail();
  check(live.kept.length === 0 && live.get('a').state === 'ready', 'a failed reload keeps the events applied');
}

// An item a filter keeps out is not added by an event at or below the list's number.
{
  const live = new LiveList({
    keyOf: (w) => w.name,
    itemOf: (ev) => (ev.data && ev.data.worker) || null,
    admit: (w, ev) => ev.seq > 0,
  });
  live.begin();
  live.land(listAt(N).filter((w) => w.name !== 'c'), N);
  live.event(events[2]);
  check(live.get('c') === undefined, 'an event at the list\'s number does not add what the list left out');
  live.event(events[4]);
  check(live.get('d') && live.get('d').state === 'provisioning', 'a newer one adds its item');
}

if (failures) {
  console.error(`${failures} of ${checks} checks failed`);
  process.exit(1);
}
console.log(`live.js: ${checks} checks passed (${orders} orders of a load at ${N} and events ${N - 2} to ${N + 3})`);
