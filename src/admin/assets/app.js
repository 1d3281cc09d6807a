// shiftbot dashboard: reads /api/v1/ and follows /api/v1/events. Text only (textContent),
// never HTML: whatever a market id or a reason holds is shown as text.
"use strict";

const TOKEN_KEY = "shiftbot-admin-token";
const PAGES = ["overview", "positions", "trades", "decisions"];
// Live decisions refresh the page at most this often: at 100 decisions/s the page redraws
// a few times a second, not a hundred.
const REFRESH_MS = 500;

const state = {
  page: "overview",
  trades: { cursor: null, next: null, filter: "" },
  decisions: { cursor: null, next: null, filter: "" },
  lastSeq: null,
  refreshTimer: null,
  chartUrl: null,
  refreshing: false,
  again: false,
};

function $(id) { return document.getElementById(id); }

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function headers() {
  const h = { "Accept": "application/json" };
  const t = token();
  if (t) { h["Authorization"] = "Bearer " + t; }
  return h;
}

class Unauthorized extends Error {}

async function api(path) {
  const response = await fetch("/api/v1/" + path, { headers: headers(), cache: "no-store" });
  if (response.status === 401) { throw new Unauthorized("the admin token is needed"); }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function json(path) { return (await api(path)).json(); }

function text(value) { return value === null || value === undefined ? "-" : String(value); }

function percent(fraction) {
  if (fraction === null || fraction === undefined) { return "-"; }
  return (Number(fraction) * 100).toFixed(2) + "%";
}

function when(iso) { return iso ? iso.replace("T", " ").replace("Z", " UTC") : "-"; }

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    td.textContent = text(cell);
    tr.appendChild(td);
  }
  return tr;
}

function fill(tbodyId, rows) {
  const tbody = $(tbodyId);
  tbody.replaceChildren(...rows.map(row));
}

function set(id, value) { $(id).textContent = text(value); }

function showError(err) {
  if (err instanceof Unauthorized) {
    $("token-form").hidden = false;
    $("token-error").textContent = token() ? "That token was refused." : "";
    return;
  }
  const box = $("error");
  box.textContent = String(err.message || err);
  box.hidden = false;
}

function clearError() { $("error").hidden = true; }

async function loadSummary() {
  const s = await json("summary");
  const r = s.report;
  set("equity", r.equity);
  set("cash", r.cash);
  set("return", percent(r["return"]));
  set("realized", r.realized_pnl);
  set("unrealized", r.unrealized_pnl);
  set("fees", r.fees);
  set("win-rate", percent(r.win_rate));
  set("trade-count", r.trades.total);
  set("drawdown", r.max_drawdown.amount + " (" + percent(r.max_drawdown.fraction) + ")");
  set("sharpe", r.sharpe === null ? "-" : r.sharpe + " (" + r.sharpe_basis + ")");
  const bot = s.bot;
  set("state", bot.state + (bot.quota_paused_until ? ", signals paused until " + when(bot.quota_paused_until) : ""));
  set("bot-state", bot.state);
  set("feed", bot.feed_healthy ? "healthy" : "unhealthy: " + bot.reasons.join("; "));
  set("last-event", bot.last_event_age_seconds === null ? "-" : Math.round(bot.last_event_age_seconds) + " s ago");
  set("budget", bot.signal_left_today === null ? "unlimited (" + bot.signal_spent_today + " used)" : bot.signal_left_today + " of " + bot.signal_max_per_day);
  set("decided", bot.decided);
  fill("exposure", Object.entries(r.exposure).map(([platform, e]) => [platform, e.positions, e.cost_basis, e.market_value]));
  fill("funnel", s.funnel.stages.map((f) => [f.label, f.decisions]));
  document.body.dataset.equity = r.equity;
}

async function loadChart() {
  const blob = await (await api("equity.svg")).blob();
  const url = URL.createObjectURL(blob);
  $("chart").src = url;
  if (state.chartUrl) { URL.revokeObjectURL(state.chartUrl); }
  state.chartUrl = url;
}

async function loadPositions() {
  const p = await json("positions");
  fill("positions", p.items.map((x) => [x.platform, x.market_id, x.side, x.contracts, x.average_price, x.last_price, x.cost_basis, x.fees_paid, x.market_value, x.unrealized_pnl, when(x.opened_at)]));
}

function query(view) {
  const parts = [];
  if (view.filter) { parts.push(view.filter); }
  if (view.cursor) { parts.push("cursor=" + encodeURIComponent(view.cursor)); }
  return parts.length ? "?" + parts.join("&") : "";
}

async function loadTrades() {
  const view = state.trades;
  const p = await json("trades" + query(view));
  view.next = p.next_cursor;
  $("trades-more").disabled = !p.next_cursor;
  fill("trades", p.items.map((t) => [t.trade_id, when(t.placed_at), t.platform, t.market_id, t.side, t.action, t.contracts, t.price, t.cost, t.fee, t.cash_after, t.realized_pnl]));
}

async function loadDecisions() {
  const view = state.decisions;
  const p = await json("decisions" + query(view));
  view.next = p.next_cursor;
  $("decisions-more").disabled = !p.next_cursor;
  fill("decisions", p.items.map((d) => [d.seq, when(d.decided_at), d.type, d.platform, d.market_id, d.outcome, d.reason]));
}

const loaders = {
  overview: [loadSummary, loadChart],
  positions: [loadSummary, loadPositions],
  trades: [loadSummary, loadTrades],
  decisions: [loadSummary, loadDecisions],
};

// One refresh at a time; a request during one runs once more after it.
async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try {
    do {
      state.again = false;
      const page = state.page;
      await Promise.all(loaders[page].map((load) => load()));
      clearError();
      document.body.dataset.loaded = page;
      document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    } while (state.again);
  } catch (err) {
    showError(err);
  } finally {
    state.refreshing = false;
  }
}

function scheduleRefresh() {
  if (state.refreshTimer) { return; }
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; refresh(); }, REFRESH_MS);
}

function show(page) {
  state.page = PAGES.includes(page) ? page : "overview";
  for (const p of PAGES) {
    $("page-" + p).hidden = p !== state.page;
    $("nav-" + p).classList.toggle("active", p === state.page);
  }
  refresh();
}

// Server-Sent Events over fetch (EventSource cannot send the Authorization header): the same
// wire format, parsed here; reconnects with Last-Event-ID so no decision is missed.
async function follow() {
  for (;;) {
    try {
      const h = headers();
      h["Accept"] = "text/event-stream";
      if (state.lastSeq !== null) { h["Last-Event-ID"] = state.lastSeq; }
      const response = await fetch("/api/v1/events", { headers: h, cache: "no-store" });
      if (response.status === 401) { throw new Unauthorized("the admin token is needed"); }
      if (!response.ok || !response.body) { throw new Error("live updates: " + response.status); }
      $("live").textContent = "live";
      $("live").classList.add("on");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) { break; }
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (err) {
      if (err instanceof Unauthorized) { showError(err); return; }
    }
    $("live").textContent = "reconnecting";
    $("live").classList.remove("on");
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function dispatch(block) {
  let event = "message";
  let id = null;
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) { event = line.slice(6).trim(); }
    else if (line.startsWith("id:")) { id = line.slice(3).trim(); }
  }
  if (id !== null) { state.lastSeq = id; document.body.dataset.lastSeq = id; }
  if (event === "decision") { scheduleRefresh(); }
}

function filterOf(form) {
  const parts = [];
  for (const [key, value] of new FormData(form)) {
    if (String(value).trim()) { parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(String(value).trim())); }
  }
  return parts.join("&");
}

function paging(name) {
  const view = state[name];
  $(name === "trades" ? "trade-filter" : "decision-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    view.filter = filterOf(e.target);
    view.cursor = null;
    refresh();
  });
  $(name + "-more").addEventListener("click", () => { if (view.next) { view.cursor = view.next; refresh(); } });
  $(name + "-newest").addEventListener("click", () => { view.cursor = null; refresh(); });
}

function start() {
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    $("token-form").hidden = true;
    show(state.page);
    follow();
  });
  paging("trades");
  paging("decisions");
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  show(location.hash.slice(1));
  follow();
}

document.addEventListener("DOMContentLoaded", start);
