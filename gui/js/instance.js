// One instance: its details, live CPU and memory use, mounts, forwards,
// settings (cpus/memory/disk of a stopped instance) and a terminal.
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
    settingsForm();
  }

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
    h("section", {}, h("h2", {}, "Settings"), settings),
    h("section", {}, h("h2", {}, "Terminal"), term));
  load().then(sample);
  timer = setInterval(sample, 2000);
  const off = onEvent((e) => { if (e.instance === name) load(); });
  return { stop: () => { clearInterval(timer); off(); if (closeTerm) closeTerm(); } };
}
