// The event stream: one websocket to /api/v1/events (subprotocol
// outpost.events.v1), authenticated by the session cookie. It subscribes
// from the last sequence number it has seen, so after a drop (or a
// {"resync"}) it gets what it missed and never an event twice.

export class EventStream {
  constructor() {
    this.lastSeq = 0;
    this.state = 'offline';
    this.ws = null;
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.failures = 0;
    this.timer = null;
    this.stopped = true;
    this.onDrop = () => {};
  }

  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  onState(fn) { this.stateListeners.add(fn); fn(this.state, this); return () => this.stateListeners.delete(fn); }

  setState(s) {
    this.state = s;
    for (const fn of this.stateListeners) fn(s, this);
  }

  start(since) {
    this.lastSeq = since;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, 'signed out');
    this.ws = null;
    this.setState('offline');
  }

  subscribe(ws) {
    this.subscribedFrom = this.lastSeq;
    ws.send(JSON.stringify({ subscribe: { since: this.lastSeq } }));
  }

  connect() {
    clearTimeout(this.timer);
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    let ws;
    try {
      ws = new WebSocket(`${scheme}${location.host}/api/v1/events`, 'outpost.events.v1');
    } catch (e) {
      this.retryLater();
      return;
    }
    this.ws = ws;
    this.setState('connecting');
    ws.onopen = () => {
      this.failures = 0;
      this.setState('catching-up');
      this.subscribe(ws);
    };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (e) { return; }
      if (typeof msg.seq === 'number') {
        if (msg.seq <= this.lastSeq) return;
        this.lastSeq = msg.seq;
        for (const fn of this.listeners) {
          try { fn(msg); } catch (e) { console.error(e); }
        }
      } else if (msg.caught_up !== undefined) {
        if (msg.caught_up > this.lastSeq) this.lastSeq = msg.caught_up;
        this.setState('live');
      } else if (msg.resync) {
        // Too far behind: subscribe again from where we are; the replay follows.
        this.setState('catching-up');
        this.subscribe(ws);
      } else if (msg.error) {
        console.warn('event stream:', msg.error.message);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.setState('offline');
      this.failures += 1;
      this.onDrop(this.failures);
      this.retryLater();
    };
  }

  retryLater() {
    if (this.stopped) return;
    // 0.5 s, 1 s, 2 s ... up to 10 s, so a server back from a restart is found soon.
    const wait = Math.min(10000, 500 * 2 ** Math.min(this.failures, 5));
    this.timer = setTimeout(() => this.connect(), wait);
  }
}

// Does an event type match a pattern: exact, "*", or "prefix.*" (as the server's).
export function typeMatches(type, pattern) {
  if (pattern === '*' || pattern === type) return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return false;
}
