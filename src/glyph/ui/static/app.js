// glyph playground: one page over the JSON API of glyph.ui.app. Plain DOM, fetch and EventSource;
// Chart.js (vendored) draws the study and run charts. Text from the server or the user is only
// ever put into the page as textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, doc: null, config: null, render: null, controller: null, pending: null,
                stream: null, study: null, studyChart: null, runsChart: null, hoverTimer: null };
const THEMES = {
  light: ["#000000", "#FFFFFF"], sepia: ["#5B4636", "#F4ECD8"], dark: ["#E6E6E6", "#1E1E1E"], gray: ["#444444", "#E8E8E8"],
};
const MARKER = '<font color="#FF0000"> \\n </font>';
const fmt = (n) => (n === null || n === undefined ? "n/a" : Number(n).toLocaleString("en-US"));
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(2) + "%");

// ----------------------------------------------------------------------------- plumbing
class ApiError extends Error {
  constructor(message, field, status) { super(message); this.field = field; this.status = status; }
}

async function api(method, url, body, opts = {}) {
  const init = { method, headers: {}, signal: opts.signal };
  if (body instanceof Blob || body instanceof ArrayBuffer) { init.body = body; init.headers["Content-Type"] = "application/octet-stream"; }
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
  let response;
  try { response = await fetch(url, init); }
  catch (err) { if (err.name === "AbortError") throw err; throw new ApiError("the playground server cannot be reached: is glyph ui still running?"); }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const e = data.error || {};
    throw new ApiError(e.message || `HTTP ${response.status}`, e.field, response.status);
  }
  return data;
}

function showError(el, err) { el.textContent = err ? (err.message || String(err)) : ""; el.hidden = !err; }
function status(text) { $("status").textContent = text || ""; }
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

// ----------------------------------------------------------------------------- start
async function start() {
  state.info = await api("GET", "/api/info");
  const info = state.info;
  for (const ex of info.examples) $("example").append(el("option", { value: ex.name, text: ex.title }));
  for (const name of Object.keys(info.presets)) $("preset").append(el("option", { value: name, text: name }));
  $("preset").append(el("option", { value: "", text: "(custom)" }));
  for (const f of info.fonts) $("font").append(el("option", { value: f, text: f }));
  for (const s of info.studies) $("study-select").append(el("option", { value: s.id, text: s.label }));
  for (const s of info.runs) $("runs-select").append(el("option", { value: s.id, text: s.label }));
  if (!info.studies.length) $("study-info").textContent = "no study: start glyph ui with --study FOLDER_OR_URL";
  if (!info.runs.length) $("runs-info").textContent = "no eval run: start glyph ui with --runs FOLDER";
  $("vlm-name").textContent = info.vlm;
  $("reader-name").textContent = info.reader;
  const sides = Object.fromEntries(info.sides.map((s) => [s.kind, s]));
  for (const kind of ["pages", "text"]) {
    $(`side-${kind}`).querySelector(".label").textContent = sides[kind] ? sides[kind].label : "(not configured)";
  }
  $("ask-models").textContent = info.sides.length ? "" : "no model configured (glyph ui --page-url / --text-url)";
  wire();
  state.config = { ...info.presets.config_en };
  $("preset").value = "config_en";
  syncControls();
  $("example").value = "essay";
  await loadExample("essay");
}

function wire() {
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => showView(b)));
  $("example").addEventListener("change", () => $("example").value && loadExample($("example").value));
  $("upload").addEventListener("change", uploadFile);
  $("text").addEventListener("input", debounce(textEdited, 600));
  $("preset").addEventListener("change", () => {
    const p = state.info.presets[$("preset").value];
    if (p) { state.config = { ...p }; syncControls(); scheduleRender(0); }
  });
  $("config-file").addEventListener("change", loadConfigFile);
  for (const id of ["dpi", "font-size", "line-height"]) {
    $(id).addEventListener("input", () => { $(id + "-value").value = $(id).value; controlsChanged(id); });
    $(id + "-value").addEventListener("change", () => { $(id).value = $(id + "-value").value; controlsChanged(id); });
  }
  for (const id of ["font", "newlines", "alignment", "theme"]) $(id).addEventListener("change", () => controlsChanged(id));
  $("apply-json").addEventListener("click", applyJson);
  $("read-button").addEventListener("click", () => readBack(Number($("read-page").value)));
  $("ask-button").addEventListener("click", ask);
  $("zoom-close").addEventListener("click", () => $("zoom").close());
  $("zoom-prev").addEventListener("click", () => zoom(state.zoomPage - 1));
  $("zoom-next").addEventListener("click", () => zoom(state.zoomPage + 1));
  $("zoom-fit").addEventListener("change", () => $("zoom-img").classList.toggle("fit", $("zoom-fit").checked));
  $("zoom-read").addEventListener("click", () => { $("zoom").close(); readBack(state.zoomPage); });
  $("study-select").addEventListener("change", () => loadStudy($("study-select").value));
  $("runs-select").addEventListener("change", () => loadRuns($("runs-select").value));
}

function showView(button) {
  document.querySelectorAll("nav button").forEach((b) => b.setAttribute("aria-selected", String(b === button)));
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== button.dataset.view; });
  if (button.id === "tab-study" && !state.study && $("study-select").value) loadStudy($("study-select").value);
  if (button.id === "tab-runs" && !state.runs && $("runs-select").value) loadRuns($("runs-select").value);
}

// ----------------------------------------------------------------------------- text
function setDocument(doc, text) {
  state.doc = doc;
  if (text !== undefined) $("text").value = text;
  $("doc-info").textContent = `${fmt(doc.chars)} characters, ${fmt(doc.text_tokens)} text tokens (Qwen BPE)`;
  showError($("text-error"), null);
  scheduleRender(0);
}

async function loadExample(name) {
  status("loading example…");
  try {
    const ex = await api("GET", `/api/examples/${encodeURIComponent(name)}`);
    $("question").value = ex.question;
    Object.assign($("question").dataset, { answer: ex.answer, exampleDoc: ex.document.id, exampleQuestion: ex.question });
    const preset = state.info.presets[ex.preset];
    if (preset && $("preset").value !== ex.preset) { $("preset").value = ex.preset; state.config = { ...preset }; syncControls(); }
    setDocument(ex.document, ex.text);
  } catch (err) { showError($("text-error"), err); }
  status("");
}

async function uploadFile() {
  const file = $("upload").files[0];
  if (!file) return;
  status(`uploading ${file.name}…`);
  try {
    const doc = await api("POST", `/api/upload?name=${encodeURIComponent(file.name)}`, file);
    $("example").value = "";
    setDocument(doc, doc.text);
  } catch (err) { showError($("text-error"), err); }
  finally { $("upload").value = ""; status(""); }
}

async function textEdited() {
  try {
    const doc = await api("POST", "/api/documents", { text: $("text").value, name: "pasted text" });
    $("example").value = "";
    setDocument(doc);
  } catch (err) { showError($("text-error"), err); }
}

// ----------------------------------------------------------------------------- config
function syncControls() {
  const c = state.config;
  const set = (id, v) => { $(id).value = v; if ($(id + "-value")) $(id + "-value").value = v; };
  set("dpi", c.dpi); set("font-size", c["font-size"]); set("line-height", c["line-height"]);
  if (![...$("font").options].some((o) => o.value === c["font-path"])) $("font").append(el("option", { value: c["font-path"], text: c["font-path"] }));
  $("font").value = c["font-path"];
  $("newlines").value = c.reflow ? "reflow" : (c["newline-markup"] === "<br/>" ? "keep" : "marker");
  $("alignment").value = c.alignment;
  const theme = Object.entries(THEMES).find(([, [fg, bg]]) => fg === c["font-color"] && bg === c["page-bg-color"]);
  $("theme").value = theme ? theme[0] : "light";
  $("config-json").value = JSON.stringify(c, null, 2);
}

function controlsChanged(id) {
  const c = state.config;
  const num = (x) => Number(x);
  if (id === "dpi") c.dpi = num($("dpi-value").value);
  if (id === "font") c["font-path"] = $("font").value;
  if (id === "font-size") {
    const linked = Number(c["line-height"]) === Number(c["font-size"]) + 1;  // keep "size + 1" leading
    c["font-size"] = num($("font-size-value").value);
    if (linked) { c["line-height"] = c["font-size"] + 1; $("line-height").value = $("line-height-value").value = c["line-height"]; }
  }
  if (id === "line-height") c["line-height"] = num($("line-height-value").value);
  if (id === "newlines") {
    const v = $("newlines").value;
    c.reflow = v === "reflow";
    c["newline-markup"] = v === "marker" ? MARKER : "<br/>";
  }
  if (id === "alignment") c.alignment = $("alignment").value;
  if (id === "theme") {
    const [fg, bg] = THEMES[$("theme").value];
    c["font-color"] = fg; c["page-bg-color"] = bg; c["para-bg-color"] = bg; c["para-border-color"] = bg;
  }
  $("preset").value = "";
  $("config-json").value = JSON.stringify(c, null, 2);
  scheduleRender(150);
}

function applyJson() {
  try { state.config = JSON.parse($("config-json").value); }
  catch (err) { showError($("config-error"), new Error(`the config is not valid JSON: ${err.message}`)); return; }
  $("preset").value = "";
  syncControls();
  scheduleRender(0);
}

async function loadConfigFile() {
  const file = $("config-file").files[0];
  if (!file) return;
  try {
    const data = JSON.parse(await file.text());
    if (typeof data !== "object" || data === null || Array.isArray(data)) throw new Error("expected a JSON object of config keys");
    state.config = { ...state.info.presets.config_en, ...data };
    $("preset").value = "";
    syncControls();
    scheduleRender(0);
  } catch (err) { showError($("config-error"), new Error(`${file.name}: ${err.message}`)); }
  finally { $("config-file").value = ""; }
}

// ----------------------------------------------------------------------------- render
const scheduleRender = (() => {
  let timer;
  return (ms) => { clearTimeout(timer); timer = setTimeout(render, ms); };
})();

async function render() {
  if (!state.doc) return;
  if (state.controller) state.controller.abort();  // a newer position supersedes the render in flight
  const controller = new AbortController();
  state.controller = controller;
  $("gallery").classList.add("busy");
  status("rendering…");
  try {
    const r = await api("POST", "/api/render", { document: state.doc.id, config: state.config }, { signal: controller.signal });
    if (controller !== state.controller) return;
    state.render = r;
    state.config = { ...r.config };  // the controls edit a copy: state.render.config stays what was rendered
    showError($("config-error"), null);
    showError($("render-error"), null);
    $("config-json").value = JSON.stringify(r.config, null, 2);
    showRender(r);
  } catch (err) {
    if (err.name === "AbortError") return;
    const where = err.field && err.field !== "text" ? $("config-error") : $("render-error");
    showError(where, err);
  } finally {
    if (controller === state.controller) { $("gallery").classList.remove("busy"); status(""); }
  }
}

function showRender(r) {
  const rep = r.report;
  const main = rep.costs[state.info.vlm] || Object.values(rep.costs)[0];
  $("page-count").textContent = fmt(rep.pages);
  $("text-tokens").textContent = fmt(rep.text_tokens);
  $("visual-tokens").textContent = fmt(main.visual_tokens);
  $("ratio").textContent = main.ratio ? main.ratio.toFixed(2) + "x" : "n/a";
  $("render-info").textContent = `config ${r.config_hash.slice(0, 12)} · rendered in ${r.seconds.toFixed(2)} s`;
  const body = $("compression").querySelector("tbody");
  body.replaceChildren(...Object.values(rep.costs).map((c) => el("tr", {},
    el("td", { text: c.vlm }), el("td", { text: fmt(c.visual_tokens) }), el("td", { text: fmt(rep.text_tokens) }),
    el("td", { text: c.ratio ? c.ratio.toFixed(2) + "x" : "n/a" }), el("td", { text: c.chars_per_visual_token.toFixed(2) }))));
  $("notes").textContent = rep.notes.join("; ");
  $("gallery").replaceChildren(...r.pages.map((p, i) => {
    const img = el("img", { src: pageUrl(r, i + 1), alt: `page ${i + 1}`, loading: "lazy", width: "150",
                            height: String(Math.round(150 * p.height / p.width)) });
    const fig = el("figure", { class: "thumb", "data-page": String(i + 1) }, img,
                   el("figcaption", { text: `${i + 1} · ${p.width}×${p.height}` }));
    fig.addEventListener("click", () => zoom(i + 1));
    return fig;
  }));
  $("read-page").max = String(r.pages.length);
}

const pageUrl = (r, n) => `/api/renders/${r.id}/pages/${n}.png`;

function zoom(n) {
  const r = state.render;
  if (!r || n < 1 || n > r.pages.length) return;
  state.zoomPage = n;
  $("zoom-img").src = pageUrl(r, n);
  $("zoom-title").textContent = `page ${n} of ${r.pages.length} · ${r.pages[n - 1].width}×${r.pages[n - 1].height} px (real pixels)`;
  if (!$("zoom").open) $("zoom").showModal();
}

// ----------------------------------------------------------------------------- read back
async function readBack(n) {
  const r = state.render;
  if (!r) return;
  $("read-page").value = n;
  showError($("read-error"), null);
  $("read-status").textContent = `reading page ${n} with ${state.info.reader} (a few seconds on one core)…`;
  $("read-button").disabled = true;
  try {
    const res = await api("POST", `/api/renders/${r.id}/pages/${n}/read`);
    // renders are content-addressed: a re-render of the same text and config (a control's change
    // event on blur) holds the same pages, so only a different id makes this read-back stale
    if (!state.render || state.render.id !== r.id) { $("read-status").textContent = "the pages changed while reading: read again"; return; }
    $("read-status").textContent = `page ${n}: ${fmt(res.chars)} characters, ${fmt(res.char_edits)} character edits, ` +
      `${fmt(res.word_edits)} of ${fmt(res.words)} words wrong · ${res.reader}, ${res.seconds} s`;
    $("char-acc").textContent = pct(res.char_accuracy);
    $("word-acc").textContent = pct(res.word_accuracy);
    $("class-acc").textContent = Object.entries(res.class_accuracy).filter(([, v]) => v !== null)
      .map(([k, v]) => `${k} ${pct(v)}`).join(" · ");
    $("read-scores").hidden = false;
    $("read-legend").hidden = false;
    $("read-text").replaceChildren(...res.segments.flatMap(([tag, truth, read]) => {
      if (tag === "equal") return [document.createTextNode(truth)];
      if (tag === "delete") return [el("span", { class: "dropped", title: "dropped by the reader", text: truth })];
      if (tag === "insert") return [el("ins", { class: "inserted", title: "inserted by the reader", text: read })];
      return [el("span", { class: "misread", title: `read as "${read}"`, text: truth }), el("ins", { class: "read-as", text: read })];
    }));
  } catch (err) { showError($("read-error"), err); $("read-status").textContent = ""; }
  finally { $("read-button").disabled = false; }
}

// ----------------------------------------------------------------------------- ask
async function ask() {
  showError($("ask-error"), null);
  if (!state.render) { showError($("ask-error"), new Error("render a text first")); return; }
  if (state.stream) state.stream.close();
  for (const kind of ["pages", "text"]) {
    const side = $(`side-${kind}`);
    side.querySelector(".answer").replaceChildren();
    side.querySelector(".stats").replaceChildren();
    showError(side.querySelector(".side-error"), null);
  }
  $("ask-button").disabled = true;
  let job;
  try { job = await api("POST", "/api/ask", { render: state.render.id, question: $("question").value }); }
  catch (err) { showError($("ask-error"), err); $("ask-button").disabled = false; return; }
  const q = $("question");  // the example's answer, only while its text and question are the ones asked
  const expected = state.doc && state.doc.id === q.dataset.exampleDoc && q.value === q.dataset.exampleQuestion ? q.dataset.answer : "";
  const es = new EventSource(`/api/ask/${job.id}/events`);
  state.stream = es;
  const side = (d) => $(`side-${d.side}`);
  const finish = () => { es.close(); $("ask-button").disabled = false; status(""); };
  status("asking…");
  es.addEventListener("start", (e) => {
    const d = JSON.parse(e.data);
    side(d).querySelector(".label").textContent = `${d.model}`;
    side(d).querySelector(".answer").append(el("span", { class: "muted", text: "…" }));
  });
  es.addEventListener("delta", (e) => {
    const d = JSON.parse(e.data);
    const box = side(d).querySelector(".answer");
    const placeholder = box.querySelector(".muted");
    if (placeholder) placeholder.remove();
    box.append(d.thinking ? el("span", { class: "thinking", text: d.text }) : document.createTextNode(d.text));
    box.scrollTop = box.scrollHeight;
  });
  es.addEventListener("done", (e) => {
    const d = JSON.parse(e.data);
    const box = side(d).querySelector(".answer");
    const placeholder = box.querySelector(".muted");
    if (placeholder) placeholder.textContent = "(empty answer)";
    const rows = [
      ["prompt tokens", d.prompt_tokens !== null ? `${fmt(d.prompt_tokens)} (server)` : `≈ ${fmt(d.estimated_prompt_tokens)} (estimate)`],
      ["our estimate", fmt(d.estimated_prompt_tokens)],
      ["answer tokens", fmt(d.completion_tokens)],
      ["first token", d.first_token_seconds !== null ? `${d.first_token_seconds.toFixed(2)} s` : "–"],
      ["latency", `${d.seconds.toFixed(2)} s`],
    ];
    if (expected) rows.push(["expected", expected]);
    side(d).querySelector(".stats").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  });
  es.addEventListener("error", (e) => {
    if (e.data) {  // an error event the server sent for one side
      const d = JSON.parse(e.data);
      const box = side(d);
      const placeholder = box.querySelector(".answer .muted");
      if (placeholder) placeholder.remove();
      showError(box.querySelector(".side-error"), new Error(d.message));
      return;
    }
    showError($("ask-error"), new Error("the answer stream broke off (is glyph ui still running?)"));
    finish();
  });
  es.addEventListener("end", finish);
}

// ----------------------------------------------------------------------------- search study
async function loadStudy(id) {
  showError($("study-error"), null);
  try {
    const s = await api("GET", `/api/studies/${id}`);
    state.study = s;
    const front = s.trials.filter((t) => t.pareto).length;
    $("study-info").textContent = `${s.trials.length} configs, ${front} on the Pareto front, best score: trial ${s.best}`;
    drawStudy(s);
  } catch (err) { showError($("study-error"), err); }
}

function drawStudy(s) {
  const pt = (t) => ({ x: t.compression, y: t.accuracy, trial: t });
  const datasets = [
    { label: "configs", data: s.trials.filter((t) => !t.pareto).map(pt), backgroundColor: "rgba(47,111,222,.45)", pointRadius: 5 },
    { label: "Pareto front", data: s.trials.filter((t) => t.pareto).sort((a, b) => a.compression - b.compression).map(pt),
      backgroundColor: "#d92d20", borderColor: "#d92d20", pointRadius: 7, showLine: true, stepped: "before" },
    { label: "best score", data: s.trials.filter((t) => t.trial === s.best).map(pt), backgroundColor: "#f5b700",
      borderColor: "#000", pointStyle: "star", pointRadius: 12, borderWidth: 1 },
  ];
  if (state.studyChart) state.studyChart.destroy();
  state.studyChart = new Chart($("study-chart"), {
    type: "scatter", data: { datasets },
    options: {
      maintainAspectRatio: false, animation: false,
      scales: { x: { title: { display: true, text: "compression (text tokens / visual tokens)" } },
                y: { title: { display: true, text: "accuracy" } } },
      plugins: { tooltip: { callbacks: { label: (c) => {
        const t = c.raw.trial;
        return `trial ${t.trial} (gen ${t.generation}, ${t.origin}): accuracy ${t.accuracy.toFixed(3)}, ${t.compression.toFixed(2)}x`;
      } } } },
      onHover: (_e, items) => { if (items.length) hoverTrial(topTrial(datasets, items)); },
      onClick: (_e, items) => { if (items.length) hoverTrial(topTrial(datasets, items), true); },
    },
  });
}

// Points overlap (configs with the same scores): the one drawn on top wins (best, then front, then the rest).
const topTrial = (datasets, items) => {
  const top = items.reduce((a, b) => (b.datasetIndex > a.datasetIndex ? b : a));
  return datasets[top.datasetIndex].data[top.index].trial;
};

function hoverTrial(t, now = false) {
  clearTimeout(state.hoverTimer);
  state.hoverTimer = setTimeout(() => showTrial(t), now ? 0 : 120);
}

async function showTrial(t) {
  const d = $("study-detail");
  if (d.dataset.trial === String(t.trial)) return;
  d.dataset.trial = String(t.trial);
  const diff = Object.entries(t.diff);
  const use = el("button", { type: "button", id: "use-config", text: "Use this config" });
  use.addEventListener("click", () => {
    state.config = { ...t.config };
    $("preset").value = "";
    syncControls();
    showView($("tab-play"));
    scheduleRender(0);
  });
  const table = el("table", { class: "kv" }, ...diff.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: JSON.stringify(v) }))));
  const pages = el("div", { class: "muted", text: state.doc ? "rendering the current text with it…" : "load a text to see its pages" });
  d.replaceChildren(
    el("h3", { text: `trial ${t.trial}: accuracy ${t.accuracy.toFixed(3)}, compression ${t.compression.toFixed(2)}x` }),
    el("div", { class: "muted", text: `generation ${t.generation}, ${t.origin}${t.feasible ? "" : ", below the accuracy floor"}` +
                                         (t.rationale ? ` · ${t.rationale}` : "") }),
    diff.length ? table : el("p", { class: "muted", text: "the reference default config" }), use, pages);
  if (!state.doc) return;
  try {
    const r = await api("POST", "/api/render", { document: state.doc.id, config: t.config });
    if (d.dataset.trial !== String(t.trial)) return;
    pages.textContent = `${r.report.pages} pages of the current text, ${r.report.costs[state.info.vlm].ratio.toFixed(2)}x (${state.info.vlm}):`;
    pages.append(el("br"), ...r.pages.slice(0, 2).map((_p, i) => el("img", { src: pageUrl(r, i + 1), alt: `page ${i + 1} with trial ${t.trial}` })));
  } catch (err) { pages.textContent = err.message; }
}

// ----------------------------------------------------------------------------- eval runs
async function loadRuns(id) {
  showError($("runs-error"), null);
  try {
    const data = await api("GET", `/api/runs/${id}`);
    state.runs = data;
    $("runs-info").textContent = `${data.runs.length} runs (reader x config)` +
      (data.runs.some((r) => r.legibility_bound) ? " · *-extract readers are legibility bounds, not language models" : "");
    drawRuns(data);
  } catch (err) { showError($("runs-error"), err); }
}

function drawRuns(data) {
  const palette = ["#2f6fde", "#d92d20", "#12a150", "#f5b700", "#7a5af8", "#e04f9b", "#0e9384", "#667085"];
  const series = new Map();
  for (const run of data.runs) {
    for (const [task, buckets] of Object.entries(run.by_task_bucket)) {
      for (const [bucket, acc] of Object.entries(buckets)) {
        const ratio = run.ratio_by_bucket[bucket];
        if (ratio === undefined) continue;
        const key = `${task} @ ${bucket}`;
        if (!series.has(key)) series.set(key, []);
        series.get(key).push({ x: ratio, y: 100 * acc, run });
      }
    }
    for (const [bucket, acc] of Object.entries(run.by_bucket)) {
      const ratio = run.ratio_by_bucket[bucket];
      if (ratio === undefined) continue;
      const key = `mean of tasks @ ${bucket}`;
      if (!series.has(key)) series.set(key, []);
      series.get(key).push({ x: ratio, y: 100 * acc, run });
    }
  }
  const datasets = [...series.entries()].map(([label, pts], i) => ({
    label, data: pts.sort((a, b) => a.x - b.x), showLine: true, borderColor: palette[i % palette.length],
    backgroundColor: palette[i % palette.length], borderWidth: label.startsWith("mean") ? 3 : 1.3, pointRadius: 4,
    borderDash: label.includes("@ 32k") || label.includes("@ 128k") ? [6, 3] : [],
  }));
  if (state.runsChart) state.runsChart.destroy();
  state.runsChart = new Chart($("runs-chart"), {
    type: "scatter", data: { datasets },
    options: {
      maintainAspectRatio: false, animation: false,
      scales: { x: { title: { display: true, text: `compression (text tokens / visual tokens, ${data.runs[0]?.vlm || "?"})` } },
                y: { min: 0, max: 100, title: { display: true, text: "accuracy (score x 100)" } } },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } },
                 tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.raw.y.toFixed(1)} at ${c.raw.x.toFixed(2)}x (${c.raw.run.run})` } } },
      onHover: (_e, items) => { if (items.length) showRun(datasets[items[0].datasetIndex].data[items[0].index].run); },
    },
  });
  const buckets = [...new Set(data.runs.flatMap((r) => Object.keys(r.by_bucket)))];
  const tasks = [...new Set(data.runs.flatMap((r) => Object.keys(r.by_task)))].sort();
  const head = el("tr", {}, el("th", { text: "run" }), el("th", { text: "compression" }),
                  ...tasks.flatMap((t) => buckets.map((b) => el("th", { text: `${t} ${b}` }))), el("th", { text: "mean" }));
  const rows = data.runs.map((r) => el("tr", {}, el("td", { text: r.run + (r.diff.dpi ? ` (dpi ${r.diff.dpi})` : "") }),
    el("td", { text: r.ratio_mean ? r.ratio_mean.toFixed(2) + "x" : "–" }),
    ...tasks.flatMap((t) => buckets.map((b) => el("td", { text: r.by_task_bucket[t]?.[b] !== undefined ? (100 * r.by_task_bucket[t][b]).toFixed(1) : "–" }))),
    el("td", { text: (100 * r.accuracy).toFixed(1) })));
  $("runs-table").replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function showRun(run) {
  const d = $("runs-detail");
  const diff = Object.entries(run.diff || {});
  d.replaceChildren(
    el("h3", { text: `${run.run}: accuracy ${(100 * run.accuracy).toFixed(1)}, compression ${run.ratio_mean ? run.ratio_mean.toFixed(2) + "x" : "–"}` }),
    el("div", { class: "muted", text: `${run.samples} samples, ${run.errors} errors, ${run.pages_mean ? run.pages_mean.toFixed(1) : "–"} pages on average` }),
    diff.length ? el("table", { class: "kv" }, ...diff.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: JSON.stringify(v) }))))
                : el("p", { class: "muted", text: run.config ? "the reference default config" : "config not recorded" }));
}

document.addEventListener("DOMContentLoaded", () => start().catch((err) => { status(""); showError($("text-error"), err); }));
