// A product's page: its description and a launch form generated from its options
// document ({required, optional, advanced, descriptions}).
import { api, shortDn } from "../api.js";
import { clear, h, logo } from "../ui.js";

const GROUPS = [
  ["required", "Required", "These must be given. The placeholder shows an example."],
  ["optional", "Optional", "Sensible defaults; change them if your workload needs it."],
  ["advanced", "Advanced", "Tuning for experts. The defaults are safe."],
];

function kindOf(value) {
  if (typeof value === "boolean") return "boolean";
  if (Number.isInteger(value)) return "integer";
  if (typeof value === "number") return "number";
  if (value !== null && typeof value === "object") return "json";
  return "string";
}

function fieldId(key) {
  return `opt-${key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function field(group, key, value, description) {
  const kind = kindOf(value);
  const id = fieldId(key);
  const common = { id, name: key, "data-key": key, "data-kind": kind, "aria-describedby": `${id}-desc ${id}-error` };
  let input;
  if (kind === "boolean") {
    input = h("input", { ...common, type: "checkbox", checked: group !== "required" && value });
  } else if (kind === "json") {
    input = h("textarea", { ...common, rows: 3, spellcheck: "false" });
    input.value = group === "required" ? "" : JSON.stringify(value);
    if (group === "required") input.placeholder = `e.g. ${JSON.stringify(value)}`;
  } else {
    // Plain text inputs (not type=number) so that what the user typed reaches the API
    // and its validation message, rather than being silently emptied by the browser.
    input = h("input", { ...common, type: "text", autocomplete: "off", spellcheck: "false",
                         inputmode: kind === "string" ? null : (kind === "integer" ? "numeric" : "decimal") });
    if (group === "required") input.placeholder = `e.g. ${value}`;
    else input.value = String(value);
  }
  input.dataset.default = JSON.stringify(value);
  input.dataset.group = group;
  return h("div", { class: "field", "data-field": key },
    h("label", { for: id }, key, group === "required" ? h("span", { class: "req", title: "required" }, " *") : null,
      h("span", { class: "kind" }, kind)),
    input,
    h("p", { class: "field-desc", id: `${id}-desc` }, description || ""),
    h("p", { class: "field-error", id: `${id}-error`, role: "alert" }));
}

function readValue(input) {
  const kind = input.dataset.kind;
  if (kind === "boolean") return input.checked;
  const raw = input.value.trim();
  if (raw === "") return undefined;
  if (kind === "integer" && /^[-+]?\d+$/.test(raw)) return parseInt(raw, 10);
  if (kind === "number" && raw !== "" && !isNaN(Number(raw))) return Number(raw);
  if (kind === "json") { try { return JSON.parse(raw); } catch { return raw; } }
  return raw; // a wrong type goes to the API as typed, and the API says what is wrong
}

// The options the user gave: required ones always, others only when changed.
function collect(form) {
  const out = {};
  for (const input of form.querySelectorAll("[data-key]")) {
    const value = readValue(input);
    if (value === undefined) continue;
    if (input.dataset.group !== "required" && JSON.stringify(value) === input.dataset.default) continue;
    out[input.dataset.key] = value;
  }
  return out;
}

function showFieldError(form, err) {
  const general = form.querySelector(".form-error");
  const field = String(err.field || "");
  const candidates = [field, field.replace(/^(opts|options)\./, "")];
  for (const key of candidates) {
    const input = key && form.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (!input) continue;
    const wrap = input.closest(".field");
    wrap.classList.add("invalid");
    input.setAttribute("aria-invalid", "true");
    wrap.querySelector(".field-error").textContent = err.message;
    const details = input.closest("details");
    if (details) details.open = true;
    input.focus();
    return;
  }
  general.textContent = err.message;
  general.hidden = false;
}

function resetErrors(form) {
  form.querySelectorAll(".field.invalid").forEach((f) => f.classList.remove("invalid"));
  form.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
  const general = form.querySelector(".form-error");
  general.hidden = true;
  general.textContent = "";
}

export async function render(main, ctx, [name, version], gen) {
  const base = `/products/${encodeURIComponent(name)}/${encodeURIComponent(version)}`;
  const product = await api.get(base);
  const options = product.options || (await api.get(`${base}/options`)) || {};
  if (!ctx.current(gen)) return;
  const descriptions = options.descriptions || {};

  const form = h("form", { class: "launch-form", novalidate: true, id: "launch-form" },
    h("div", { class: "alert alert-error form-error", role: "alert", hidden: true }));
  for (const [group, title, hint] of GROUPS) {
    const values = options[group] || {};
    const keys = Object.keys(values);
    if (!keys.length) continue;
    const fields = keys.map((k) => field(group, k, values[k], descriptions[k]));
    if (group === "required") {
      form.append(h("fieldset", { class: "group", "data-group": group },
        h("legend", {}, title), h("p", { class: "muted small" }, hint), fields));
    } else {
      form.append(h("details", { class: "group", "data-group": group },
        h("summary", {}, `${title} options `, h("span", { class: "count" }, String(keys.length))),
        h("p", { class: "muted small" }, hint), fields));
    }
  }
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "launch-submit" }, "Launch cluster");
  form.append(h("div", { class: "form-actions" }, submit,
    h("a", { class: "btn", href: "#/catalog" }, "Cancel")));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    resetErrors(form);
    submit.disabled = true;
    submit.textContent = "Launching…";
    try {
      const accepted = await api.post(base, collect(form));
      const dn = shortDn(accepted.cluster || accepted.uri || accepted.dn || "");
      ctx.go(`#/clusters/${dn}`);
    } catch (err) {
      showFieldError(form, err);
    } finally {
      submit.disabled = false;
      submit.textContent = "Launch cluster";
    }
  });

  const cli = `bdp launch ${name} ${version} ` +
    Object.entries(options.required || {}).map(([k, v]) => `-o ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ") + " --wait";
  clear(main,
    h("nav", { class: "crumbs" }, h("a", { href: "#/catalog" }, "Catalog"), " / ", `${name} ${version}`),
    h("div", { class: "page-head" },
      h("div", { class: "product-head big" }, logo(product),
        h("div", {}, h("h1", {}, `${name} `, h("span", { class: "muted" }, version)),
          h("p", { class: "muted" }, product.description || "")))),
    h("div", { class: "two-col" },
      h("section", { class: "card" }, h("h2", {}, "Launch a cluster"), form),
      h("aside", { class: "card side" },
        h("h2", {}, "What happens next"),
        h("ol", { class: "steps" },
          h("li", {}, h("b", {}, "registered"), " — the platform records your cluster."),
          h("li", {}, h("b", {}, "scheduling → scheduled"), " — nodes are placed on hosts and their containers start."),
          h("li", {}, h("b", {}, "configuring → configured"), " — the product's playbook configures every node."),
          h("li", {}, h("b", {}, "ready"), " — log in with ", h("code", {}, "bdp ssh"), " or use the node addresses.")),
        h("h3", {}, "From the command line"),
        h("pre", { class: "code" }, cli))));
  const first = form.querySelector("[data-key]");
  if (first) first.focus();
}
