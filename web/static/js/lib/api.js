// The REST API (docs/api.md) with the signed-in user's bearer token; errors in the API's shape.

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
  /** No answer at all (offline, server away) or a 503: worth retrying later. */
  get retryable() {
    return this.status === 0 || this.status === 503 || this.status === 502 || this.status === 504;
  }
}

export class Api {
  constructor({ token = null, onUnauthorized = null } = {}) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
    this.photoCache = new Map();
  }

  async request(method, path, { json, form, body, headers = {}, signal } = {}) {
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    if (json !== undefined) {
      h["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = new URLSearchParams(form);
    }
    let res;
    try {
      res = await fetch(API + path, { method, headers: h, body, signal, cache: "no-store" });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "network unreachable");
    }
    if (res.status === 204) return null;
    const type = res.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await res.json().catch(() => null) : await res.blob();
    if (!res.ok) {
      const e = data?.error || {};
      const err = new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText, e.details);
      if (res.status === 401 && this.token && this.onUnauthorized) this.onUnauthorized(err);
      throw err;
    }
    return data;
  }

  get(path, params) {
    const q = params ? "?" + new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "")) : "";
    return this.request("GET", path + q);
  }

  post(path, json, headers) {
    return this.request("POST", path, { json: json ?? {}, headers });
  }

  async login(username, password) {
    const out = await this.request("POST", "/auth/token", { form: { username, password } });
    this.token = out.access_token;
    return out;
  }

  async logout() {
    try {
      await this.request("POST", "/auth/logout");
    } finally {
      this.token = null;
    }
  }

  /** POST /photos (multipart, field "file"); the stored photo's id. */
  async uploadPhoto(blob) {
    const form = new FormData();
    form.append("file", blob, "photo.jpg");
    const out = await this.request("POST", "/photos", { body: form });
    return out.id;
  }

  /** A photo needs the bearer token, so it is fetched and shown through an object URL. */
  async photoUrl(id) {
    if (!this.photoCache.has(id)) {
      const p = this.request("GET", `/photos/${id}`).then((blob) => URL.createObjectURL(blob));
      p.catch(() => this.photoCache.delete(id));
      this.photoCache.set(id, p);
    }
    return this.photoCache.get(id);
  }

  /** Every page of a list endpoint ({items, total}), up to `max` items. */
  async all(path, params = {}, max = 2000) {
    const items = [];
    for (let offset = 0; offset < max; ) {
      const page = await this.get(path, { ...params, limit: 500, offset });
      items.push(...page.items);
      offset += page.items.length;
      if (!page.items.length || offset >= page.total) break;
    }
    return items;
  }
}
