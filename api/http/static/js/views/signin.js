import { request, token } from "../api.js";
import { clear, h } from "../ui.js";

export function render(main, ctx) {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off",
                             required: true, placeholder: "Paste your token", spellcheck: "false" });
  const error = h("p", { class: "field-error", id: "signin-error", role: "alert" });
  const form = h("form", { class: "signin-form", novalidate: true },
    h("label", { for: "token" }, "API token"),
    input,
    error,
    h("button", { type: "submit", class: "btn btn-primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    if (!value) { error.textContent = "Enter your token."; return; }
    error.textContent = "";
    try {
      // Check the token before keeping it.
      await request("GET", "/users/me", undefined, { tokenValue: value });
      token.set(value);
      await ctx.onSignedIn();
    } catch (err) {
      error.textContent = err.status === 401 ? "That token is not valid (or has expired)." : err.message;
    }
  });
  clear(main,
    h("div", { class: "signin" },
      h("div", { class: "signin-card card" },
        h("img", { src: "/console/img/favicon.svg", alt: "", width: 48, height: 48 }),
        h("h1", {}, "Big Data PaaS"),
        h("p", { class: "muted" }, "Self-service data clusters: Slurm, Spark, GlusterFS, PostgreSQL and more."),
        ctx.message ? h("p", { class: "notice" }, ctx.message) : null,
        form,
        h("p", { class: "hint" }, "No token? Ask your administrator (",
          h("code", {}, "bdp tokens create NAME"), "). The token is kept only for this browser tab."))));
  input.focus();
}
