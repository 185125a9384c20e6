// The dashboard: log-in check, the event stream every view listens to, and
// the router (#/instances, #/instance/NAME, #/launch, #/recipes, #/settings).
import * as api from "./api.js";
import { h, mount, notice } from "./dom.js";
import { instancesView } from "./instances.js";
import { instanceView } from "./instance.js";
import { launchView } from "./launch.js";
import { recipesView } from "./recipes.js";
import { settingsView } from "./settings.js";
import { connectEvents } from "./events.js";

const view = document.getElementById("view");
let current = null; // the view shown: {stop()}

const routes = [
  [/^#\/instance\/(.+)$/, (m) => instanceView(view, decodeURIComponent(m[1]))],
  [/^#\/launch$/, () => launchView(view)],
  [/^#\/recipes$/, () => recipesView(view)],
  [/^#\/settings$/, () => settingsView(view)],
  [/^/, () => instancesView(view)],
];

function route() {
  if (current && current.stop) current.stop();
  notice("");
  const hash = location.hash || "#/instances";
  for (const a of document.querySelectorAll("header nav a")) {
    if (hash.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [re, fn] of routes) {
    const m = hash.match(re);
    if (m) {
      current = fn(m);
      break;
    }
  }
}

async function main() {
  const s = await api.session();
  if (!s) {
    mount(view, h("section", { class: "login" },
      h("h1", {}, "Not logged in"),
      h("p", {}, "Open the dashboard with a one-time link from a trusted client:"),
      h("pre", {}, "moonbase gui"),
      h("p", {}, "(or moonbase gui --print on a host without a browser; see docs/gui.md)")));
    document.body.dataset.ready = "login";
    return;
  }
  const id = s.identity;
  document.getElementById("who").textContent = id.transport === "unix"
    ? `uid ${id.uid} (local)` : `client ${String(id.fingerprint).slice(0, 12)}`;
  const out = document.getElementById("logout");
  out.hidden = false;
  out.onclick = async () => {
    await api.call("POST", "/v1/session/logout");
    location.reload();
  };
  connectEvents();
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "yes";
}

main().catch((e) => notice(e.message, true));
