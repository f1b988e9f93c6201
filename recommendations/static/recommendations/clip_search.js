/* Search by clip: the listener uploads a file or records one, the clip goes to the
   clip-search API, the page follows its progress and shows similar tracks and passages.

   This file is also the recorder's AudioWorklet module (the worklet scope has
   registerProcessor, pages do not), so recording needs no second script. That scope has
   no document and no MESS (catalog/mess.js): only the page code below uses them. */
"use strict";

/* In the audio thread: post each render quantum's mono mix to the page. */
function registerClipCapture() {
  registerProcessor("clip-capture", class extends AudioWorkletProcessor {
    process(inputs) {
      const channels = inputs[0];
      if (channels.length > 0) {
        const mono = new Float32Array(channels[0].length);
        for (const channel of channels) {
          for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / channels.length;
        }
        this.port.postMessage(mono, [mono.buffer]);
      }
      return true;
    }
  });
}

/* Mono float samples as a 16-bit PCM WAV: what the server's libsndfile intake reads
   (MediaRecorder's WebM/Opus it does not). */
function encodeWav(samples, sampleRate) {
  const dataBytes = samples.length * 2;
  const view = new DataView(new ArrayBuffer(44 + dataBytes));
  const ascii = (offset, text) => [...text].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // channels
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // bytes per second
  view.setUint16(32, 2, true); // bytes per frame
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  samples.forEach((sample, i) => {
    const clipped = Math.max(-1, Math.min(1, sample));
    view.setInt16(44 + i * 2, clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff, true);
  });
  return new Blob([view.buffer], { type: "audio/wav" });
}

function clipSearchPage() {
  // Inside the function, not at the top level: the site's player (Turbo) runs this script
  // again at each visit, and a second top-level const would be a SyntaxError.
  // How long a clip may wait in the queue before the page says that is unusual.
  const QUEUED_PATIENCE_MS = 30000;
  // Failed polls in a row (no answer at all) before the page reports the connection lost.
  const POLL_RETRIES = 3;
  const { clock, el } = MESS;
  const signal = MESS.pageSignal();
  const config = JSON.parse(document.getElementById("clip-config").textContent);
  const byId = (id) => document.getElementById(id);
  const ui = {
    form: byId("clip-form"),
    file: byId("clip-file"),
    drop: byId("clip-drop"),
    record: byId("clip-record"),
    recordTime: byId("clip-record-time"),
    recordNote: byId("clip-record-note"),
    recording: byId("clip-recording"),
    chosen: byId("clip-chosen"),
    aspect: byId("clip-aspect"),
    aspectNote: byId("clip-aspect-note"),
    submit: byId("clip-search"),
    status: byId("clip-status"),
    upload: byId("clip-upload"),
    progress: byId("clip-progress"),
    percent: byId("clip-progress-percent"),
    similar: byId("clip-similar"),
    passages: byId("clip-passages"),
    player: byId("clip-player"),
    playerBox: byId("clip-player-box"),
    playerCaption: byId("clip-player-caption"),
  };

  let chosenClip = null; // {blob, name, label}: what Search sends
  let searchPath = null; // the clip search being followed (its detail URL's path)
  // Bumped by every new upload or re-query, so replies to older ones are dropped.
  let generation = 0;
  let uploadRequest = null;
  let pollTimer = null;
  let queuedSince = null; // when the followed clip was accepted
  // The site's player moved on to another page (Turbo): stop searching and recording there.
  signal.addEventListener("abort", () => {
    stopActivity();
    closeRecorder();
  });

  // ---- Status and states -------------------------------------------------------

  function announce(text, isError = false) {
    if (ui.status.textContent !== text) ui.status.textContent = text;
    ui.status.classList.toggle("is-error", isError);
  }

  function setResultsState(state) {
    for (const box of [ui.similar, ui.passages]) {
      box.dataset.state = state;
      box.setAttribute("aria-busy", String(state === "uploading" || state === "waiting"));
    }
  }

  function showInResults(text) {
    ui.similar.replaceChildren(el("p", { class: "clip-note", text }));
    ui.passages.replaceChildren(el("p", { class: "clip-note", text }));
  }

  function fail(message) {
    stopActivity();
    ui.upload.hidden = true;
    setResultsState("error");
    announce(message, true);
    showInResults("No results: see the message above.");
  }

  /* Forget the upload or polling in flight; its late replies are ignored. */
  function stopActivity() {
    generation += 1;
    if (uploadRequest) uploadRequest.abort();
    uploadRequest = null;
    clearTimeout(pollTimer);
    return generation;
  }

  // ---- Choosing the clip -------------------------------------------------------

  function chooseClip(clip) {
    chosenClip = clip;
    ui.chosen.textContent = `Clip to search: ${clip.label}.`;
    ui.submit.disabled = false;
  }

  ui.file.addEventListener("change", () => {
    const file = ui.file.files[0];
    if (file) chooseClip({ blob: file, name: file.name, label: file.name });
  });

  ui.drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    ui.drop.classList.add("is-dragover");
  });
  ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("is-dragover"));
  ui.drop.addEventListener("drop", (event) => {
    event.preventDefault();
    ui.drop.classList.remove("is-dragover");
    const files = event.dataTransfer.files;
    if (files.length === 0) return;
    ui.file.files = files; // the input shows the dropped file's name too
    chooseClip({ blob: files[0], name: files[0].name, label: files[0].name });
  });

  // ---- Recording ---------------------------------------------------------------

  const limitSeconds = config.maxSeconds;
  let recorder = null; // while recording: {stream, context, chunks, frames, limitFrames, sampleRate}
  let starting = false; // between the click and the microphone's answer

  function recordingUnavailable() {
    if (!window.isSecureContext) {
      return "Recording needs a secure page (HTTPS, or localhost); upload a file instead.";
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
      return "This browser cannot record from a microphone; upload a file instead.";
    }
    return null;
  }

  function microphoneProblem(error) {
    if (error.name === "NotAllowedError" || error.name === "SecurityError") {
      return "Microphone access was denied. Allow it in the browser's site settings, or upload a file instead.";
    }
    if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
      return "No microphone was found; connect one, or upload a file instead.";
    }
    if (error.name === "NotReadableError") {
      return "The microphone is in use by another program or cannot be read; upload a file instead.";
    }
    return `The microphone could not be opened (${error.message || error.name}); upload a file instead.`;
  }

  function showRecordedTime(seconds) {
    ui.recordTime.textContent = `${clock(seconds)} of ${limitSeconds} s`;
  }

  function note(text, isError = false) {
    ui.recordNote.textContent = text;
    ui.recordNote.classList.toggle("is-error", isError);
  }

  async function startRecording() {
    const unavailable = recordingUnavailable();
    if (unavailable) {
      note(unavailable, true);
      return;
    }
    starting = true;
    try {
      await openMicrophone();
    } finally {
      starting = false;
    }
  }

  async function openMicrophone() {
    note("Asking for the microphone…");
    let stream;
    try {
      // Music, not speech: no echo cancellation, noise suppression or gain riding.
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (error) {
      note(microphoneProblem(error), true);
      return;
    }
    const context = new AudioContext();
    try {
      await context.audioWorklet.addModule(config.workletUrl);
      const capture = new AudioWorkletNode(context, "clip-capture");
      context.createMediaStreamSource(stream).connect(capture);
      capture.connect(context.destination); // a node is only run when the graph pulls it; its output is silence
      capture.port.onmessage = (event) => collectSamples(event.data);
      await context.resume();
    } catch (error) {
      stream.getTracks().forEach((track) => track.stop());
      context.close();
      note(`Recording could not start (${error.message || error.name}); upload a file instead.`, true);
      return;
    }
    recorder = {
      stream, context, chunks: [], frames: 0, sampleRate: context.sampleRate,
      limitFrames: Math.floor(limitSeconds * context.sampleRate),
    };
    if (signal.aborted) { // the page was left while the microphone opened
      closeRecorder();
      return;
    }
    stream.getAudioTracks()[0].addEventListener("ended", () => stopRecording("The microphone stopped."));
    ui.record.textContent = "Stop recording";
    showRecordedTime(0);
    note(`Recording… it stops by itself at ${limitSeconds} seconds.`);
  }

  function collectSamples(samples) {
    if (!recorder) return;
    const shownBefore = Math.floor(recorder.frames / recorder.sampleRate);
    recorder.chunks.push(samples);
    recorder.frames += samples.length;
    const seconds = Math.min(recorder.frames, recorder.limitFrames) / recorder.sampleRate;
    if (Math.floor(seconds) !== shownBefore) showRecordedTime(seconds);
    if (recorder.frames >= recorder.limitFrames) stopRecording(`Stopped at the ${limitSeconds} second limit.`);
  }

  /* Frees the microphone; returns the recording it ends, or null when none runs. */
  function closeRecorder() {
    const done = recorder;
    if (!done) return null;
    recorder = null;
    done.stream.getTracks().forEach((track) => track.stop());
    done.context.close();
    return done;
  }

  function stopRecording(reason) {
    const done = closeRecorder();
    if (!done) return; // the track's "ended" after a stop by the page
    ui.record.textContent = "Start recording";

    const samples = new Float32Array(Math.min(done.frames, done.limitFrames));
    let offset = 0;
    for (const chunk of done.chunks) {
      const part = chunk.subarray(0, samples.length - offset);
      samples.set(part, offset);
      offset += part.length;
    }
    const seconds = samples.length / done.sampleRate;
    showRecordedTime(seconds);
    if (seconds < config.minSeconds) {
      note(`The recording is ${seconds.toFixed(1)} s long; a clip needs at least ${config.minSeconds} s. Record again.`, true);
      return;
    }
    if (ui.recording.src) URL.revokeObjectURL(ui.recording.src);
    const blob = encodeWav(samples, done.sampleRate);
    ui.recording.src = URL.createObjectURL(blob);
    ui.recording.hidden = false;
    chooseClip({ blob, name: "recording.wav", label: `your recording (${clock(seconds)})` });
    note(`${reason} Recorded ${clock(seconds)}: listen to it below, then search.`);
  }

  ui.record.addEventListener("click", () => {
    if (recorder) stopRecording("Stopped.");
    else if (!starting) startRecording();
  });
  const unavailable = recordingUnavailable();
  if (unavailable) {
    ui.record.setAttribute("aria-disabled", "true");
    note(unavailable, true);
  }

  // ---- Searching ---------------------------------------------------------------

  function detailUrl() {
    const url = new URL(searchPath, window.location.origin);
    if (ui.aspect.value) url.searchParams.set("aspect", ui.aspect.value);
    return url.pathname + url.search;
  }

  function upload(clip) {
    const mine = stopActivity();
    searchPath = null;
    setResultsState("uploading");
    showInResults("Searching…");
    announce("Uploading the clip…");
    ui.progress.value = 0;
    ui.percent.textContent = "0 %";
    ui.upload.hidden = false;

    const body = new FormData();
    body.append(ui.file.name, clip.blob, clip.name); // the API's field is the input's name
    uploadRequest = MESS.postForm(config.searchUrl, body, {
      progress(percent) {
        ui.progress.value = Math.round(percent);
        ui.percent.textContent = `${Math.round(percent)} %`;
      },
      answered(status, reply) {
        if (mine !== generation) return;
        uploadRequest = null;
        ui.upload.hidden = true;
        if (status !== 202 || !reply) {
          fail(MESS.apiErrorMessage(status, reply));
          return;
        }
        searchPath = new URL(reply.url, window.location.href).pathname;
        queuedSince = Date.now();
        follow(reply, mine);
      },
      unreachable() {
        if (mine === generation) fail("The clip did not reach the server; check the connection and try again.");
      },
    });
  }

  /* Show a reply of the detail URL; ask again in a second while the clip is embedded. */
  function follow(reply, mine) {
    if (reply.status === "succeeded") {
      showResults(reply);
    } else if (reply.status === "failed") {
      fail(`The clip could not be searched: ${reply.error}`);
    } else {
      setResultsState("waiting");
      if (reply.status !== "queued") announce("Embedding the clip…");
      else if (Date.now() - queuedSince < QUEUED_PATIENCE_MS) announce("Uploaded. Queued: waiting for a worker to embed the clip…");
      else announce("Still queued: the workers are busy, or none is running. This page keeps waiting.");
      pollTimer = setTimeout(() => poll(mine), 1000);
    }
  }

  async function poll(mine, misses = 0) {
    let reply;
    try {
      reply = await MESS.getJSON(detailUrl(), { signal });
    } catch (error) {
      if (mine !== generation) return;
      // The server's refusal ends the search; a blip with no answer should not cost the
      // upload: try a few more times before giving up.
      if (error.status !== undefined) fail(error.message);
      else if (misses < POLL_RETRIES) pollTimer = setTimeout(() => poll(mine, misses + 1), 1000);
      else fail("Lost contact with the server; check the connection and search again.");
      return;
    }
    if (mine !== generation) return;
    follow(reply, mine);
  }

  function requery() {
    const mine = stopActivity();
    setResultsState("waiting");
    announce(`Searching by ${ui.aspect.value}…`);
    poll(mine);
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (recorder) stopRecording("Stopped.");
    if (chosenClip) upload(chosenClip);
  });

  // ---- Results -------------------------------------------------------------------

  function trackLink(track) {
    return MESS.trackLink(config.trackPageUrl, track);
  }

  function resultsTable(headings, rows) {
    const table = el("table", { class: "tracks clip-table" });
    const headRow = table.createTHead().insertRow();
    for (const heading of headings) headRow.append(el("th", { scope: "col", text: heading }));
    const body = table.createTBody();
    for (const cells of rows) {
      const row = body.insertRow();
      for (const cell of cells) row.insertCell().append(cell);
    }
    return el("div", { class: "table-scroll" }, table);
  }

  /* One kind of result (similar tracks or passages) as a table in `box`, or in words when
     there are none. */
  function showTable(box, answer, none, headings, cells) {
    if (answer.results.length === 0) {
      box.replaceChildren(el("p", { text: none }));
      return;
    }
    box.replaceChildren(
      el("p", { class: "clip-note", text: `Similar by ${answer.description}.` }),
      resultsTable(headings, answer.results.map(cells)),
    );
  }

  function showResults(reply) {
    const { similar, passages } = reply;
    showTable(ui.similar, similar, "No similar tracks: no catalogue track is embedded in this space yet.",
      ["Track", "Composer", "Score", "Why", "Listen"],
      (result) => [
        trackLink(result.track),
        result.track.composer || "Unknown",
        result.score.toFixed(3),
        result.explanation,
        MESS.player.queueButtons(result.track),
      ]);
    showTable(ui.passages, passages, "No similar passages: no catalogue track is embedded in this space yet.",
      ["Track", "Passage", "Score", "Listen"],
      (passage) => [
        trackLink(passage.track),
        `${clock(passage.start)}–${clock(passage.end)}`,
        passage.score.toFixed(3),
        playButton(passage),
      ]);
    setResultsState("ready");
    const count = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
    announce(`Done: ${count(similar.results.length, "similar track")} and ${count(passages.results.length, "passage")}.`);
  }

  // ---- Player ----------------------------------------------------------------------

  const caption = (track, start) => `${track.title}, from ${clock(start)}`;
  const playFrom = MESS.trackPlayer(ui.player, {
    loading(track, start) {
      ui.playerCaption.textContent = `Loading ${caption(track, start)}…`;
      ui.playerBox.hidden = false;
    },
    playing(track, start) {
      ui.playerCaption.textContent = `Playing ${caption(track, start)}.`;
    },
    failed(track, start, reason) {
      ui.playerCaption.textContent = `Could not play ${caption(track, start)}: ${reason}`;
    },
  });

  function playButton(passage) {
    const label = `Play from ${clock(passage.start)}`;
    const button = el("button", { type: "button", "aria-label": `${label}, ${passage.track.title}`, text: label });
    button.addEventListener("click", () => playFrom(passage.track, passage.start));
    return button;
  }

  // ---- Aspects -------------------------------------------------------------------

  function describeAspect(aspects) {
    const chosen = aspects.find((aspect) => aspect.name === ui.aspect.value);
    if (!chosen) {
      ui.aspectNote.textContent = "";
      return;
    }
    const layers = chosen.layers.map((weight) => weight.layer);
    ui.aspectNote.textContent = `${chosen.description} (layer${layers.length === 1 ? "" : "s"} ${layers.join(", ")}; `
      + `${chosen.confidence} confidence)`;
  }

  async function loadAspects() {
    let reply;
    try {
      reply = await MESS.getJSON(config.aspectsUrl);
    } catch (error) {
      // The select stays disabled; the API's default aspect applies.
      const reason = error.status === undefined ? "The aspects could not be loaded." : error.message;
      ui.aspect.replaceChildren(el("option", { value: "", text: "Default" }));
      ui.aspectNote.textContent = `${reason} Searches use the default aspect.`;
      return;
    }
    const available = reply.aspects.filter((aspect) => aspect.available);
    ui.aspect.replaceChildren(...available.map((aspect) => el("option", { value: aspect.name, text: aspect.name })));
    if (available.some((aspect) => aspect.name === reply.default_aspect)) ui.aspect.value = reply.default_aspect;
    ui.aspect.disabled = available.length === 0;
    describeAspect(available);
    ui.aspect.addEventListener("change", () => {
      describeAspect(available);
      if (searchPath) requery(); // the clip is uploaded already: ask its results again, by this aspect
    });
  }

  loadAspects();
}

if (typeof registerProcessor === "function") {
  registerClipCapture();
} else {
  clipSearchPage();
}
