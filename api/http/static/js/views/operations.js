// Day-2 operations on the cluster page (issue 12): health (a Replace button on each dead
// node), time left, the resize form (the options the product marks resizable, with their
// schema's bounds), and the operations history (Cancel on a pending one). Every button
// queues an operation (202) and the page follows it on /queue/<id>.
import { PREFIX, api, list, streams } from "../api.js";
import { clear, errorBox, fmtTime, h, table } from "../ui.js";

const TONE = { healthy: "ok", degraded: "bad", unknown: "muted", pending: "pending", running: "working",
               succeeded: "ok", failed: "bad", cancelled: "muted" };

// A badge without `data-status`: that attribute is the cluster's status on this page.
function tag(word) {
  return h("span", { class: `badge tone-${TONE[word] || "muted"}` }, word || "unknown");
}

// An operation is read again when an event of its cluster says something happened (it was
// started, moved to a step, ended: each is an event) and every few seconds besides, for
// progress within a step, which is no event; not once a second. The owner's stream, not the
// cluster's: that one starts with the cluster's whole history, this one starts now.
const REFRESH_MS = 5000;
const OWNER = new RegExp(`^${PREFIX}/clusters/([^/]+)/`);

// Follow an operation until it ends; `onStep(op)` sees each answer. Returns the last.
export async function follow(op, onStep, alive = () => true) {
  let now = op;
  let wake = null;
  let missed = false; // an event came while we were reading: look again at once
  const owner = op.cluster && op.cluster.match(OWNER);
  const source = owner
    ? streams.follow(`/clusters/${owner[1]}/events`, (event) => {
      if (event.cluster !== op.cluster) return;
      if (wake) wake(); else missed = true;
    })
    : null;
  try {
    while (alive()) {
      missed = false;
      now = await api.get(`/queue/${now.id}`);
      onStep(now);
      if (now.done) return now;
      if (!missed) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, source ? REFRESH_MS : 1000);
          wake = () => { clearTimeout(timer); resolve(); };
        });
      }
      wake = null;
    }
  } finally {
    if (source) source.close();
  }
  return now;
}

export function timeLeft(expires) {
  if (!expires) return "never expires";
  const left = (Date.parse(expires + "Z") - Date.now()) / 1000;
  if (left <= 0) return "expired";
  const hours = Math.floor(left / 3600);
  const minutes = Math.floor((left % 3600) / 60);
  return hours ? `${hours}h ${minutes}m left` : `${minutes}m ${Math.floor(left % 60)}s left`;
}

export function healthBlock(c, queue) {
  const health = c.health || { status: "unknown", problems: [] };
  const items = (health.problems || []).map((p) => p.node
    ? h("li", { "data-problem": p.node }, h("b", { class: "mono" }, p.node), ` ${p.status}: ${p.reason || ""} `,
      h("button", { type: "button", class: "btn btn-small", id: `replace-${p.node}`,
                    onclick: () => queue({ op: "replace", nodes: [p.node] }, `Replace ${p.node}`) }, "Replace"))
    : h("li", { "data-problem": `operation-${p.operation}` },
      `operation ${p.op} #${p.operation} failed: ${p.reason || ""}`));
  return h("div", { id: "cluster-health", "data-health": health.status },
    tag(health.status), items.length ? h("ul", { class: "problems small" }, items) : null);
}

export function operationNow(c) {
  const op = c.operation;
  if (!op) return h("span", { class: "muted", id: "cluster-operation" }, "none");
  return h("span", { id: "cluster-operation" }, `${op.op} #${op.id} `, tag(op.status), ` ${op.step || ""}`);
}

// The resize form: one number field per resizable option, from the product's schema.
export async function resizeForm(c, queue) {
  let product;
  try {
    product = await api.get(`/products/${encodeURIComponent(c.product)}/${encodeURIComponent(c.version)}`);
  } catch {
    return null;
  }
  const resize = (product.day2 || {}).resize;
  if (!resize || !(resize.scale_out || resize.scale_in)) return null;
  const schema = (product.options || {}).schema || {};
  const fields = resize.options.map((name) => {
    const s = schema[name] || {};
    return h("label", { class: "field inline" }, h("span", {}, name),
      h("input", { type: "number", id: `resize-${name}`, name, value: (c.options || {})[name] ?? "",
                   min: s.minimum ?? undefined, max: s.maximum ?? undefined, step: 1 }));
  });
  const form = h("form", { id: "resize-form", class: "inline-form" }, fields,
    h("button", { type: "submit", class: "btn", id: "resize-submit" }, "Resize"),
    !resize.scale_in ? h("span", { class: "muted small" }, ` Cannot shrink: ${resize.reason}`) : null);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const options = {};
    for (const name of resize.options) options[name] = Number(form.querySelector(`#resize-${name}`).value);
    queue({ op: "resize", options }, `Resize to ${JSON.stringify(options)}`);
  });
  return form;
}

export function historyTable(ops, cancel) {
  return table(["#", "Operation", "Status", "By", "Step", "Started", "Finished", "Reason", ""],
    ops.slice().reverse().map((o) => h("tr", { "data-op": o.id },
      h("td", { class: "mono" }, String(o.id)), h("td", {}, o.op), h("td", {}, tag(o.status)),
      h("td", { class: "small" }, o.who || ""), h("td", { class: "small" }, o.step || ""),
      h("td", { class: "small muted nowrap" }, fmtTime(o.started)),
      h("td", { class: "small muted nowrap" }, fmtTime(o.finished)),
      h("td", { class: "reason small" }, o.reason || ""),
      h("td", {}, o.status === "pending"
        ? h("button", { type: "button", class: "btn btn-small", id: `cancel-${o.id}`, onclick: () => cancel(o) }, "Cancel")
        : null))),
    { empty: "No operations yet.", cls: "ops-table" });
}

// Queue `body` on the cluster at `path` and report in `box` until it ends.
export async function queueAndFollow(path, body, label, box, alive, after) {
  clear(box, h("div", { class: "alert", role: "status" }, `${label}: queued…`));
  try {
    const op = await api.post(`${path}/operations`, body);
    const end = await follow(op, (now) => {
      if (!now.done) clear(box, h("div", { class: "alert", role: "status" }, `${label}: ${now.status} — ${now.step}`));
    }, alive);
    const ok = end.status === "succeeded";
    clear(box, h("div", { class: `alert ${ok ? "alert-ok" : "alert-error"}`, role: "status",
                          "data-op-result": ok ? "ok" : "failed" },
      h("b", {}, `${label}: ${end.status}`), end.reason ? ` — ${end.reason}` : ""));
  } catch (err) {
    clear(box, errorBox(err));
  }
  if (after) await after();
}

export async function history(path) {
  return list(await api.get(`${path}/operations`), "operations");
}
