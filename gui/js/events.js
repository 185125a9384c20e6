// The event stream (GET /v1/events) shared by every view.
import * as api from "./api.js";

const listeners = new Set();

// Lifecycle events (GET /v1/events) to every listener, as they arrive:
// fn(event) with event = {event, instance, state?, progress?, time}.
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function connectEvents() {
  const ws = api.stream("/v1/events", { options: { format: "json" } });
  const dec = new TextDecoder();
  let partial = "";
  ws.onmessage = (m) => {
    const b = new Uint8Array(m.data);
    if (b[0] !== 1) return;
    const received = performance.now();
    partial += dec.decode(b.subarray(1), { stream: true });
    const lines = partial.split("\n");
    partial = lines.pop();
    for (const line of lines) {
      if (!line.trim()) continue;
      let e;
      try { e = JSON.parse(line); } catch (_) { continue; }
      e.received = received;
      for (const fn of listeners) fn(e);
    }
  };
  ws.onclose = () => setTimeout(connectEvents, 2000);
  window.mbEvents = ws; // (for the browser tests: the stream is open)
}

