// Jobs page: while a listed job is queued or running, refresh every listed row from
// status.json every two seconds, in place, and stop once none is active. The summary is a
// polite live region, so only it is announced.
(function () {
  "use strict";

  const POLL_MS = 2000;
  const AFTER_ERROR_MS = 10000;

  const board = document.getElementById("jobs-board");
  if (!board) return;
  const summary = document.getElementById("jobs-summary");
  const problem = document.getElementById("jobs-refresh-error");
  const rows = Array.from(board.querySelectorAll("tr[data-kind]"));
  const signal = MESS.pageSignal(); // polling stops when the site's player moves on to another page

  const query = new URLSearchParams();
  for (const row of rows) query.append(row.dataset.kind, row.dataset.id);
  // The summary counts every job of the page's filter, not only the rows listed.
  if (board.dataset.statusFilter) query.append("status", board.dataset.statusFilter);
  const statusUrl = `${board.dataset.statusUrl}?${query}`;

  function field(row, name) {
    return row.querySelector(`[data-field="${name}"]`);
  }

  // A button from one of the page's <template>s (start-again-job, restart-job, ...), once.
  function addButton(row, kind, url, id) {
    const cell = field(row, "actions");
    const template = document.getElementById(`${kind}-${row.dataset.kind}`);
    if (!cell || !template || cell.querySelector(`form[data-action="${kind}"]`)) return;
    const form = template.content.firstElementChild.cloneNode(true);
    form.action = url;
    const button = form.querySelector("button");
    button.setAttribute("aria-label", button.getAttribute("aria-label").replace(/ +(\(|$)/, ` ${id} $1`).trim());
    cell.append(form);
  }

  function render(row, state) {
    row.dataset.status = state.status;
    const status = field(row, "status");
    status.textContent = state.status_label;
    status.className = `status status-${state.status}`;
    const error = field(row, "error");
    error.textContent = state.error;
    error.hidden = !state.error;
    field(row, "progress").value = state.progress;
    field(row, "progress-text").textContent = state.progress_text;
    field(row, "timings").replaceChildren(...state.timings.map((text) => MESS.el("li", { text })));
    if (state.status === "failed") addButton(row, "start-again", state.retry_url, state.id);
    if (state.restart_url) addButton(row, "restart", state.restart_url, state.id);
    else field(row, "actions")?.querySelector('form[data-action="restart"]')?.remove();
  }

  function schedule(delay) {
    MESS.pageTimeout(() => {
      // A hidden tab asks nothing; it catches up as soon as it is shown again.
      if (document.hidden) document.addEventListener("visibilitychange", refresh, { once: true, signal });
      else refresh();
    }, delay, signal);
  }

  function showProblem(reason, retry) {
    problem.textContent = `Job progress could not be refreshed. ${reason}` + (retry ? " Trying again shortly." : "");
    problem.hidden = false;
    board.dataset.state = "error";
    if (retry) schedule(AFTER_ERROR_MS);
  }

  async function refresh() {
    let state;
    try {
      state = await MESS.getJSON(statusUrl, { signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error.status === 403) showProblem("You are no longer signed in; sign in again and reload the page.", false);
      else showProblem(error.status === undefined ? "The server could not be reached." : error.message, true);
      return;
    }
    problem.hidden = true;
    for (const item of state.extraction_jobs) render(document.getElementById(`job-${item.id}`), item);
    for (const item of state.probe_runs) render(document.getElementById(`probe-${item.id}`), item);
    if (summary.textContent !== state.summary) summary.textContent = state.summary;
    board.dataset.state = state.active ? "polling" : "idle";
    if (state.active) schedule(POLL_MS);
  }

  if (board.dataset.state === "polling") schedule(POLL_MS);
})();
