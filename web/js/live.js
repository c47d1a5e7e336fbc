// Load, then follow (docs/architecture.md): a list the page shows is the
// answer of a load, which carries the sequence number it is consistent with
// (`seq`), and then the events after that number. Each item remembers the
// number it is known at; an event changes it only when it is newer. Events
// that come while a load is under way are kept, and those newer than the
// load's number are applied again once it lands; a load that lands after a
// newer one is dropped. No DOM here: tests/browser/live.test.mjs runs it.

export class LiveList {
  // keyOf(item) → its key; itemOf(ev) → the item an event carries, or null;
  // admit(item, ev) → may an event add an item the list does not hold.
  constructor({ keyOf, itemOf, admit }) {
    this.keyOf = keyOf;
    this.itemOf = itemOf;
    this.admit = admit || (() => true);
    this.items = new Map();	// key → { item, seq }
    this.seq = -1;		// the number of the load shown; -1: none yet
    this.inFlight = 0;
    this.kept = [];		// events seen while a load was under way
  }

  // A load starts: what comes from now on is kept for it.
  begin() { this.inFlight += 1; }

  // A load landed: items read at seq. Returns false (and changes nothing)
  // when a newer load was shown already.
  land(items, seq) {
    assertSeq(seq);
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (seq < this.seq) {
      if (this.inFlight === 0) this.kept = [];
      return false;
    }
    this.seq = seq;
    this.items = new Map();
    for (const it of items) this.items.set(this.keyOf(it), { item: it, seq });
    for (const ev of this.kept) if (ev.seq > seq) this.apply(ev);
    this.kept = this.inFlight === 0 ? [] : this.kept.filter((ev) => ev.seq > seq);
    return true;
  }

  // A load failed: nothing lands.
  fail() {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (this.inFlight === 0) this.kept = [];
  }

  // An event: the key of the item it changed, or null when it changed none.
  event(ev) {
    if (typeof ev.seq !== 'number') return null;
    if (this.inFlight > 0) this.kept.push(ev);
    if (this.seq < 0) return null;
    return this.apply(ev);
  }

  apply(ev) {
    const it = this.itemOf(ev);
    if (!it || ev.seq <= this.seq) return null;
    const k = this.keyOf(it);
    const had = this.items.get(k);
    if (had ? ev.seq <= had.seq : !this.admit(it, ev)) return null;
    this.items.set(k, { item: it, seq: ev.seq });
    return k;
  }

  get(k) { const e = this.items.get(k); return e ? e.item : undefined; }
  values() { return [...this.items.values()].map((e) => e.item); }
}

function assertSeq(seq) {
  if (typeof seq !== 'number' || seq < 0) throw new Error(`a list answer without its seq (${seq})`);
}

// Loads of one view, newest wins: fn's result is handed on only if no
// load started after it (for views that reload on events rather than
// apply them: each reload starts after the event that asked for it).
export function latest(fn) {
  let gen = 0;
  return async (...args) => {
    const mine = ++gen;
    const r = await fn(...args);
    return { current: mine === gen, value: r };
  };
}
