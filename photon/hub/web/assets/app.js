// The page: who is logged in, the router (#/view/id), one live stream per view, actions.
import { h } from "./dom.js";
import * as views from "./views.js";

const ROLES = ["viewer", "operator", "admin"];
const main = document.getElementById("view");
const live = document.getElementById("live");
let me = null;
let stream = null;

function toast(text, bad = false) {
  const node = document.getElementById("toast");
  node.textContent = text;
  node.className = `toast${bad ? " bad" : ""}`;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (node.hidden = true), 4000);
}

async function post(url, done) {
  const response = await fetch(url, { method: "POST", headers: { "X-CSRF-Token": me.csrf }, credentials: "same-origin" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) toast(body.error || `failed (${response.status})`, true);
  else toast(done);
  return response.status;
}

function loggedOut(message) {
  if (stream) stream.close();
  stream = null;
  document.body.classList.add("signed-out");
  document.getElementById("logout").hidden = true;
  document.getElementById("user").textContent = "";
  document.getElementById("role").textContent = "";
  main.replaceChildren(h("section", { class: "card login-card", id: "signed-out" },
    h("h1", {}, "PHOTON Mission Control"),
    h("p", {}, message),
    h("p", {}, "Open a fresh one-time link with ", h("code", {}, "photonctl dashboard"), "."),
  ));
}

function parse() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const [view, ...rest] = path.split("/");
  return { view: view || "operations", id: decodeURIComponent(rest.join("/")), params: new URLSearchParams(query || "") };
}

function render(route, data) {
  const log = document.getElementById("event-log");
  const stuck = log ? log.scrollTop + log.clientHeight >= log.scrollHeight - 8 : true;
  const ctx = {
    params: route.params,
    can: (role) => ROLES.indexOf(me.role) >= ROLES.indexOf(role),
    post,
    go: (hash) => (location.hash = hash),
  };
  const nodes = [views[route.view](data, ctx)].flat(Infinity).filter(Boolean);
  main.replaceChildren(...nodes);
  const fresh = document.getElementById("event-log");
  if (fresh && stuck) fresh.scrollTop = fresh.scrollHeight;
}

function route() {
  if (!me) return;
  const current = parse();
  if (!(current.view in views)) {
    location.hash = "#/operations";
    return;
  }
  for (const link of document.querySelectorAll("#nav a")) {
    const view = current.view === "workflow" ? "workflows" : current.view === "task" ? "operations" : current.view;
    link.classList.toggle("active", link.dataset.view === view);
  }
  if (stream) stream.close();
  const query = new URLSearchParams({ view: current.view });
  if (current.id) query.set("id", current.id);
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  stream = new EventSource(`/api/stream?${query}`);
  stream.onopen = () => live.classList.add("on");
  stream.onerror = async () => {
    live.classList.remove("on");
    const check = await fetch("/api/me", { credentials: "same-origin" }).catch(() => null);
    if (check && check.status === 401) loggedOut("Your session has ended.");
  };
  stream.addEventListener("logout", () => loggedOut("Your session has ended."));
  stream.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.error) main.replaceChildren(h("section", { class: "card" }, h("p", { class: "notice bad" }, data.error)));
    else render(current, data);
  };
}

async function start() {
  const response = await fetch("/api/me", { credentials: "same-origin" });
  if (response.status === 401) {
    loggedOut("You are not logged in.");
    return;
  }
  me = await response.json();
  document.body.dataset.role = me.role;
  document.getElementById("user").textContent = me.user;
  document.getElementById("role").textContent = me.role;
  const logout = document.getElementById("logout");
  logout.hidden = false;
  logout.onclick = async () => {
    await post("/logout", "Logged out");
    me = null;
    loggedOut("You have logged out.");
  };
  window.addEventListener("hashchange", route);
  route();
}

start();
