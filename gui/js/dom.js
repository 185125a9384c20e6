// Small DOM helpers: no framework, no build step.

// h("button", {type: "button", onclick: f}, "Start") -> element
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

export function mount(root, ...children) {
  root.replaceChildren(...children.flat(Infinity).filter((c) => c));
}

const units = ["B", "KiB", "MiB", "GiB", "TiB"];
export function bytes(n) {
  if (typeof n !== "number") return "";
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

// A line of status for the user (errors say so).
export function notice(text, isError) {
  const n = document.getElementById("notice");
  n.textContent = text || "";
  n.className = isError ? "error" : "";
}

// A modal question; resolves {ok, extra} (extra: the optional checkbox).
export function confirmDialog(text, okLabel, extraLabel) {
  const d = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  const label = document.getElementById("confirm-extra-label");
  const box = document.getElementById("confirm-extra");
  label.hidden = !extraLabel;
  box.checked = false;
  document.getElementById("confirm-extra-text").textContent = extraLabel || "";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve({ ok: d.returnValue === "ok",
      extra: box.checked }), { once: true });
    d.returnValue = "cancel";
    d.showModal();
  });
}

// A JSON array, or [] (an empty Lua table arrives as {}).
export const list = (x) => (Array.isArray(x) ? x : []);
