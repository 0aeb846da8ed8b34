// Draws every <canvas data-chart="ID"> from the page's JSON (script#charts) with the vendored Chart.js.
(function () {
  "use strict";
  var COLORS = { actual: "#0b6e4f", forecast: "#1f5fa8", target: "#c0392b", bar: "#2b8cbe" };
  function dataset(d) {
    var base = { label: d.label, data: d.data, spanGaps: true, pointRadius: 0, borderWidth: 2 };
    switch (d.role) {
      case "band95": return Object.assign(base, { fill: "+1", backgroundColor: "rgba(31,95,168,0.10)", borderWidth: 0 });
      case "band80": return Object.assign(base, { fill: "+1", backgroundColor: "rgba(31,95,168,0.22)", borderWidth: 0 });
      case "band95-base": case "band80-base": return Object.assign(base, { fill: false, borderWidth: 0 });
      case "forecast": return Object.assign(base, { borderColor: COLORS.forecast, borderDash: [6, 4], fill: false });
      case "actual": return Object.assign(base, { borderColor: COLORS.actual, fill: false });
      case "actual-point": return Object.assign(base, { borderColor: COLORS.actual, backgroundColor: COLORS.actual, showLine: false, pointRadius: 5 });
      case "target": return Object.assign(base, { borderColor: COLORS.target, backgroundColor: COLORS.target, showLine: false, pointRadius: 6, pointStyle: "rectRot" });
      default: return Object.assign(base, { backgroundColor: COLORS.bar, borderColor: COLORS.bar });
    }
  }
  function draw() {
    var source = document.getElementById("charts");
    if (!source || typeof Chart === "undefined") { return; }
    var charts = JSON.parse(source.textContent || "[]");
    var lang = document.documentElement.lang === "en" ? "en-US" : "id-ID";
    charts.forEach(function (c) {
      var canvas = document.querySelector('canvas[data-chart="' + c.id + '"]');
      if (!canvas) { return; }
      new Chart(canvas, {
        type: c.type,
        data: { labels: c.labels, datasets: c.datasets.map(dataset) },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          locale: lang,
          plugins: { legend: { labels: { filter: function (item) { return item.text !== ""; } } } },
          scales: { y: { beginAtZero: c.type === "bar" } }
        }
      });
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
