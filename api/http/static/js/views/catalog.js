import { api, list } from "../api.js";
import { clear, h, logo } from "../ui.js";

function versionKey(v) {
  return String(v).split(/[.-]/).map((p) => (/^\d+$/.test(p) ? p.padStart(8, "0") : p)).join(".");
}

export async function loadCatalog() {
  const names = list(await api.get("/products"), "products").map((p) => (typeof p === "string" ? p : p.name));
  return Promise.all(names.map(async (name) => {
    const versions = list(await api.get(`/products/${encodeURIComponent(name)}`), "versions").map(String);
    versions.sort((a, b) => (versionKey(a) < versionKey(b) ? 1 : -1)); // newest first
    const latest = versions.length
      ? await api.get(`/products/${encodeURIComponent(name)}/${encodeURIComponent(versions[0])}`)
      : { name, description: "" };
    return { name, versions, latest };
  }));
}

function card(product) {
  const select = h("select", { class: "version-select", "aria-label": `${product.name} version` },
    product.versions.map((v) => h("option", { value: v }, v)));
  const launchLink = h("a", { class: "btn btn-primary", href: "#", "data-product": product.name }, "Launch");
  const sync = () => { launchLink.href = `#/products/${encodeURIComponent(product.name)}/${encodeURIComponent(select.value)}`; };
  select.addEventListener("change", sync);
  sync();
  return h("article", { class: "product-card card", "data-product": product.name },
    h("div", { class: "product-head" }, logo(product.latest),
      h("div", {}, h("h3", {}, product.name),
        h("div", { class: "muted small" }, product.versions.length === 1 ? `version ${product.versions[0]}` : `${product.versions.length} versions`))),
    h("p", { class: "product-desc" }, product.latest.description || "No description."),
    h("div", { class: "product-actions" }, product.versions.length > 1 ? select : null, launchLink));
}

export async function render(main, ctx, _params, gen) {
  const products = await loadCatalog();
  if (!ctx.current(gen)) return;
  clear(main,
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Product catalog"),
        h("p", { class: "muted" }, "Pick a product, choose its options, and the platform builds the cluster for you."))),
    products.length
      ? h("div", { class: "grid" }, products.map(card))
      : h("div", { class: "card empty" }, "No products yet. An administrator publishes them with ",
          h("code", {}, "bdp products load products/"), "."));
}
