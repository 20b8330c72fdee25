// Building DOM and SVG nodes without HTML strings (nothing from the hub is ever parsed as markup).

const SVG = "http://www.w3.org/2000/svg";

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "width%") node.style.width = `${value}%`;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG, tag), attrs, children);

export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return "now";
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d`;
}

export function secs(value) {
  if (value === null || value === undefined) return "–";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  return ago(value);
}

export const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`);
export const usd = (v) => `$${(v || 0).toFixed(v >= 100 ? 0 : v >= 1 ? 2 : 4)}`;
export const num = (v) => (v || 0).toLocaleString("en-US");
export const time = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "–");
export const stamp = (t) => (t ? new Date(t * 1000).toLocaleString() : "–");

export function state(value) {
  const text = String(value || "").toLowerCase();
  return h("span", { class: `state state-${text.replace(/[^a-z_]/g, "")}` }, text.replace("_", " "));
}

export function card(title, ...body) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...body);
}

export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map(([label]) => h("th", {}, label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell]) => h("td", {}, cell(row)))))),
  );
}

export function meter(share, label) {
  const value = Math.max(0, Math.min(1, share || 0));
  const tone = value > 0.9 ? "hot" : value > 0.7 ? "warm" : "ok";
  return h("div", { class: "meter", title: label || pct(value) }, h("div", { class: `fill ${tone}`, "width%": value * 100 }));
}

export function stat(label, value, hint) {
  return h("div", { class: "stat" }, h("div", { class: "value" }, value), h("div", { class: "label" }, label), hint ? h("div", { class: "hint" }, hint) : null);
}
