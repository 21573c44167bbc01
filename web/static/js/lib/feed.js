// The live feed (WS /api/v1/feed, docs/api.md "Live feed"): authenticate, follow events in seq
// order, reconnect by itself with backoff and resume from the last seq; on resync (or on a first
// connection) reload the snapshot and continue from its seq.

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];
const SILENCE_MS = 45000; // heartbeats come every ~15 s; this long without one = dead link

export class Feed {
  /**
   * @param {object} o
   * @param {import("./api.js").Api} o.api  signed-in API (its token authenticates the socket)
   * @param {(snap) => void} o.onSnapshot  open cases as of snap.seq; called before events follow
   * @param {(ev) => void} o.onEvent       one event message (has seq)
   * @param {(state) => void} o.onState    "connecting" | "live" | "offline"
   * @param {() => void} o.onAuthLost      the token was refused (4401)
   * @param {boolean} o.snapshot           load the snapshot on start (else start live from now)
   * @param {number} o.history             also replay this many events before the first snapshot
   *                                       to onHistory (already part of the snapshot: a list only)
   */
  constructor({ api, onSnapshot = () => {}, onEvent, onHistory = () => {}, onState = () => {}, onAuthLost = () => {}, snapshot = true, history = 0 }) {
    Object.assign(this, { api, onSnapshot, onEvent, onHistory, onState, onAuthLost, wantSnapshot: snapshot, history });
    this.seq = null;
    this.replayFrom = null; // first connection only: since = snapshot seq - history
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.timer = null;
    this.watchdog = null;
    addEventListener("online", () => this.reconnectNow());
    addEventListener("offline", () => this.drop());
  }

  async start() {
    this.stopped = false;
    if (this.wantSnapshot) await this.resync();
    if (this.history && this.seq !== null) this.replayFrom = Math.max(0, this.seq - this.history);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    this.ws?.close(1000);
  }

  /** GET the snapshot; the feed continues from its seq. */
  async resync() {
    const snap = await this.api.get("/feed/snapshot");
    this.seq = snap.seq;
    this.onSnapshot(snap);
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.onState(navigator.onLine ? "connecting" : "offline");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const from = this.replayFrom ?? this.seq;
    const since = from === null ? "" : `?since=${from}`;
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/api/v1/feed${since}`);
    } catch {
      return this.retry();
    }
    this.ws = ws;
    let resync = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", token: this.api.token }));
      this.alive();
    };
    ws.onmessage = (m) => {
      this.alive();
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      if (msg.type === "ready") {
        this.attempt = 0;
        if (this.replayFrom !== null && msg.since !== this.replayFrom) this.replayFrom = null;
        if (this.seq === null) this.seq = msg.head;
        this.onState("live");
      } else if (msg.type === "resync") {
        resync = true;
      } else if (typeof msg.seq === "number") {
        if (this.seq !== null && msg.seq <= this.seq) {
          if (this.replayFrom !== null) this.onHistory(msg); // older than the snapshot
          return;
        }
        this.seq = msg.seq;
        try {
          this.onEvent(msg);
        } catch (err) {
          console.error("feed handler failed", err);
        }
      }
    };
    ws.onclose = async (e) => {
      this.replayFrom = null;
      clearTimeout(this.watchdog);
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (e.code === 4401) {
        this.onState("offline");
        this.onAuthLost();
        return;
      }
      if (resync || e.code === 4409) {
        try {
          await this.resync();
          return this.connect();
        } catch {
          /* fall through to a later retry */
        }
      }
      this.retry();
    };
  }

  retry() {
    this.onState(navigator.onLine ? "connecting" : "offline");
    const base = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)];
    this.timer = setTimeout(() => this.connect(), base + Math.random() * base * 0.3);
  }

  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    if (this.ws && this.ws.readyState <= 1) return;
    this.connect();
  }

  alive() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.drop(), SILENCE_MS);
  }

  /** Give up a socket that went silent (a dead link may take minutes to report its close). */
  drop() {
    const ws = this.ws;
    if (!ws || this.stopped) return;
    this.ws = null;
    clearTimeout(this.watchdog);
    ws.onclose = null;
    ws.close();
    this.retry();
  }
}
