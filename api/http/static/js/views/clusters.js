// The user's clusters (every user's, for admins) with live status and progress.
import { api, list, shortDn } from "../api.js";
import { badge, clear, fmtTime, h, progressBar, table } from "../ui.js";

const ACTIVE = new Set(["registered", "scheduling", "scheduled", "configuring", "configured", "destroying"]);

function row(c, admin) {
  const dn = shortDn(c.dn || c.uri);
  return h("tr", { "data-cluster": dn, "data-status": c.status },
    h("td", {}, h("a", { href: `#/clusters/${dn}`, class: "mono" }, admin ? dn : dn.split("/").slice(1).join("/"))),
    h("td", {}, `${c.product} ${c.version}`),
    admin ? h("td", {}, c.user) : null,
    h("td", {}, badge(c.status)),
    h("td", { class: "col-progress" }, ACTIVE.has(c.status) ? progressBar(c.progress, c.step) : h("span", { class: "muted" }, c.status === "ready" ? "100%" : "—")),
    h("td", { class: "muted small" }, fmtTime(c.created)),
    h("td", { class: "reason" }, c.reason || ""));
}

export async function render(main, ctx, _params, gen) {
  const admin = ctx.isAdmin();
  const showAll = h("input", { type: "checkbox", id: "show-destroyed" });
  const holder = h("div", {});
  const stamp = h("span", { class: "muted small live" });
  const quota = h("div", { id: "quota-use", class: "quota-use small" });

  // What the signed-in user holds against their quota (issue 12).
  async function showQuota() {
    try {
      const q = await api.get("/users/me/quota");
      clear(quota, ["clusters", "nodes", "cpus", "memory", "disks"].map((f) => h("span", { "data-quota": f },
        h("b", {}, f), ` ${q.use[f]}${f === "memory" ? " MB" : ""} of ${q.limits[f] ?? "∞"}`)));
    } catch {
      clear(quota);
    }
  }

  async function refresh() {
    let clusters;
    try {
      clusters = list(await api.get("/clusters"), "clusters");
    } catch (err) {
      stamp.textContent = `Update failed: ${err.message}`;
      return;
    }
    if (!ctx.current(gen)) return;
    const shown = clusters.filter((c) => showAll.checked || c.status !== "destroyed")
      .sort((a, b) => String(b.created).localeCompare(String(a.created)));
    clear(holder, table(
      ["Cluster", "Product", admin ? "User" : null, "Status", "Progress", "Created", "Reason"].filter(Boolean),
      shown.map((c) => row(c, admin)),
      { empty: "No clusters yet. Launch one from the catalog.", cls: "clusters-table" }));
    stamp.textContent = `Live · updated ${new Date().toLocaleTimeString()}`;
  }
  showAll.addEventListener("change", refresh);
  await Promise.all([refresh(), showQuota()]);
  if (!ctx.current(gen)) return;
  clear(main,
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, admin ? "All clusters" : "My clusters"),
        h("p", { class: "muted" }, admin ? "Every user's clusters. Status updates as it changes."
                                         : "Status updates as it changes.")),
      h("div", { class: "head-actions" },
        h("label", { class: "check" }, showAll, " Show destroyed"),
        h("a", { class: "btn btn-primary", href: "#/catalog" }, "Launch a cluster"))),
    h("section", { class: "card" }, h("h2", {}, "Quota"), quota),
    h("section", { class: "card" }, holder, h("div", { class: "card-foot" }, stamp)));
  // Refresh when an event says something changed (one stream of every cluster shown:
  // launches and destroys also change the quota's use), and now and then for progress
  // within a step, which is not an event.
  const both = () => Promise.all([refresh(), showQuota()]);
  ctx.follow("/events", both);
  ctx.every(15000, both);
}
