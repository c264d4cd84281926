// The page: log in or sign up, then the alerts table, the create form and one alert's detail.
//
// Live updates by polling, once a second while the page is visible: the alerts that changed
// (fires, states; the whole list once, then GET /api/alerts/?changed_since= with the token of
// the previous answer) and the prices of the symbols shown. See the README, "The web page",
// for why polling rather than server-sent events.
import * as api from "./api.js";
import { AlertsTable } from "./alerts.js";
import { Detail } from "./detail.js";
import { CreateForm } from "./form.js";
import * as words from "./words.js";

const POLL_MS = 1000;
const $ = (selector) => document.querySelector(selector);

const screens = { loading: $("#loading"), auth: $("#auth"), app: $("#app") };
const announce = $("#announce");
const alertsStatus = $("#alerts-status");
let pollTimer = null;
// The X-Changes-Token of the last alerts answer; null: read the whole list next.
let changesToken = null;
let pricesServed = true;
let formBuilt = false;

const detail = new Detail($("#detail"));
const table = new AlertsTable($("#alerts tbody"), {
  onAction: act,
  onFire(alert) {
    const message = `Fired: ${alert.symbol} ${words.condition(alert)}, at `
      + `${words.price(alert.triggered_price)}.`;
    alertsStatus.textContent = message;
    announce.textContent = message;
  },
});
const form = new CreateForm($("#create-form"), $("#create-fields"), $("#create-status"), {
  onCreated: () => poll(),
});

function show(name) {
  for (const [key, element] of Object.entries(screens)) element.hidden = key !== name;
}

function showAuth(message = "") {
  stopPolling();
  show("auth");
  $("#logout").hidden = true;
  $("#who").textContent = "";
  detail.close();
  changesToken = null;
  table.update([]);
  const status = $("#auth-status");
  status.textContent = message;
  $("#auth-username").focus();
}

async function showApp() {
  show("app");
  $("#logout").hidden = false;
  try {
    const account = await api.call("GET", "/api/account/");
    $("#who").textContent = `Logged in as ${account.username}`;
  } catch {
    // shown on the next successful poll instead
  }
  if (!formBuilt) {
    formBuilt = true;
    try {
      const description = await api.publicGet("/openapi.json");
      words.learn(description);
      await form.build(description);
    } catch (error) {
      formBuilt = false;
      $("#create-status").textContent = `The form could not load: ${error.message}`;
    }
  }
  await poll();
}

// Auth: one form, two buttons. The API's message goes beside the field it names.
$("#auth-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const signUp = event.submitter && event.submitter.value === "signup";
  const username = $("#auth-username").value;
  const password = $("#auth-password").value;
  const status = $("#auth-status");
  for (const name of ["username", "password"]) {
    $(`#auth-${name}-error`).textContent = "";
    $(`#auth-${name}`).removeAttribute("aria-invalid");
  }
  status.classList.remove("bad");
  status.textContent = signUp ? "Signing up…" : "Logging in…";
  try {
    if (signUp) await api.signUp(username, password);
    await api.logIn(username, password);
    $("#auth-password").value = "";
    status.textContent = "";
    await showApp();
  } catch (error) {
    const message = error.message || "Could not reach the server.";
    const field = /^(username|password)\b/.exec(message);
    if (field) {
      $(`#auth-${field[1]}-error`).textContent = message;
      $(`#auth-${field[1]}`).setAttribute("aria-invalid", "true");
      $(`#auth-${field[1]}`).focus();
      status.textContent = signUp ? "Not signed up." : "Not logged in.";
    } else {
      status.textContent = message;
    }
    status.classList.add("bad");
  }
});

$("#logout").addEventListener("click", async () => {
  await api.logOut();
  showAuth("You are logged out.");
});

api.onLoggedOut(() => showAuth("Your session ended: log in again."));

async function act(action, id, button) {
  const alert = table.alert(id);
  if (!alert) return;
  try {
    if (action === "history") {
      await detail.open(alert);
      return;
    }
    if (action === "delete" && button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = "Confirm delete";
      button.focus();
      return;
    }
    if (action === "delete") await api.call("POST", "/api/alerts/delete/", { alert_id: id });
    else await api.call("POST", `/api/alerts/${id}/${action}/`);
    const done = { pause: "paused", resume: "resumed", delete: "deleted" }[action];
    alertsStatus.textContent = `Alert ${id} (${alert.symbol}) ${done}.`;
    if (action === "delete" && detail.openId === id) detail.close();
    await poll();
    if (action !== "delete") {
      const next = document.querySelector(`#alerts tr[data-id="${id}"] button[data-action]`);
      if (next) next.focus();
    } else {
      $("#alerts-title").focus();
    }
  } catch (error) {
    alertsStatus.textContent = error.message;
  }
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

async function poll() {
  stopPolling();
  const started = performance.now();
  if (document.hidden) {
    // a hidden tab asks for nothing; becoming visible polls at once (below)
    pollTimer = setTimeout(poll, POLL_MS);
    return;
  }
  try {
    const alerts = await readAlerts();
    $("#alerts-empty").hidden = table.size > 0;
    $("#alerts-wrap").hidden = table.size === 0;
    if (detail.openId !== null) {
      const open = alerts.find((alert) => alert.id === detail.openId);
      if (open) detail.update(open);
    }
    await pollPrices(alerts);
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 401) return; // showAuth took over
    alertsStatus.textContent = `Updates paused: ${error.message}; retrying.`;
  }
  // Once a second from the start of the last poll, so a slow answer does not stretch the cadence.
  const wait = Math.max(100, POLL_MS - (performance.now() - started));
  if (!screens.app.hidden) pollTimer = setTimeout(poll, wait);
}

// The alerts that changed since the last answer, applied to the table; the whole list the first
// time, or when the server no longer knows the token (a 400: a database restored, say).
async function readAlerts() {
  if (changesToken !== null) {
    try {
      const since = encodeURIComponent(changesToken);
      const { data, headers } = await api.read(`/api/alerts/?changed_since=${since}`);
      changesToken = headers.get("x-changes-token");
      table.apply(data);
      return data;
    } catch (error) {
      if (!(error instanceof api.ApiError && error.status === 400)) throw error;
    }
  }
  const { data, headers } = await api.read("/api/alerts/?limit=1000");
  changesToken = headers.get("x-changes-token"); // null from an API without it: whole lists
  table.update(data);
  return data;
}

async function pollPrices(alerts) {
  const symbols = table.symbols();
  if (detail.alert && !symbols.includes(detail.alert.symbol)) symbols.push(detail.alert.symbol);
  let prices = null;
  if (pricesServed && symbols.length) {
    try {
      prices = await api.publicGet(`/api/prices/?symbols=${symbols.join(",")}`);
    } catch (error) {
      if (error instanceof api.ApiError && (error.status === 404 || error.status === 405)) {
        pricesServed = false; // an API without prices: the alerts' current_price stands in
      }
    }
  }
  if (prices === null) {
    prices = {};
    for (const alert of alerts) {
      if (alert.current_price != null) prices[alert.symbol] = { price: alert.current_price };
    }
  }
  table.applyPrices(prices, api.serverNow());
  for (const [symbol, entry] of Object.entries(prices)) {
    detail.price(symbol, entry && entry.price, entry && entry.at);
  }
  await quoteFormSymbol(prices);
}

// The price of the symbol typed in the form, asked for on its own when no alert names it (a
// symbol that does not exist is a 400 that must not cost the table its prices).
async function quoteFormSymbol(prices) {
  const symbol = form.symbol();
  let entry = symbol ? prices[symbol] : null;
  if (symbol && (entry == null || entry.price == null) && pricesServed) {
    try {
      entry = (await api.publicGet(`/api/prices/?symbols=${symbol}`))[symbol];
    } catch {
      entry = null;
    }
  }
  form.quote(entry ? entry.price : null, entry && words.staleness(entry.at, api.serverNow()));
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && !screens.app.hidden && pollTimer !== null) poll();
});

// Start: a session cookie from an earlier visit logs straight in.
(async () => {
  if (await api.refresh()) await showApp();
  else showAuth();
})();

// For the browser tests and the curious: the table, to measure its updates.
window.pricealert = { table };
