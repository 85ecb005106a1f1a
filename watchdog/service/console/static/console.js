// The steward console's one script: a read-out of the chart under the pointer, and local times as
// tooltips of the UTC ones. The pages work without it.
"use strict";

function fmtUtc(t) {
  return new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function attachChart(svg) {
  const points = JSON.parse(svg.dataset.points || "[]");
  if (!points.length) return;
  const x0 = +svg.dataset.x0, x1 = +svg.dataset.x1, y0 = +svg.dataset.y0, y1 = +svg.dataset.y1;
  const left = +svg.dataset.left, top = +svg.dataset.top, pw = +svg.dataset.pw, ph = +svg.dataset.ph;
  const log = svg.dataset.log === "1", floor = +svg.dataset.floor;
  const scale = (v) => (log ? Math.log10(Math.max(v, floor)) : v);
  const marker = svg.querySelector(".marker");
  const readout = svg.closest("figure").querySelector("output.readout");
  svg.addEventListener("mousemove", (ev) => {
    const box = svg.getBoundingClientRect();
    const px = (ev.clientX - box.left) * (svg.viewBox.baseVal.width / box.width);
    const t = x0 + (px - left) / pw * (x1 - x0);
    let best = points[0];
    for (const p of points) if (Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
    marker.setAttribute("cx", (left + (best[0] - x0) / (x1 - x0) * pw).toFixed(1));
    marker.setAttribute("cy", (top + (y1 - scale(best[1])) / (y1 - y0) * ph).toFixed(1));
    if (readout) readout.textContent = best[1].toPrecision(4) + " at " + fmtUtc(best[0]);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const svg of document.querySelectorAll("svg.chart[data-points]")) attachChart(svg);
  for (const el of document.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) el.title = "your local time: " + d.toLocaleString();
  }
});
