// The daemon's API as the dashboard uses it (docs/api.md): JSON calls with the
// session's CSRF token, framed calls whose stdout/stderr arrive as they are
// written (launch progress, recipe steps), and WebSocket streams.

let csrf = null;

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The session of this browser: {csrf, identity}, or null when not logged in.
export async function session() {
  const r = await fetch("/v1/session", { credentials: "same-origin" });
  if (!r.ok) return null;
  const body = await r.json();
  csrf = body.result[0].csrf;
  return body.result[0];
}

function init(method, body, accept) {
  const headers = { Accept: accept || "application/json" };
  if (method !== "GET") headers["X-Moonbase-Csrf"] = csrf || "";
  const o = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    o.body = JSON.stringify(body);
  }
  return o;
}

function failure(status, body) {
  const e = body && body.error;
  return new ApiError(status, e ? e.message : `HTTP ${status}`, e ? e.code : "failed");
}

// A plain call: the function's return values (an array), or an ApiError.
export async function call(method, path, body) {
  const r = await fetch(path, init(method, body));
  let parsed = null;
  try { parsed = await r.json(); } catch (_) { /* an empty or non-JSON answer */ }
  if (!r.ok) throw failure(r.status, parsed);
  return parsed ? parsed.result : [];
}

// A framed call ([channel u8][length u32 BE][payload]...): onText(channel,
// text) for stdout (1) and stderr (2) as they come; resolves with the result.
export async function framed(method, path, body, onText) {
  const r = await fetch(path, init(method, body, "application/vnd.moonbase.frames"));
  if (!r.headers.get("content-type")?.startsWith("application/vnd.moonbase.frames")) {
    let parsed = null;
    try { parsed = await r.json(); } catch (_) { /* not JSON */ }
    if (!r.ok) throw failure(r.status, parsed);
    return parsed ? parsed.result : [];
  }
  const reader = r.body.getReader();
  const dec = { 1: new TextDecoder(), 2: new TextDecoder() };
  let buf = new Uint8Array(0);
  let result = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (value) {
      const b = new Uint8Array(buf.length + value.length);
      b.set(buf);
      b.set(value, buf.length);
      buf = b;
      while (buf.length >= 5) {
        const n = new DataView(buf.buffer, buf.byteOffset + 1, 4).getUint32(0);
        if (buf.length < 5 + n) break;
        const ch = buf[0], payload = buf.subarray(5, 5 + n);
        if (ch === 3) result = new TextDecoder().decode(payload);
        else if (dec[ch]) onText(ch, dec[ch].decode(payload, { stream: true }));
        buf = buf.slice(5 + n);
      }
    }
    if (done) break;
  }
  if (result === null) throw new ApiError(502, "the daemon closed the call without a result");
  const nl = result.indexOf("\n");
  const status = Number(result.slice(0, nl));
  const parsed = JSON.parse(result.slice(nl + 1));
  if (status >= 400) throw failure(status, parsed);
  return parsed.result;
}

// A WebSocket route with its arguments (?args=JSON); messages are binary, a
// channel byte then the payload.
export function stream(path, args) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = "?args=" + encodeURIComponent(JSON.stringify(args));
  const ws = new WebSocket(`${proto}//${location.host}${path}${q}`);
  ws.binaryType = "arraybuffer";
  return ws;
}

export function frame(channel, data) {
  const payload = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const b = new Uint8Array(1 + payload.length);
  b[0] = channel;
  b.set(payload, 1);
  return b;
}

export const path = (...parts) => parts.map((p, i) => i % 2 ? encodeURIComponent(p) : p)
  .join("");
