// The rpcx console page: lists what the gateway knows (api/overview) and calls a method (api/call).
// Plain DOM, no framework; every text from the server goes in through textContent (never HTML).
"use strict";

const $ = (id) => document.getElementById(id);
let overview = { services: [], servers: [] };

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fill(tbody, rows, columns) {
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = tbody.insertRow();
    for (const [key, cls] of columns) {
      const v = r[key];
      cell(tr, Array.isArray(v) ? v.join(", ") : (v === undefined || v === null ? "" : String(v)), cls);
    }
  }
}

function options(list, values) {
  list.replaceChildren(...values.map((v) => { const o = document.createElement("option"); o.value = v; return o; }));
}

function methodsOf(name) {
  const s = overview.services.find((x) => x.name === name);
  return s ? s.methods : [];
}

async function refresh() {
  try {
    const r = await fetch("api/overview", { cache: "no-store" });
    if (!r.ok) throw new Error(`overview: HTTP ${r.status}`);
    overview = await r.json();
  } catch (e) {
    $("status").textContent = String(e);
    return;
  }
  $("kind").textContent = overview.kind === "server" ? "gateway on an rpcx server" : "standalone gateway";
  fill($("services").tBodies[0], overview.services,
       [["name"], ["methods"], ["metadata"], ["calls", "num"], ["errors", "num"], ["mean_ms", "num"]]);
  fill($("servers").tBodies[0], overview.servers,
       [["address"], ["metadata"], ["state"], ["calls", "num"], ["errors", "num"], ["mean_ms", "num"]]);
  options($("service-names"), overview.services.map((s) => s.name));
  options($("method-names"), methodsOf($("service").value));
  $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function ms(seconds) {
  return seconds < 1 ? `${(seconds * 1000).toFixed(2)} ms` : `${seconds.toFixed(3)} s`;
}

function show(out, elapsed) {
  $("result").hidden = false;
  $("outcome").textContent = out.ok ? "ok" : "failed";
  $("outcome").className = out.ok ? "ok" : "failed";
  $("elapsed").textContent = ms(elapsed);
  $("server-elapsed").textContent = out.seconds === undefined ? "-" : ms(out.seconds);
  $("error").textContent = out.error || "";
  const fields = $("fields");
  fields.replaceChildren();
  const reply = out.reply;
  if (reply && typeof reply === "object" && !Array.isArray(reply)) {
    for (const [k, v] of Object.entries(reply)) {
      const li = document.createElement("li");
      li.textContent = `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`;
      fields.append(li);
    }
  }
  $("reply").textContent = reply === null || reply === undefined ? (out.raw || "") : JSON.stringify(reply, null, 2);
  $("reply-meta").textContent = JSON.stringify(out.metadata || {}, null, 2);
}

async function call(event) {
  event.preventDefault();
  let args;
  try {
    args = JSON.parse($("args").value || "{}");
  } catch (e) {
    show({ ok: false, error: `the arguments are not JSON: ${e.message}` }, 0);
    return;
  }
  const body = { service: $("service").value.trim(), method: $("method").value.trim(), args,
                 meta: $("meta").value.trim(), auth: $("auth").value };
  $("send").disabled = true;
  const start = performance.now();
  try {
    const r = await fetch("api/call", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify(body) });
    const out = await r.json();
    show(out, (performance.now() - start) / 1000);
  } catch (e) {
    show({ ok: false, error: String(e) }, (performance.now() - start) / 1000);
  } finally {
    $("send").disabled = false;
  }
  refresh();
}

// ?service=Arith&method=Mul&args={"A":1,"B":2} fills the form (a link to a prepared call)
const q = new URLSearchParams(location.search);
for (const k of ["service", "method", "args", "meta"]) if (q.has(k)) $(k).value = q.get(k);
$("service").addEventListener("change", () => options($("method-names"), methodsOf($("service").value)));
$("call").addEventListener("submit", call);
$("refresh").addEventListener("click", refresh);
refresh();
