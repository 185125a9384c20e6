// The instance table: live from the event stream, filter by name and state,
// bulk start/stop/suspend/restart/delete.
import * as api from "./api.js";
import { h, mount, bytes, notice, confirmDialog, list } from "./dom.js";
import { onEvent } from "./events.js";

const states = ["running", "stopped", "suspended", "deleted", "launching"];
const eventState = { running: "running", stopped: "stopped", suspended: "suspended",
  deleted: "deleted", recovered: "stopped" };

export function instancesView(root) {
  const rows = new Map(); // name -> {data, tr, cells}
  const selected = new Set();
  const filter = { text: "", state: "" };
  const tbody = h("tbody");
  const count = h("span", { class: "count", "aria-live": "polite" });
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select every shown instance",
    onchange: () => {
      for (const [name, r] of rows) {
        if (r.tr.hidden) continue;
        if (selectAll.checked) selected.add(name); else selected.delete(name);
        r.box.checked = selectAll.checked;
      }
      updateButtons();
    } });
  const buttons = {};
  const actions = h("div", { class: "actions", role: "toolbar", "aria-label": "Bulk actions" },
    ["start", "stop", "suspend", "restart", "delete"].map((verb) => {
      buttons[verb] = h("button", { type: "button", class: verb === "delete" ? "danger" : "",
        disabled: true, onclick: () => bulk(verb) }, verb[0].toUpperCase() + verb.slice(1));
      return buttons[verb];
    }));

  function updateButtons() {
    for (const b of Object.values(buttons)) b.disabled = selected.size === 0;
    count.textContent = selected.size ? `${selected.size} selected` : "";
  }

  function visible(d) {
    return (!filter.text || d.name.includes(filter.text)) &&
      (!filter.state || d.state === filter.state);
  }

  function fill(r) {
    const d = r.data;
    r.cells.state.textContent = d.state;
    r.cells.state.className = "state " + d.state;
    r.cells.addr.textContent = Array.isArray(d.ipv4) ? d.ipv4.join(", ") : "";
    r.cells.image.textContent = d.image || "";
    r.cells.size.textContent = d.cpus ? `${d.cpus} cpu · ${bytes(d.memory)} · ` +
      bytes(d.disk) : "";
    r.cells.driver.textContent = d.driver || "";
    r.tr.hidden = !visible(d);
    r.tr.dataset.state = d.state;
  }

  function row(d) {
    let r = rows.get(d.name);
    if (!r) {
      const box = h("input", { type: "checkbox", "aria-label": `Select ${d.name}`,
        onchange: () => {
          if (box.checked) selected.add(d.name); else selected.delete(d.name);
          updateButtons();
        } });
      const cells = { state: h("td"), addr: h("td"), image: h("td"), size: h("td"),
        driver: h("td") };
      const tr = h("tr", { "data-name": d.name }, h("td", {}, box),
        h("th", { scope: "row" }, h("a", { href: "#/instance/" + encodeURIComponent(d.name) },
          d.name)),
        cells.state, cells.addr, cells.image, cells.size, cells.driver);
      r = { data: d, tr, cells, box };
      rows.set(d.name, r);
      // keep the table sorted by name
      const after = [...rows.keys()].sort().find((n) => n > d.name);
      tbody.insertBefore(tr, after && rows.get(after) ? rows.get(after).tr : null);
    }
    r.data = Object.assign(r.data, d);
    fill(r);
  }

  function drop(name) {
    const r = rows.get(name);
    if (r) r.tr.remove();
    rows.delete(name);
    selected.delete(name);
  }

  let loading = null, again = false;
  async function load() {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      try {
        const [rows_, recs] = await Promise.all([api.call("GET", "/v1/instances"),
          api.call("GET", "/v1/instance-records")]);
        const size = new Map(list(recs[0]).map((r) => [r.name, r]));
        const seen = new Set();
        for (const d of list(rows_[0])) {
          const rec = size.get(d.name) || {};
          row(Object.assign({}, d, { cpus: rec.cpus, memory: rec.memory, disk: rec.disk }));
          seen.add(d.name);
        }
        for (const name of [...rows.keys()]) if (!seen.has(name)) drop(name);
        empty.hidden = rows.size > 0;
        root.dataset.loaded = "yes";
      } catch (e) {
        notice(e.message, true);
      }
    })();
    await loading;
    loading = null;
    if (again) { again = false; return load(); }
  }

  // an event changes its row at once; the full list follows (addresses, sizes)
  let refresh = null;
  const off = onEvent((e) => {
    const r = rows.get(e.instance);
    if (e.event === "purged") drop(e.instance);
    else if (e.event === "launching" && !r) row({ name: e.instance, state: "launching" });
    else if (r && eventState[e.event]) {
      r.data.state = eventState[e.event];
      fill(r);
    }
    window.mbLastRender = { event: e, received: e.received, rendered: performance.now() };
    clearTimeout(refresh);
    refresh = setTimeout(load, 150);
  });

  async function bulk(verb) {
    const names = [...selected].sort();
    const body = { options: {} };
    if (verb === "delete") {
      const a = await confirmDialog(`Delete ${names.join(", ")}? A deleted instance can be ` +
        "recovered until it is purged.", "Delete", "Purge (delete for good: cannot be undone)");
      if (!a.ok) return;
      body.options.purge = a.extra;
    }
    clearSelection();
    notice(`${verb}: ${names.join(", ")}…`);
    const failed = [];
    await Promise.all(names.map(async (n) => {
      try {
        await api.call("POST", api.path(`/v1/instances/`, n, `/${verb}`),
          verb === "suspend" || verb === "restart" ? undefined : body);
      } catch (e) {
        failed.push(e.message);
      }
    }));
    notice(failed.length ? failed.join("; ") : `${verb}: done (${names.join(", ")})`,
      failed.length > 0);
    load();
  }

  const search = h("input", { type: "search", placeholder: "Filter by name",
    "aria-label": "Filter by name", oninput: () => { filter.text = search.value; refilter(); } });
  const stateSel = h("select", { "aria-label": "Filter by state",
    onchange: () => { filter.state = stateSel.value; refilter(); } },
  h("option", { value: "" }, "any state"), states.map((s) => h("option", { value: s }, s)));
  // what the filter hides is not acted on
  function refilter() {
    for (const [name, r] of rows) {
      fill(r);
      if (r.tr.hidden && selected.delete(name)) r.box.checked = false;
    }
    selectAll.checked = false;
    updateButtons();
  }
  function clearSelection() {
    for (const name of selected) { const r = rows.get(name); if (r) r.box.checked = false; }
    selected.clear();
    selectAll.checked = false;
    updateButtons();
  }

  const empty = h("p", { class: "empty", hidden: true }, "No instances yet. ",
    h("a", { href: "#/launch" }, "Launch one"), ".");
  mount(root,
    h("h1", {}, "Instances"),
    h("div", { class: "toolbar" }, search, stateSel, actions, count),
    h("div", { class: "scroll" }, h("table", { class: "instances" },
      h("thead", {}, h("tr", {}, h("td", {}, selectAll), h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Addresses"),
        h("th", { scope: "col" }, "Image"), h("th", { scope: "col" }, "Resources"),
        h("th", { scope: "col" }, "Driver"))),
      tbody)),
    empty);
  load();
  return { stop: () => { off(); clearTimeout(refresh); } };
}
