// The user's SSH public keys: installed in the nodes of clusters launched afterwards.
import { api, list } from "../api.js";
import { clear, errorBox, h, table } from "../ui.js";

function describe(key) {
  const [type, body = "", ...comment] = key.trim().split(/\s+/);
  return { type, tail: body.slice(-12), comment: comment.join(" ") };
}

export async function render(main, ctx, _params, gen) {
  const name = ctx.me.name;
  const path = `/users/${encodeURIComponent(name)}/ssh_keys`;
  const holder = h("div", {});
  const notice = h("div", {});
  let keys = list(await api.get(path), "ssh_keys");
  if (!ctx.current(gen)) return;

  async function save(next) {
    clear(notice);
    try {
      const saved = await api.put(path, { ssh_keys: next });
      keys = saved.ssh_keys ?? next;
      draw();
      return true;
    } catch (err) {
      clear(notice, errorBox(err));
      return false;
    }
  }

  function draw() {
    clear(holder, table(["Type", "Key", "Comment", ""], keys.map((k) => {
      const d = describe(k);
      const remove = h("button", { type: "button", class: "btn btn-small" }, "Remove");
      remove.addEventListener("click", () => save(keys.filter((x) => x !== k)));
      return h("tr", { "data-key": d.comment || d.tail },
        h("td", { class: "mono" }, d.type), h("td", { class: "mono" }, `…${d.tail}`),
        h("td", {}, d.comment), h("td", { class: "right" }, remove));
    }), { empty: "No keys yet. Add your public key to log in to your nodes with ssh." }));
  }

  const textarea = h("textarea", { id: "new-key", rows: 3, spellcheck: "false",
    placeholder: "ssh-ed25519 AAAAC3Nza… you@laptop" });
  const form = h("form", { class: "key-form", novalidate: true },
    h("label", { for: "new-key" }, "Public key (the contents of ~/.ssh/id_ed25519.pub)"),
    textarea,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn btn-primary" }, "Add key")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = textarea.value.trim();
    if (!value) return;
    if (value.includes("PRIVATE KEY")) {
      clear(notice, errorBox(new Error("That is a private key. Paste the .pub file instead — and keep the private key to yourself.")));
      return;
    }
    // The API keeps keys with single spaces; compare the same way to skip duplicates.
    const added = value.split("\n").map((l) => l.trim().split(/\s+/).join(" ")).filter((l) => l && !keys.includes(l));
    if (await save(keys.concat(added))) textarea.value = "";
  });
  draw();
  clear(main,
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "SSH keys"),
        h("p", { class: "muted" }, "Nodes of clusters you launch accept these keys for ", h("code", {}, "ssh root@<node address>"), "."))),
    notice,
    h("section", { class: "card" }, holder),
    h("section", { class: "card" }, h("h2", {}, "Add a key"), form,
      h("p", { class: "hint" }, "From the command line: ", h("code", {}, "bdp keys add ~/.ssh/id_ed25519.pub"))));
}
