// Recipes: open a recipe file the daemon may read, see its plan, bring it up
// or down with each step's lines as they come, then its outputs.
import * as api from "./api.js";
import { h, mount, notice, list } from "./dom.js";

let lastPath = "";

// What a plan item says besides its action: its changes and notes.
function details(r) {
  const show = (v) => (v && typeof v === "object" ? v.text || JSON.stringify(v) : String(v));
  const changes = Array.isArray(r.changes) ? r.changes.map(show)
    : Object.entries(r.changes || {}).map(([k, v]) => `${k}: ${show(v)}`);
  return changes.concat(list(r.notes).map(show)).join("; ");
}

export function recipesView(root) {
  const planBox = h("div", { class: "plan" });
  const log = h("pre", { class: "log", "aria-live": "polite", hidden: true });
  const outputs = h("div", { class: "outputs" });
  let model = null;
  const pathInput = h("input", { name: "path", value: lastPath, size: 50, required: true,
    placeholder: "/srv/project/moonbase.lua (a path on the daemon's host)" });
  const up = h("button", { type: "button", disabled: true, onclick: () => run("up") }, "Up");
  const down = h("button", { type: "button", class: "danger", disabled: true,
    onclick: () => run("down") }, "Down");

  async function plan() {
    const [p] = await api.call("POST", "/v1/recipes/plan", { model });
    const rows = list(p.items);
    mount(planBox,
      h("p", { class: "summary" }, `Project ${p.project}: ` + Object.entries(p.counts || {})
        .filter(([, n]) => n).map(([k, n]) => `${n} to ${k}`).join(", ")),
      rows.length ? h("table", {},
        h("thead", {}, h("tr", {}, ["Instance", "Action", "Details"].map((t) =>
          h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows.map((r) => h("tr", { "data-action": r.action },
          h("td", {}, r.instance || r.name), h("td", { class: "action " + r.action }, r.action),
          h("td", {}, details(r)))))) : null,
      list(p.networks).map((n) => h("p", {}, `network ${n.network}: ${n.action}`)));
    up.disabled = down.disabled = false;
  }

  async function showOutputs() {
    try {
      const [o] = await api.call("POST", "/v1/recipes/outputs", { model });
      const entries = Object.entries(o || {});
      mount(outputs, entries.length ? [h("h2", {}, "Outputs"), h("dl", {},
        entries.map(([k, v]) => [h("dt", {}, k),
          h("dd", {}, typeof v === "string" ? v : JSON.stringify(v))]))] : null);
    } catch (e) {
      mount(outputs, h("p", {}, e.message));
    }
  }

  async function run(verb) {
    up.disabled = down.disabled = true;
    log.hidden = false;
    log.textContent = "";
    mount(outputs);
    notice(`${verb}: ${model.project}…`);
    try {
      await api.framed("POST", `/v1/recipes/${verb}`, { model, options: {} }, (ch, text) => {
        log.textContent += text;
        log.scrollTop = log.scrollHeight;
      });
      notice(`${verb}: ${model.project} done`);
      if (verb === "up") await showOutputs();
    } catch (e) {
      notice(e.message, true);
    }
    try { await plan(); } catch (e) { notice(e.message, true); }
  }

  const form = h("form", { class: "recipe-open", onsubmit: async (ev) => {
    ev.preventDefault();
    lastPath = pathInput.value.trim();
    mount(planBox);
    mount(outputs);
    log.hidden = true;
    try {
      [model] = await api.call("POST", "/v1/recipes/load", { path: lastPath, options: {} });
      await plan();
    } catch (e) {
      model = null;
      up.disabled = down.disabled = true;
      notice(e.message, true);
    }
  } }, h("label", {}, "Recipe file or folder ", pathInput),
  h("button", { type: "submit" }, "Plan"));

  mount(root, h("h1", {}, "Recipes"), form, planBox,
    h("div", { class: "actions", role: "toolbar", "aria-label": "Recipe actions" }, up, down),
    log, outputs);
  return { stop: () => {} };
}
