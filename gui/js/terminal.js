// A terminal in the browser: xterm.js (installed from the npm registry by the
// set-up, served by the daemon from /vendor/) over the exec stream with a PTY.
import * as api from "./api.js";
import { h, mount } from "./dom.js";

let xtermLoaded = null;
function loadXterm() {
  if (!xtermLoaded) {
    const css = h("link", { rel: "stylesheet", href: "/vendor/xterm/xterm.css" });
    document.head.append(css);
    xtermLoaded = Promise.all([import("/vendor/xterm/xterm.mjs"),
      import("/vendor/xterm/addon-fit.mjs")]);
  }
  return xtermLoaded;
}

// Opens a shell of instance name in box; returns a function that closes it.
export function openTerminal(box, name) {
  const screen = h("div", { class: "terminal", "aria-label": `Terminal of ${name}` });
  const status = h("p", { class: "term-status", role: "status" }, "Connecting…");
  mount(box, screen, status);
  let ws = null, term = null, closed = false;
  const onResize = () => fitAddon && fitAddon.fit();
  let fitAddon = null;
  loadXterm().then(([xterm, fit]) => {
    if (closed) return;
    term = new xterm.Terminal({ convertEol: false, cursorBlink: true, fontSize: 14,
      fontFamily: "DejaVu Sans Mono, monospace" });
    fitAddon = new fit.FitAddon();
    term.loadAddon(fitAddon);
    term.open(screen);
    screen.scrollIntoView({ block: "nearest" });
    window.mbTerminal = term; // (what the browser tests read)
    fitAddon.fit();
    ws = api.stream(api.path("/v1/instances/", name, "/exec"), { argv: [],
      options: { pty: true, interactive: true, cols: term.cols, rows: term.rows } });
    const dec = new TextDecoder(), out = new TextDecoder();
    ws.onopen = () => { status.textContent = "Connected"; term.focus(); };
    ws.onmessage = (m) => {
      const b = new Uint8Array(m.data);
      if (b[0] === 1 || b[0] === 2) term.write(out.decode(b.subarray(1), { stream: true }));
      else if (b[0] === 3) {
        const text = dec.decode(b.subarray(1));
        const nl = text.indexOf("\n");
        let msg = "Session ended";
        try {
          const body = JSON.parse(text.slice(nl + 1));
          msg = body.error ? body.error.message : `Session ended (exit status ${body.result[0]})`;
        } catch (_) { /* keep the plain message */ }
        status.textContent = msg;
        box.dataset.exit = text.slice(0, nl);
      }
    };
    ws.onclose = () => {
      if (!box.dataset.exit) status.textContent = "Disconnected";
    };
    term.onData((d) => ws.readyState === 1 && ws.send(api.frame(0, d)));
    term.onResize(({ cols, rows }) => ws.readyState === 1 &&
      ws.send(api.frame(4, `resize ${cols} ${rows}`)));
    window.addEventListener("resize", onResize);
  }).catch(async (e) => {
    // not installed? the daemon's answer says how to install it
    let msg = e.message;
    try {
      const r = await fetch("/vendor/xterm/xterm.mjs");
      if (!r.ok) msg = (await r.json()).error.message;
    } catch (_) { /* keep the first message */ }
    status.textContent = msg;
  });
  return () => {
    closed = true;
    window.removeEventListener("resize", onResize);
    if (ws) ws.close();
    if (term) term.dispose();
  };
}
