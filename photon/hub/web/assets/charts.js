// Small SVG charts: lines over time, horizontal bars, share bars. Colours come from app.css.
import { s } from "./dom.js";

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

// series: [{name, points: [[x, y], ...], tone}]; x is a unix time.
export function lineChart(series, { height = 160, yMax, yFormat = (v) => String(v), area = false, xLabels } = {}) {
  const width = 560;
  const pad = { left: 44, right: 10, top: 10, bottom: 22 };
  const all = series.flatMap((line) => line.points);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  if (!all.length) {
    svg.append(s("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" }, "no data yet"));
    return svg;
  }
  const x0 = Math.min(...all.map((p) => p[0]));
  const x1 = Math.max(...all.map((p) => p[0]), x0 + 1);
  const top = yMax ?? niceMax(Math.max(...all.map((p) => p[1])));
  const X = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const Y = (y) => height - pad.bottom - (y / top) * (height - pad.top - pad.bottom);
  for (let i = 0; i <= 4; i += 1) {
    const value = (top * i) / 4;
    svg.append(
      s("line", { x1: pad.left, x2: width - pad.right, y1: Y(value), y2: Y(value), class: "grid" }),
      s("text", { x: pad.left - 6, y: Y(value) + 4, class: "axis", "text-anchor": "end" }, yFormat(value)),
    );
  }
  const clock = (at) => new Date(at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const [first, last] = xLabels || [clock(x0), clock(x1)];
  svg.append(
    s("text", { x: X(x0), y: height - 6, class: "axis", "text-anchor": "start" }, first),
    s("text", { x: X(x1), y: height - 6, class: "axis", "text-anchor": "end" }, last),
  );
  series.forEach((line, index) => {
    if (!line.points.length) return;
    const d = line.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    const tone = line.tone || `c${index}`;
    if (area) {
      const last = line.points[line.points.length - 1];
      svg.append(s("path", { d: `${d}L${X(last[0])},${Y(0)}L${X(line.points[0][0])},${Y(0)}Z`, class: `area ${tone}` }));
    }
    svg.append(s("path", { d, class: `line ${tone}` }, s("title", {}, line.name)));
    if (line.points.length < 12) {
      for (const p of line.points) svg.append(s("circle", { cx: X(p[0]), cy: Y(p[1]), r: 3, class: `dot ${tone}` }, s("title", {}, `${line.name}: ${yFormat(p[1])}`)));
    }
  });
  return svg;
}

// rows: [{label, value, tone}]
export function barChart(rows, { format = (v) => String(v) } = {}) {
  const width = 560;
  const bar = 22;
  const height = Math.max(bar, rows.length * (bar + 6));
  const svg = s("svg", { class: "chart bars", viewBox: `0 0 ${width} ${height}`, role: "img" });
  const top = niceMax(Math.max(...rows.map((r) => r.value), 0));
  rows.forEach((row, i) => {
    const y = i * (bar + 6);
    const w = Math.max(2, (row.value / top) * (width - 260));
    svg.append(
      s("text", { x: 0, y: y + 15, class: "label" }, row.label.length > 26 ? `${row.label.slice(0, 25)}…` : row.label),
      s("rect", { x: 180, y, width: w, height: bar, rx: 4, class: `bar ${row.tone || "c0"}` }),
      s("text", { x: 186 + w, y: y + 15, class: "value" }, format(row.value)),
    );
  });
  return svg;
}

// A stacked share bar: parts [{value, tone, label}]
export function shareBar(parts) {
  const total = parts.reduce((sum, p) => sum + p.value, 0) || 1;
  const svg = s("svg", { class: "share", viewBox: "0 0 100 8", preserveAspectRatio: "none" });
  let x = 0;
  for (const part of parts) {
    const w = (part.value / total) * 100;
    svg.append(s("rect", { x, y: 0, width: w, height: 8, class: `bar ${part.tone}` }, s("title", {}, `${part.label}: ${part.value}`)));
    x += w;
  }
  return svg;
}
