// The price chart of one symbol with the alert's target drawn across it. uPlot (vendored in
// ./vendor, see vendor/README.md) is loaded the first time a chart is shown, so the first
// load of the page does not carry it.
import * as words from "./words.js";

let loading = null;

function loadUplot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = "/static/vendor/uPlot.min.css";
      document.head.append(link);
      const script = document.createElement("script");
      script.src = "/static/vendor/uPlot.iife.min.js";
      script.onload = () => resolve(window.uPlot);
      script.onerror = () => reject(new Error("the chart library did not load"));
      document.head.append(script);
    });
  }
  return loading;
}

// [[unix seconds, price]] from a history answer, whatever its exact row shape: a list, or an
// object holding one; each row {at|t|time|minute, close|price} or [time, ..., close].
export function historyPoints(answer) {
  const rows = Array.isArray(answer) ? answer
    : Object.values(answer || {}).find((value) => Array.isArray(value)) || [];
  const points = [];
  for (const row of rows) {
    let time;
    let value;
    if (Array.isArray(row)) {
      [time, value] = [row[0], row[row.length - 1]];
    } else {
      time = row.at ?? row.t ?? row.time ?? row.minute ?? row.open_time;
      value = row.close ?? row.price ?? row.c;
    }
    const seconds = typeof time === "number" ? (time > 1e12 ? time / 1000 : time)
      : Date.parse(time) / 1000;
    const price = Number(value);
    if (Number.isFinite(seconds) && Number.isFinite(price)) points.push([seconds, price]);
  }
  return points.sort((a, b) => a[0] - b[0]);
}

export class PriceChart {
  constructor(container, caption) {
    this.container = container;
    this.caption = caption;
    this.plot = null;
    this.alert = null;
    this.xs = [];
    this.ys = [];
    window.addEventListener("resize", () => {
      if (this.plot) this.plot.setSize(this.size());
    });
  }

  size() {
    return { width: Math.max(240, this.container.clientWidth), height: 240 };
  }

  target() {
    const alert = this.alert;
    return alert && words.isLevel(alert.trigger_condition) ? Number(alert.target_price) : null;
  }

  async show(alert, points) {
    this.destroy();
    this.alert = alert;
    this.xs = points.map((p) => p[0]);
    this.ys = points.map((p) => p[1]);
    this.describe();
    let uPlot;
    try {
      uPlot = await loadUplot();
    } catch (error) {
      this.caption.textContent = error.message;
      return;
    }
    if (this.alert !== alert) return; // another alert was opened meanwhile
    const options = {
      ...this.size(),
      legend: { show: false },
      cursor: { show: true, drag: { x: false, y: false } },
      scales: { x: { time: true } },
      series: [
        {},
        { label: alert.symbol, stroke: "#0b6e4f", width: 2 },
        { label: "target", stroke: "#a4161a", width: 1.5, dash: [6, 4], points: { show: false } },
      ],
      axes: [{}, { size: 80, values: (u, ticks) => ticks.map((t) => words.price(t)) }],
    };
    this.plot = new uPlot(options, this.data(), this.container);
  }

  data() {
    const target = this.target();
    return [this.xs, this.ys, this.xs.map(() => target)];
  }

  // A live price: appended when it is newer than the last point.
  add(seconds, price) {
    if (!this.alert) return;
    const last = this.xs[this.xs.length - 1];
    if (last !== undefined && seconds <= last) return;
    this.xs.push(seconds);
    this.ys.push(Number(price));
    if (this.xs.length > 2000) {
      this.xs.shift();
      this.ys.shift();
    }
    if (this.plot) this.plot.setData(this.data());
    this.describe();
  }

  describe() {
    const alert = this.alert;
    const target = this.target();
    const parts = [];
    if (this.ys.length === 0) parts.push(`No prices of ${alert.symbol} yet.`);
    else {
      const low = Math.min(...this.ys);
      const high = Math.max(...this.ys);
      parts.push(`${alert.symbol}, ${this.ys.length} prices: low ${words.price(low)}, high `
        + `${words.price(high)}, last ${words.price(this.ys[this.ys.length - 1])}.`);
    }
    if (target !== null) parts.push(`Target ${words.price(alert.target_price)} (dashed line).`);
    this.caption.textContent = parts.join(" ");
  }

  destroy() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.alert = null;
  }
}
