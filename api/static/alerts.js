// The alerts table. Rows are kept by alert id and reused: a poll or a price update writes only
// the cells whose text changed, so 1,000 alerts cost little per update.
import * as words from "./words.js";

const COLUMNS = ["Symbol", "Condition", "Target", "Price", "Distance", "State", "Fires",
  "Last fired", ""];
const NUMERIC = new Set([2, 3, 4, 6]);
const PRICE = 3;
const DISTANCE = 4;

function setText(row, index, text, className) {
  if (row.texts[index] === text && row.classes[index] === className) return;
  row.texts[index] = text;
  const cell = row.cells[index];
  if (index === 5) {
    const badge = cell.firstChild;
    badge.textContent = text;
    badge.className = `state state-${text}`;
  } else if (index === PRICE) {
    cell.firstChild.textContent = text; // the stale mark is its own (fillPrice)
  } else {
    cell.textContent = text;
  }
  if (row.classes[index] !== className) {
    row.classes[index] = className;
    cell.className = [NUMERIC.has(index) ? "num" : "", className].filter(Boolean).join(" ");
  }
}

export class AlertsTable {
  constructor(tbody, { onAction, onFire }) {
    this.tbody = tbody;
    this.rows = new Map();
    this.bySymbol = new Map();
    this.prices = new Map();
    this.stale = new Map(); // symbol: "as of 14:02" for a stale price, "" for a fresh one
    this.onFire = onFire;
    tbody.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) onAction(button.dataset.action, Number(button.dataset.id), button);
    });
  }

  get size() {
    return this.rows.size;
  }

  symbols() {
    return [...this.bySymbol.keys()].sort();
  }

  alert(id) {
    const row = this.rows.get(id);
    return row ? row.alert : null;
  }

  price(symbol) {
    return this.prices.get(symbol) ?? null;
  }

  // Shows `alerts` (newest first, as the API lists them, the whole list); deleted ones, and
  // rows it does not list, leave the table.
  update(alerts) {
    performance.mark("alerts-update-start");
    const seen = new Set();
    const fired = [];
    let previous = null;
    for (const alert of alerts) {
      if (alert.state === "deleted") continue;
      seen.add(alert.id);
      const row = this.put(alert, fired);
      const wanted = previous ? previous.tr.nextSibling : this.tbody.firstChild;
      if (wanted !== row.tr) this.tbody.insertBefore(row.tr, wanted);
      previous = row;
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) this.remove(id, row);
    }
    this.highlight(fired);
    performance.measure("alerts-update", "alerts-update-start");
  }

  // Applies the alerts that changed (GET /api/alerts/?changed_since=): each one created,
  // changed or deleted; every other row stays as it is. O(changes) but for a new row's place.
  apply(changes) {
    performance.mark("alerts-update-start");
    const fired = [];
    for (const alert of changes) {
      const known = this.rows.get(alert.id);
      if (alert.state === "deleted") {
        if (known) this.remove(alert.id, known);
        continue;
      }
      const row = this.put(alert, fired);
      if (!known) this.tbody.insertBefore(row.tr, this.olderThan(alert.id));
    }
    this.highlight(fired);
    performance.measure("alerts-update", "alerts-update-start");
  }

  // The first row of an alert older than `id` (rows go newest first), or null: a new row's
  // place. A new alert is usually the newest, found at the first row.
  olderThan(id) {
    for (const tr of this.tbody.children) {
      if (Number(tr.dataset.id) < id) return tr;
    }
    return null;
  }

  // The alert's row, made or refilled; a fire it shows is added to `fired`.
  put(alert, fired) {
    let row = this.rows.get(alert.id);
    if (row === undefined) {
      row = this.create(alert);
    } else {
      if ((alert.fire_count ?? 0) > (row.alert.fire_count ?? 0)) fired.push(alert);
      row.alert = alert;
    }
    if (alert.current_price != null && !this.prices.has(alert.symbol)) {
      this.prices.set(alert.symbol, alert.current_price);
    }
    this.fill(row);
    return row;
  }

  highlight(fired) {
    for (const alert of fired) {
      const row = this.rows.get(alert.id);
      row.tr.classList.remove("fired");
      void row.tr.offsetWidth; // restart the highlight
      row.tr.classList.add("fired");
      if (this.onFire) this.onFire(alert);
    }
  }

  // New prices, {SYMBOL: {price, at}}, at `now` (ms, the server's clock); rewrites the price
  // and distance of a symbol's rows when its price changed, and its mark when the price has
  // grown stale (words.staleness) or fresh again. Measured as "price-update".
  applyPrices(prices, now = Date.now()) {
    performance.mark("price-update-start");
    let changed = 0;
    for (const symbol in prices) {
      const entry = prices[symbol];
      const value = entry && entry.price;
      if (value == null) continue;
      const stale = words.staleness(entry.at, now);
      if (this.prices.get(symbol) === value && (this.stale.get(symbol) ?? "") === stale) continue;
      this.prices.set(symbol, value);
      this.stale.set(symbol, stale);
      const rows = this.bySymbol.get(symbol);
      if (!rows) continue;
      const text = words.price(value); // once per symbol, not per row
      for (const row of rows) {
        this.fillPrice(row, value, text);
        changed += 1;
      }
    }
    performance.measure("price-update", "price-update-start");
    return changed;
  }

  create(alert) {
    const tr = document.createElement("tr");
    tr.dataset.id = String(alert.id);
    const cells = COLUMNS.map((label, index) => {
      const td = document.createElement(index === 0 ? "th" : "td");
      if (index === 0) td.scope = "row";
      if (label) td.dataset.label = label;
      if (NUMERIC.has(index)) td.className = "num";
      if (index === 5) td.append(document.createElement("span"));
      if (index === PRICE) {
        const mark = document.createElement("span");
        mark.className = "stale";
        td.append(document.createElement("span"), mark);
      }
      tr.append(td);
      return td;
    });
    cells[8].className = "actions";
    const row = { alert, tr, cells, texts: [], classes: [], actionsFor: null };
    this.rows.set(alert.id, row);
    let set = this.bySymbol.get(alert.symbol);
    if (!set) this.bySymbol.set(alert.symbol, (set = new Set()));
    set.add(row);
    return row;
  }

  remove(id, row) {
    row.tr.remove();
    this.rows.delete(id);
    const set = this.bySymbol.get(row.alert.symbol);
    set.delete(row);
    if (set.size === 0) this.bySymbol.delete(row.alert.symbol);
  }

  fill(row) {
    const alert = row.alert;
    setText(row, 0, alert.symbol);
    setText(row, 1, words.condition(alert));
    setText(row, 2, words.target(alert));
    this.fillPrice(row);
    // A halted symbol cannot fire: the state says so rather than the alert waiting silently.
    setText(row, 5, alert.symbol_status === "halted"
      ? `${alert.state}: ${alert.symbol} is not trading` : alert.state);
    setText(row, 6, String(alert.fire_count ?? (alert.triggered_at ? 1 : 0)));
    setText(row, 7, alert.triggered_at
      ? `${words.when(alert.triggered_at)} at ${words.price(alert.triggered_price)}` : "—");
    this.fillActions(row);
  }

  fillPrice(row, price, text) {
    const current = price ?? this.prices.get(row.alert.symbol) ?? row.alert.current_price ?? null;
    setText(row, PRICE, text ?? words.price(current));
    const stale = this.stale.get(row.alert.symbol);
    const mark = row.cells[PRICE].lastChild;
    const markText = stale ? ` ${stale}` : "";
    if (mark.textContent !== markText) {
      mark.textContent = markText;
      mark.title = stale ? "No newer trade of this symbol seen since" : "";
    }
    const away = words.distance(row.alert, current);
    setText(row, DISTANCE, words.percent(away), away === null ? "" : away >= 0 ? "up" : "down");
  }

  fillActions(row) {
    const state = row.alert.state;
    if (row.actionsFor === state) return;
    row.actionsFor = state;
    const { id, symbol } = row.alert;
    const cell = row.cells[8];
    const buttons = [["history", "History", ""]];
    if (state === "created") buttons.push(["pause", "Pause", ""]);
    if (state === "paused") buttons.push(["resume", "Resume", ""]);
    buttons.push(["delete", "Delete", "danger"]);
    cell.replaceChildren(...buttons.map(([action, label, extra]) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `small ${extra}`.trim();
      button.dataset.action = action;
      button.dataset.id = String(id);
      button.textContent = label;
      button.setAttribute("aria-label", `${label} alert ${id} (${symbol})`);
      return button;
    }));
  }
}
