// The dashboard's page: polls the JSON API and redraws. Every value from the spool
// goes into the page as text (textContent), never as markup: job files are
// written by anyone, and so are the error messages that quote them.
"use strict";

const REFRESH_MS = 1000;
const SLOWDOWN = 4;  // wait at least 4 times as long as the last answer took
const STATES = ["running", "suspended", "queued", "done", "failed", "cancelled"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function present(value) {
  return value !== null && value !== undefined && value !== "";
}

// Integers past 2^53 come as strings (JavaScript would round them): shown as they are.
function count(value) {
  if (!present(value)) return "–";
  return typeof value === "number" ? value.toLocaleString("en-US") : String(value);
}

function duration(seconds) {
  if (!present(seconds)) return "–";
  if (seconds < 60) return seconds.toFixed(1) + " s";
  const s = Math.round(seconds);
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function rate(value) {
  if (!present(value)) return "–";
  const digits = value >= 100 ? 0 : 1;
  return Number(value).toLocaleString("en-US", {maximumFractionDigits: digits}) + "/s";
}

function stateBadge(state) {
  const known = STATES.includes(state) ? state : "unknown";
  return el("span", {class: "state state-" + known, "data-state": String(state)}, state);
}

function progressBar(job) {
  const total = typeof job.total === "number" ? job.total : null;
  const tested = typeof job.tested === "number" ? job.tested : 0;
  const share = total ? Math.min(1, tested / total) : (job.state === "done" ? 1 : 0);
  const label = total ? count(job.tested) + " / " + count(job.total) + " (" + Math.floor(share * 100) + "%)"
                      : job.state === "queued" ? "waiting"
                      : job.state === "running" && !tested ? "starting" : count(job.tested) + " tested";
  const fill = el("div", {class: "fill state-" + (STATES.includes(job.state) ? job.state : "unknown")});
  fill.style.width = (share * 100).toFixed(1) + "%";
  return el("div", {class: "progress", "data-tested": String(tested), "data-total": String(total ?? "")},
            el("div", {class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
                       "aria-valuenow": String(Math.floor(share * 100)), "aria-label": "progress"}, fill),
            el("span", {class: "label"}, label));
}

function jobLink(id) {
  return el("a", {href: "/jobs/" + encodeURIComponent(id)}, id);
}

function showProblem(text) {
  const banner = document.getElementById("problem");
  banner.hidden = !text;
  banner.textContent = text || "";
}

// Who serves the spool: without a daemon nothing runs, and the page says so plainly.
function showDaemons(data) {
  const line = document.getElementById("daemons");
  const daemons = data.daemons || [];
  line.classList.toggle("none", daemons.length === 0);
  line.textContent = daemons.length === 0
    ? "No daemon serves this spool: nothing runs until one starts (runner start --root " +
      (data.spool || ".") + ")."
    : daemons.map((d) => "daemon pid " + d.pid + " on " + d.host + " since " +
                         String(d.since).replace("T", " ").slice(0, 19) + " UTC (" + d.backend +
                         ", " + d.processes + " processes)").join(" · ");
}

function stamp(spool) {
  document.getElementById("spool").textContent = spool ? "spool " + spool : "";
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString("en-GB");
}

// -- the list of jobs ------------------------------------------------------------

function renderList(data) {
  const jobs = data.jobs;
  const order = (job) => { const i = STATES.indexOf(job.state); return i < 0 ? STATES.length : i; };
  jobs.sort((a, b) => order(a) - order(b));
  const counts = document.getElementById("counts");
  counts.replaceChildren(...STATES.map((state) => {
    const n = jobs.filter((job) => job.state === state).length;
    return el("li", {class: "state-" + state + (n ? "" : " none")}, el("b", {}, n), " " + state);
  }));
  // rate and ETA come with the jobs whose daemon reports them; no column when none does
  const table = document.getElementById("jobs");
  table.classList.toggle("no-rate", !jobs.some((job) => present(job.rate)));
  table.classList.toggle("no-eta", !jobs.some((job) => present(job.eta)));
  const rows = jobs.map((job) => el("tr", {"data-job": job.id},
    el("td", {class: "id"}, jobLink(job.id)),
    el("td", {}, stateBadge(job.state)),
    el("td", {class: "task"}, job.task ?? "–"),
    el("td", {class: "progress-col"}, progressBar(job)),
    el("td", {class: "num found"}, found(job)),
    el("td", {class: "num rate-col rate"}, rate(job.rate)),
    el("td", {class: "num eta-col eta"}, job.state === "running" ? duration(job.eta) : "–"),
    el("td", {class: "num elapsed"}, duration(job.elapsed))));
  table.tBodies[0].replaceChildren(...rows);
  document.getElementById("empty").hidden = jobs.length > 0;
}

// The numbers that gave output, as the job's task counts them: "168 primes", "12 kept";
// a bare count for a job whose task is not read yet (queued) or never was (a bad file).
const FOUND_NOUNS = {primes: "primes", filter: "kept", map: "values"};

function found(job) {
  if (!present(job.task)) return count(job.found);
  return count(job.found) + " " + (FOUND_NOUNS[job.output] ?? "found");
}

// A result's inline list (primes, kept numbers, [n, value] pairs) on one line.
function inlineList(list) {
  if (!Array.isArray(list)) return null;
  if (!list.length) return "none";
  return list.map((item) => Array.isArray(item) ? JSON.stringify(item) : String(item)).join(", ");
}

// -- one job ---------------------------------------------------------------------

function fields(target, pairs) {
  const items = [];
  for (const [name, value] of pairs) {
    if (!present(value)) continue;
    items.push(el("dt", {}, name), el("dd", {"data-field": name}, value));
  }
  target.replaceChildren(...items);
  return items.length > 0;
}

function asText(value) {
  if (!present(value)) return null;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

// Indented JSON, but a list of plain values on one line (a job's numbers, say).
function compactJSON(value, indent = "") {
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.every((item) => item === null || typeof item !== "object")) {
      return "[" + value.map((item) => JSON.stringify(item)).join(", ") + "]";
    }
    return "[\n" + value.map((item) => inner + compactJSON(item, inner)).join(",\n") + "\n" + indent + "]";
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (!entries.length) return "{}";
    return "{\n" + entries.map(([key, item]) => inner + JSON.stringify(key) + ": " + compactJSON(item, inner))
      .join(",\n") + "\n" + indent + "}";
  }
  return JSON.stringify(value);
}

function renderJob(job) {
  document.title = job.id + " – runner";
  document.getElementById("job-id").textContent = job.id;
  document.getElementById("job-state").replaceChildren(stateBadge(job.state));
  document.getElementById("job-progress").replaceChildren(progressBar(job));
  fields(document.getElementById("job-figures"), [
    ["task", job.task],
    ["found", found(job)],
    ["rate", present(job.rate) ? rate(job.rate) : null],
    ["ETA", job.state === "running" && present(job.eta) ? duration(job.eta) : null],
    ["elapsed", duration(job.elapsed)],
  ]);

  const result = job.result && typeof job.result === "object" ? job.result : null;
  const error = result && result.error && typeof result.error === "object" ? result.error : null;
  document.getElementById("job-error").hidden = !error;
  if (error) {
    document.getElementById("error-message").textContent = asText(error.message ?? error.what) ?? "";
    fields(document.getElementById("error-fields"), [
      ["file", asText(error.file)], ["line", asText(error.line)], ["column", asText(error.column)],
      ["field", asText(error.field)], ["fix", asText(error.fix)],
    ]);
  }

  document.getElementById("job-result").hidden = !job.result;
  if (result) {
    const outputFile = result.primes_file ?? result.kept_file ?? result.values_file;
    const timings = result.timings || {};
    fields(document.getElementById("result-fields"), [
      ["result file", asText(job.result_file)],
      ["state", asText(result.state)],
      ["task", asText(result.task)],
      ["params", asText(result.params)],
      ["numbers tested", count(result.numbers_tested)],
      ["primes found", count(result.primes_found)],
      ["kept", present(result.kept) ? count(result.kept) : null],
      ["errors", present(result.errors) ? count(result.errors) : null],
      ["primes", inlineList(result.primes)],
      ["numbers kept", inlineList(result.numbers_kept)],
      ["values", inlineList(result.values)],
      ["output file", present(outputFile) ? "outbox/" + outputFile : null],
      ["input", asText(result.input)],
      ["settings", asText(result.settings)],
      ["started", asText(timings.started)],
      ["finished", asText(timings.finished)],
      ["seconds", asText(timings.seconds)],
      ["chunks", asText(result.chunks)],
    ]);
  } else if (job.result) {
    fields(document.getElementById("result-fields"), [["result", asText(job.result)]]);
  }

  fields(document.getElementById("job-details"), [
    ["id", job.id], ["state", job.state],
    ["job file", asText(job.source ?? job.file)],
  ]);
  document.getElementById("job-spec").textContent =
    typeof job.spec === "string" ? job.spec : compactJSON(job.spec);
}

// -- polling ---------------------------------------------------------------------

async function poll(url, render, drawn) {
  const began = performance.now();
  try {
    const response = await fetch(url, {cache: "no-store"});
    const text = await response.text();
    const data = JSON.parse(text);
    if (!response.ok) throw new Error(data.error || response.statusText);
    if (text !== drawn) {  // unchanged: leave the page, and what the reader selected, as it is
      render(data);
      drawn = text;
    }
    stamp(data.spool);
    showDaemons(data);
    showProblem(null);
  } catch (error) {
    showProblem("Could not refresh: " + error.message);
  }
  // a big spool is slow to read: poll less often, so the page never takes much of a core
  const took = performance.now() - began;
  setTimeout(() => poll(url, render, drawn), Math.max(REFRESH_MS, SLOWDOWN * took));
}

function start() {
  const path = window.location.pathname;
  if (path.startsWith("/jobs/")) {
    document.getElementById("job-view").hidden = false;
    poll("/api/jobs/" + path.slice("/jobs/".length), renderJob);
  } else {
    document.getElementById("list-view").hidden = false;
    poll("/api/jobs", renderList);
  }
}

start();
