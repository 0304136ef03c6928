// routegraph dashboard: reads /dashboard/data (the outcome log, summarised by the server) and
// draws it with Chart.js (bundled; nothing is fetched from a CDN).
"use strict";

const $ = (id) => document.getElementById(id);
const usd = (x) => (x === null || x === undefined ? "–" : "$" + Number(x).toFixed(x < 1 ? 4 : 2));
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%");
const charts = {};

function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
  charts[id] = new Chart($(id), config);
}

function fillSelect(select, values, chosen) {
  const first = select.options[0];
  select.replaceChildren(first);
  for (const value of values) {
    const option = document.createElement("option");
    option.value = option.textContent = value;
    if (value === chosen) option.selected = true;
    select.appendChild(option);
  }
}

function rows(tbody, items) {
  tbody.replaceChildren(...items.map((cells) => {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell === null || cell === undefined ? "–" : String(cell);
      tr.appendChild(td);
    }
    return tr;
  }));
}

async function load() {
  const params = new URLSearchParams({ hours: $("hours").value });
  if ($("key").value) params.set("key", $("key").value);
  if ($("graph").value) params.set("graph", $("graph").value);
  const headers = {};
  const apikey = $("apikey").value || localStorage.getItem("routegraph-admin-key") || "";
  if (apikey) {
    headers.authorization = "Bearer " + apikey;
    localStorage.setItem("routegraph-admin-key", apikey);
  }
  const reply = await fetch("/dashboard/data?" + params, { headers });
  const body = await reply.json();
  if (!reply.ok) {
    $("status").textContent = body.error ? body.error.message : "error " + reply.status;
    return;
  }
  $("status").textContent = "";
  render(body);
  document.body.dataset.loaded = String(Date.now());
}

function render(d) {
  const t = d.totals;
  fillSelect($("key"), d.filters.keys, d.filters.key);
  fillSelect($("graph"), d.filters.graphs, d.filters.graph);
  document.querySelector('[data-testid="requests"]').textContent = t.requests;
  document.querySelector('[data-testid="cost"]').textContent = usd(t.cost_usd);
  document.querySelector('[data-testid="baseline"]').textContent = usd(t.baseline_usd);
  document.querySelector('[data-testid="saved"]').textContent = usd(t.saved_usd);
  document.querySelector('[data-testid="saved-pct"]').textContent = t.saved_pct === null ? "" : t.saved_pct.toFixed(1) + "%";
  document.querySelector('[data-testid="escalation"]').textContent = pct(t.escalation_rate);
  document.querySelector('[data-testid="feedback"]').textContent =
    t.feedback_mean === null ? "none yet" : t.feedback_mean.toFixed(2) + " (" + t.feedback_n + ")";
  $("alarms").replaceChildren(...d.drift.alarms.map((text) => {
    const div = document.createElement("div");
    div.textContent = "⚠ " + text;
    return div;
  }));
  const labels = d.series.starts.map((s) => s.slice(5, 16).replace("T", " "));
  chart("requests-chart", { type: "bar", data: { labels, datasets: [{ label: "requests", data: d.series.requests, backgroundColor: "#4e79a7" }] }, options: { plugins: { legend: { display: false } } } });
  chart("cost-chart", { type: "line", data: { labels, datasets: [
    { label: "spend", data: d.series.cost_usd, borderColor: "#2a7d3f" },
    { label: "always-strongest", data: d.series.baseline_usd, borderColor: "#c44e52", borderDash: [4, 3] }] } });
  chart("mix-chart", { type: "doughnut", data: { labels: Object.keys(d.model_mix), datasets: [{ data: Object.values(d.model_mix) }] } });
  chart("confidence-chart", { type: "bar", data: { labels: d.confidence.edges.slice(0, -1).map((e) => e.toFixed(1)), datasets: [{ label: "answers", data: d.confidence.counts, backgroundColor: "#76b7b2" }] }, options: { plugins: { legend: { display: false } } } });
  const models = Object.keys(d.latency);
  chart("latency-chart", { type: "bar", data: { labels: models, datasets: [
    { label: "p50", data: models.map((m) => d.latency[m].p50_s), backgroundColor: "#4e79a7" },
    { label: "p95", data: models.map((m) => d.latency[m].p95_s), backgroundColor: "#f28e2b" }] } });
  rows(document.querySelector('[data-testid="per-key"] tbody'), d.per_key.map((r) => [r.key, r.requests, usd(r.cost_usd), usd(r.saved_usd)]));
  rows(document.querySelector('[data-testid="per-graph"] tbody'), d.per_graph.map((r) => [r.graph, r.requests, usd(r.cost_usd), usd(r.saved_usd)]));
  rows(document.querySelector('[data-testid="faults"] tbody'), Object.entries(d.faults));
  const drift = d.drift;
  rows(document.querySelector('[data-testid="drift"] tbody'), [
    ["mean P(strong)", drift.p_strong_mean], ["PSI vs previous window", drift.psi_previous],
    ["PSI vs validation", drift.psi_validation], ["out-of-distribution share", pct(drift.ood_share)]]);
  rows(document.querySelector('[data-testid="recent"] tbody'), d.recent.map((r) => [
    (r.time || "").slice(0, 19).replace("T", " "), r.key, r.graph,
    r.p_strong === null ? null : Number(r.p_strong).toFixed(2),
    r.ood && r.ood.ood !== undefined ? r.ood.ood : null, (r.path || []).join(" → "),
    r.chosen_model, r.confidence === null ? null : Number(r.confidence).toFixed(2), usd(r.cost_usd), r.feedback]));
}

document.addEventListener("DOMContentLoaded", () => {
  $("apikey").value = localStorage.getItem("routegraph-admin-key") || "";
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  for (const id of ["hours", "key", "graph"]) $(id).addEventListener("change", load);
  load();
});
