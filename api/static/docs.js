// The API reference, rendered from /openapi.json with the DOM API only (no HTML from data).
const body = document.querySelector("#docs-body");
const toc = document.querySelector("#docs-toc");
const status = document.querySelector("#docs-status");

function el(tag, text, className) {
  const element = document.createElement(tag);
  if (text !== undefined) element.textContent = text;
  if (className) element.className = className;
  return element;
}

function typeOf(schema) {
  if (!schema) return "";
  if (schema.anyOf || schema.oneOf) return (schema.anyOf || schema.oneOf).map(typeOf).join(" | ");
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `array of ${typeOf(schema.items)}`;
  let type = [schema.type].flat().filter(Boolean).join(" | ") || "any";
  if (schema.format) type += ` (${schema.format})`;
  return type;
}

function limits(schema) {
  const parts = [];
  for (const key of ["minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength", "default"]) {
    if (schema[key] !== undefined) parts.push(`${key} ${JSON.stringify(schema[key])}`);
  }
  if (schema.pattern) parts.push(`pattern ${schema.pattern}`);
  return parts.join("; ");
}

function table(headers, rows) {
  const wrap = el("div", undefined, "table-wrap");
  const t = el("table");
  const head = el("tr");
  for (const h of headers) {
    const th = el("th", h);
    th.scope = "col";
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    for (const [i, cell] of row.entries()) tr.append(el("td", cell, i === 0 ? "mono" : ""));
    tbody.append(tr);
  }
  t.append(thead, tbody);
  wrap.append(t);
  return wrap;
}

function properties(schema) {
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties || {}).map(([name, prop]) => [
    name + (required.has(name) ? " (required)" : ""),
    typeOf(prop),
    [prop.description, limits(prop)].filter(Boolean).join(" "),
  ]);
}

function render(doc) {
  document.title = `${doc.info.title} API reference`;
  status.textContent = `${doc.info.title} ${doc.info.version}: ${doc.info.description || ""}`;
  const list = el("ul");
  let index = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      index += 1;
      const id = `op-${index}`;
      const item = el("li");
      const link = el("a", `${method.toUpperCase()} ${path}`);
      link.href = `#${id}`;
      item.append(link);
      list.append(item);

      const section = el("section", undefined, "op");
      section.id = id;
      const h2 = el("h2");
      h2.append(el("span", method.toUpperCase(), "method"), el("code", path));
      section.append(h2);
      if (op.summary) section.append(el("p", op.summary));
      if (op.security && op.security.length) section.append(el("p", "Needs Authorization: Bearer <access token>."));
      if (op.parameters && op.parameters.length) {
        section.append(el("h3", "Parameters"));
        section.append(table(["name", "in", "type", "notes"], op.parameters.map((p) => [
          p.name + (p.required ? " (required)" : ""), p.in, typeOf(p.schema),
          [p.description, limits(p.schema || {})].filter(Boolean).join(" "),
        ])));
      }
      const content = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
      if (content && content.schema) {
        section.append(el("h3", "Body (JSON)"));
        section.append(table(["field", "type", "notes"], properties(content.schema)));
      }
      if (op.responses) {
        section.append(el("h3", "Responses"));
        section.append(table(["status", "meaning"], Object.entries(op.responses).map(
          ([code, r]) => [code, r.description || ""])));
      }
      body.append(section);
    }
  }
  toc.append(list);
}

fetch("/openapi.json", { headers: { accept: "application/json" } })
  .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.statusText))))
  .then(render)
  .catch((error) => {
    status.textContent = `Could not load /openapi.json: ${error.message}`;
  });
