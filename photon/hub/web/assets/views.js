// The dashboard's views: each takes the snapshot the hub streams and the page context, and
// returns the nodes to show. `ctx.can(role)` says whether the buttons for a role are shown (the
// hub refuses the actions all the same).
import { barChart, lineChart, shareBar } from "./charts.js";
import { dag } from "./dag.js";
import { ago, card, h, meter, num, pct, secs, stamp, stat, state, table, time, usd } from "./dom.js";

const taskLink = (id) => h("a", { href: `#/task/${encodeURIComponent(id)}`, class: "mono" }, id.slice(-10));
const agentName = (row) => h("span", { class: "agent-name" }, row.name);
const FAILURE_TONES = { tool_error: "bad", timeout: "warn", agent_lost: "warn", quota: "warn", auth: "bad", cancelled: "muted", tool_missing: "bad", invalid_input: "bad" };

function failureBars(failures) {
  const rows = Object.entries(failures || {}).map(([label, value]) => ({ label, value, tone: FAILURE_TONES[label] || "bad" }));
  return rows.length ? barChart(rows) : h("p", { class: "muted empty" }, "No failures.");
}

function progress(task, now) {
  if (!task.started_at) return h("span", { class: "muted" }, task.state.toLowerCase());
  const elapsed = now - task.started_at;
  if (task.timeout) return h("div", { class: "progress" }, meter(elapsed / task.timeout, `${secs(elapsed)} of ${secs(task.timeout)}`), h("span", { class: "muted" }, `${secs(elapsed)} / ${secs(task.timeout)}`));
  return h("div", { class: "progress" }, h("div", { class: "meter indeterminate" }, h("div", { class: "fill ok" })), h("span", { class: "muted" }, secs(elapsed)));
}

function cancelButton(task, ctx) {
  if (!ctx.can("operator") || ["SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"].includes(task.state)) return null;
  return h("button", { class: "danger small", "data-action": "cancel", onclick: () => ctx.post(`/api/tasks/${encodeURIComponent(task.id)}/cancel`, `Cancel requested for ${task.id.slice(-10)}`) }, "Cancel");
}

export function operations(data, ctx) {
  const agents = data.agents;
  const names = new Map(agents.map((a) => [a.id, a.name]));
  const count = (st) => agents.filter((a) => a.state === st).length;
  const slots = agents.reduce((sum, a) => sum + (a.slots || 0), 0);
  const used = agents.reduce((sum, a) => sum + (a.running || 0), 0);
  const depth = data.queues.reduce((sum, q) => sum + q.depth, 0);
  const kinds = new Map();
  for (const agent of agents) (kinds.get(agent.kind) || kinds.set(agent.kind, []).get(agent.kind)).push(agent);
  const agentColumns = [
    ["agent", (a) => h("a", { href: `#/agents`, class: "strong" }, a.name)],
    ["state", (a) => state(a.state)],
    ["heartbeat", (a) => (a.heartbeat_age === undefined || a.heartbeat_age === null ? "–" : a.heartbeat_age < 1 ? "just now" : `${ago(a.heartbeat_age)} ago`)],
    ["cpu", (a) => (a.cpu === undefined || a.cpu === null ? "–" : h("div", { class: "cell-meter" }, meter(a.cpu / 100), `${Math.round(a.cpu)}%`))],
    ["memory", (a) => (a.memory === undefined || a.memory === null ? "–" : h("div", { class: "cell-meter" }, meter(a.memory / 100), `${Math.round(a.memory)}%`))],
    ["slots", (a) => (a.slots ? h("div", { class: "cell-meter" }, meter(a.running / a.slots), `${a.running}/${a.slots}`) : "–")],
    ["labels", (a) => Object.entries(a.labels || {}).map(([k, v]) => h("span", { class: "chip" }, `${k}=${v}`))],
    ["", (a) => agentActions(a, ctx)],
  ];
  return [
    h("div", { class: "stats" },
      stat("agents connected", `${count("connected")}`, `${count("draining")} draining · ${count("disconnected") + count("lost")} lost`),
      stat("slots in use", `${used}/${slots}`, slots ? pct(used / slots) : "no capacity"),
      stat("queued", num(depth), data.queues.length ? `${data.queues.length} tools` : "queue empty"),
      stat("running", num(data.running.length), `${data.workflows.filter((w) => w.state === "RUNNING").length} workflows`),
      stat("recent failures", num(Object.values(data.failures).reduce((a, b) => a + b, 0)), Object.keys(data.failures)[0] || "none"),
    ),
    card("Fleet", ...[...kinds.entries()].map(([kind, rows]) => h("div", { class: "group" }, kinds.size > 1 || kind !== "-" ? h("h3", {}, `kind ${kind}`) : null, table(agentColumns, rows, "No agents have joined."))), agents.length ? null : h("p", { class: "muted empty" }, "No agents have joined yet: photonctl join-token create, then photon-agent join.")),
    h("div", { class: "grid two" },
      card("Queue by tool", table([
        ["tool", (q) => h("span", { class: "strong" }, q.tool)],
        ["depth", (q) => num(q.depth)],
        ["waiting because", (q) => h("ul", { class: "reasons" }, Object.entries(q.reasons).map(([reason, n]) => h("li", {}, h("span", { class: "count" }, n), reason)))],
      ], data.queues, "Nothing is waiting.")),
      card("Failures by class", failureBars(data.failures), table([
        ["task", (t) => taskLink(t.id)],
        ["tool", (t) => t.tool],
        ["class", (t) => t.failure?.class || "–"],
        ["ended", (t) => time(t.finished_at)],
      ], data.recent_failures, "")),
    ),
    card("Running tasks", table([
      ["task", (t) => taskLink(t.id)],
      ["tool", (t) => h("span", { class: "strong" }, t.tool)],
      ["state", (t) => state(t.state)],
      ["agent", (t) => names.get(t.agent) || h("span", { class: "mono" }, t.agent.slice(-8))],
      ["progress", (t) => progress(t, data.now)],
      ["latest", (t) => h("span", { class: "last" }, t.last)],
      ["", (t) => cancelButton(t, ctx)],
    ], data.running, "No task is running.")),
    card("Workflows", table([
      ["workflow", (w) => h("a", { href: `#/workflow/${encodeURIComponent(w.id)}`, class: "strong" }, w.name)],
      ["state", (w) => state(w.state)],
      ["steps", (w) => stepShare(w.steps)],
      ["started", (w) => time(w.created_at)],
    ], data.workflows, "No workflows yet.")),
  ];
}

function stepShare(steps) {
  const parts = [["SUCCEEDED", "good"], ["RUNNING", "c0"], ["FAILED", "bad"], ["CANCELLED", "muted"], ["SKIPPED", "muted"], ["WAITING", "idle"]]
    .map(([name, tone]) => ({ label: name.toLowerCase(), value: steps[name] || 0, tone }))
    .filter((p) => p.value);
  if (!parts.length) return h("span", { class: "muted" }, "–");
  const total = parts.reduce((sum, p) => sum + p.value, 0);
  const done = total - (steps.RUNNING || 0) - (steps.WAITING || 0);
  return h("div", { class: "cell-meter" }, shareBar(parts), `${done}/${total}`);
}

function agentActions(agent, ctx) {
  if (!ctx.can("operator") || !["connected", "draining"].includes(agent.state)) return null;
  const draining = agent.state === "draining";
  return h("button", { class: "ghost small", onclick: () => ctx.post(`/api/agents/${encodeURIComponent(agent.id)}/${draining ? "undrain" : "drain"}`, `${agent.name}: ${draining ? "undrained" : "draining"}`) }, draining ? "Undrain" : "Drain");
}

// Quota blocks: who (an agent, or a tool on the Agents view) is out of quota, until when.
function quotaBlocks(blocks, key, now) {
  if (!blocks || !blocks.length) return null;
  return h("div", { class: "quota-blocks" }, h("h3", {}, "Out of quota"), table([
    [key, (b) => h("span", { class: "strong" }, b[key])],
    ["until", (b) => stamp(b.until)],
    ["resets in", (b) => ago(b.until - now)],
  ], blocks));
}

export function platforms(data) {
  if (!data.tools.length) return [card("Platforms", h("p", { class: "muted empty" }, "No tools reported by any agent yet."))];
  return [
    h("p", { class: "muted" }, `Figures over the last ${data.window} tasks that ended.`),
    h("div", { class: "grid panels" }, [...data.tools].sort((a, b) => b.runs - a.runs).map((tool) => card(
      tool.tool,
      h("div", { class: "stats compact" },
        stat("runs", num(tool.runs)),
        stat("success", pct(tool.success_rate)),
        stat("p50", secs(tool.p50)),
        stat("p95", secs(tool.p95)),
        stat("cost", usd(tool.cost_usd), `${num(tool.tokens)} tokens`),
      ),
      tool.runs ? [
        h("h3", {}, "Duration of recent runs"),
        lineChart([{ name: "duration", points: tool.durations.map((d, i) => [i, d]) }], { height: 110, yFormat: (v) => secs(v), xLabels: ["older", "newest"] }),
      ] : h("p", { class: "muted empty" }, "No runs yet."),
      tool.spend.some((p) => p[1] > 0) ? [h("h3", {}, "Spend per hour"), lineChart([{ name: "usd", points: tool.spend.map((p) => [p[0], p[1]]), tone: "c2" }], { height: 110, yFormat: usd, area: true })] : null,
      tool.spend.some((p) => p[2] > 0) ? [h("h3", {}, "Tokens per hour"), lineChart([{ name: "tokens", points: tool.spend.map((p) => [p[0], p[2]]), tone: "c1" }], { height: 110, yFormat: (v) => num(Math.round(v)), area: true })] : null,
      Object.keys(tool.failures).length ? [h("h3", {}, "Failures by class"), failureBars(tool.failures)] : null,
      quotaBlocks(tool.quota_blocks, "agent", data.now),
      h("h3", {}, "Agents"),
      table([
        ["agent", (a) => a.agent],
        ["version", (a) => a.version || "–"],
        ["state", (a) => state(a.ready ? "ready" : "unavailable")],
        ["", (a) => h("span", { class: "muted" }, a.detail)],
      ], tool.agents, "No connected agent offers it."),
    ))),
  ];
}

export function agents(data) {
  return [h("div", { class: "grid panels" }, data.agents.map((agent) => {
    const ring = agent.utilisation;
    return card(
      h("span", {}, agent.name, " ", state(agent.state)),
      h("div", { class: "stats compact" },
        stat("tasks done", num(agent.runs)),
        stat("error rate", pct(agent.error_rate)),
        stat("p50", secs(agent.p50)),
        stat("p95", secs(agent.p95)),
        stat("slots", agent.slots ? `${agent.running}/${agent.slots}` : "–"),
      ),
      h("h3", {}, "Utilisation, last 30 minutes"),
      lineChart([
        { name: "cpu %", points: ring.map((p) => [p[0], p[1]]), tone: "c0" },
        { name: "memory %", points: ring.map((p) => [p[0], p[2]]), tone: "c1" },
        { name: "slots in use %", points: ring.map((p) => [p[0], p[3] * 100]), tone: "c2" },
      ], { height: 130, yMax: 100, yFormat: (v) => `${v}%` }),
      h("div", { class: "legend" }, h("span", { class: "key c0" }, "cpu"), h("span", { class: "key c1" }, "memory"), h("span", { class: "key c2" }, "slots in use")),
      quotaBlocks(agent.quota_blocks, "tool", data.now),
      h("h3", {}, "Plugins"),
      h("div", { class: "chips" }, (agent.tools || []).map((t) => h("span", { class: `chip ${t.ready ? "" : "off"}` }, `${t.name} ${t.version}`))),
      h("p", { class: "muted small" }, [agent.hostname, agent.platform, agent.version && `agent ${agent.version}`].filter(Boolean).join(" · ")),
    );
  })), data.agents.length ? null : card("Agents", h("p", { class: "muted empty" }, "No agents have joined yet."))];
}

export function workflows(data) {
  return [card("Workflows", table([
    ["workflow", (w) => h("a", { href: `#/workflow/${encodeURIComponent(w.id)}`, class: "strong" }, w.name)],
    ["id", (w) => h("span", { class: "mono" }, w.id)],
    ["state", (w) => state(w.state)],
    ["started", (w) => stamp(w.created_at)],
    ["took", (w) => (w.finished_at ? secs(w.finished_at - w.created_at) : "running")],
  ], data.workflows, "No workflows yet: photonctl workflow run FILE."))];
}

export function workflow(data, ctx) {
  const wf = data.workflow;
  const selected = ctx.params.get("step") || "";
  const step = data.steps.find((st) => st.id === selected);
  const cancel = ctx.can("operator") && wf.state === "RUNNING"
    ? h("button", { class: "danger", onclick: () => ctx.post(`/api/workflows/${encodeURIComponent(wf.id)}/cancel`, `Cancel requested for ${wf.name}`) }, "Cancel workflow")
    : null;
  return [
    h("div", { class: "title" }, h("h1", {}, wf.name, " ", state(wf.state)), cancel),
    h("p", { class: "muted" }, `${wf.id} · started ${stamp(wf.created_at)}${wf.message ? ` · ${wf.message}` : ""}`),
    card("Graph", h("div", { class: "dag-box" }, dag(data.steps, { selected, onSelect: (st) => ctx.go(`#/workflow/${encodeURIComponent(wf.id)}?step=${encodeURIComponent(st.id)}`) }))),
    step ? card(`Step ${step.id}`, h("p", {}, state(step.state), " ", step.message), table([
      ["task", (t) => taskLink(t.id)],
      ["state", (t) => state(t.state)],
    ], step.tasks, "This step has no task (yet).")) : null,
    card("Steps", table([
      ["step", (st) => h("a", { href: `#/workflow/${encodeURIComponent(wf.id)}?step=${encodeURIComponent(st.id)}` }, st.id)],
      ["tool", (st) => st.tool],
      ["needs", (st) => st.needs.join(", ") || "–"],
      ["state", (st) => state(st.state)],
      ["tasks", (st) => st.tasks.map((t) => [taskLink(t.id), " "])],
      ["took", (st) => (st.started_at && st.finished_at ? secs(st.finished_at - st.started_at) : "–")],
    ], data.steps)),
  ];
}

function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

export function task(data, ctx) {
  const t = data.task;
  const cost = data.events.filter((e) => e.kind === "cost");
  return [
    h("div", { class: "title" }, h("h1", {}, h("span", { class: "mono" }, t.id), " ", state(t.state)), cancelButton(t, ctx)),
    h("p", { class: "muted" }, [`${t.tool}${t.action ? `/${t.action}` : ""}`, t.agent && `agent ${t.agent}`, `attempt ${t.attempt} of ${t.max_attempts}`, t.workflow && h("a", { href: `#/workflow/${encodeURIComponent(t.workflow)}` }, "workflow")].filter(Boolean).map((x, i) => [i ? " · " : "", x])),
    t.waiting ? h("p", { class: "notice" }, `Waiting: ${t.waiting}`) : null,
    t.failure ? h("p", { class: "notice bad" }, `${t.failure.class}: ${t.failure.message}`) : null,
    h("div", { class: "stats" },
      stat("created", time(t.created_at)),
      stat("started", time(t.started_at)),
      stat("duration", t.duration !== null ? secs(t.duration) : t.started_at ? secs(Date.now() / 1000 - t.started_at) : "–"),
      stat("cost", usd(t.cost_usd || (cost.length ? cost[cost.length - 1].data.usd : 0)), `${num(t.tokens)} tokens`),
      stat("events", num(data.events_total)),
    ),
    h("div", { class: "grid two" }, card("Inputs", json(t.inputs)), card("Outputs", t.outputs ? json(t.outputs) : h("p", { class: "muted empty" }, "No outputs yet."))),
    card("Attempts", table([
      ["attempt", (a) => a.attempt],
      ["agent", (a) => h("span", { class: "mono" }, a.agent || "–")],
      ["last state", (a) => (a.state ? state(a.state) : "–")],
      ["from", (a) => time(a.started)],
      ["to", (a) => time(a.ended)],
    ], data.attempts, "Not started yet.")),
    card("Events", h("div", { class: "log", id: "event-log" }, data.events.map((e) => h("div", { class: `line kind-${e.kind.replace(/[^a-z_]/g, "")}` },
      h("span", { class: "t" }, time(e.time)),
      h("span", { class: "k" }, e.kind),
      h("span", { class: "m" }, e.message || (Object.keys(e.data).length ? JSON.stringify(e.data) : "")),
    )))),
  ];
}

export function cost(data) {
  const groups = [["tool", "By tool"], ["agent", "By agent"], ["workflow", "By workflow"], ["day", "By day"]];
  const total = data.cost.tool.reduce((sum, r) => sum + r.usd, 0);
  const tokens = data.cost.tool.reduce((sum, r) => sum + r.tokens, 0);
  return [
    h("div", { class: "stats" }, stat("spend", usd(total), `over the last ${data.window} tasks that ended`), stat("tokens", num(tokens)), stat("runs", num(data.window))),
    data.cost.day.length > 1 ? card("Spend per day", lineChart([{ name: "usd", points: data.cost.day.map((r) => [Date.parse(`${r.key}T00:00:00Z`) / 1000, r.usd]), tone: "c2" }], { yFormat: usd, area: true })) : null,
    h("div", { class: "grid panels" }, groups.map(([key, title]) => card(
      h("span", {}, title, " ", h("a", { class: "download", href: `/api/cost.csv?by=${key}`, download: `photon-cost-by-${key}.csv` }, "CSV")),
      data.cost[key].length ? barChart(data.cost[key].slice(0, 12).map((r, i) => ({ label: r.key, value: r.usd, tone: `c${i % 4}` })), { format: usd }) : null,
      table([[key, (r) => r.key], ["spend", (r) => usd(r.usd)], ["tokens", (r) => num(r.tokens)], ["runs", (r) => num(r.runs)]], data.cost[key]),
    ))),
  ];
}

