// The create form, built from what the API accepts: the request schema of
// POST /api/alerts/create/ in /openapi.json. Each property becomes a field (an enum a select,
// an integer a number, a date-time a local date and time, the rest text), its description the
// hint. A property the API adds later shows up here without a change. What this module knows on
// its own is presentation only: labels, grouping, and which fields a kind uses.
import { ApiError, call } from "./api.js";
import * as words from "./words.js";

const CREATE_PATH = "/api/alerts/create/";
const LABELS = {
  symbol: "Symbol", trigger_condition: "Condition", target_price: "Target price",
  percent: "Move (%)", window: "Within", frequency: "Frequency",
  cooldown_seconds: "Cooldown (seconds)", expires_at: "Expires at", email: "Email",
  webhook_url: "Webhook URL", webhook_format: "Webhook format",
  telegram_chat_id: "Telegram chat id",
};
const CHOICES = {
  above: "at or above a price", below: "at or below a price", crossing: "crosses a price",
  up_pct: "rises by a percentage", down_pct: "falls by a percentage",
  "1m": "1 minute", "5m": "5 minutes", "15m": "15 minutes", "1h": "1 hour", "4h": "4 hours",
  "1d": "1 day", once: "once", repeat: "repeat",
};
const CHANNELS = new Set(["email", "webhook_url", "webhook_format", "telegram_chat_id"]);
const PLACEHOLDERS = { symbol: "BTCUSDT", target_price: "50000", percent: "5",
  email: "you@example.com", webhook_url: "https://…", telegram_chat_id: "@channel or 12345" };

const isMove = (kind) => kind === "up_pct" || kind === "down_pct";
// Which fields a choice of kind and frequency uses; the others are hidden and not sent.
const USED = {
  target_price: (v) => !isMove(v.trigger_condition),
  percent: (v) => isMove(v.trigger_condition),
  window: (v) => isMove(v.trigger_condition),
  cooldown_seconds: (v) => v.frequency === "repeat",
  webhook_format: (v) => Boolean(v.webhook_url),
};

function options(schema) {
  if (Array.isArray(schema.enum)) return schema.enum;
  for (const part of schema.anyOf || schema.oneOf || []) {
    if (Array.isArray(part.enum)) return part.enum;
  }
  return null;
}

function kindOf(schema) {
  const types = [schema.type, ...(schema.anyOf || []).map((p) => p.type)].flat();
  if (schema.format === "date-time") return "datetime";
  if (types.includes("integer") && !types.includes("string")) return "integer";
  return "text";
}

export class CreateForm {
  constructor(form, container, status, { onCreated }) {
    this.form = form;
    this.container = container;
    this.status = status;
    this.onCreated = onCreated;
    this.fields = new Map();
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    form.addEventListener("change", () => this.showUsed());
    form.addEventListener("input", (event) => {
      if (event.target.name === "webhook_url") this.showUsed();
    });
  }

  async build(document_) {
    const schema = document_.paths[CREATE_PATH].post.requestBody.content["application/json"].schema;
    const required = new Set(schema.required || []);
    const channels = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = "Channels (at least one)";
    channels.append(legend);
    const order = ["symbol", "trigger_condition", "target_price", "percent", "window"];
    const names = Object.keys(schema.properties);
    names.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
    for (const name of names) {
      const field = this.field(name, schema.properties[name], required.has(name));
      (CHANNELS.has(name) ? channels : this.container).append(field.wrapper);
      this.fields.set(name, field);
    }
    this.container.append(channels);
    const symbol = this.fields.get("symbol");
    if (symbol) {
      this.quoteLine = document.createElement("p");
      this.quoteLine.className = "hint quote";
      this.quoteLine.id = "f-symbol-quote";
      symbol.wrapper.insertBefore(this.quoteLine, symbol.error);
      const described = symbol.input.getAttribute("aria-describedby");
      symbol.input.setAttribute("aria-describedby", `${described} ${this.quoteLine.id}`);
    }
    this.showUsed();
  }

  // The symbol the form names (BTCUSDT when empty, as the API takes it), or null if malformed.
  symbol() {
    const field = this.fields.get("symbol");
    const text = field ? field.input.value.trim().toUpperCase() || "BTCUSDT" : "BTCUSDT";
    return /^[A-Z0-9]{2,20}$/.test(text) ? text : null;
  }

  // The last price of the form's symbol, and how far the typed target is from it.
  quote(price) {
    if (!this.quoteLine) return;
    if (price == null) {
      // Matchers follow the symbols their alerts name: a symbol nobody watches has no price.
      const symbol = this.symbol();
      this.quoteLine.textContent = symbol
        ? `No trade of ${symbol} seen yet: pricealert follows a symbol once an alert names it.`
        : "";
      return;
    }
    let text = `${this.symbol()} last traded at ${words.price(price)}`;
    const values = this.values();
    const away = words.distance({ trigger_condition: values.trigger_condition,
      target_price: values.target_price }, price);
    if (values.target_price && away !== null && Number.isFinite(away)) {
      text += `; the target is ${words.percent(away)} away`;
    }
    this.quoteLine.textContent = `${text}.`;
  }

  field(name, schema, required) {
    const id = `f-${name}`;
    const wrapper = document.createElement("div");
    wrapper.className = "field";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = LABELS[name] || name.replaceAll("_", " ");
    const choices = options(schema);
    const kind = kindOf(schema);
    let input;
    if (choices) {
      input = document.createElement("select");
      const values = choices.filter((c) => c !== null);
      if (!required && schema.default === undefined) values.unshift("");
      for (const value of values) {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = value === "" ? "—" : CHOICES[value] || value;
        option.defaultSelected = value === schema.default;
        input.append(option);
      }
    } else {
      input = document.createElement("input");
      input.type = kind === "datetime" ? "datetime-local" : kind === "integer" ? "number" : "text";
      if (kind === "integer") {
        input.inputMode = "numeric";
        if (schema.minimum !== undefined) input.min = schema.minimum;
        if (schema.maximum !== undefined) input.max = schema.maximum;
      }
      if (name === "email") input.autocomplete = "email";
      else input.autocomplete = "off";
      if (name === "target_price" || name === "percent") input.inputMode = "decimal";
      if (PLACEHOLDERS[name]) input.placeholder = PLACEHOLDERS[name];
    }
    input.id = id;
    input.name = name;
    if (required) input.required = true;
    const error = document.createElement("p");
    error.className = "error";
    error.id = `${id}-error`;
    const described = [error.id];
    wrapper.append(label, input);
    if (schema.description) {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.id = `${id}-hint`;
      hint.textContent = schema.description;
      described.unshift(hint.id);
      wrapper.append(hint);
    }
    wrapper.append(error);
    input.setAttribute("aria-describedby", described.join(" "));
    return { name, kind, input, error, wrapper };
  }

  values() {
    const values = {};
    for (const [name, field] of this.fields) values[name] = field.input.value.trim();
    return values;
  }

  showUsed() {
    const values = this.values();
    for (const [name, field] of this.fields) {
      const used = USED[name] ? USED[name](values) : true;
      field.wrapper.hidden = !used;
      field.input.disabled = !used;
    }
  }

  body() {
    const body = {};
    for (const [name, field] of this.fields) {
      const value = field.input.value.trim();
      if (field.input.disabled || value === "") continue;
      if (field.kind === "integer" && /^-?\d+$/.test(value)) body[name] = Number(value);
      else if (field.kind === "datetime") {
        const date = new Date(value);
        body[name] = Number.isNaN(date.getTime()) ? value : date.toISOString();
      } else body[name] = value;
    }
    return body;
  }

  clearErrors() {
    for (const field of this.fields.values()) {
      field.error.textContent = "";
      field.input.removeAttribute("aria-invalid");
    }
    this.status.textContent = "";
    this.status.classList.remove("bad");
  }

  // The API's message, beside the field it names (its messages start with the field's name).
  showError(message) {
    const named = [...this.fields.values()].filter((f) => !f.input.disabled);
    const first = message.match(/^[a-z_]+/);
    const field = (first && named.find((f) => f.name === first[0]))
      || named.find((f) => new RegExp(`\\b${f.name}\\b`).test(message));
    if (field) {
      field.error.textContent = message;
      field.input.setAttribute("aria-invalid", "true");
      field.input.focus();
      this.status.textContent = "The alert was not created: see the field marked above.";
    } else {
      this.status.textContent = message;
    }
    this.status.classList.add("bad");
  }

  async submit() {
    this.clearErrors();
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const alert = await call("POST", CREATE_PATH, this.body());
      this.status.textContent = `Alert ${alert.id} created.`;
      this.onCreated(alert);
    } catch (error) {
      if (error instanceof ApiError && error.status !== 401) this.showError(error.message);
      else if (!(error instanceof ApiError)) this.showError(`Could not reach the server: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }
}
