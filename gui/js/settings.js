// Settings: the daemon's settings (driver, bridged network, privileged
// mounts, passphrase, ...) and the TLS clients it trusts, with revoke.
import * as api from "./api.js";
import { h, mount, notice, confirmDialog, list } from "./dom.js";

export function settingsView(root) {
  const table = h("tbody");
  const trust = h("div");

  async function loadSettings() {
    const [keys] = await api.call("GET", "/v1/settings");
    // per-instance keys are on each instance's page; client.* ones are each client's own
    const shown = list(keys).filter((k) => !/^local\.[^.]+\.(cpus|memory|disk)$/.test(k) &&
      !k.startsWith("client."));
    const values = await Promise.all(shown.map((k) =>
      api.call("GET", api.path("/v1/settings/", k)).then((r) => r[0], (e) => e)));
    mount(table, shown.map((k, i) => {
      const secret = k === "local.passphrase";
      const v = values[i] instanceof Error ? "" : values[i];
      const input = h("input", { "aria-label": k, name: k, type: secret ? "password" : "text",
        value: secret ? "" : String(v ?? ""), placeholder: secret ? "(unchanged)" : "",
        autocomplete: secret ? "new-password" : "off" });
      const save = h("button", { type: "button", onclick: async () => {
        try {
          await api.call("PUT", api.path("/v1/settings/", k), { value: input.value });
          notice(`${k} set`);
          if (secret) input.value = "";
        } catch (e) {
          notice(e.message, true);
        }
      } }, "Set");
      return h("tr", { "data-key": k }, h("th", { scope: "row" }, k), h("td", {}, input),
        h("td", {}, save));
    }));
  }

  async function loadTrust() {
    const [clients] = await api.call("GET", "/v1/trust");
    const clients_ = list(clients);
    mount(trust, clients_.length ? h("table", {},
      h("thead", {}, h("tr", {}, ["Client", "Fingerprint", "Added", ""].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, clients_.map((c) => h("tr", { "data-fingerprint": c.fingerprint },
        h("td", {}, c.name || ""), h("td", { class: "mono" }, c.fingerprint),
        h("td", {}, c.added || ""),
        h("td", {}, h("button", { type: "button", class: "danger",
          onclick: async () => {
            const a = await confirmDialog(`Revoke ${c.name || c.fingerprint}? It will ` +
              "need to authenticate again.", "Revoke");
            if (!a.ok) return;
            try {
              await api.call("POST", "/v1/trust/remove", { which: c.fingerprint });
              notice("revoked");
            } catch (e) {
              notice(e.message, true);
            }
            loadTrust().catch((e) => notice(e.message, true));
          } }, "Revoke")))))) : h("p", {}, "No TLS client is trusted."));
  }

  mount(root, h("h1", {}, "Settings"),
    h("section", {}, h("h2", {}, "Daemon settings"),
      h("table", { class: "settings-table" }, table)),
    h("section", {}, h("h2", {}, "Trusted clients"), trust));
  loadSettings().catch((e) => notice(e.message, true));
  loadTrust().catch((e) => notice(e.message, true));
  return { stop: () => {} };
}
