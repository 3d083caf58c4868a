"""The dashboard: one self-contained page (no script or style from elsewhere). It holds no data: with a
token it reads ``/api/day`` (today's intervals: chosen priority, P2P kWh, CES SoC; the live interval)
and, for a peer's token, ``/peers/me/statement``."""

from __future__ import annotations

DASHBOARD_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>lec-opt aggregator</title><link rel="icon" href="data:,">
<style>
body { font-family: system-ui, sans-serif; margin: 1rem; color: #222; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: right; }
th { position: sticky; top: 0; background: #f4f4f4; }
.scroll { max-height: 60vh; overflow: auto; display: inline-block; }
#error { color: #b00; }
.filled { background: #fff3cd; }
</style></head>
<body>
<h1>lec-opt aggregator</h1>
<form id="login"><label>Token <input id="token" type="password" autocomplete="off" size="48"></label>
<button type="submit">Show</button></form>
<p id="error" role="alert"></p>
<section id="live-section" hidden><h2>Live interval</h2><p id="live"></p></section>
<section id="day-section" hidden><h2>Today's intervals</h2><p id="day-summary"></p>
<div class="scroll"><table id="day"><thead><tr><th>time</th><th>priority</th><th>P2P kWh</th>
<th>CES SoC</th><th>filled readings</th></tr></thead><tbody></tbody></table></div></section>
<section id="statement-section" hidden><h2>My statement</h2><p id="statement-totals"></p>
<div class="scroll"><table id="statement"><thead><tr><th>time</th><th>load kWh</th><th>PV kWh</th>
<th>sold P2P kWh</th><th>bought P2P kWh</th><th>revenue $</th><th>bill $</th><th>saving $</th></tr></thead>
<tbody></tbody></table></div></section>
<script>
const $ = (id) => document.getElementById(id);
const fmt = (x, d) => Number(x).toFixed(d);
function cells(row, values) {
  for (const v of values) { const td = document.createElement("td"); td.textContent = v; row.appendChild(td); }
}
async function get(path) {
  const r = await fetch(path, {headers: {Authorization: "Bearer " + sessionStorage.getItem("token")}});
  return {status: r.status, body: await r.json()};
}
async function show() {
  $("error").textContent = "";
  const day = await get("/api/day");
  if (day.status !== 200) { $("error").textContent = day.body.detail; return; }
  const d = day.body;
  $("live").textContent = d.live ? `${d.live.time}: ${d.live.readings} of ${d.live.peers} readings in`
                                 : "the day is cleared";
  $("live-section").hidden = false;
  $("day-summary").textContent = `${d.intervals.length} intervals cleared (${d.scenario}, ${d.method})`;
  const body = $("day").tBodies[0]; body.replaceChildren();
  for (const i of d.intervals) {
    const tr = document.createElement("tr"); if (i.filled_peers) tr.className = "filled";
    cells(tr, [i.time, i.chosen, fmt(i.p2p_kwh, 3), fmt(i.soc_end, 4), i.filled_peers]); body.appendChild(tr);
  }
  $("day-section").hidden = false;
  const st = await get("/peers/me/statement");
  $("statement-section").hidden = st.status !== 200;
  if (st.status !== 200) return;
  const t = st.body.totals;
  $("statement-totals").textContent = `peer ${st.body.peer} (${st.body.role}): revenue $${fmt(t.revenue_usd, 2)},`
    + ` bill $${fmt(t.bill_usd, 2)}, saving $${fmt(t.saving_usd, 2)}`;
  const sb = $("statement").tBodies[0]; sb.replaceChildren();
  for (const i of st.body.intervals) {
    const tr = document.createElement("tr"); if (i.filled) tr.className = "filled";
    cells(tr, [i.time, fmt(i.load_kwh, 3), fmt(i.pv_kwh, 3), fmt(i.sold_p2p_kwh, 3), fmt(i.bought_p2p_kwh, 3),
               fmt(i.revenue_usd, 4), fmt(i.bill_usd, 4), fmt(i.saving_usd, 4)]);
    sb.appendChild(tr);
  }
}
$("login").addEventListener("submit", (e) => {
  e.preventDefault(); sessionStorage.setItem("token", $("token").value); show();
});
if (sessionStorage.getItem("token")) show();
setInterval(() => { if (sessionStorage.getItem("token")) show(); }, 10000);
</script>
</body></html>
"""
