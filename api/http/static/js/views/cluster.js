// One cluster: live status, health, nodes, services, events, orchestrator logs, actions
// (start/stop/restart/status: queued operations), resize, replace, the operations
// history (views/operations.js) and destroy.
import { api, list } from "../api.js";
import { badge, clear, errorBox, fmtMem, fmtTime, h, progressBar, table } from "../ui.js";
import * as ops from "./operations.js";

const GONE = new Set(["destroying", "destroyed"]);
// The playbook actions, with the statuses the API accepts each in (others answer 409).
const ACTIONS = [
  { action: "start", label: "Start", when: ["ready", "stopped"] },
  { action: "stop", label: "Stop", when: ["ready", "stopped"] },
  { action: "restart", label: "Restart", when: ["ready", "stopped"] },
  { action: "status", label: "Check status", when: ["ready", "stopped", "configured"] },
];

function networks(node) {
  let nets = node.networks || node.interfaces || [];
  if (!Array.isArray(nets)) nets = Object.entries(nets).map(([device, v]) => ({ device, ...v }));
  return nets.slice().sort((a, b) => String(a.device).localeCompare(String(b.device)));
}

function nodeRow(n) {
  return h("tr", { "data-node": n.name },
    h("td", { class: "mono" }, n.name, (n.tags || []).map((t) => h("span", { class: "tag" }, t))),
    h("td", {}, badge(n.status), n.reason ? h("div", { class: "reason small" }, n.reason) : null),
    h("td", {}, n.host || "—"),
    h("td", {}, networks(n).map((x) => h("div", { class: "addr" },
      h("span", { class: "dev" }, x.device), " ", h("span", { class: "mono" }, x.address || "pending"),
      h("span", { class: "muted small" }, ` ${x.networkname || x.network || ""}`)))),
    h("td", {}, (n.disks || []).map((d) => h("div", { class: "small" },
      h("span", { class: "mono" }, d.destination || d.name),
      h("span", { class: "muted" }, d.disk ? ` ← ${d.disk}` : " (not allocated)")))),
    h("td", { class: "small" }, `${n.cpu ?? "?"} cpu · ${fmtMem(n.mem)}`));
}

function summary(c, queue) {
  const items = [
    ["Status", badge(c.status)],
    ["Health", ops.healthBlock(c, queue)],
    ["Operation", ops.operationNow(c)],
    ["Lifetime", h("span", { id: "cluster-expires" }, c.expires ? `${ops.timeLeft(c.expires)} (until ${fmtTime(c.expires)})`
                                                               : ops.timeLeft(null))],
    ["Progress", progressBar(c.status === "ready" ? 100 : c.progress, c.step)],
    ["Owner", c.user],
    ["Product", `${c.product} ${c.version}`],
    ["DNS name", h("span", { class: "mono" }, c.dnsname || "—")],
    ["Options", h("div", { class: "opts" }, Object.entries(c.options || {}).map(([k, v]) =>
      h("span", { class: "opt mono small" }, `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)))],
    ["Created", fmtTime(c.created)],
    ["In this status since", fmtTime(c.status_since || c.updated)],
  ];
  return h("dl", { class: "summary" }, items.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function runView(run, openRuns, key) {
  const details = h("details", { class: "run", open: openRuns.has(key) },
    h("summary", {}, h("b", {}, run.action || "run"), " ",
      badge(run.status || run.result || ""), " ",
      h("span", { class: "muted small" }, fmtTime(run.started || run.time),
        run.rc !== undefined && run.rc !== null ? ` · rc ${run.rc}` : "")),
    run.summary && run.summary !== "ok" ? h("p", { class: "small run-summary" }, run.summary) : null,
    h("pre", { class: "log" }, run.stdout || run.output || "(no output yet)"));
  details.addEventListener("toggle", () => { if (details.open) openRuns.add(key); else openRuns.delete(key); });
  return details;
}

function confirmDestroy(dn) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", id: "destroy-dialog" },
      h("h2", {}, "Destroy this cluster?"),
      h("p", {}, "Cluster ", h("b", { class: "mono" }, dn),
        " and every container, address and data disk it holds will be removed. This cannot be undone."),
      h("form", { method: "dialog", class: "dialog-actions" },
        h("button", { value: "cancel", class: "btn" }, "Cancel"),
        h("button", { value: "destroy", class: "btn btn-danger", id: "confirm-destroy" }, "Destroy cluster")));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "destroy"); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function render(main, ctx, [user, product, version, id], gen) {
  const dn = `${user}/${product}/${version}/${id}`;
  const path = `/clusters/${[user, product, version, id].map(encodeURIComponent).join("/")}`;
  const head = h("div", {});
  const nodesBox = h("div", {});
  const servicesBox = h("div", {});
  const endpointsBox = h("div", { id: "endpoints" });
  const eventsBox = h("div", {});
  const logsBox = h("div", {});
  const notice = h("div", {});
  const destroyBtn = h("button", { type: "button", class: "btn btn-danger", id: "destroy" }, "Destroy");
  const actionResult = h("div", { id: "action-result" });
  const actionBtns = ACTIONS.map((a) => h("button", { type: "button", class: "btn", id: `action-${a.action}`,
                                                     "data-action": a.action }, a.label));
  const openRuns = new Set();
  let tick = 0;
  let last = null;
  let running = null; // the action whose playbook runs now (one at a time)

  function updateActions() {
    ACTIONS.forEach((a, i) => {
      actionBtns[i].hidden = !last || GONE.has(last.status);
      actionBtns[i].disabled = running !== null || !last || !a.when.includes(last.status);
    });
  }

  // The API queues the action (202); the page follows the operation to its end.
  async function runAction(a) {
    running = a.action;
    updateActions();
    clear(actionResult, h("div", { class: "alert", role: "status" }, `${a.label}: running the playbook…`));
    try {
      const queued = await api.post(`${path}/actions/${a.action}`);
      const r = await ops.follow(queued, () => {}, () => ctx.current(gen));
      if (!ctx.current(gen)) return;
      const ok = r.status === "succeeded";
      const status = (r.result && r.result.cluster_status) || r.cluster_status;
      clear(actionResult, h("div", { class: `alert ${ok ? "alert-ok" : "alert-error"}`, role: "status",
                                     "data-result": ok ? "ok" : "failed" },
        h("b", {}, `${a.label}: ${ok ? "ok" : "failed"}`), ` — the cluster is ${status}`,
        !ok && r.reason ? `: ${r.reason}` : "", "."));
    } catch (err) {
      if (ctx.current(gen)) clear(actionResult, errorBox(err));
    } finally {
      running = null;
    }
    if (ctx.current(gen)) await refresh(true);
  }
  ACTIONS.forEach((a, i) => actionBtns[i].addEventListener("click", () => runAction(a)));
  const opResult = h("div", { id: "op-result" });
  const resizeBox = h("div", {});
  const historyBox = h("div", {});
  const queue = (body, label) => ops.queueAndFollow(path, body, label, opResult, () => ctx.current(gen),
                                                   () => refresh(true));
  const cancel = async (o) => {
    try { await api.del(`/queue/${o.id}`); } catch (err) { clear(opResult, errorBox(err)); }
    await refresh(true);
  };

  destroyBtn.addEventListener("click", async () => {
    if (!(await confirmDestroy(dn))) return;
    destroyBtn.disabled = true;
    try {
      await api.del(path);
      await refresh(true);
    } catch (err) {
      clear(notice, errorBox(err));
      destroyBtn.disabled = false;
    }
  });

  async function refresh(full = false) {
    let c;
    try {
      c = await api.get(path);
    } catch (err) {
      if (ctx.current(gen)) clear(notice, errorBox(err));
      return;
    }
    if (!ctx.current(gen)) return;
    clear(notice);
    const changed = !last || last.status !== c.status;
    last = c;
    clear(head,
      h("div", { class: "page-head" },
        h("div", {}, h("h1", { class: "mono", id: "cluster-title" }, dn),
          h("p", { class: "muted" }, `${c.product} ${c.version} · launched by ${c.user}`)),
        h("div", { class: "head-actions" }, actionBtns, destroyBtn)),
      c.status === "failed" ? h("div", { class: "alert alert-error", id: "cluster-reason" },
        h("b", {}, "Failed: "), c.reason || "no reason given") : null,
      c.status === "ready" ? h("div", { class: "alert alert-ok" },
        "Ready. Log in to a node with ", h("code", {}, `bdp ssh ${dn} ${firstNode(c)}`), ".") : null,
      h("section", { class: "card", id: "cluster-summary" }, summary(c, queue)));
    destroyBtn.hidden = GONE.has(c.status);
    updateActions();
    const [nodes, events] = await Promise.all([
      api.get(`${path}/nodes`).then((d) => list(d, "nodes")),
      api.get(`${path}/events`).then((d) => list(d, "events")),
    ]);
    if (!ctx.current(gen)) return;
    clear(nodesBox, table(["Node", "Status", "Host", "Addresses", "Disks", "Resources"], nodes.map(nodeRow),
      { empty: "No nodes.", cls: "nodes-table" }));
    clear(eventsBox, table(["Time", "Component", "Message"],
      events.slice().reverse().map((e) => h("tr", { class: `level-${e.level || "info"}` },
        h("td", { class: "small muted nowrap" }, fmtTime(e.time)), h("td", {}, e.component), h("td", {}, e.message))),
      { empty: "No events yet.", cls: "events-table" }));
    if (full || changed || tick % 3 === 0) {
      const [history, form] = await Promise.all([ops.history(path).catch(() => []),
        resizeBox.childElementCount && !changed ? null : ops.resizeForm(c, queue)]);
      if (!ctx.current(gen)) return;
      clear(historyBox, ops.historyTable(history, cancel));
      if (form !== null) clear(resizeBox, c.status === "ready" || c.status === "stopped" ? form : null);
      const [services, runs, endpoints] = await Promise.all([
        api.get(`${path}/services`).then((d) => list(d, "services")),
        api.get(`${path}/logs`).then((d) => list(d, "runs")).catch(() => []),
        api.get(`${path}/endpoints`).then((d) => list(d, "endpoints")).catch(() => []),
      ]);
      if (!ctx.current(gen)) return;
      clear(endpointsBox, endpointsTable(endpoints));
      clear(servicesBox, table(["Service", "Nodes", "Properties"], services.map((s) => [
        h("span", { class: "mono" }, s.name), (s.nodes || []).join(", "),
        h("span", { class: "mono small" }, Object.keys(s.properties || {}).length ? JSON.stringify(s.properties) : "")]),
        { empty: "No services." }));
      clear(logsBox, runs.length ? runs.map((r, i) => runView(r, openRuns, `${r.id ?? i}`))
        : h("p", { class: "empty" }, "The orchestrator has not run yet."));
    }
    tick++;
  }

  await refresh(true);
  if (!ctx.current(gen)) return;
  clear(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/clusters" }, "Clusters"), " / ", dn),
    notice, head, actionResult, opResult,
    h("section", { class: "card" }, h("h2", {}, "Nodes"), nodesBox),
    h("section", { class: "card" }, h("h2", {}, "Web UIs and ports"), endpointsBox),
    h("div", { class: "two-col even" },
      h("section", { class: "card", id: "resize" }, h("h2", {}, "Resize"), resizeBox),
      h("section", { class: "card", id: "operations" }, h("h2", {}, "Operations"), historyBox)),
    h("div", { class: "two-col even" },
      h("section", { class: "card" }, h("h2", {}, "Services"), servicesBox),
      h("section", { class: "card" }, h("h2", {}, "Events"), h("div", { class: "scroll" }, eventsBox))),
    h("section", { class: "card" }, h("h2", {}, "Orchestrator logs"), logsBox));
  // Events say when to look again (an operation queued, started or ended among them: the
  // history and logs are read again too); progress within a step is read every few seconds.
  ctx.follow(`${path}/events`, () => refresh(true));
  ctx.every(5000, () => refresh());
}

// A cluster's endpoints: web UIs open through the API's proxy in a new tab (signed in by
// the console's proxy cookie; `noopener`, so the page gets nothing of this tab, the token
// in its sessionStorage included); tcp ports with the command that forwards them.
function endpointsTable(endpoints) {
  return table(["Endpoint", "Node", "Port", "Open"], endpoints.map((e) => [
    h("span", { class: "mono" }, e.name), e.node, `${e.port}/${e.protocol}`,
    e.url ? (e.reachable ? h("a", { href: e.url, target: "_blank", rel: "noopener noreferrer", class: "endpoint-link",
                             "data-endpoint": e.name }, "Open ↗") : h("span", { class: "muted" }, "not running"))
      : h("code", { class: "small" }, e.command)]),
  { empty: "This product declares no web UIs or ports." });
}

function firstNode(c) {
  const n = (c.nodes || [])[0];
  return (n && (n.name || n)) || "NODE";
}
