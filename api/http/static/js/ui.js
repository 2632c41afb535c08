// Small DOM helpers. Everything from the API goes in as text nodes, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (key === "style") for (const rule of String(value).split(";")) {
      const at = rule.indexOf(":");
      if (at > 0) el.style.setProperty(rule.slice(0, at).trim(), rule.slice(at + 1).trim());
    }
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const STATUS_TONE = {
  registered: "pending", scheduling: "working", scheduled: "working", configuring: "working",
  configured: "working", ready: "ok", stopped: "muted", destroying: "working",
  destroyed: "muted", failed: "bad", queued: "pending", running: "ok", successful: "ok",
};

export function badge(status) {
  return h("span", { class: `badge tone-${STATUS_TONE[status] || "muted"}`, "data-status": status },
           status || "unknown");
}

export function progressBar(percent, step) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  return h("div", { class: "progress", role: "progressbar", "aria-valuenow": p,
                    "aria-valuemin": 0, "aria-valuemax": 100 },
           h("div", { class: "progress-track" }, h("div", { class: "progress-fill", style: `width:${p}%` })),
           h("span", { class: "progress-text" }, `${p}%`, step ? ` · ${step}` : ""));
}

export function table(headers, rows, { empty = "Nothing here yet.", cls = "" } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", { class: `table ${cls}` },
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
      h("tbody", {}, rows.map((r) => (r instanceof Node ? r : h("tr", {}, r.map((c) => h("td", {}, c))))))));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function errorBox(err) {
  return h("div", { class: "alert alert-error", role: "alert" }, err.message || String(err));
}

export function fmtTime(value) {
  if (!value) return "";
  // The API's times are UTC without a zone marker.
  const s = String(value);
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : s + "Z");
  if (isNaN(d)) return s;
  // Unambiguous everywhere: 2026-05-04 13:07:09 (the browser's time zone).
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtMem(mb) {
  const n = Number(mb) || 0;
  return n >= 1024 ? `${(n / 1024).toFixed(n % 1024 ? 1 : 0)} GB` : `${n} MB`;
}

// A product's logo, or a monogram tile in a colour derived from its name.
export function logo(product) {
  const name = product.name || "?";
  if (product.logo_url) {
    return h("img", { class: "logo", src: product.logo_url, alt: `${name} logo`, loading: "lazy" });
  }
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const hue = hash % 360;
  return h("div", { class: "logo logo-mono", style: `background:hsl(${hue} 45% 42%)`, "aria-hidden": "true" },
           name.slice(0, 2).toUpperCase());
}
