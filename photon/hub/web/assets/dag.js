// A workflow's steps as a layered graph: each step one layer right of the deepest step it needs,
// ordered within its layer by where its needs sit (one barycentre pass), edges as curves.
import { s } from "./dom.js";

const NODE_W = 210;
const NODE_H = 48;
const GAP_X = 70;
const GAP_Y = 22;

export function layout(steps) {
  const byId = new Map(steps.map((step) => [step.id, step]));
  const depth = new Map();
  const visit = (id, trail = new Set()) => {
    if (depth.has(id)) return depth.get(id);
    if (trail.has(id)) return 0;
    trail.add(id);
    const needs = (byId.get(id)?.needs || []).filter((n) => byId.has(n));
    const d = needs.length ? Math.max(...needs.map((n) => visit(n, trail))) + 1 : 0;
    depth.set(id, d);
    return d;
  };
  steps.forEach((step) => visit(step.id));
  const layers = [];
  steps.forEach((step) => (layers[depth.get(step.id)] ||= []).push(step.id));
  const row = new Map();
  layers.forEach((ids, index) => {
    if (index > 0) {
      const weight = (id) => {
        const needs = byId.get(id).needs.filter((n) => row.has(n));
        return needs.length ? needs.reduce((sum, n) => sum + row.get(n), 0) / needs.length : 0;
      };
      ids.sort((a, b) => weight(a) - weight(b));
    }
    ids.forEach((id, i) => row.set(id, i));
  });
  const tallest = Math.max(1, ...layers.map((ids) => ids.length));
  const positions = new Map();
  layers.forEach((ids, col) => {
    const offset = ((tallest - ids.length) * (NODE_H + GAP_Y)) / 2;
    ids.forEach((id, i) => positions.set(id, { x: 12 + col * (NODE_W + GAP_X), y: 12 + offset + i * (NODE_H + GAP_Y) }));
  });
  return {
    positions,
    width: 24 + layers.length * (NODE_W + GAP_X) - GAP_X,
    height: 24 + tallest * (NODE_H + GAP_Y) - GAP_Y,
  };
}

export function dag(steps, { onSelect, selected } = {}) {
  const { positions, width, height } = layout(steps);
  const span = Math.max(...steps.map((st) => st.needs.length), 0) > 0 ? 1 : 0;
  const top = span ? 56 : 0; // room for the edges that skip a layer, arched above the nodes
  const w = Math.max(width, 200);
  const hgt = Math.max(height, 72) + top;
  const svg = s("svg", { class: "dag", viewBox: `0 -${top} ${w} ${hgt}`, width: w, height: hgt, role: "img" });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0L10,5L0,10z", class: "arrowhead" }))));
  for (const step of steps) {
    const to = positions.get(step.id);
    for (const need of step.needs) {
      const from = positions.get(need);
      if (!from) continue;
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      const skips = Math.round((x2 - x1) / (NODE_W + GAP_X));
      const lift = skips > 0 && Math.abs(y1 - y2) < NODE_H ? 18 + 12 * skips : 0;
      const d = lift
        ? `M${from.x + NODE_W / 2},${from.y}C${from.x + NODE_W / 2},${from.y - lift} ${to.x + NODE_W / 2},${to.y - lift} ${to.x + NODE_W / 2},${to.y - 2}`
        : `M${x1},${y1}C${mid},${y1} ${mid},${y2} ${x2 - 2},${y2}`;
      svg.append(s("path", { d, class: `edge edge-${step.state.toLowerCase()}`, "marker-end": "url(#arrow)" }));
    }
  }
  for (const step of steps) {
    const { x, y } = positions.get(step.id);
    const tone = step.state.toLowerCase();
    const label = step.id.length > 20 ? `${step.id.slice(0, 19)}…` : step.id;
    const tasks = step.tasks.length > 1 ? ` ×${step.tasks.length}` : "";
    const node = s(
      "g",
      { class: `node node-${tone}${selected === step.id ? " selected" : ""}`, transform: `translate(${x},${y})`, tabindex: 0, "data-step": step.id },
      s("rect", { width: NODE_W, height: NODE_H, rx: 10 }),
      s("circle", { cx: 16, cy: NODE_H / 2, r: 5, class: "dot" }),
      s("text", { x: 30, y: 20, class: "name" }, label),
      s("text", { x: 30, y: 37, class: "meta" }, `${step.tool || "step"} · ${tone}${tasks}`),
      s("title", {}, `${step.id}: ${tone}${step.message ? ` — ${step.message}` : ""}`),
    );
    if (onSelect) node.addEventListener("click", () => onSelect(step));
    svg.append(node);
  }
  return svg;
}
