// How an alert reads to a person. Pure functions: no DOM.

const WINDOWS = { "1m": "1 minute", "5m": "5 minutes", "15m": "15 minutes", "1h": "1 hour",
  "4h": "4 hours", "1d": "1 day" };

export function isLevel(condition) {
  return condition === "above" || condition === "below" || condition === "crossing";
}

// A decimal string with thousands separators, its written decimals kept ("0.00000123").
export function price(value) {
  if (value === null || value === undefined || value === "") return "—";
  const text = String(value);
  const [whole, fraction] = text.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return fraction === undefined ? grouped : `${grouped}.${fraction}`;
}

export function duration(seconds) {
  if (seconds % 86400 === 0) return plural(seconds / 86400, "day");
  if (seconds % 3600 === 0) return plural(seconds / 3600, "hour");
  if (seconds % 60 === 0) return plural(seconds / 60, "minute");
  return plural(seconds, "second");
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

export function condition(alert) {
  const target = price(alert.target_price);
  let text;
  switch (alert.trigger_condition) {
    case "above": text = `at or above ${target}`; break;
    case "below": text = `at or below ${target}`; break;
    case "crossing": {
      const from = alert.reference_price === null || alert.reference_price === undefined
        ? "" : Number(alert.reference_price) < Number(alert.target_price) ? " upwards" : " downwards";
      text = `crosses ${target}${from}`;
      break;
    }
    case "up_pct": text = `rises ${alert.percent}% within ${WINDOWS[alert.window] || alert.window}`; break;
    case "down_pct": text = `falls ${alert.percent}% within ${WINDOWS[alert.window] || alert.window}`; break;
    default: text = String(alert.trigger_condition);
  }
  if (alert.frequency === "repeat") {
    text += `, repeats (at most every ${duration(alert.cooldown_seconds || 3600)})`;
  }
  return text;
}

export function target(alert) {
  return isLevel(alert.trigger_condition) ? price(alert.target_price) : `${alert.percent}%`;
}

// How far the price has to move to reach the target, in % of the price; null when not a level
// alert or the price is unknown.
export function distance(alert, current) {
  if (!isLevel(alert.trigger_condition) || current === null || current === undefined) return null;
  const now = Number(current);
  if (!(now > 0)) return null;
  return ((Number(alert.target_price) - now) / now) * 100;
}

export function percent(value) {
  if (value === null) return "—";
  const sign = value > 0 ? "+" : value < 0 ? "−" : "";
  const size = Math.abs(value);
  return `${sign}${size < 10 ? size.toFixed(2) : size.toFixed(1)}%`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : timeFormat.format(date);
}
