// Admins: the networks (address pools) and hosts with what is still free on them.
import { api, list } from "../api.js";
import { clear, fmtMem, h, table } from "../ui.js";

function meter(used, total, label) {
  const u = Number(used) || 0;
  const t = Number(total) || 0;
  const pct = t ? Math.round((u * 100) / t) : 0;
  return h("div", { class: "meter", title: `${pct}% used` },
    h("div", { class: "progress-track" }, h("div", { class: `progress-fill ${pct > 85 ? "hot" : ""}`, style: `width:${pct}%` })),
    h("span", { class: "small" }, label));
}

const num = (...xs) => xs.find((x) => x !== undefined && x !== null);

async function networkRows() {
  // Lists come a page at a time (at most 1000 a page: as many as this page shows).
  const nets = list(await api.get("/networks?limit=1000"), "networks");
  return Promise.all(nets.map(async (n) => {
    const name = typeof n === "string" ? n : n.name;
    const net = typeof n === "string" ? await api.get(`/networks/${encodeURIComponent(name)}`) : n;
    let free = num(net.free, net.free_addresses, net.addresses?.free);
    let used = num(net.used, net.used_addresses, net.addresses?.used);
    if (free === undefined || used === undefined) {
      const base = `/networks/${encodeURIComponent(name)}/addresses`;
      const [f, u] = await Promise.all([api.get(`${base}?free`), api.get(`${base}?used`)]);
      free = typeof f.count === "number" ? f.count : list(f, "addresses").length;
      used = typeof u.count === "number" ? u.count : list(u, "addresses").length;
    }
    if (Array.isArray(free)) free = free.length;
    if (Array.isArray(used)) used = used.length;
    return h("tr", { "data-network": name },
      h("td", { class: "mono" }, name), h("td", { class: "mono" }, net.subnet || ""),
      h("td", { class: "mono" }, net.gateway || ""),
      h("td", { class: "mono small" }, net.range_start ? `${net.range_start} – ${net.range_end}` : ""),
      h("td", {}, meter(used, used + free, `${free} free of ${used + free}`)),
      h("td", { class: "muted small" }, net.description || ""));
  }));
}

async function hostRows() {
  const hosts = list(await api.get("/hosts?limit=1000"), "hosts");
  return Promise.all(hosts.map(async (x) => {
    const name = x.name;
    // /hosts gives totals and, under `free`, what the scheduler can still offer.
    let diskTotal = typeof x.disks === "number" ? x.disks : undefined;
    let diskFree = x.free?.disks;
    if (diskTotal === undefined || diskFree === undefined) {
      const disks = Array.isArray(x.disks) ? x.disks
        : await api.get(`/hosts/${encodeURIComponent(name)}/disks`).then((d) => list(d, "disks")).catch(() => []);
      diskTotal = disks.length;
      diskFree = disks.filter((d) => !(d.node || d.owner)).length;
    }
    const freeCpus = num(x.free?.cpus, x.cpus);
    const freeMem = num(x.free?.mem, x.mem);
    return h("tr", { "data-host": name },
      h("td", { class: "mono" }, name), h("td", {}, x.engine || ""),
      h("td", {}, meter(x.cpus - freeCpus, x.cpus, `${+Number(freeCpus).toFixed(2)} free of ${x.cpus}`)),
      h("td", {}, meter(x.mem - freeMem, x.mem, `${fmtMem(freeMem)} free of ${fmtMem(x.mem)}`)),
      h("td", {}, meter(diskTotal - diskFree, diskTotal, `${diskFree} free of ${diskTotal}`)),
      h("td", {}, x.active === false ? "inactive" : (x.state || "active")));
  }));
}

export async function render(main, ctx, _params, gen) {
  if (!ctx.isAdmin()) {
    clear(main, h("div", { class: "card empty" }, "Only administrators see the infrastructure."));
    return;
  }
  const netBox = h("div", {});
  const hostBox = h("div", {});
  async function refresh() {
    const [nets, hosts] = await Promise.all([networkRows().catch((e) => e), hostRows().catch((e) => e)]);
    if (!ctx.current(gen)) return;
    clear(netBox, nets instanceof Error ? h("p", { class: "alert alert-error" }, nets.message)
      : table(["Network", "Subnet", "Gateway", "Range", "Addresses", "Description"], nets, { empty: "No networks." }));
    clear(hostBox, hosts instanceof Error ? h("p", { class: "alert alert-error" }, hosts.message)
      : table(["Host", "Engine", "CPUs", "Memory", "Data disks", "State"], hosts, { empty: "No hosts yet." }));
  }
  await refresh();
  if (!ctx.current(gen)) return;
  clear(main,
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Infrastructure"),
      h("p", { class: "muted" }, "Address pools and hosts, with what is still free for new clusters."))),
    h("section", { class: "card", id: "hosts" }, h("h2", {}, "Hosts"), hostBox),
    h("section", { class: "card", id: "networks" }, h("h2", {}, "Networks"), netBox));
  ctx.every(5000, refresh);
}
