// How an alert reads to a person. Pure functions: no DOM.

// What the API's vocabulary says, from /openapi.json (learn): each kind's fields and the
// sentence it reads as, each window's words, how each field's value reads. Nothing here names a
// kind, a window or a channel.
const vocabulary = { kinds: {}, windows: {}, words: {} };
const CREATE_PATH = "/api/alerts/create/";

export function learn(description) {
  const schema = description.paths[CREATE_PATH].post.requestBody.content["application/json"].schema;
  for (const [name, property] of Object.entries(schema.properties)) {
    if (property["x-words"]) vocabulary.words[name] = property["x-words"];
    for (const choice of property.oneOf || []) {
      if (choice.const === undefined) continue;
      if (name === "trigger_condition") {
        vocabulary.kinds[choice.const] = { fields: choice["x-fields"] || [],
          summary: choice["x-summary"] || choice.const };
      } else if (name === "window") vocabulary.windows[choice.const] = choice.title;
    }
  }
}

function kindOf(alert) {
  return vocabulary.kinds[alert.trigger_condition];
}

export function isLevel(condition) {
  const kind = vocabulary.kinds[condition];
  return Boolean(kind && kind.fields.includes("target_price"));
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

// A field's value, or a fact of the alert, as a sentence reads it.
function fact(alert, name) {
  if (name === "symbol") return alert.symbol;
  if (name === "direction") {
    if (alert.reference_price === null || alert.reference_price === undefined) return "";
    return Number(alert.reference_price) < Number(alert.target_price) ? " upwards" : " downwards";
  }
  const value = alert[name];
  switch (vocabulary.words[name]) {
    case "price": return price(value);
    case "percent": return `${value}%`;
    case "window": return vocabulary.windows[value] || String(value);
    default: return value === null || value === undefined ? "" : String(value);
  }
}

export function condition(alert) {
  const kind = kindOf(alert);
  let text = kind
    ? kind.summary.replace(/\{(\w+)\}/g, (_, name) => fact(alert, name))
    : String(alert.trigger_condition);
  if (alert.frequency === "repeat") {
    text += `, repeats (at most every ${duration(alert.cooldown_seconds || 3600)})`;
  }
  return text;
}

// The alert's own number: its target, or the first field of its kind.
export function target(alert) {
  const kind = kindOf(alert);
  return kind && kind.fields.length ? fact(alert, kind.fields[0]) : "—";
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

// A price older than this is marked with its time: a symbol no live alert names any more is not
// followed, so its last price stays as it was (README, "The web page").
export const STALE_MS = 2 * 60 * 1000;
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

// "as of 14:02" (with the day when not today) for a price traded at `iso` that is older than
// STALE_MS at `now` (ms since the epoch); "" for a fresh one or an unknown time.
export function staleness(iso, now) {
  const at = iso ? Date.parse(iso) : NaN;
  if (!Number.isFinite(at) || now - at < STALE_MS) return "";
  const date = new Date(at);
  const today = new Date(now).toDateString() === date.toDateString();
  return `as of ${today ? clockFormat.format(date) : timeFormat.format(date)}`;
}
