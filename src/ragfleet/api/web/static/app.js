// ragfleet in the browser: ask with streamed answers, open citations, rate answers, upload and
// manage documents. Plain JavaScript over the public /v1 API; no dependencies, no inline code.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { config: null };
const POLL_MS = 400;
const MARKER = /\[(\d{1,3})\]/g;

function collection() {
  return $("#collection").value.trim() || state.config.default_collection;
}

function headers(extra = {}) {
  const key = $("#api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

// A failed call's {code, message} body as an Error, so every caller reports it the same way.
async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).message || message;
    } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(message);
  }
  return response;
}

// Server-sent events from a fetch response (EventSource cannot POST).
async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      yield { name, data: data ? JSON.parse(data) : {} };
    }
  }
}

function where(citation) {
  const parts = [citation.title];
  // The section is a heading path that usually starts with the title: show the rest.
  const section = citation.section.startsWith(`${citation.title} > `)
    ? citation.section.slice(citation.title.length + 3)
    : citation.section;
  if (section && section !== citation.title) parts.push(section);
  if (citation.page) parts.push(`page ${citation.page}`);
  return parts.join(" · ");
}

function openPassage(citation) {
  $("#passage-title").textContent = `[${citation.n}] ${citation.title}`;
  $("#passage-section").textContent = citation.section || "—";
  $("#passage-page").textContent = citation.page ?? "—";
  $("#passage-source").textContent = citation.source;
  $("#passage-text").textContent = citation.snippet;
  $("#passage").showModal();
}

function citationButton(citation, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "cite";
  button.textContent = label;
  button.setAttribute("aria-label", `Open passage ${citation.n}: ${where(citation)}`);
  button.addEventListener("click", () => openPassage(citation));
  return button;
}

// The answer text with each [n] as a button opening its passage; text is never parsed as HTML.
function renderAnswer(element, text, citations) {
  const byNumber = new Map(citations.map((c) => [c.n, c]));
  element.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    element.append(text.slice(last, match.index));
    const citation = byNumber.get(Number(match[1]));
    element.append(citation ? citationButton(citation, match[0]) : match[0]);
    last = match.index + match[0].length;
  }
  element.append(text.slice(last));
}

function renderSources(list, citations) {
  list.replaceChildren(...citations.map((citation) => {
    const item = document.createElement("li");
    item.append(citationButton(citation, `[${citation.n}] ${where(citation)}`));
    return item;
  }));
}

function setupFeedback(turn, queryId) {
  const group = turn.querySelector(".feedback");
  group.hidden = false;
  for (const button of group.querySelectorAll("button")) {
    button.addEventListener("click", async () => {
      const thanks = group.querySelector(".thanks");
      try {
        await api("/v1/feedback", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ query_id: queryId, rating: button.dataset.rating }),
        });
        for (const other of group.querySelectorAll("button")) {
          other.setAttribute("aria-pressed", String(other === button));
        }
        thanks.textContent = "Thanks, recorded.";
      } catch (error) {
        thanks.textContent = `Not recorded: ${error.message}`;
      }
    });
  }
}

function note(turn, text) {
  const element = turn.querySelector(".note");
  element.textContent = text;
  element.hidden = false;
}

async function ask(question) {
  const turn = $("#turn").content.firstElementChild.cloneNode(true);
  turn.querySelector(".question").textContent = question;
  $("#conversation").append(turn);
  const answer = turn.querySelector(".answer");
  let text = "";
  let tokens = 0;
  let queryId = null;
  try {
    const response = await api("/v1/query", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question, collection: collection(), stream: true }),
    });
    for await (const { name, data } of events(response)) {
      if (name === "meta") queryId = data.query_id;
      else if (name === "token") {
        text += data.text;
        tokens += 1;
        answer.dataset.tokens = String(tokens);
        answer.textContent = text;
      } else if (name === "citations") {
        renderAnswer(answer, text, data.citations);
        renderSources(turn.querySelector(".sources"), data.citations);
      } else if (name === "error") note(turn, data.message);
      else if (name === "done") {
        if (data.grounded === false) note(turn, "No indexed passage clearly supports this answer.");
        if (queryId) setupFeedback(turn, queryId);
      }
    }
  } catch (error) {
    note(turn, error.message);
    turn.querySelector(".note").setAttribute("role", "alert");
  } finally {
    answer.setAttribute("aria-busy", "false");
  }
}

async function loadCollections() {
  const body = await (await api("/v1/collections")).json();
  const names = new Set([state.config.default_collection, ...body.data.map((c) => c.name)]);
  $("#collections").replaceChildren(...[...names].map((name) => new Option(name)));
}

async function deleteDocument(doc) {
  if (!window.confirm(`Delete “${doc.title}” from the index?`)) return;
  try {
    await api(`/v1/documents/${doc.id}`, { method: "DELETE" });
    $("#upload-status").textContent = `Deleted ${doc.title}.`;
  } catch (error) {
    $("#upload-status").textContent = `Not deleted: ${error.message}`;
  }
  await loadDocuments();
}

function documentRow(doc) {
  const row = document.createElement("tr");
  for (const value of [doc.title, doc.status, String(doc.chunk_count)]) {
    const cell = row.insertCell();
    cell.textContent = value;
  }
  row.cells[0].title = doc.source;
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Delete";
  button.setAttribute("aria-label", `Delete ${doc.title}`);
  button.addEventListener("click", () => deleteDocument(doc));
  row.insertCell().append(button);
  return row;
}

async function loadDocuments() {
  const query = new URLSearchParams({ collection: collection(), limit: "500" });
  const body = await (await api(`/v1/documents?${query}`)).json();
  $("#documents tbody").replaceChildren(...body.data.map(documentRow));
}

function jobItem(label) {
  const item = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = label;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `Progress of ${label}`);
  const stage = document.createElement("span");
  stage.className = "stage";
  stage.textContent = "queued";
  item.append(name, bar, stage);
  $("#jobs").append(item);
  return { item, bar, stage };
}

// Poll one ingestion job until it ends, showing its stage and progress.
async function follow(jobId, view) {
  for (;;) {
    const job = await (await api(`/v1/jobs/${jobId}`)).json();
    view.bar.value = job.status === "succeeded" ? 1 : job.progress;
    view.stage.textContent = job.error ? `${job.status}: ${job.error}` : `${job.status} (${job.stage})`;
    view.item.dataset.status = job.status;
    if (job.status === "succeeded" || job.status === "failed") return job.status;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function upload(files) {
  const status = $("#upload-status");
  const form = new FormData();
  for (const file of files) form.append("files", file, file.webkitRelativePath || file.name);
  form.append("collection", collection());
  status.textContent = `Uploading ${files.length} file(s)…`;
  try {
    const body = await (await api("/v1/documents", { method: "POST", body: form })).json();
    for (const refused of body.refused) {
      const view = jobItem(refused.file);
      view.stage.textContent = `refused: ${refused.message}`;
      view.item.dataset.status = "refused";
    }
    status.textContent = `Accepted ${body.count} document(s); indexing…`;
    const outcomes = await Promise.all(
      body.data.map((accepted) => follow(accepted.job_id, jobItem(accepted.source))),
    );
    const failed = outcomes.filter((outcome) => outcome === "failed").length + body.refused.length;
    status.textContent = failed ? `${failed} file(s) not indexed.` : "All documents indexed.";
  } catch (error) {
    status.textContent = `Upload refused: ${error.message}`;
  }
  await Promise.all([loadDocuments(), loadCollections()]);
}

function bind() {
  $("#ask").addEventListener("submit", (event) => {
    event.preventDefault();
    const question = $("#question").value.trim();
    if (!question) return;
    $("#question").value = "";
    ask(question);
  });
  $("#question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("#ask").requestSubmit();
    }
  });
  $("#upload").addEventListener("submit", (event) => {
    event.preventDefault();
    const files = [...$("#files").files, ...$("#folder").files];
    if (files.length) upload(files).then(() => $("#upload").reset());
    else $("#upload-status").textContent = "Choose files or a folder first.";
  });
  $("#collection").addEventListener("change", () => refresh());
  const keyChanged = () => {
    sessionStorage.setItem("ragfleet-api-key", $("#api-key").value);
    refresh();
  };
  $("#api-key").addEventListener("change", keyChanged);
  $("#api-key").addEventListener("keydown", (event) => {
    if (event.key === "Enter") keyChanged();
  });
}

async function refresh() {
  try {
    await Promise.all([loadCollections(), loadDocuments()]);
    $("#upload-status").textContent = "";
  } catch (error) {
    $("#upload-status").textContent = error.message;
  }
}

async function start() {
  state.config = await (await fetch("/web/config")).json();
  $("#collection").value = state.config.default_collection;
  $("#collection").placeholder = state.config.default_collection;
  $("#key-field").hidden = !state.config.auth;
  $("#api-key").value = sessionStorage.getItem("ragfleet-api-key") || "";
  bind();
  await refresh();
  document.body.dataset.ready = "true";
}

start();
