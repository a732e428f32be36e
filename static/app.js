// The page for people: one customer and why, a whole file, the model. Plain JavaScript, no build.
// It knows the fields only from the served model (GET model, GET openapi.json), so a retrained model
// with other categories just works. URLs are relative to the page, which may sit under a prefix.

const KEY_STORAGE = "churn-api-key"; // sessionStorage: gone when the tab closes
const FILE_TYPES = { csv: "text/csv", jsonl: "application/x-ndjson", ndjson: "application/x-ndjson" };
const BINS = 20;

const state = { model: null, fields: null, file: null, ranked: null };
const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `the service answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// --- talking to the service ---------------------------------------------------------------------

async function api(path, { body, contentType, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (contentType) headers["Content-Type"] = contentType;
  const response = await fetch(path, { method: body === undefined ? "GET" : "POST", headers, body });
  if (response.status === 401) {
    askForKey(key ? "The API key was not accepted. Check it and enter it again." : "");
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, problem);
  }
  return response;
}

function askForKey(message) {
  if (message) sessionStorage.removeItem(KEY_STORAGE);
  for (const id of ["customer-section", "file-section", "model-section"]) $(id).hidden = true;
  $("key-section").hidden = false;
  $("key-message").textContent = message;
  $("model-summary").textContent = "This service needs an API key.";
  $("api-key").focus();
}

async function start() {
  try {
    state.model = await (await api("model")).json();
    const openapi = await (await api("openapi.json")).json();
    state.fields = fieldsOf(state.model, openapi.components.schemas.Customer);
  } catch (error) {
    if (error.status !== 401) $("model-summary").textContent = `The service could not be reached: ${error.message}`;
    return;
  }
  $("key-section").hidden = true;
  showModel(state.model);
  buildForm(state.fields, $("fields"));
  for (const id of ["customer-section", "file-section", "model-section"]) $(id).hidden = false;
  showMonitoring();
}

// --- the model ----------------------------------------------------------------------------------

// Each field with what people read for it (its title, its values' x-enumNames) and what the model
// accepts, from the OpenAPI document's customer schema.
function fieldsOf(model, customerSchema) {
  const example = customerSchema.example || {};
  const property = (name) => customerSchema.properties[name] || {};
  const labelOf = (name) => property(name).title || name;
  const categorical = Object.entries(model.features.categorical).map(([name, values]) => {
    const names = valueSchema(property(name))["x-enumNames"] || values.map(String);
    return {
      name,
      label: labelOf(name),
      values: values.map((value, index) => ({ value, label: names[index] ?? String(value) })),
      value: values.some((value) => value === example[name]) ? example[name] : values[0],
    };
  });
  const numerical = model.features.numerical.map((name) => {
    const number = valueSchema(property(name));
    return { name, label: labelOf(name), minimum: number.minimum, maximum: number.maximum, value: example[name] ?? "" };
  });
  return { categorical, numerical, customerid: example.customerid ?? "", customeridLabel: labelOf("customerid") };
}

// The schema of a field's JSON value: itself, or its first choice when it may also be sent as text.
const valueSchema = (property) => (property.oneOf ? property.oneOf[0] : property);

// "Contract: One year", for a factor of an explanation.
function factorText(field, value) {
  const categorical = state.fields.categorical.find((candidate) => candidate.name === field);
  const numerical = state.fields.numerical.find((candidate) => candidate.name === field);
  const named = categorical && categorical.values.find((allowed) => allowed.value === value);
  return `${(categorical || numerical || { label: field }).label}: ${named ? named.label : value}`;
}

function showModel(model) {
  const auc = model.test_auc == null ? "unknown" : model.test_auc.toFixed(3);
  $("model-summary").textContent = `Model ${model.version}, test AUC ${auc}, churn from ${percent(model.threshold)}.`;
  $("model-version").textContent = model.version;
  $("model-auc").textContent = auc;
  $("model-threshold").textContent = `${percent(model.threshold)}: at or above it, a customer is flagged as churn`;
  $("model-trained").textContent = model.trained_at || "unknown";
  $("card").hidden = !model.model_card;
  if (model.model_card) {
    for (const chart of $("card").querySelectorAll("img[data-chart]")) chart.src = `model/card/${chart.dataset.chart}`;
  }
}

const percent = (probability) => `${(probability * 100).toFixed(1)} %`;

// --- one customer -------------------------------------------------------------------------------

function buildForm(fields, container) {
  container.replaceChildren();
  const customerid = textInput("customerid", fields.customerid);
  container.append(field("customerid", `${fields.customeridLabel} (optional)`, customerid));
  for (const { name, label, values, value } of fields.categorical) {
    const select = document.createElement("select");
    for (const allowed of values) {
      select.add(new Option(allowed.label, JSON.stringify(allowed.value), false, allowed.value === value));
    }
    container.append(field(name, label, select));
  }
  // The bounds are the model's (the browser checks them too); the service's message says them if crossed.
  for (const { name, label, minimum, maximum, value } of fields.numerical) {
    const input = textInput(name, value);
    Object.assign(input, { type: "number", step: "any", inputMode: "decimal" });
    if (minimum !== undefined) input.min = minimum;
    if (maximum !== undefined) input.max = maximum;
    container.append(field(name, label, input));
  }
}

function textInput(name, value) {
  const input = document.createElement("input");
  input.value = value;
  return input;
}

function field(name, labelText, control) {
  const wrapper = document.createElement("div");
  const label = document.createElement("label");
  const error = document.createElement("p");
  control.id = `field-${name}`;
  control.name = name;
  error.id = `error-${name}`;
  error.className = "field-error";
  control.setAttribute("aria-describedby", error.id);
  control.addEventListener("input", () => clearFieldError(control)); // the message was of the value it had
  label.htmlFor = control.id;
  label.textContent = labelText;
  wrapper.append(label, control, error);
  return wrapper;
}

function customerFromForm(form) {
  const customer = {};
  for (const control of form.querySelectorAll("input, select")) {
    if (control.tagName === "SELECT") customer[control.name] = JSON.parse(control.value);
    else if (control.type === "number") customer[control.name] = control.value === "" ? "" : Number(control.value);
    else if (control.value !== "") customer[control.name] = control.value;
  }
  return customer;
}

function clearFieldErrors(form) {
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  for (const error of form.querySelectorAll(".field-error")) error.textContent = "";
  $("form-message").textContent = "";
}

function clearFieldError(control) {
  if (!control.hasAttribute("aria-invalid")) return;
  control.removeAttribute("aria-invalid");
  $(`error-${control.name}`).textContent = "";
  if (!control.form.querySelector("[aria-invalid]")) $("form-message").textContent = "";
}

// Number fields left empty, as the service would name them: the page asks for a number itself.
function emptyNumbers(form) {
  return [...form.querySelectorAll("input[type=number]")]
    .filter((input) => input.value === "") // left empty, or not a number the browser could read
    .map((input) => ({ field: input.name, message: "enter a number" }));
}

function showFieldErrors(form, problem) {
  const named = (problem.errors || []).filter((error) => $(`field-${error.field}`));
  for (const error of named) {
    $(`error-${error.field}`).textContent = error.message;
    $(`field-${error.field}`).setAttribute("aria-invalid", "true");
  }
  const labels = named.map((error) => $(`field-${error.field}`).labels[0].textContent);
  $("form-message").textContent = named.length
    ? `${named.length === 1 ? "One field needs" : `${named.length} fields need`} a change: ${labels.join(", ")}.`
    : problem.detail;
  if (named.length) $(`field-${named[0].field}`).focus();
}

async function scoreCustomer(event) {
  event.preventDefault();
  const form = event.target;
  clearFieldErrors(form);
  const empty = emptyNumbers(form);
  if (empty.length) {
    $("result").hidden = true;
    showFieldErrors(form, { errors: empty });
    return;
  }
  try {
    // A model that cannot explain (the book's pickle) still scores: ask it for the score alone.
    const response = await api(state.model.explains ? "predict?explain=true&top=all" : "predict", {
      body: JSON.stringify(customerFromForm(form)),
      contentType: "application/json",
    });
    showResult(await response.json(), state.model.threshold);
  } catch (error) {
    $("result").hidden = true;
    if (error.status === 422) showFieldErrors(form, error.problem);
    else if (error.status !== 401) $("form-message").textContent = error.message;
  }
}

function showResult(result, threshold) {
  const churn = result.churn_probability >= threshold;
  $("probability").textContent = percent(result.churn_probability);
  $("decision").textContent = churn
    ? `churn: at or above the threshold of ${percent(threshold)}`
    : `not churn: below the threshold of ${percent(threshold)}`;
  $("why").hidden = !result.explanation;
  $("no-explanation").hidden = Boolean(result.explanation);
  if (result.explanation) showExplanation(result.explanation, result.churn_probability);
  $("result").hidden = false;
  $("result-title").focus();
}

function showExplanation({ base_value: base, factors }, probability) {
  const logOdds = base + factors.reduce((sum, factor) => sum + factor.contribution, 0);
  $("explanation-summary").textContent =
    `The average customer in training has log-odds ${signed(base)}. Each field of this customer adds its ` +
    `contribution below; together they make ${signed(logOdds)}, a probability of ${percent(probability)}.`;
  drawFactors(factors, $("factors"));
}

const signed = (number) => (number < 0 ? `−${Math.abs(number).toFixed(2)}` : `+${number.toFixed(2)}`);

function drawFactors(factors, list) {
  const largest = Math.max(...factors.map((factor) => Math.abs(factor.contribution)), 1e-9);
  list.replaceChildren(
    ...factors.map((factor) => {
      const item = document.createElement("li");
      const label = span("factor-label", factorText(factor.field, factor.value));
      const said = span("visually-hidden", ` ${factor.direction === "lowers" ? "lowers" : "raises"} the log-odds by ${Math.abs(factor.contribution).toFixed(2)}`);
      label.append(said);
      const [negative, positive] = [span("half negative"), span("half positive")];
      const bar = span(`bar ${factor.contribution < 0 ? "lowers" : "raises"}`);
      bar.style.width = `${(Math.abs(factor.contribution) / largest) * 100}%`;
      (factor.contribution < 0 ? negative : positive).append(bar);
      negative.setAttribute("aria-hidden", "true");
      positive.setAttribute("aria-hidden", "true");
      const value = span("factor-value", signed(factor.contribution));
      value.setAttribute("aria-hidden", "true");
      item.append(label, negative, positive, value);
      return item;
    }),
  );
}

function span(className, text = "") {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

// --- a whole file -------------------------------------------------------------------------------

function fileType(name) {
  const extension = name.toLowerCase().split(".").pop();
  return FILE_TYPES[extension] || "text/csv";
}

async function scoreFile(file) {
  $("file-message").className = "message ok";
  $("file-message").textContent = `Scoring ${file.name}…`;
  $("file-result").hidden = true;
  // The file's bytes, as chosen: the service names a spreadsheet or text that is not UTF-8 (file.text()
  // would have replaced what it could not read).
  state.file = { name: file.name, type: fileType(file.name), body: file };
  try {
    const response = await api("predict", { body: file, contentType: state.file.type });
    const results = await response.json();
    $("file-message").textContent = `${file.name}: ${results.length.toLocaleString("en")} customers scored.`;
    showFileResults(results, state.model.threshold);
    showMonitoring();
  } catch (error) {
    $("file-message").className = "message";
    if (error.status !== 401) $("file-message").textContent = `${file.name}: ${error.message}`;
  }
}

function showFileResults(results, threshold) {
  const flagged = results.filter((result) => result.churn_probability >= threshold).length;
  $("flagged").textContent =
    `${flagged.toLocaleString("en")} of ${results.length.toLocaleString("en")} customers flagged as churn ` +
    `(probability at or above ${percent(threshold)}).`;
  const rows = document.createDocumentFragment();
  for (const result of results) {
    const row = document.createElement("tr");
    for (const text of [result.customerid ?? "", percent(result.churn_probability), result.churn ? "yes" : "no"]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    rows.append(row);
  }
  $("scores").tBodies[0].replaceChildren(rows);
  $("file-result").hidden = false;
  drawHistogram(results.map((result) => result.churn_probability), threshold, $("histogram")); // once it has a width
  showCampaign(results, flagged);
}

// --- a campaign by budget -----------------------------------------------------------------------

// The file's customers riskiest first (ties in the file's order), and the budget at first: as many as
// the threshold flags. As predict.py --budget does (churn/core/campaign.py).
function showCampaign(results, flagged) {
  state.ranked = results
    .map((result, index) => ({ result, index }))
    .sort((a, b) => b.result.churn_probability - a.result.churn_probability || a.index - b.index)
    .map(({ result }) => result);
  for (const id of ["budget", "budget-slider"]) $(id).max = String(results.length);
  setBudget(flagged);
}

function setBudget(value) {
  const customers = state.ranked.length;
  const budget = Math.min(customers, Math.max(0, Math.round(Number(value) || 0)));
  $("budget").value = $("budget-slider").value = String(budget);
  const contacted = state.ranked.slice(0, budget);
  const expected = contacted.reduce((sum, result) => sum + result.churn_probability, 0);
  const share = customers ? budget / customers : 0;
  const lowest = budget ? ` (probabilities down to ${percent(contacted[budget - 1].churn_probability)})` : "";
  $("campaign-summary").textContent =
    `Contact the ${budget.toLocaleString("en")} riskiest of ${customers.toLocaleString("en")} customers ` +
    `(${(share * 100).toFixed(1)} %)${lowest}: ${expected.toFixed(1)} churners expected among them, the sum of their probabilities.`;
  $("campaign-test-split").textContent = testSplitReach(share);
  $("download-campaign").disabled = budget === 0;
}

// What the riskiest same share of the model's test split reached, from GET /model's test_split.
function testSplitReach(share) {
  const split = state.model.test_split;
  if (!split) return "This model keeps no test split to compare with: retrain it with train.py.";
  const top = Math.min(split.customers, Math.max(share > 0 ? 1 : 0, Math.round(share * split.customers)));
  const churners = [...split.churned_by_rank.slice(0, top)].filter((bit) => bit === "1").length;
  const precision = top ? (churners / top).toFixed(3) : "–";
  return (
    `On the test split, the riskiest ${top.toLocaleString("en")} of ${split.customers.toLocaleString("en")} ` +
    `reached precision ${precision} (${churners} churned) and recall ${(churners / split.churners).toFixed(3)} ` +
    `(of ${split.churners} churners).`
  );
}

// A value as a CSV cell, by the rule the API writes its CSV with (churn/core/output_formats.py's
// csv_cell, tested on the same cases): a ' where a formula would begin, at the start or after a
// separator any spreadsheet may split on; quotes around a quote, a comma, a CR or a LF.
export function csvCell(value) {
  if (typeof value !== "string") return value === null || value === undefined ? "" : String(value);
  const text = value.replace(/(?:^|(?<=[;,\t\r\n]))(?=[=+\-@\t\r])/g, "'");
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// The campaign's customers as the API's CSV writes them (customerid, churn_probability, churn).
function downloadCampaign() {
  const budget = Number($("budget").value);
  const lines = state.ranked
    .slice(0, budget)
    .map((result) => [csvCell(result.customerid), String(result.churn_probability), String(result.churn)].join(","));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([["customerid,churn_probability,churn", ...lines].join("\n") + "\n"], { type: "text/csv" }));
  link.download = `${state.file.name.replace(/\.[^.]*$/, "")}-campaign-${budget}.csv`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

// A histogram as wide as its place on the page (drawn at its width in pixels, so text stays readable
// on a phone), with a y axis of customers and the threshold marked.
function drawHistogram(probabilities, threshold, svg) {
  const counts = new Array(BINS).fill(0);
  for (const p of probabilities) counts[Math.min(BINS - 1, Math.floor(p * BINS))] += 1;
  const [fullWidth, fullHeight] = [Math.max(svg.clientWidth, 280), 240];
  const [left, top, right, bottom] = [44, 26, 12, 34];
  const [width, height] = [fullWidth - left - right, fullHeight - top - bottom];
  const ticks = countTicks(Math.max(...counts, 1));
  const scale = height / ticks[ticks.length - 1];
  const shapes = ticks.flatMap((tick) => {
    const y = top + height - tick * scale;
    return [
      svgElement("line", { class: "grid", x1: left, y1: y, x2: left + width, y2: y }),
      svgElement("text", { class: "y-tick", x: left - 6, y: y + 4, "text-anchor": "end" }, tick.toLocaleString("en")),
    ];
  });
  counts.forEach((count, bin) =>
    shapes.push(
      svgElement("rect", {
        class: bin / BINS >= threshold ? "bin flagged" : "bin",
        x: left + (bin * width) / BINS + 1,
        y: top + height - count * scale,
        width: Math.max(width / BINS - 2, 1),
        height: count * scale,
      }),
    ),
  );
  for (const share of [0, 0.25, 0.5, 0.75, 1]) {
    const anchor = share === 0 ? "start" : share === 1 ? "end" : "middle";
    shapes.push(svgElement("text", { x: left + share * width, y: top + height + 18, "text-anchor": anchor }, `${share * 100} %`));
  }
  const x = left + threshold * width;
  shapes.push(
    svgElement("line", { class: "axis", x1: left, y1: top, x2: left, y2: top + height }),
    svgElement("line", { class: "axis", x1: left, y1: top + height, x2: left + width, y2: top + height }),
    svgElement("line", { class: "threshold", x1: x, y1: top - 8, x2: x, y2: top + height }),
    svgElement("text", { x: x + 4, y: top - 12 }, `threshold ${percent(threshold)}`),
    svgElement("text", { x: 0, y: 12 }, "customers"),
    svgElement("text", { x: left + width, y: fullHeight - 2, "text-anchor": "end" }, "churn probability"),
  );
  svg.setAttribute("viewBox", `0 0 ${fullWidth} ${fullHeight}`);
  svg.replaceChildren(...shapes);
  $("histogram-caption").textContent =
    `Churn probabilities of ${probabilities.length.toLocaleString("en")} customers, in ${BINS} bins of 5 %; ` +
    `the tallest holds ${Math.max(...counts).toLocaleString("en")}. The bins entirely at or above the threshold are red.`;
}

// Round steps for an axis of counts up to `highest`: 0, then steps of 1, 2 or 5 times a power of ten.
function countTicks(highest) {
  const rough = highest / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((multiple) => multiple * power).find((candidate) => candidate >= rough));
  const ticks = [0];
  while (ticks[ticks.length - 1] < highest) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [attribute, value] of Object.entries(attributes)) element.setAttribute(attribute, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

async function downloadScores() {
  const { name, type, body } = state.file;
  try {
    const response = await api("predict", { body, contentType: type, accept: "text/csv" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `${name.replace(/\.[^.]*$/, "")}-scores.csv`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  } catch (error) {
    if (error.status !== 401) $("file-message").textContent = `${name}: ${error.message}`;
  }
}

function acceptDrops(zone) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer.files.length) scoreFile(event.dataTransfer.files[0]);
  });
}

// --- the inputs against the training data --------------------------------------------------------

async function showMonitoring() {
  let watched;
  try {
    watched = await (await api("model/monitoring")).json();
  } catch (error) {
    $("monitoring-section").hidden = true; // metrics are off, or the key is missing: nothing to show
    return;
  }
  $("monitoring-section").hidden = false;
  if (!watched.reference) {
    $("monitoring-summary").textContent = watched.detail;
    $("drift").replaceChildren();
    return;
  }
  const score = watched.score;
  const minutes = Math.round(watched.window_seconds / 60);
  $("monitoring-summary").textContent =
    score.psi === null
      ? `${score.customers.toLocaleString("en")} customers scored in the last ${minutes} minutes: at least ` +
        `${watched.minimum_customers} are needed to compare them with the training data.`
      : `${score.customers.toLocaleString("en")} customers in the last ${minutes} minutes. The score's PSI is ` +
        `${score.psi.toFixed(2)} (${score.status}); below 0.1 is stable, from 0.25 drifted. Worst fields first:`;
  $("drift").replaceChildren(...[score, ...watched.features].map(driftItem));
}

function driftItem(feature) {
  const item = document.createElement("li");
  const label = feature.feature === "score" ? "Churn probability" : fieldLabel(feature.feature);
  const verdict = feature.psi === null ? "not enough customers yet" : `PSI ${feature.psi.toFixed(2)}, ${feature.status}`;
  const title = span(`drift-title ${feature.status || ""}`, `${label}: ${verdict}`);
  const bins = document.createElement("div");
  bins.className = "drift-bins";
  const highest = Math.max(...feature.bins.flatMap((bin) => [bin.reference, bin.live]), 1e-9);
  const categorical = state.fields.categorical.find((candidate) => candidate.name === feature.feature);
  const ranges = categorical ? null : numberRanges(feature.bins, feature.feature === "score");
  bins.classList.toggle("numbers", !categorical);
  for (const [index, bin] of feature.bins.entries()) {
    // "Fiber optic", as the form writes it; a number's bin written out: "more than 6, up to 12"
    bin.bin = categorical ? categorical.values[index].label : ranges[index].said;
    const column = span("drift-bin");
    column.title = `${bin.bin}: training ${percent(bin.reference)}, last hour ${percent(bin.live)}`;
    const bars = span("drift-bars");
    for (const [kind, share] of [["reference", bin.reference], ["live", bin.live]]) {
      const bar = span(`drift-bar ${kind}`);
      bar.style.height = `${(share / highest) * 100}%`;
      bars.append(bar);
    }
    // A category under its bars (wrapped if long); a number's bins by their edges, each under the
    // line between two bins, as an axis is labelled.
    const label = categorical ? span("drift-bin-label", bin.bin) : span("drift-edge-label", ranges[index].edge);
    column.append(bars, label);
    bins.append(column);
  }
  bins.setAttribute("aria-hidden", "true");
  const said = span("visually-hidden",
    feature.bins.map((bin) => `${bin.bin}: training ${percent(bin.reference)}, last hour ${percent(bin.live)}`).join("; "));
  item.append(title, bins, said);
  return item;
}

// The bins of a number ("<=2", "<=6", …, ">69", as the service names them): what each is, written out,
// and the edge it ends at, short enough for the axis (1.4k for 1391.15; a score as a percentage).
function numberRanges(bins, isScore) {
  const edges = bins.map((bin) => Number(bin.bin.replace(/^(<=|>)/, "")));
  const written = (value) => (isScore ? percent(value) : value.toLocaleString("en"));
  return bins.map((bin, index) => {
    const upper = edges[index];
    const last = index === bins.length - 1;
    let said = `more than ${written(upper)}`;
    if (index === 0) said = `up to ${written(upper)}`;
    else if (!last) said = `more than ${written(edges[index - 1])}, up to ${written(upper)}`;
    return { said, edge: last ? "" : shortNumber(upper, isScore) };
  });
}

function shortNumber(value, isScore) {
  if (isScore) return `${Math.round(value * 100)}%`;
  if (Math.abs(value) >= 1000) return `${Number((value / 1000).toFixed(1))}k`;
  return Math.abs(value) < 10 ? String(Number(value.toPrecision(2))) : String(Math.round(value));
}

function fieldLabel(name) {
  const field = [...state.fields.categorical, ...state.fields.numerical].find((candidate) => candidate.name === name);
  return field ? field.label : name;
}

// --- wiring -------------------------------------------------------------------------------------

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) {
    $("key-message").textContent = "Enter the API key first.";
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  $("api-key").value = "";
  $("key-message").textContent = "";
  start();
});
$("customer-form").addEventListener("submit", scoreCustomer);
$("file").addEventListener("change", (event) => event.target.files.length && scoreFile(event.target.files[0]));
$("download").addEventListener("click", downloadScores);
$("budget-slider").addEventListener("input", (event) => setBudget(event.target.value));
$("budget").addEventListener("input", (event) => event.target.value !== "" && setBudget(event.target.value));
$("download-campaign").addEventListener("click", downloadCampaign);
$("refresh-monitoring").addEventListener("click", showMonitoring);
acceptDrops($("drop-zone"));
start();
