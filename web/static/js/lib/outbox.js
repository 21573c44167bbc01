// The worker's outbox: every report is written to IndexedDB first, then sent. Without network
// it waits there, with the Idempotency-Key made at capture, the capture time and the original
// GPS fix, and goes out by itself when the network returns. The key makes a retry (a lost
// answer, two tabs, a reload mid-send) return the first case instead of filing a second one.
import { openDB } from "../../vendor/idb/index.js";

const DB = "griddispatch-report";
const STORE = "outbox";
const KEEP_SENT = 100; // sent entries kept as the worker's history on this phone

const listeners = new Set();
let dbp;

function db() {
  dbp ??= openDB(DB, 1, {
    upgrade(d) {
      const s = d.createObjectStore(STORE, { keyPath: "key" });
      s.createIndex("user", "user");
    },
  });
  return dbp;
}

export function onOutboxChange(fn) {
  listeners.add(fn);
}
const changed = () => listeners.forEach((fn) => fn());

/** Entries of this user, newest capture first. */
export async function entries(user) {
  const all = await (await db()).getAllFromIndex(STORE, "user", user);
  return all.sort((a, b) => b.created.localeCompare(a.created));
}

/** Keep a new report (state "queued"); photos are JPEG Blobs. */
export async function enqueue(user, report, { photos = [], fix = null, event = null } = {}) {
  const entry = {
    key: crypto.randomUUID(),
    user,
    created: new Date().toISOString(),
    report: { ...report, captured_at: report.captured_at || new Date().toISOString() },
    fix,
    event,
    photos,
    photo_ids: [],
    state: "queued",
    attempts: 0,
    error: null,
    case: null,
  };
  await (await db()).put(STORE, entry);
  changed();
  return entry;
}

async function save(entry) {
  await (await db()).put(STORE, entry);
  changed();
}

export async function remove(key) {
  await (await db()).delete(STORE, key);
  changed();
}

/** Record a case's newer status (from the feed) on the entry that filed it. */
export async function noteCase(user, summary) {
  for (const e of await entries(user)) {
    if (e.case?.id === summary.id && e.case.status !== summary.status) {
      e.case = { ...e.case, status: summary.status };
      await save(e);
    }
  }
}

let running = null;

/**
 * Send every waiting entry of `user`, oldest first; one run at a time per tab, and one per
 * browser through the Web Locks API. Resolves to "done", "offline" or "auth" (sign in again).
 */
export function flush(api, user) {
  running ??= (async () => {
    try {
      return navigator.locks
        ? await navigator.locks.request("gd-outbox", () => drain(api, user))
        : await drain(api, user);
    } finally {
      running = null;
    }
  })();
  return running;
}

async function drain(api, user) {
  for (;;) {
    const waiting = (await entries(user)).filter((e) => e.state === "queued" || e.state === "sending").reverse();
    if (!waiting.length) break;
    for (const e of waiting) {
      const result = await send(api, e);
      if (result !== "sent" && result !== "failed") return result;
    }
  }
  await prune(user);
  return "done";
}

async function send(api, e) {
  e.state = "sending";
  e.attempts += 1;
  await save(e);
  try {
    for (let i = e.photo_ids.length; i < e.photos.length; i++) {
      e.photo_ids.push(await api.uploadPhoto(e.photos[i]));
      await save(e);
    }
    const body = { ...e.report, photo_ids: e.photo_ids };
    const out = await api.post("/reports", body, { "Idempotency-Key": e.key });
    e.state = "sent";
    e.sent_at = new Date().toISOString();
    e.case = { id: out.id, case_no: out.case_no, status: out.status, joined_existing: out.joined_existing };
    e.photos = []; // the server has them now
    e.error = null;
    await save(e);
    return "sent";
  } catch (err) {
    if (err.retryable || err.status === 401 || err.status === undefined) {
      e.state = "queued";
      e.error = err.status === 401 ? "auth" : "offline";
      await save(e);
      return err.status === 401 ? "auth" : "offline";
    }
    e.state = "failed";
    e.error = `${err.code}: ${err.message}`;
    await save(e);
    return "failed";
  }
}

async function prune(user) {
  const sent = (await entries(user)).filter((e) => e.state === "sent");
  for (const e of sent.slice(KEEP_SENT)) await (await db()).delete(STORE, e.key);
}
