// Launch: the image catalogue of the configured remotes (find), a form
// checked like the CLI's options, and the launch's progress as it is written.
import * as api from "./api.js";
import { h, mount, notice, list } from "./dom.js";

// "512M", "2G", "1.5GiB", "1073741824" -> bytes (binary multiples, as the CLI)
export function parseSize(text, what) {
  const m = String(text).trim().match(/^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i);
  if (!m) throw new Error(`${what}: invalid size "${text}" (e.g. 512M or 2G)`);
  const mult = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase()];
  return Math.round(Number(m[1]) * mult);
}

const lines = (s) => String(s || "").split("\n").map((l) => l.trim()).filter((l) => l);

export function launchView(root) {
  const catalogue = h("div", { class: "catalogue" }, h("p", {}, "Reading the remotes…"));
  const log = h("pre", { class: "log", "aria-live": "polite", hidden: true });
  const bar = h("progress", { max: 100, hidden: true, "aria-label": "Download" });
  const form = h("form", { class: "launch", novalidate: true },
    h("label", {}, "Image", h("input", { name: "image", placeholder: "e.g. 24.04 or " +
      "local:tiny (empty: the default)" })),
    h("label", {}, "Name", h("input", { name: "name", pattern: "[a-z][a-z0-9-]{0,62}",
      placeholder: "empty: a generated name", autocomplete: "off" })),
    h("div", { class: "row" },
      h("label", {}, "CPUs", h("input", { name: "cpus", type: "number", min: 1, value: 1 })),
      h("label", {}, "Memory", h("input", { name: "memory", value: "1G", size: 6 })),
      h("label", {}, "Disk", h("input", { name: "disk", value: "5G", size: 6 }))),
    h("label", {}, "cloud-init user-data (YAML or #! script)",
      h("textarea", { name: "cloud_init", rows: 4, spellcheck: false })),
    h("label", {}, "Mounts (one SOURCE:TARGET a line, paths on the daemon's host)",
      h("textarea", { name: "mounts", rows: 2, spellcheck: false })),
    h("label", {}, "Networks (one a line, as launch --network)",
      h("textarea", { name: "networks", rows: 2, spellcheck: false })),
    h("button", { type: "submit", id: "launch-submit" }, "Launch"));

  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const o = {};
    try {
      if (f.get("image").trim()) o.image = f.get("image").trim();
      if (f.get("name").trim()) o.name = f.get("name").trim();
      const cpus = Number(f.get("cpus"));
      if (!Number.isInteger(cpus) || cpus < 1) {
        throw new Error(`cpus: "${f.get("cpus")}" is not a whole number of at least 1`);
      }
      o.cpus = cpus;
      o.memory = parseSize(f.get("memory"), "memory");
      o.disk = parseSize(f.get("disk"), "disk");
      if (f.get("cloud_init").trim()) {
        o.cloud_init = f.get("cloud_init");
        o.cloud_init_source = "the dashboard's cloud-init field";
      }
      if (lines(f.get("mounts")).length) o.mounts = lines(f.get("mounts"));
      if (lines(f.get("networks")).length) o.networks = lines(f.get("networks"));
    } catch (e) {
      notice(e.message, true);
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    log.hidden = false;
    log.textContent = "";
    bar.hidden = true;
    notice(`Launching ${o.name || "an instance"}…`);
    try {
      const [rec] = await api.framed("POST", "/v1/instances", { options: o }, (ch, text) => {
        // a download's progress rewrites its line with \r
        for (const part of text.split(/(?<=[\r\n])/)) {
          const pct = part.match(/(\d+(?:\.\d+)?)%/);
          if (pct) { bar.hidden = false; bar.value = Number(pct[1]); }
          if (part.endsWith("\r")) continue;
          log.textContent += part;
        }
        log.scrollTop = log.scrollHeight;
      });
      notice(`Launched ${rec.name}`);
      log.append(h("a", { href: "#/instance/" + encodeURIComponent(rec.name) },
        `Open ${rec.name}`));
    } catch (e) {
      notice(e.message, true);
    } finally {
      submit.disabled = false;
    }
  };

  mount(root, h("h1", {}, "Launch an instance"),
    h("div", { class: "columns" },
      h("section", {}, h("h2", {}, "New instance"), form, bar, log),
      h("section", {}, h("h2", {}, "Images"), catalogue)));

  // the catalogue of one remote at a time, read when asked (a remote is a server
  // on the network: nothing is fetched just by opening this page)
  const remoteSel = h("select", { "aria-label": "Remote" });
  const show = h("button", { type: "button", onclick: () => readCatalogue() }, "Show images");
  mount(catalogue, h("p", {}, "Pick a remote to see its images."));
  catalogue.before(h("div", { class: "toolbar" }, remoteSel, show));
  api.call("GET", "/v1/remotes").then(([remotes]) => {
    mount(remoteSel, list(remotes).map((r) => h("option", { value: r.name }, r.name)));
  }).catch((e) => notice(e.message, true));

  async function readCatalogue() {
    mount(catalogue, h("p", {}, `Reading ${remoteSel.value}…`));
    let rows;
    try {
      [rows] = await api.call("POST", "/v1/images/find", { query: remoteSel.value + ":",
        options: {} });
    } catch (e) {
      mount(catalogue, h("p", { class: "error" }, e.message));
      return;
    }
    if (!list(rows).length) {
      mount(catalogue, h("p", {}, `${remoteSel.value} lists no images.`));
      return;
    }
    mount(catalogue, h("table", {},
      h("thead", {}, h("tr", {}, ["Image", "Aliases", "Release", "Version", ""].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, list(rows).map((r) => h("tr", { "data-image": r.image },
        h("td", {}, r.image), h("td", {}, list(r.aliases).join(", ")),
        h("td", {}, r.release_title || r.release || ""), h("td", {}, r.version || ""),
        h("td", {}, h("button", { type: "button", onclick: () => {
          form.elements.image.value = r.image;
          form.elements.name.focus();
        } }, "Use")))))));
  }
  return { stop: () => {} };
}
