// The REST API as the console sees it: one fetch wrapper that adds the token and turns
// the API's JSON errors ({status, error, message, field}) into ApiError.

export const PREFIX = "/bigdata/api/v1";
const TOKEN_KEY = "bdp.token";

export class ApiError extends Error {
  constructor(status, error, message, field) {
    super(message || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.field = field || null;
  }
}

// The token lives in sessionStorage: it is gone when the tab closes, and other sites
// cannot read it.
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export async function request(method, path, body, { tokenValue } = {}) {
  const headers = { Accept: "application/json" };
  const t = tokenValue ?? token.get();
  if (t) headers["x-auth-token"] = t;
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(PREFIX + path, init);
  } catch (err) {
    throw new ApiError(0, "Network error", `cannot reach the API: ${err.message}`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { text }; }
  }
  if (!response.ok) {
    const d = data || {};
    if (response.status === 401 && !tokenValue) window.dispatchEvent(new Event("bdp:unauthorized"));
    throw new ApiError(d.status || response.status, d.error || response.statusText,
                       d.message || d.description || d.text || response.statusText, d.field);
  }
  return data ?? {};
}

export const api = {
  get: (path, opts) => request("GET", path, undefined, opts),
  post: (path, body) => request("POST", path, body),
  put: (path, body) => request("PUT", path, body),
  del: (path) => request("DELETE", path),
};

// Live events (server-sent events). EventSource cannot send the token header: the
// console's sign-in asks for a short-lived signed cookie (POST /session) that only the
// stream paths accept; the browser resumes a dropped stream with Last-Event-ID itself.
export const streams = {
  open: () => request("POST", "/session").catch(() => null),
  close: () => request("DELETE", "/session").catch(() => null),
  follow(path, onEvent) {
    const source = new EventSource(`${PREFIX}${path}?follow=true`);
    source.onmessage = (msg) => { try { onEvent(JSON.parse(msg.data)); } catch { /* not ours */ } };
    return source;
  },
};

// Lists come as {"<key>": [...]}; accept a bare list too.
export function list(data, key) {
  if (Array.isArray(data)) return data;
  return (data && (data[key] || data.items)) || [];
}

// "clusters/alice/reference/1.0.0/3" or a URL -> "alice/reference/1.0.0/3"
export function shortDn(dn) {
  const s = String(dn || "");
  const i = s.indexOf("/clusters/");
  if (i >= 0) return s.slice(i + "/clusters/".length);
  return s.startsWith("clusters/") ? s.slice("clusters/".length) : s;
}
