// The differential page: evidence in, the model's answers out, through the JSON API of bayesnet.web.app.
// The case lives in the address (?node=state&node=0.3,0.9, the bayesnet query syntax), so a link is a case.
"use strict";

const state = {
  nodes: [],            // the vocabulary from /api/nodes
  byName: new Map(),
  evidence: {},         // node -> state name, or a likelihood list (soft evidence); insertion order is the chain order
  selected: null,       // the condition whose explanation is shown (null: the top condition)
  addressProblem: "",   // what was wrong with the address the case was read from, shown once
  top: null,
  request: 0,           // sequence number: only the latest answer is drawn
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fixed = (x, digits = 4) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(digits));
const signed = (x) => (x === null || x === undefined ? "n/a" : (x >= 0 ? "+" : "") + Number(x).toFixed(3));
const percent = (x) => (x === null || x === undefined ? 0 : Math.max(0, Math.min(100, 100 * x)));

// ------------------------------------------------------------------ talking to the server
async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const payload = await response.json().catch(() => ({error: `the server answered ${response.status} without JSON`}));
  if (!response.ok) throw new Error(payload.error || `the server answered ${response.status}`);
  return payload;
}

function showError(message) {
  const box = $("error");
  box.hidden = !message;
  box.textContent = message || "";
}

// ------------------------------------------------------------------ the case as text
function valueText(value) {
  return typeof value === "string" ? value : value.map((v) => String(+Number(v).toPrecision(6))).join(",");
}

function caseTokens() {
  return Object.entries(state.evidence).map(([node, value]) => `${node}=${valueText(value)}`);
}

function commandText() {
  return ["bayesnet", "query", ...caseTokens()].join(" ");
}

function jsonText() {
  return JSON.stringify(state.evidence);
}

function caseQuery() {
  // node=state pairs; commas and underscores stay readable in the address
  return caseTokens().map((t) => {
    const [node, value] = [t.slice(0, t.indexOf("=")), t.slice(t.indexOf("=") + 1)];
    return `${encodeURIComponent(node)}=${encodeURIComponent(value).replace(/%2C/g, ",")}`;
  }).join("&");
}

function readAddress() {
  // the bayesnet query syntax: node=state, or node=0.3,0.9 (one likelihood per state); a node once
  const evidence = {};
  const twice = [];
  const params = new URLSearchParams(window.location.search);
  for (const [node, value] of params) {
    if (!node || !value) continue;
    if (node in evidence) twice.push(`${node} is given twice: ${node}=${valueText(evidence[node])} and ${node}=${value}`);
    evidence[node] = /^[0-9.]/.test(value) ? value.split(",").map(Number) : value;
  }
  state.addressProblem = twice.length ? `${twice.join("; ")}; the address keeps the last of each` : "";
  const hash = new URLSearchParams(window.location.hash.slice(1));
  state.selected = hash.get("why") || null;
  state.evidence = evidence;
}

function writeAddress() {
  const query = caseQuery();
  const hash = state.selected ? `#why=${encodeURIComponent(state.selected)}` : "";
  const address = `${window.location.pathname}${query ? "?" + query : ""}${hash}`;
  if (address !== window.location.pathname + window.location.search + window.location.hash) {
    window.history.replaceState(null, "", address);
  }
  $("case-text").value = commandText();
}

async function copy(text, what) {
  $("case-text").value = text;
  $("case-text").select();
  try {
    await navigator.clipboard.writeText(text);
    $("status").textContent = `Copied ${what}.`;
  } catch (error) {
    $("status").textContent = `${what} is selected in the case box: press Ctrl+C to copy it.`;
  }
}

// ------------------------------------------------------------------ evidence controls
function groupsOf(type) {
  const groups = new Map();
  for (const node of state.nodes) {
    if (node.type !== type) continue;
    if (!groups.has(node.group)) groups.set(node.group, []);
    groups.get(node.group).push(node);
  }
  return groups;
}

function nodeControl(node) {
  const id = `node-${node.node}`;
  const descId = `${id}-desc`;
  const radios = el("div", {class: "states", role: "radiogroup", "aria-labelledby": `${id}-legend`});
  for (const choice of ["", ...node.states]) {
    const input = el("input", {type: "radio", name: id, value: choice, id: `${id}-${choice || "unobserved"}`,
      onchange: () => setEvidence(node.node, choice || null)});
    radios.append(el("label", {for: input.id}, input, " ", choice || "not observed"));
  }
  const fieldset = el("fieldset", {class: "node", id, "data-node": node.node, "aria-describedby": descId},
    el("legend", {id: `${id}-legend`, text: node.node}),
    el("p", {class: "desc", id: descId, text: node.description, title: node.description}),
    radios);
  if (node.states.length === 2 && node.states[0] === "absent" && node.states[1] === "present") {
    const output = el("output", {for: `${id}-soft`, text: "", "aria-live": "off"});
    const slider = el("input", {type: "range", id: `${id}-soft`, min: "0", max: "100", step: "5", value: "50",
      "aria-label": `soft evidence on ${node.node}: how strongly the finding is present (0 absent, 100 present)`,
      oninput: () => { output.textContent = (slider.value / 100).toFixed(2); },
      onchange: () => {
        const v = Math.min(0.99, Math.max(0.01, slider.value / 100));
        setEvidence(node.node, [+(1 - v).toFixed(2), +v.toFixed(2)]);
      }});
    fieldset.append(el("details", {class: "soft"}, el("summary", {text: "soft evidence"}),
      el("label", {for: slider.id, text: "absent"}), slider, el("span", {text: " present "}), output));
  }
  fieldset.dataset.search = `${node.node} ${node.group} ${node.states.join(" ")} ${node.description}`.toLowerCase().replace(/_/g, " ");
  return fieldset;
}

function buildControls() {
  for (const [type, target] of [["context", "context-nodes"], ["finding", "finding-nodes"]]) {
    const box = $(target);
    box.replaceChildren();
    for (const [group, members] of groupsOf(type)) {
      box.append(el("details", {class: "group", open: true, "data-group": group},
        el("summary", {text: `${group.replace(/_/g, " ")} (${members.length})`}),
        members.map(nodeControl)));
    }
  }
}

function syncControls() {
  for (const fieldset of document.querySelectorAll("fieldset.node")) {
    const node = fieldset.dataset.node;
    const value = state.evidence[node];
    fieldset.classList.toggle("observed", value !== undefined);
    for (const input of fieldset.querySelectorAll("input[type=radio]")) {
      input.checked = value === undefined ? input.value === "" : input.value === value;
    }
    const slider = fieldset.querySelector("input[type=range]");
    if (slider) {
      const soft = Array.isArray(value) && value.length === 2;
      if (soft) slider.value = String(Math.round(100 * value[1] / (value[0] + value[1])));
      fieldset.querySelector("output").textContent = soft ? (value[1] / (value[0] + value[1])).toFixed(2) : "";
    }
  }
  const chips = $("observed");
  chips.replaceChildren(...Object.entries(state.evidence).map(([node, value]) =>
    el("span", {class: "chip", role: "listitem"}, `${node}=${valueText(value)}`,
      el("button", {type: "button", "aria-label": `remove ${node}`, title: `remove ${node}`, text: "×",
        onclick: () => setEvidence(node, null)}))));
}

function filterControls(text) {
  const words = text.toLowerCase().replace(/_/g, " ").split(/\s+/).filter(Boolean);
  for (const details of document.querySelectorAll("details.group")) {
    let shown = 0;
    for (const fieldset of details.querySelectorAll("fieldset.node")) {
      const match = words.every((w) => fieldset.dataset.search.includes(w));
      fieldset.hidden = !match;
      shown += match;
    }
    details.hidden = shown === 0;
    if (words.length && shown) details.open = true;
  }
}

function setEvidence(node, value) {
  if (value === null) delete state.evidence[node];
  else state.evidence[node] = value;
  update();
}

// ------------------------------------------------------------------ drawing the answers
function drawDifferential(answer) {
  const list = $("differential");
  const selected = state.selected && answer.differential.some((r) => r.condition === state.selected)
    ? state.selected : answer.top;
  list.replaceChildren(...answer.differential.map((row, i) => {
    const fill = el("div", {class: "fill"});
    fill.style.width = `${percent(row.posterior)}%`;
    const tick = el("div", {class: "tick"});
    tick.style.left = `calc(${percent(row.prior)}% - 1px)`;
    const label = `${row.condition}: posterior ${fixed(row.posterior)}, referral prior ${fixed(row.prior)}`;
    return el("li", {"data-condition": row.condition},
      el("button", {type: "button", class: "condition", "aria-pressed": String(row.condition === selected),
        "aria-label": label, "data-posterior": row.posterior, onclick: () => selectCondition(row.condition)},
        el("span", {class: "rank", text: `${i + 1}`}),
        el("span", {class: "name", text: row.condition}),
        el("span", {class: "bar", role: "presentation"}, fill, tick),
        el("span", {class: "numbers", text: `${fixed(row.posterior)} (prior ${fixed(row.prior)})`})));
  }));
  const fill = el("div", {class: "fill"});
  fill.style.width = `${percent(answer.none)}%`;
  const tick = el("div", {class: "tick"});
  tick.style.left = `calc(${percent(answer.none_prior)}% - 1px)`;
  $("none-line").replaceChildren(
    el("span", {id: "none-value", text: `No modelled condition: ${fixed(answer.none)} (prior ${fixed(answer.none_prior)}): ` +
      "the chance that the mineral has a cause outside the model." +
      (answer.implied ? ` Answered with ${answer.implied} implied: every query is about a patient with mineral ` +
        "somewhere, and the evidence rules out the other places." : "")}),
    el("span", {class: "bar none", role: "presentation"}, fill, tick));
  return selected;
}

function numberItem(record) {
  const range = record.low === null ? "" : ` [${record.low}–${record.high}]`;
  const counts = record.n !== null && record.N !== null ? `, ${record.n} of ${record.N}` : "";
  return el("li", {"data-parameter": record.parameter},
    el("code", {text: record.parameter}), ` = ${record.value}${range} `,
    el("span", {class: `kind kind-${record.kind}`, text: record.kind}), counts,
    record.source ? el("div", {class: "source"}, "source: ", el("code", {text: record.source}),
      record.file ? ` (${record.file}${record.line ? ":" + record.line : ""})` : "") : null,
    record.quote ? el("blockquote", {text: record.quote}) : null,
    record.phrase ? el("div", {text: `verbal phrase: “${record.phrase}”`}) : null,
    record.note ? el("div", {class: "muted", text: record.note}) : null);
}

function numbersDetails(records, summary, noEffect) {
  return el("details", {class: "numbers"},
    el("summary", {text: summary}),
    noEffect ? el("p", {class: "muted", text: "No link: the knowledge base declares no effect beyond the leak (cells.csv)."}) : null,
    el("ul", {class: "numbers-list"}, records.map(numberItem)));
}

function woeBar(woe, scale) {
  const fill = el("div", {class: `fill ${woe >= 0 ? "for" : "against"}`});
  const width = Math.min(50, 50 * Math.abs(woe || 0) / scale);
  fill.style.width = `${width}%`;
  fill.style.left = woe >= 0 ? "50%" : `${50 - width}%`;
  return el("div", {class: "woe", role: "presentation"}, el("div", {class: "axis"}), fill);
}

function drawWhy(why) {
  const box = $("why");
  const scale = Math.max(1, ...why.items.map((i) => Math.abs(i.woe || 0)));
  const rows = why.items.map((item) => el("tr", {"data-node": item.node},
    el("td", {}, el("code", {text: item.evidence}),
      numbersDetails(item.numbers.records, `numbers behind it (${item.numbers.records.length})`, item.numbers.no_effect)),
    el("td", {class: "num", text: signed(item.woe)}),
    el("td", {}, woeBar(item.woe, scale)),
    el("td", {class: "num", text: item.likelihood_ratio === null ? "n/a" : Number(item.likelihood_ratio).toPrecision(3)})));
  box.replaceChildren(
    el("p", {id: "why-summary"}, el("strong", {text: why.condition}),
      `: prior ${fixed(why.prior)} → posterior ${fixed(why.posterior)}; log odds ${signed(why.prior_log_odds)} → ${signed(why.posterior_log_odds)}`),
    numbersDetails(why.condition_numbers, "the condition's own numbers", false),
    why.items.length
      ? el("table", {"aria-label": `weights of evidence for ${why.condition}`},
          el("thead", {}, el("tr", {}, el("th", {text: "evidence (chain order)"}), el("th", {class: "num", text: "woe"}),
            el("th", {text: "for / against"}), el("th", {class: "num", text: "ratio"}))),
          el("tbody", {}, rows))
      : el("p", {class: "muted", text: "No evidence yet: the condition is at its prior."}),
    el("p", {class: "muted", text: "Weight of evidence (natural log): the change in the condition's log odds that each item " +
      "makes given the items before it; the column adds up to the whole change."}));
}

function drawNext(next) {
  $("next").replaceChildren(...next.findings.map((f) => el("li", {"data-finding": f.finding},
    el("span", {class: "finding", text: f.finding}),
    ` ${fixed(f.reduction, 3)} bits; P(top changes) ${fixed(f.p_top_changes, 3)}`,
    el("div", {class: "choices"}, f.states.map((s) =>
      el("button", {type: "button", "data-state": s.state,
        "aria-label": `enter ${f.finding}=${s.state} (probability ${fixed(s.probability, 3)}; top would be ${s.top})`,
        onclick: () => setEvidence(f.finding, s.state),
        text: `${s.state} ${fixed(s.probability, 2)}`}))))));
}

function drawSure(tornado, interval) {
  const values = tornado.parameters.flatMap((p) => [p.at_low, p.at_high, p.posterior]).filter((x) => x !== null);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!(hi > lo)) { lo = Math.max(0, lo - 0.05); hi = Math.min(1, hi + 0.05); }
  const at = (x) => `${(100 * (x - lo) / (hi - lo)).toFixed(2)}%`;
  const rows = tornado.parameters.map((p) => {
    const span = el("div", {class: "span"});
    span.style.left = at(Math.min(p.at_low, p.at_high));
    span.style.width = `${(100 * Math.abs(p.at_high - p.at_low) / (hi - lo)).toFixed(2)}%`;
    const point = el("div", {class: "point"});
    point.style.left = at(p.posterior);
    return el("div", {class: "row", "data-parameter": p.parameter},
      el("details", {}, el("summary", {class: "label", title: p.parameter, text: p.parameter}),
        p.record ? el("ul", {class: "numbers-list"}, numberItem(p.record)) : null),
      el("div", {class: "track", role: "img",
        "aria-label": `${p.parameter}: posterior ${fixed(p.at_low)} at its low value, ${fixed(p.at_high)} at its high value`},
        span, point),
      el("span", {class: "num", text: `${fixed(p.at_low, 3)}–${fixed(p.at_high, 3)}`}));
  });
  const mine = interval.conditions.find((c) => c.condition === tornado.target) || interval.conditions[0];
  $("sure").replaceChildren(
    el("p", {class: "interval", id: "interval"}, el("strong", {text: tornado.target}),
      `: ${fixed(mine.point)}, 90% interval ${fixed(mine.q05)}–${fixed(mine.q95)} over the parameters' uncertainty ` +
      `(${interval.draws} draws, seed ${interval.seed}); another condition ranks first in ` +
      `${(100 * interval.top_changed).toFixed(1)}% of draws.`),
    el("p", {class: "muted", text: `The ${tornado.parameters.length} of ${tornado.count} parameters whose plausible ` +
      `range moves ${tornado.target}'s posterior most (bar: posterior from low to high; tick: as given). Open one for its source.`}),
    el("div", {class: "tornado", id: "tornado"}, rows));
}

// ------------------------------------------------------------------ the update cycle
async function update() {
  const request = ++state.request;
  document.body.dataset.requested = String(request);
  writeAddress();
  syncControls();
  $("sure").replaceChildren();
  const started = performance.now();
  let answer;
  try {
    answer = await api("/api/posteriors", {evidence: state.evidence});
  } catch (error) {
    if (request === state.request) {
      showError(error.message);
      $("differential").replaceChildren();
      $("none-line").replaceChildren();
      $("why").replaceChildren();
      $("next").replaceChildren();
      document.body.dataset.ready = String(request);
    }
    return;
  }
  if (request !== state.request) return;
  document.body.dataset.answerMs = (performance.now() - started).toFixed(1);
  showError(state.addressProblem);
  state.addressProblem = "";
  state.top = answer.top;
  const selected = drawDifferential(answer);
  const elapsed = performance.now() - started;
  document.body.dataset.updateMs = elapsed.toFixed(1);
  $("status").textContent = `Differential updated in ${elapsed.toFixed(0)} ms.`;
  try {
    const [why, next] = await Promise.all([
      api("/api/explain", {evidence: state.evidence, condition: selected}),
      api("/api/next", {evidence: state.evidence, top: 8}),
    ]);
    if (request !== state.request) return;
    drawWhy(why);
    drawNext(next);
  } catch (error) {
    if (request === state.request) showError(error.message);
  }
  if (request === state.request) document.body.dataset.ready = String(request);
}

async function selectCondition(condition) {
  state.selected = condition;
  writeAddress();
  for (const button of document.querySelectorAll("#differential .condition")) {
    button.setAttribute("aria-pressed", String(button.closest("li").dataset.condition === condition));
  }
  const request = state.request;
  try {
    const why = await api("/api/explain", {evidence: state.evidence, condition});
    if (request === state.request) drawWhy(why);
  } catch (error) {
    showError(error.message);
  }
}

async function runSensitivity() {
  const button = $("run-sensitivity");
  button.disabled = true;
  $("sure").replaceChildren(el("p", {class: "muted", text: "Computing the tornado and 2,000 Monte Carlo draws…"}));
  const request = state.request;
  try {
    const [tornado, interval] = await Promise.all([
      api("/api/sensitivity", {evidence: state.evidence, condition: state.top, top: 10}),
      api("/api/montecarlo", {evidence: state.evidence, draws: 2000, seed: 0, top: 30}),
    ]);
    if (request === state.request) drawSure(tornado, interval);
  } catch (error) {
    $("sure").replaceChildren();
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  let info;
  try {
    info = await api("/api/nodes");
  } catch (error) {
    showError(`The model could not be reached: ${error.message}`);
    return;
  }
  state.nodes = info.nodes;
  for (const node of info.nodes) state.byName.set(node.node, node);
  const kb = info.knowledge_base;
  $("knowledge-base").textContent = `knowledge base ${kb.version || ""} (sha256 ${String(kb.sha256 || "").slice(0, 12)})`;
  buildControls();
  readAddress();
  $("search").addEventListener("input", (event) => filterControls(event.target.value));
  $("clear-all").addEventListener("click", () => { state.evidence = {}; update(); });
  $("copy-link").addEventListener("click", () => copy(window.location.href, "the link"));
  $("copy-json").addEventListener("click", () => copy(jsonText(), "the case as JSON"));
  $("copy-command").addEventListener("click", () => copy(commandText(), "the bayesnet query command"));
  $("run-sensitivity").addEventListener("click", runSensitivity);
  window.addEventListener("popstate", () => { readAddress(); update(); });
  await update();
}

document.addEventListener("DOMContentLoaded", start);
