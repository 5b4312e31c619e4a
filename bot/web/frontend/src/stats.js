// Console page "统计" (admin agents only): GET /api/stats draws every table as a chart
// and a table; each table downloads as CSV from /api/stats/<key>.csv (same rows).
// Bundled by esbuild with Chart.js (npm, pinned) into console/static/build/stats.js;
// uses console.js's globals api(), el() and say(), and registers in window.consolePages.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip,
} from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController,
  LineElement, PointElement, Legend, Tooltip);
Chart.defaults.font.family = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", sans-serif';
Chart.defaults.animation = false;

const byId = (id) => document.getElementById(id);
const COLORS = ["#0b6bcb", "#1e7d32", "#b45309", "#b91c1c", "#7c3aed", "#0f766e"];
let charts = [];
let lastQuery = "";

/** The chart of one table: [type, labels column, [[dataset column, axis]…], horizontal]. */
const CHARTS = {
  daily: ["bar", 0, [[1, "y"], [4, "pct", "line"], [5, "pct", "line"], [6, "pct", "line"]]],
  topics: ["bar", 0, [[2, "y"]], true],
  unanswered: ["bar", 0, [[1, "y"]], true],
  funnel: ["bar", 0, [[1, "y"], [3, "y"]]],
  steps: ["bar", 0, [[2, "y"], [3, "y"]]],
  feedback: ["bar", 0, [[2, "y"], [3, "y"]], true],
};

function query() {
  const params = new URLSearchParams();
  if (byId("stats-from").value) params.set("from", byId("stats-from").value);
  if (byId("stats-to").value) params.set("to", byId("stats-to").value);
  if (byId("stats-channel").value) params.set("channel", byId("stats-channel").value);
  return params.toString();
}

function drawChart(canvas, table) {
  const [type, labelAt, series, horizontal] = CHARTS[table.key];
  const rows = table.rows.slice(0, 20);
  const labels = rows.map((r) => String(r[labelAt]).slice(0, 24));
  const datasets = series.map(([column, axis, kind], i) => ({
    type: kind || type, label: table.columns[column], data: rows.map((r) => r[column]),
    yAxisID: horizontal ? undefined : axis, backgroundColor: COLORS[i], borderColor: COLORS[i],
  }));
  const scales = horizontal ? {} : { y: { beginAtZero: true, position: "left" } };
  if (series.some(([, axis]) => axis === "pct")) {
    scales.pct = { beginAtZero: true, max: 100, position: "right", grid: { drawOnChartArea: false } };
  }
  charts.push(new Chart(canvas, {
    type, data: { labels, datasets },
    options: { indexAxis: horizontal ? "y" : "x", maintainAspectRatio: false, scales },
  }));
}

async function downloadCsv(key) {
  const token = sessionStorage.getItem("console.token");
  const reply = await fetch(`/api/stats/${key}.csv?${lastQuery}`, {
    headers: { Authorization: `Bearer ${token}`,
      "X-Agent": encodeURIComponent(sessionStorage.getItem("console.agent") || "") },
  });
  if (!reply.ok) { say(`下载失败（${reply.status}）`); return; }
  const name = (reply.headers.get("Content-Disposition") || "").split('"')[1] || `${key}.csv`;
  const link = el("a", { href: URL.createObjectURL(await reply.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

function renderTable(table) {
  const canvas = CHARTS[table.key] && table.rows.length ? el("canvas", { "data-chart": table.key }) : null;
  const card = el("div", { class: "card", "data-table": table.key },
    el("h2", {}, table.title,
      el("button", { type: "button", class: "small", onclick: () => downloadCsv(table.key) }, "下载CSV")),
    canvas ? el("div", { class: "chart" }, canvas) : null,
    el("table", {},
      el("thead", {}, el("tr", {}, table.columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, table.rows.length
        ? table.rows.map((row) => el("tr", {}, row.map((v) =>
          el("td", { class: typeof v === "number" ? "num" : null }, v === null ? "" : v))))
        : el("tr", {}, el("td", { colspan: table.columns.length }, "（没有数据）")))));
  byId("stats-body").append(card);
  if (canvas) drawChart(canvas, table);
}

async function loadStats() {
  lastQuery = query();
  const body = await api(`/api/stats?${lastQuery}`);
  for (const chart of charts) chart.destroy();
  charts = [];
  byId("stats-body").replaceChildren();
  if (!body) return;
  const f = body.filters;
  byId("stats-from").value = f.from;
  byId("stats-to").value = f.to;
  byId("stats-meta").textContent =
    `${f.from} 至 ${f.to}${f.channel ? ` · ${f.channel}` : ""} · 查询用时 ${body.seconds} 秒`;
  for (const table of body.tables) renderTable(table);
}

byId("stats-form").addEventListener("submit", (event) => { event.preventDefault(); loadStats(); });
window.consolePages = window.consolePages || {};
window.consolePages.stats = { show: () => loadStats() };

// The nav link shows for admins only (the API refuses everyone else with 403).
api("/api/session").then((session) => {
  if (session && session.admin) byId("stats-link").hidden = false;
});
// console.js routed before this file ran: open the page if the address asks for it.
if (window.location.hash.startsWith("#stats")) loadStats();
