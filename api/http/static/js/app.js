// The console shell: sign-in state, the hash router, and timers that stop when the
// user leaves a page.
import { api, streams, token } from "./api.js";
import { clear, errorBox, h } from "./ui.js";
import * as signin from "./views/signin.js";
import * as catalog from "./views/catalog.js";
import * as launch from "./views/launch.js";
import * as clusters from "./views/clusters.js";
import * as cluster from "./views/cluster.js";
import * as keys from "./views/keys.js";
import * as infrastructure from "./views/infrastructure.js";

const main = document.getElementById("main");
const ROUTES = [
  [/^#\/catalog$/, catalog, "catalog"],
  [/^#\/products\/([^/]+)\/([^/]+)$/, launch, "catalog"],
  [/^#\/clusters$/, clusters, "clusters"],
  [/^#\/clusters\/([^/]+)\/([^/]+)\/([^/]+)\/(\d+)$/, cluster, "clusters"],
  [/^#\/keys$/, keys, "keys"],
  [/^#\/infrastructure$/, infrastructure, "infrastructure"],
];

let me = null;
let timers = [];
let generation = 0;

let sources = [];

function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
  sources.forEach((s) => s.close());
  sources = [];
}

const ctx = {
  get me() { return me; },
  isAdmin: () => me?.role === "admin",
  go: (hash) => { if (location.hash === hash) route(); else location.hash = hash; },
  // Run `fn` every `ms` while this page is shown (live status without a reload).
  every(ms, fn) {
    const mine = generation;
    const id = setInterval(() => { if (mine === generation) fn(); }, ms);
    timers.push(id);
  },
  // Call `fn` (at most every `ms`) when an event arrives on `path`'s stream while this
  // page is shown: pages refresh on events instead of polling.
  follow(path, fn, ms = 500) {
    const mine = generation;
    let pending = null;
    sources.push(streams.follow(path, () => {
      if (pending || mine !== generation) return;
      pending = setTimeout(() => { pending = null; if (mine === generation) fn(); }, ms);
    }));
  },
  // True while the page that asked is still the one on screen.
  current(gen) { return gen === generation; },
  get generation() { return generation; },
};

async function loadMe() {
  me = await api.get("/users/me");
  document.getElementById("who-name").textContent = me.name;
  document.getElementById("who-role").textContent = me.role;
  document.querySelectorAll("[data-admin]").forEach((el) => { el.hidden = me.role !== "admin"; });
  document.getElementById("topbar").hidden = false;
  await streams.open();
}

function showSignin(message) {
  stopTimers();
  generation++;
  me = null;
  document.getElementById("topbar").hidden = true;
  // Signed in: where the user was going (a deep link, or a page opened meanwhile), else the catalog.
  signin.render(main, { ...ctx, message,
    onSignedIn: async () => { await loadMe(); route(); } });
}

async function route() {
  stopTimers();
  const gen = ++generation;
  if (!token.get()) return showSignin();
  if (!me) {
    try { await loadMe(); } catch (err) {
      if (err.status === 401) { token.clear(); return showSignin("Your token is no longer valid. Sign in again."); }
      clear(main, errorBox(err));
      return;
    }
  }
  const hash = location.hash || "#/catalog";
  for (const [pattern, view, sectionName] of ROUTES) {
    const m = hash.match(pattern);
    if (!m) continue;
    document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.section === sectionName));
    clear(main, h("div", { class: "loading" }, "Loading…"));
    try {
      await view.render(main, ctx, m.slice(1).map(decodeURIComponent), gen);
    } catch (err) {
      if (gen === generation) clear(main, errorBox(err));
    }
    return;
  }
  ctx.go("#/catalog");
}

document.getElementById("sign-out").addEventListener("click", async () => {
  stopTimers();
  await streams.close();
  token.clear();
  location.hash = "#/catalog";
  showSignin("Signed out.");
});
window.addEventListener("bdp:unauthorized", () => {
  token.clear();
  showSignin("Your token is no longer valid. Sign in again.");
});
window.addEventListener("hashchange", route);
route();
