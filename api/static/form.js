// The create form, built from what the API accepts: the request schema of
// POST /api/alerts/create/ in /openapi.json. Each property becomes a field (an enum a select,
// an integer a number, a date-time a local date and time, the rest text), its description the
// hint, its title the label, its first example the placeholder. Which fields a kind, a
// frequency or another field uses, and which are channels, the schema says too (x-kinds,
// x-frequencies, x-with, x-channel): a kind or a channel the API adds shows up here without a
// change. What this module knows on its own is presentation only.
import { ApiError, call } from "./api.js";
import * as words from "./words.js";

const CREATE_PATH = "/api/alerts/create/";

// The choices of an enum-like property: [{value, title}], from oneOf consts (or an enum).
function options(schema) {
  const consts = (schema.oneOf || schema.anyOf || []).filter((part) => part.const !== undefined);
  if (consts.length) return consts.map((part) => ({ value: part.const, title: part.title || part.const }));
  if (Array.isArray(schema.enum)) {
    return schema.enum.filter((v) => v !== null).map((value) => ({ value, title: value }));
  }
  return null;
}

// Whether a field is used, from what the schema says of it: the kinds that use it, the
// frequencies it goes with, the field it goes with.
function usedBy(schema) {
  const kinds = schema["x-kinds"];
  const frequencies = schema["x-frequencies"];
  const partner = schema["x-with"];
  return (values) => (!kinds || kinds.includes(values.trigger_condition))
    && (!frequencies || frequencies.includes(values.frequency))
    && (!partner || Boolean(values[partner]));
}

function kindOf(schema) {
  const types = [schema.type, ...(schema.anyOf || []).map((p) => p.type)].flat();
  if (schema.format === "date-time") return "datetime";
  if (types.includes("integer") && !types.includes("string")) return "integer";
  return "text";
}

function example(schema) {
  const found = schema.examples || (schema.anyOf || []).flatMap((part) => part.examples || []);
  return found && found.length ? String(found[0]) : "";
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
    form.addEventListener("input", () => this.showUsed());
  }

  async build(document_) {
    const schema = document_.paths[CREATE_PATH].post.requestBody.content["application/json"].schema;
    const required = new Set(schema.required || []);
    const channels = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = "Channels (at least one)";
    channels.append(legend);
    // In the schema's order: the symbol, the kind and its fields, then the rest.
    for (const [name, property] of Object.entries(schema.properties)) {
      const field = this.field(name, property, required.has(name));
      (property["x-channel"] ? channels : this.container).append(field.wrapper);
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

  // The last price of the form's symbol, and how far the typed target is from it; `stale`
  // ("as of 14:02", words.staleness) when that price is old.
  quote(price, stale = "") {
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
    if (stale) text += ` (${stale})`;
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
    label.textContent = schema.title || name.replaceAll("_", " ");
    const choices = options(schema);
    const kind = kindOf(schema);
    let input;
    if (choices) {
      input = document.createElement("select");
      const values = [...choices];
      if (!required && schema.default === undefined) values.unshift({ value: "", title: "—" });
      for (const { value, title } of values) {
        const option = document.createElement("option");
        option.value = value;
        option.textContent = title;
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
      input.autocomplete = schema["x-autocomplete"] || "off";
      const words = schema["x-words"];
      if (words === "price" || words === "percent") input.inputMode = "decimal";
      if (example(schema)) input.placeholder = example(schema);
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
    return { name, kind, input, error, wrapper, used: usedBy(schema) };
  }

  values() {
    const values = {};
    for (const [name, field] of this.fields) values[name] = field.input.value.trim();
    return values;
  }

  showUsed() {
    const values = this.values();
    for (const [name, field] of this.fields) {
      const used = field.used(values);
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
