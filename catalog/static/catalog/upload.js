// Upload page: files chosen or dropped are listed, one row each; "Upload" sends the waiting
// ones to the tracks API, two at a time, showing each file's progress and result. Imported
// tracks are then followed until their extraction is ready or failed.
//
// Each row carries data-file-name and data-status: waiting, uploading, imported (extraction
// pending or running), duplicate, rejected (the server refused the audio), ready, failed
// (extraction failed) or error (the upload itself did not get through).
(function () {
  "use strict";

  const { el, apiErrorMessage } = MESS;
  const CONCURRENT_UPLOADS = 2;
  // Following tracks: every track about every 2 s, but never more than 2 requests a second
  // (the API's per-user rate limit is shared with everything else the curator does).
  const FOLLOW_CYCLE_MS = 2000;
  const FOLLOW_GAP_MS = 500;
  // Leaving the page for another (the site's player, Turbo) ends its uploads, their queue
  // and the following, as a full page load would.
  const signal = MESS.pageSignal();

  const config = JSON.parse(document.getElementById("upload-config").textContent);
  const form = document.getElementById("upload-form");
  const datasetSelect = document.getElementById("upload-dataset");
  const newDataset = document.getElementById("upload-new_dataset"); // absent without the permission
  const fileInput = document.getElementById("upload-files");
  const dropZone = document.getElementById("drop-zone");
  const formError = document.getElementById("upload-form-error");
  const summary = document.getElementById("upload-summary");
  const list = document.getElementById("upload-list");

  const rows = [];
  const waiting = [];
  const queued = [];
  const following = [];
  let uploading = 0;
  let followTimer = null;

  const SUMMARY_LABELS = {
    waiting: "waiting",
    uploading: "uploading",
    imported: "imported, not ready yet",
    duplicate: "already in the dataset",
    rejected: "rejected",
    ready: "ready",
    failed: "failed in analysis",
    error: "not uploaded",
  };
  const TRACK_STATES = { pending: "pending", processing: "extracting", ready: "ready", failed: "failed" };

  function humanSize(bytes) {
    const units = ["bytes", "KB", "MB", "GB"];
    let size = bytes;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${size} bytes` : `${size.toFixed(1)} ${units[unit]}`;
  }

  function trackLink(track, text) {
    return MESS.trackLink(config.trackPageUrl, track, text);
  }

  function updateSummary() {
    if (!rows.length) return;
    const counts = {};
    for (const row of rows) counts[row.status] = (counts[row.status] || 0) + 1;
    const parts = Object.keys(SUMMARY_LABELS).filter((status) => counts[status])
      .map((status) => `${counts[status]} ${SUMMARY_LABELS[status]}`);
    const text = `${rows.length} file${rows.length === 1 ? "" : "s"}: ${parts.join(", ")}.`;
    if (summary.textContent !== text) summary.textContent = text;
  }

  // One row's state: data-status, its words, and what follows them (a link, a reason).
  function setState(row, status, words, ...detail) {
    row.status = status;
    row.node.dataset.status = status;
    row.stateText.textContent = words;
    row.stateText.className = `upload-state status-${status}`;
    row.detail.replaceChildren(...detail);
    row.detail.hidden = detail.length === 0;
    updateSummary();
  }

  function setProgress(row, percent) {
    row.progress.value = percent;
    row.percent.textContent = `${Math.round(percent)}%`;
  }

  function addFiles(files) {
    for (const file of files) {
      const row = {
        file,
        progress: el("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` }),
        percent: el("span", { class: "upload-percent", text: "0%" }),
        stateText: el("span", { class: "upload-state" }),
        detail: el("p", { class: "upload-detail" }),
      };
      row.node = el("li", { class: "upload-row", id: `upload-row-${rows.length + 1}`, "data-file-name": file.name },
        el("span", { class: "upload-name", text: file.name }),
        el("span", { class: "upload-size", text: humanSize(file.size) }),
        el("span", { class: "upload-bar" }, row.progress, row.percent),
        row.stateText,
        row.detail,
      );
      list.append(row.node);
      rows.push(row);
      if (file.size > config.maxBytes) {
        setState(row, "rejected", "Rejected",
          `${file.name} is ${humanSize(file.size)}; files may be at most ${config.maxSize}.`);
      } else {
        setState(row, "waiting", "Waiting for “Upload”");
        waiting.push(row);
      }
    }
  }

  function showFormError(message) {
    formError.textContent = message;
    formError.hidden = !message;
  }

  // The chosen dataset's slug; a typed name is first made into a dataset (or found) by the page.
  async function datasetSlug() {
    const typed = newDataset ? newDataset.value.trim() : "";
    if (Boolean(datasetSelect.value) === Boolean(typed)) {
      throw new Error("Choose an existing dataset or name a new one (one of the two).");
    }
    if (!typed) return datasetSelect.value;
    const body = new FormData();
    body.append("name", typed);
    const answer = await MESS.readAnswer(await fetch(config.datasetUrl, {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRFToken": MESS.csrfToken(), Accept: "application/json" },
    }));
    // From now on it is an existing dataset: chosen in the list, the name field emptied.
    if (![...datasetSelect.options].some((option) => option.value === answer.slug)) {
      datasetSelect.append(new Option(answer.name, answer.slug));
    }
    datasetSelect.value = answer.slug;
    newDataset.value = "";
    return answer.slug;
  }

  function describedFields() {
    const fields = {};
    for (const name of ["composer", "work", "performer"]) {
      const value = document.getElementById(`upload-${name}`).value.trim();
      if (value) fields[name] = value;
    }
    return fields;
  }

  function pump() {
    while (!signal.aborted && uploading < CONCURRENT_UPLOADS && queued.length) send(queued.shift());
  }

  function send(row) {
    uploading += 1;
    setState(row, "uploading", "Uploading");
    const body = new FormData();
    body.append("file", row.file);
    body.append("dataset", row.dataset);
    for (const [name, value] of Object.entries(row.fields)) body.append(name, value);
    const request = MESS.postForm(config.uploadUrl, body, {
      progress: (percent) => setProgress(row, percent),
      answered: (status, answer) => settle(row, status, answer),
      unreachable: () => setState(row, "error", "Not uploaded", "The server could not be reached."),
      signal,
    });
    request.addEventListener("loadend", () => {
      uploading -= 1;
      pump();
    });
  }

  function settle(row, status, answer) {
    const error = answer && answer.error;
    if (status === 201) {
      setProgress(row, 100);
      row.sameAudio = answer.same_audio_as || [];
      showTrack(row, answer);
      following.push(row);
      if (!followTimer) followTimer = MESS.pageTimeout(followNext, FOLLOW_CYCLE_MS, signal);
    } else if (status === 409 && error && error.existing) {
      setState(row, "duplicate", "Duplicate", `${error.message} `, trackLink(error.existing, "Open the existing track"));
    } else if (status === 400) {
      setState(row, "rejected", "Rejected", error ? error.message : "The server refused this file.");
    } else {
      setState(row, "error", "Not uploaded", apiErrorMessage(status, answer));
    }
  }

  function showTrack(row, track) {
    // Redrawn only when the status moves, so a focused link is not pulled from under the user.
    if (row.node.dataset.trackStatus === track.status) return;
    row.trackId = track.id;
    row.node.dataset.trackStatus = track.status;
    const page = trackLink(track);
    const same = sameAudioNotice(row.sameAudio);
    if (track.status === "ready") {
      setState(row, "ready", "Ready", page, ...same);
    } else if (track.status === "failed") {
      setState(row, "failed", "Analysis failed", page, track.error ? `: ${track.error}` : "", ...same);
    } else {
      setState(row, "imported", `Imported, ${TRACK_STATES[track.status] || track.status}`, page, ...same);
    }
  }

  // The upload's answer names the tracks of other datasets with the same bytes.
  function sameAudioNotice(tracks) {
    if (!tracks || !tracks.length) return [];
    const parts = [" Same audio as "];
    tracks.forEach((other, i) => {
      if (i) parts.push(", ");
      parts.push(trackLink(other, other.title), ` (${other.dataset})`);
    });
    parts.push(".");
    return parts;
  }

  function couldNotCheck(row, reason) {
    row.stateText.textContent = `Imported; ${reason}. Trying again.`;
    delete row.node.dataset.trackStatus; // the next answer redraws the row
  }

  async function followNext() {
    followTimer = null;
    const row = following.shift();
    if (!row) return;
    try {
      showTrack(row, await MESS.getJSON(config.trackApiUrl.replace("{pk}", row.trackId), { signal }));
    } catch (error) {
      if (error.name === "AbortError") return;
      couldNotCheck(row, error.status === undefined
        ? "the server could not be reached to check its status"
        : `its status could not be checked (HTTP ${error.status})`);
    }
    if (row.status === "imported") following.push(row);
    if (following.length) {
      followTimer = MESS.pageTimeout(followNext, Math.max(FOLLOW_GAP_MS, FOLLOW_CYCLE_MS / following.length), signal);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!waiting.length) {
      showFormError("Choose or drop some audio files first.");
      fileInput.focus();
      return;
    }
    let dataset;
    try {
      dataset = await datasetSlug();
    } catch (error) {
      showFormError(error.message);
      (newDataset && newDataset.value ? newDataset : datasetSelect).focus();
      return;
    }
    showFormError("");
    const fields = describedFields();
    for (const row of waiting.splice(0)) {
      Object.assign(row, { dataset, fields });
      setState(row, "waiting", "Waiting for its turn");
      queued.push(row);
    }
    pump();
  });

  fileInput.addEventListener("change", () => {
    addFiles(fileInput.files);
    fileInput.value = ""; // the same file can be chosen again
  });

  function carriesFiles(event) {
    return event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  }

  dropZone.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dropZone.dataset.state = "over";
  });
  dropZone.addEventListener("dragleave", () => {
    dropZone.dataset.state = "idle";
  });
  dropZone.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dropZone.dataset.state = "idle";
    addFiles(event.dataTransfer.files);
  });
  // A file dropped beside the zone would make the browser leave the page, uploads and all.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (carriesFiles(event)) event.preventDefault();
    }, { signal });
  }
})();
