// One alert opened: its chart and its fires with their deliveries.
import { ApiError, call, publicGet } from "./api.js";
import { PriceChart, historyPoints } from "./chart.js";
import * as words from "./words.js";

const HISTORY_MINUTES = 60;

export class Detail {
  constructor(root) {
    this.root = root;
    this.title = root.querySelector("#detail-title");
    this.summary = root.querySelector("#detail-summary");
    this.events = root.querySelector("#events tbody");
    this.status = root.querySelector("#events-status");
    this.chart = new PriceChart(root.querySelector("#chart"), root.querySelector("#chart-caption"));
    this.alert = null;
    root.querySelector("#chart").setAttribute("aria-hidden", "true");
    root.querySelector("#detail-close").addEventListener("click", () => this.close());
  }

  get openId() {
    return this.alert ? this.alert.id : null;
  }

  async open(alert) {
    this.alert = alert;
    this.root.hidden = false;
    this.title.textContent = `Alert ${alert.id}: ${alert.symbol} ${words.condition(alert)}`;
    this.summary.textContent = this.describe(alert);
    this.title.focus();
    this.root.scrollIntoView({ block: "start" });
    this.loadEvents();
    let points = [];
    try {
      const path = `/api/prices/${encodeURIComponent(alert.symbol)}/history/?minutes=${HISTORY_MINUTES}`;
      points = historyPoints(await publicGet(path));
    } catch {
      points = []; // no history served (yet): the chart fills with live prices
    }
    if (this.alert === alert) await this.chart.show(alert, points);
  }

  describe(alert) {
    const channels = [];
    if (alert.email) channels.push(`email to ${alert.email}`);
    if (alert.webhook_url) channels.push(`${alert.webhook_format || "standard"} webhook to ${alert.webhook_url}`);
    if (alert.telegram_chat_id) channels.push(`Telegram chat ${alert.telegram_chat_id}`);
    const fires = alert.fire_count ?? 0;
    const parts = [`State ${alert.state}, fired ${fires === 1 ? "once" : `${fires} times`}.`];
    if (channels.length) parts.push(`Sends ${channels.join(", ")}.`);
    if (alert.expires_at) parts.push(`Expires ${words.when(alert.expires_at)}.`);
    return parts.join(" ");
  }

  // The alert changed in a poll: refresh the summary, and the fires if it fired.
  update(alert) {
    if (!this.alert || alert.id !== this.alert.id) return;
    const fired = (alert.fire_count ?? 0) !== (this.alert.fire_count ?? 0);
    this.alert = alert;
    this.summary.textContent = this.describe(alert);
    if (fired) this.loadEvents();
  }

  price(symbol, price, at) {
    if (!this.alert || this.alert.symbol !== symbol || price == null) return;
    const seconds = at ? Date.parse(at) / 1000 : Date.now() / 1000;
    this.chart.add(Number.isFinite(seconds) ? seconds : Date.now() / 1000, price);
  }

  async loadEvents() {
    const alert = this.alert;
    this.status.textContent = "Loading fires…";
    let events;
    try {
      events = await call("GET", `/api/alerts/${alert.id}/events/`);
    } catch (error) {
      this.status.textContent = error instanceof ApiError ? error.message : "Could not load fires.";
      return;
    }
    if (this.alert !== alert) return;
    this.status.textContent = events.length === 0 ? "Not fired yet."
      : events.length === 1 ? "1 fire." : `${events.length} fires, newest first.`;
    this.events.replaceChildren(...events.map((event) => {
      const tr = document.createElement("tr");
      const cells = [String(event.seq), words.price(event.price), words.when(event.at)];
      for (const [index, text] of cells.entries()) {
        const td = document.createElement("td");
        if (index < 2) td.className = "num";
        td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement("td");
      const list = document.createElement("ul");
      list.className = "deliveries";
      for (const delivery of event.deliveries || []) {
        const li = document.createElement("li");
        let text = `${delivery.channel}: ${delivery.status}, ${delivery.attempts} `
          + `attempt${delivery.attempts === 1 ? "" : "s"}`;
        if (delivery.sent_at) text += `, sent ${words.when(delivery.sent_at)}`;
        if (delivery.last_error) text += ` (${delivery.last_error})`;
        li.textContent = text;
        list.append(li);
      }
      td.append(list);
      tr.append(td);
      return tr;
    }));
  }

  close() {
    const id = this.openId;
    this.alert = null;
    this.chart.destroy();
    this.root.hidden = true;
    const button = document.querySelector(`button[data-action="history"][data-id="${id}"]`);
    if (button) button.focus();
  }
}
