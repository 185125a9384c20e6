// One instance: its details, live CPU and memory use, mounts, forwards,
// snapshots (take, restore, delete), settings (cpus/memory/disk of a stopped
// instance) and a terminal.
import * as api from "./api.js";
import { h, mount, bytes, notice, confirmDialog, list } from "./dom.js";
import { onEvent } from "./events.js";
import { openTerminal } from "./terminal.js";

function plot(points, max, label) {
  const w = 240, ht = 60;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${ht}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.classList.add("plot");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const step = w / Math.max(1, 29);
  line.setAttribute("points", points.map((v, i) =>
    `${(i * step).toFixed(1)},${(ht - (max ? v / max : 0) * (ht - 2) - 1).toFixed(1)}`)
    .join(" "));
  svg.append(line);
  return svg;
}

export function instanceView(root, name) {
  const base = api.path("/v1/instances/", name);
  const info = h("dl", { class: "info" });
  const usage = h("div", { class: "usage" });
  const mounts = h("div");
  const forwards = h("div");
  const snapshots = h("div", { class: "snapshots" });
  const snapForm = h("form", { class: "snapshot-form" });
  const settings = h("form", { class: "settings" });
  const term = h("div", { class: "terminal-box" });
  const cpu = [], mem = [];
  let last = null, timer = null, closeTerm = null, data = null;

  async function act(verb, body) {
    try {
      notice(`${verb} ${name}…`);
      await api.call("POST", `${base}/${verb}`, body);
      notice(`${verb} ${name}: done`);
    } catch (e) {
      notice(e.message, true);
    }
    load();
  }

  const buttons = h("div", { class: "actions", role: "toolbar", "aria-label": "Actions" },
    h("button", { type: "button", onclick: () => act("start", { options: {} }) }, "Start"),
    h("button", { type: "button", onclick: () => act("stop", { options: {} }) }, "Stop"),
    h("button", { type: "button", onclick: () => act("suspend") }, "Suspend"),
    h("button", { type: "button", onclick: () => act("restart") }, "Restart"),
    h("button", { type: "button", class: "danger", onclick: async () => {
      const a = await confirmDialog(`Delete ${name}?`, "Delete",
        "Purge (delete for good: cannot be undone)");
      if (a.ok) await act("delete", { options: { purge: a.extra } });
      if (a.ok && a.extra) location.hash = "#/instances";
    } }, "Delete"),
    h("button", { type: "button", id: "open-terminal", onclick: () => {
      if (closeTerm) closeTerm();
      closeTerm = openTerminal(term, name);
    } }, "Terminal"));

  async function load() {
    try {
      [data] = await api.call("GET", base);
    } catch (e) {
      notice(e.message, true);
      return;
    }
    const rows = [["State", data.state], ["Image", data.image], ["Driver", data.driver],
      ["Addresses", Array.isArray(data.ipv4) ? data.ipv4.join(", ") : ""], ["CPUs", data.cpus],
      ["Memory", bytes(data.memory)],
      ["Disk", data.disk_total ? `${bytes(data.disk_used)} of ${bytes(data.disk_total)}` : ""],
      ["SSH", data.ssh], ["Created", data.created], ["Host", data.host]];
    mount(info, rows.filter((r) => r[1] !== undefined && r[1] !== "")
      .map(([k, v]) => [h("dt", {}, k), h("dd", { "data-field": k.toLowerCase() }, v)]));
    const m = Object.entries(data.mounts || {});
    mount(mounts, m.length ? h("ul", {}, m.map(([target, src]) =>
      h("li", {}, `${typeof src === "object" ? src.source || JSON.stringify(src) : src} → ` +
        target))) : h("p", {}, "No mounts."));
    try {
      const [fw] = await api.call("GET", `${base}/forwards`);
      mount(forwards, list(fw).length ? h("ul", {}, list(fw).map((f) =>
        h("li", {}, `${f.address || "127.0.0.1"}:${f.host_port} → ${f.guest_port} ` +
          `(${f.proto || "tcp"})`))) : h("p", {}, "No forwards."));
    } catch (e) {
      mount(forwards, h("p", {}, e.message));
    }
    await loadSnapshots();
    settingsForm();
  }

  // Restore asks first; without "destructive" the current state is kept in a
  // new snapshot (as `moonbase restore` does) and the notice names it.
  async function restore(snap) {
    const a = await confirmDialog(`Restore ${name} to ${snap}?`, "Restore",
      "Destructive (do not keep the current state as a snapshot first)");
    if (!a.ok) return;
    try {
      notice(`restoring ${name} to ${snap}…`);
      const [safety] = await api.call("POST",
        `${base}/snapshots/${encodeURIComponent(snap)}/restore`,
        { options: { destructive: a.extra } });
      notice(`${name} restored to ${snap}` + (safety && safety.name
        ? ` (the state before is kept as ${safety.name})` : ""));
    } catch (e) {
      notice(e.message, true);
    }
    load();
  }

  async function removeSnapshot(snap) {
    const a = await confirmDialog(`Delete snapshot ${snap} of ${name}?`, "Delete");
    if (!a.ok) return;
    try {
      await api.call("DELETE", `${base}/snapshots/${encodeURIComponent(snap)}`);
      notice(`snapshot ${name}.${snap} deleted`);
    } catch (e) {
      notice(e.message, true);
    }
    load();
  }

  async function loadSnapshots() {
    let rows;
    try {
      [rows] = await api.call("GET", `${base}/snapshots`);
    } catch (e) {
      mount(snapshots, h("p", {}, e.message));
      return;
    }
    rows = list(rows);
    mount(snapshots, rows.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Created", "Parent", "Restores to", "Comment", ""]
        .map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", { "data-snapshot": r.name },
        h("td", {}, r.name), h("td", {}, r.created || ""), h("td", {}, r.parent || ""),
        h("td", {}, r.state === "running" ? "running (with memory)" : "stopped"),
        h("td", {}, r.comment || ""),
        h("td", {},
          h("button", { type: "button", "data-action": "restore", onclick: () => restore(r.name) },
            "Restore"),
          h("button", { type: "button", class: "danger", "data-action": "delete",
            onclick: () => removeSnapshot(r.name) }, "Delete")))))) : h("p", {}, "No snapshots."));
  }

  mount(snapForm,
    h("label", {}, "Name ", h("input", { name: "name", size: 12, placeholder: "snapshotN",
      pattern: "[A-Za-z][A-Za-z0-9\\-]*" })),
    h("label", {}, "Comment ", h("input", { name: "comment", size: 24 })),
    h("button", { type: "submit" }, "Take snapshot"));
  snapForm.onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(snapForm);
    const options = {};
    for (const k of ["name", "comment"]) {
      const v = String(f.get(k) || "").trim();
      if (v) options[k] = v;
    }
    try {
      notice(`taking a snapshot of ${name}…`);
      const [snap] = await api.call("POST", `${base}/snapshots`, { options });
      notice(`snapshot ${name}.${snap.name} taken`);
      snapForm.reset();
    } catch (e) {
      notice(e.message, true);
    }
    load();
  };

  function settingsForm() {
    const stopped = data.state === "stopped";
    const fields = [["cpus", data.cpus], ["memory", bytes(data.memory).replace(" ", "")],
      ["disk", data.disk_total ? bytes(data.disk_total).replace(" ", "") : ""]];
    mount(settings, h("fieldset", { disabled: !stopped },
      h("legend", {}, stopped ? "Resources" : "Resources (stop the instance to change them)"),
      fields.map(([k, v]) => h("label", {}, k, h("input", { name: k, value: v ?? "",
        size: 8 }))),
      h("button", { type: "submit" }, "Apply")));
    settings.onsubmit = async (ev) => {
      ev.preventDefault();
      const f = new FormData(settings);
      try {
        for (const [k, v] of [["cpus", data.cpus], ["memory", fields[1][1]],
          ["disk", fields[2][1]]]) {
          const want = String(f.get(k) || "").trim();
          if (want && want !== String(v)) {
            await api.call("PUT", api.path("/v1/settings/", `local.${name}.${k}`),
              { value: want });
          }
        }
        notice(`${name}: resources changed`);
      } catch (e) {
        notice(e.message, true);
      }
      load();
    };
  }

  async function sample() {
    if (!data || data.state !== "running") return;
    try {
      const [u] = await api.call("GET", `${base}/usage`);
      const now = performance.now();
      if (last) {
        const pct = (u.cpu_ns - last.cpu_ns) / ((now - last.t) * 1e6) * 100;
        cpu.push(Math.max(0, pct));
      }
      mem.push(u.memory_bytes);
      last = { cpu_ns: u.cpu_ns, t: now };
      while (cpu.length > 30) cpu.shift();
      while (mem.length > 30) mem.shift();
      const c = cpu.length ? cpu[cpu.length - 1] : 0;
      mount(usage,
        h("figure", {}, plot(cpu, Math.max(100, ...cpu), "CPU use"),
          h("figcaption", {}, `CPU ${c.toFixed(0)} %`)),
        h("figure", {}, plot(mem, data.memory || Math.max(...mem), "Memory use"),
          h("figcaption", { "data-field": "memory-use" }, `Memory ${bytes(u.memory_bytes)}` +
            (data.memory ? ` of ${bytes(data.memory)}` : ""))));
    } catch (e) {
      mount(usage, h("p", {}, e.message));
      if (e.status === 409) load(); // it stopped since: show its state, sample no more
    }
  }

  mount(root,
    h("p", {}, h("a", { href: "#/instances" }, "← Instances")),
    h("h1", {}, name), buttons,
    h("div", { class: "columns" },
      h("section", {}, h("h2", {}, "Details"), info),
      h("section", {}, h("h2", {}, "Use"), usage)),
    h("div", { class: "columns" },
      h("section", {}, h("h2", {}, "Mounts"), mounts),
      h("section", {}, h("h2", {}, "Forwards"), forwards)),
    h("section", {}, h("h2", {}, "Snapshots"), snapForm, snapshots),
    h("section", {}, h("h2", {}, "Settings"), settings),
    h("section", {}, h("h2", {}, "Terminal"), term));
  load().then(sample);
  timer = setInterval(sample, 2000);
  const off = onEvent((e) => { if (e.instance === name) load(); });
  return { stop: () => { clearInterval(timer); off(); if (closeTerm) closeTerm(); } };
}
