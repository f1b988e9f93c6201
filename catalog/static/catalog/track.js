/* The track page: waveform player, similar tracks by aspect, similar passages, preview.
 *
 * The page's <audio> element stays the player (Range requests, native controls);
 * wavesurfer only draws precomputed peaks over it, so no audio is fetched to draw.
 * Every async list carries data-state="loading|ready|empty|error" and says what it
 * shows in a role=status line next to it.
 */
"use strict";

(function () {
  const { clock, el, getJSON } = MESS;
  const page = JSON.parse(document.getElementById("track-page-data").textContent);
  const byId = (id) => document.getElementById(id);
  const mainAudio = document.querySelector("#player audio");
  const previewAudio = byId("preview-audio");

  const SEEK_KEYS = { ArrowLeft: -5, ArrowDown: -5, ArrowRight: 5, ArrowUp: 5, PageDown: -30, PageUp: 30 };
  const REGION_COLOUR = "rgba(242, 183, 5, 0.35)"; // --focus, translucent

  // ---- Helpers ---------------------------------------------------------------------

  function say(status, message, isError = false) {
    status.textContent = message;
    status.classList.toggle("error-detail", isError);
  }

  /** Loads results into `list`, newest request winning: an older one still in flight is aborted.
   * `append` adds a next page to the results shown; `done(body)` runs once they are shown. */
  function resultLoader(list, status) {
    let controller = null;
    return async function load(url, { loading, render, ready, empty, append = false, done = () => {} }) {
      if (controller) controller.abort();
      const mine = (controller = new AbortController());
      list.dataset.state = "loading";
      list.setAttribute("aria-busy", "true");
      say(status, loading);
      try {
        const body = await getJSON(url, { signal: mine.signal });
        const items = body.results.map((result) => render(result, body));
        if (append) list.append(...items);
        else list.replaceChildren(...items);
        const shown = list.children.length;
        list.dataset.state = shown ? "ready" : "empty";
        say(status, shown ? ready(body, shown) : empty);
        done(body);
      } catch (error) {
        if (error.name === "AbortError") return;
        if (!append) list.replaceChildren(); // a failed next page keeps the pages shown
        list.dataset.state = "error";
        say(status, error.message, true);
      } finally {
        if (controller === mine) list.removeAttribute("aria-busy");
      }
    };
  }

  function fail(list, status, message) {
    list.replaceChildren();
    list.dataset.state = "error";
    say(status, message, true);
  }

  function trackLink(track) {
    return MESS.trackLink(page.urls.trackPage, track);
  }

  // ---- Preview: one shared player for results --------------------------------------

  const preview = (function () {
    const now = byId("preview-now");
    // One sound at a time: either player pauses the other.
    previewAudio.addEventListener("play", () => mainAudio.pause());
    mainAudio.addEventListener("play", () => previewAudio.pause());

    return MESS.trackPlayer(previewAudio, {
      loading: (track, start) =>
        say(now, start > 0 ? `Playing ${track.title} from ${clock(start)}.` : `Playing ${track.title}.`),
      failed: (track, start, reason) => say(now, `${track.title} could not be played: ${reason}`, true),
    });
  })();

  // ---- Player: time display, waveform, keyboard seeking ----------------------------

  const waveform = byId("waveform");

  function duration() {
    return Number.isFinite(mainAudio.duration) && mainAudio.duration > 0 ? mainAudio.duration : page.duration;
  }

  function showTime() {
    const now = mainAudio.currentTime;
    byId("current-time").textContent = clock(now);
    byId("total-time").textContent = clock(duration());
    waveform.setAttribute("aria-valuenow", Math.round(now));
    waveform.setAttribute("aria-valuemax", Math.round(duration()));
    waveform.setAttribute("aria-valuetext", `${clock(now)} of ${clock(duration())}`);
  }
  for (const event of ["timeupdate", "loadedmetadata", "durationchange", "seeked"]) {
    mainAudio.addEventListener(event, showTime);
  }

  waveform.addEventListener("keydown", (event) => {
    let target;
    if (event.key in SEEK_KEYS) target = mainAudio.currentTime + SEEK_KEYS[event.key];
    else if (event.key === "Home") target = 0;
    else if (event.key === "End") target = duration();
    else return;
    event.preventDefault();
    mainAudio.currentTime = Math.min(Math.max(target, 0), duration());
    showTime();
  });

  /** Draws the waveform over the page's audio element; resolves to the Regions plugin. */
  async function drawWaveform() {
    const status = byId("waveform-status");
    try {
      const outline = await getJSON(page.urls.peaks);
      if (!window.WaveSurfer || !window.WaveSurfer.Regions) throw new Error("The waveform library did not load.");
      waveform.hidden = false; // before create: wavesurfer measures the container
      const regions = WaveSurfer.Regions.create();
      const wave = WaveSurfer.create({
        container: waveform,
        media: mainAudio,
        peaks: [outline.peaks],
        duration: outline.duration,
        height: 96,
        normalize: true,
        barWidth: 2,
        barGap: 1,
        waveColor: "#6b7b8f", // 4.3:1 on white: the shape stays visible (WCAG non-text 3:1)
        progressColor: "#1d2a3a",
        cursorColor: "#a4161a",
        cursorWidth: 2,
        plugins: [regions],
      });
      // Regions need the duration, known once the peaks are loaded.
      await new Promise((resolve, reject) => {
        wave.once("ready", resolve);
        wave.once("error", reject);
      });
      say(status, "");
      return regions;
    } catch (error) {
      waveform.hidden = true;
      say(status, `The waveform cannot be shown. ${error.message} The player above still plays the track.`, true);
      return null;
    }
  }

  // ---- Similar tracks by aspect ----------------------------------------------------

  const tablist = byId("aspect-tabs");
  const panel = byId("similar-panel");
  const layerChoice = byId("layer-choice");
  const diversity = byId("diversity");
  const similarList = byId("similar-results");
  const similarStatus = byId("similar-status");
  const similarOrder = byId("similar-order");
  const moreSimilar = byId("similar-more");
  const loadSimilar = resultLoader(similarList, similarStatus);
  let nextSimilar = null; // the API's URL of the next page, null at the end
  const choice = { aspects: new Map(), aspect: null }; // name -> aspect from /api/v1/aspects/

  /** The query's "what similar means": one layer if chosen, else the selected aspect. */
  function similarity() {
    if (layerChoice.value !== "") return { layer: layerChoice.value };
    return choice.aspect ? { aspect: choice.aspect } : {};
  }

  function percent(weight) {
    return `${Math.round(weight * 100)}%`;
  }

  function evidenceText(aspect) {
    const targets = aspect.evidence.map((item) => `${item.target} ${item.r2.toFixed(2)}`).join(", ");
    return `${aspect.basis} Confidence: ${aspect.confidence}` + (targets ? `; R² per target: ${targets}.` : ".");
  }

  /** The aspect's meaning and evidence, said once above its results. */
  function describeChoice() {
    const summary = byId("aspect-summary");
    const aspect = choice.aspects.get(choice.aspect);
    if (layerChoice.value !== "") {
      const layer = layerChoice.selectedOptions[0].text;
      summary.textContent = `Compared by ${layer} alone` + (aspect ? `, not by ${aspect.name}'s layers.` : ".");
    } else if (aspect) {
      summary.textContent = `${aspect.description} ${evidenceText(aspect)}`;
    }
  }

  let whyCount = 0; // ids for each result's "why" panel

  /** One line per result: title, composer, score bar, Play, and Why, which opens the
   * per-layer cosines and the explanation under it. */
  function renderSimilar(result) {
    const { track } = result;
    const why = el("div", { class: "why", id: `similar-why-${++whyCount}`, hidden: true },
      el("p", { text: result.explanation }),
      el("ul", { class: "layers" }, ...result.layers.map((item) => el("li", {
        text: `Layer ${item.layer}: cosine ${item.cosine.toFixed(3)}, weight ${percent(item.weight)}`,
      }))));
    const toggle = el("button", { type: "button", class: "why-toggle", "aria-expanded": "false", "aria-controls": why.id },
      "Why", el("span", { class: "visually-hidden", text: ` ${track.title}` }));
    toggle.addEventListener("click", () => {
      const open = why.hidden;
      why.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
    });
    const play = el("button", { type: "button", class: "play" }, "Play", el("span", { class: "visually-hidden", text: ` ${track.title}` }));
    play.addEventListener("click", () => preview(track));
    const score = el("span", { class: "score", "data-score": String(result.score) },
      el("span", { class: "bar", "aria-hidden": "true" }, el("span", { class: "fill" })),
      el("span", { class: "score-value" }, el("span", { class: "visually-hidden", text: "score " }), result.score.toFixed(3)));
    return el("li", { class: "result row" },
      el("span", { class: "title" }, trackLink(track)),
      el("span", { class: "meta", text: [track.composer || "Unknown composer", track.work].filter(Boolean).join(" · ") }),
      score, play, MESS.player.queueButtons(track), toggle, why);
  }

  /** Scales the bars between the lowest and highest score shown, so that scores that all
   * round alike (0.96-0.99) still differ; the exact score is written beside each bar. */
  function scaleBars() {
    const scores = Array.from(similarList.querySelectorAll(".score"));
    const values = scores.map((score) => Number(score.dataset.score));
    const low = Math.min(...values);
    const high = Math.max(...values);
    for (const [i, score] of scores.entries()) {
      // The lowest keeps a sliver, so that every bar is seen; equal scores fill alike.
      const share = high > low ? 0.1 + 0.9 * (values[i] - low) / (high - low) : 1;
      score.querySelector(".fill").style.width = `${(share * 100).toFixed(1)}%`;
      score.title = `Score ${values[i].toFixed(4)}; the bar runs from this list's lowest (${low.toFixed(4)}) to its highest (${high.toFixed(4)}).`;
    }
  }

  /** Shows the first page (`append` false) or the next one under those shown. */
  function loadSimilarPage(url, append) {
    moreSimilar.hidden = true;
    loadSimilar(url, {
      append,
      loading: append ? "Loading more similar tracks…" : "Loading similar tracks…",
      render: renderSimilar,
      ready: (body, shown) => `${shown} tracks, similar ${body.description}.`,
      empty: "No other track to compare with yet.",
      done: (body) => {
        scaleBars();
        nextSimilar = body.next;
        moreSimilar.hidden = !nextSimilar;
        similarOrder.hidden = body.order !== "diversified";
      },
    });
  }

  function refreshSimilar() {
    describeChoice();
    const query = new URLSearchParams({ ...similarity(), k: 10, diversity: diversity.value });
    loadSimilarPage(`${page.urls.similar}?${query}`, false);
  }

  moreSimilar.addEventListener("click", () => loadSimilarPage(nextSimilar, true));

  function tabs() {
    return Array.from(tablist.querySelectorAll('[role="tab"]'));
  }

  function selectAspect(name, { focus = false } = {}) {
    choice.aspect = name;
    layerChoice.value = "";
    for (const tab of tabs()) {
      const selected = tab.dataset.aspect === name;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      if (selected) {
        panel.setAttribute("aria-labelledby", tab.id);
        if (focus) tab.focus();
      }
    }
    refreshSimilar();
  }

  tablist.addEventListener("keydown", (event) => {
    const all = tabs();
    const at = all.findIndex((tab) => tab.dataset.aspect === choice.aspect);
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: all.length - 1 }[event.key];
    if (next === undefined || !all.length) return;
    event.preventDefault();
    selectAspect(all[(next + all.length) % all.length].dataset.aspect, { focus: true });
  });

  function buildTabs(map) {
    const available = map.aspects.filter((aspect) => aspect.available);
    for (const aspect of available) {
      choice.aspects.set(aspect.name, aspect);
      const tab = el("button", {
        type: "button", role: "tab", id: `aspect-tab-${aspect.name}`, "aria-controls": "similar-panel",
        "aria-selected": "false", tabindex: "-1", "data-aspect": aspect.name,
      }, aspect.name, el("span", { class: "confidence" },
        el("span", { class: "visually-hidden", text: ", confidence" }), ` ${aspect.confidence}`));
      tab.addEventListener("click", () => selectAspect(aspect.name));
      tablist.append(tab);
    }
    if (!available.length) {
      tablist.dataset.state = "empty";
      fail(similarList, similarStatus, `No musical aspect can be used with ${map.space.name}: ` +
        map.aspects.map((aspect) => aspect.problem).join(" "));
      return;
    }
    tablist.dataset.state = "ready";
    const first = choice.aspects.has(map.default_aspect) ? map.default_aspect : available[0].name;
    selectAspect(first);
  }

  async function loadAspects() {
    try {
      buildTabs(await getJSON(page.urls.aspects));
    } catch (error) {
      tablist.dataset.state = "error";
      fail(similarList, similarStatus, error.message);
    }
  }

  const diversityValue = byId("diversity-value");
  diversity.addEventListener("input", () => {
    diversityValue.textContent = Number(diversity.value).toFixed(1);
  });
  diversity.addEventListener("change", () => {
    if (tablist.dataset.state === "ready") refreshSimilar();
  });
  layerChoice.addEventListener("change", refreshSimilar);

  // ---- Similar passages ------------------------------------------------------------

  const passageForm = byId("passage-form");
  const startInput = byId("passage-start");
  const endInput = byId("passage-end");
  const passageList = byId("passage-results");
  const passageStatus = byId("passage-status");
  const excludeSelf = byId("passage-exclude-self");
  const loadPassages = resultLoader(passageList, passageStatus);
  let selection = null; // the region on the waveform, once it is drawn

  /** The span typed in, or an error message for people. */
  function typedSpan() {
    const start = Number(startInput.value);
    const end = Number(endInput.value);
    const length = duration();
    const problem =
      startInput.value === "" || endInput.value === "" ? "Give a start and an end in seconds." :
      !(start >= 0 && end <= length + 0.05) ? `The span must lie within the track, 0 to ${length.toFixed(1)} seconds.` :
      !(start < end) ? "The end must come after the start." : null;
    for (const input of [startInput, endInput]) input.setAttribute("aria-invalid", String(problem !== null));
    return problem ? { problem } : { start, end: Math.min(end, length) };
  }

  function showSpan(region) {
    startInput.value = region.start.toFixed(1);
    endInput.value = region.end.toFixed(1);
    typedSpan(); // clears a stale invalid mark
  }

  function linkRegions(regions) {
    regions.enableDragSelection({ color: REGION_COLOUR });
    regions.on("region-created", (created) => {
      // One span at a time: a new drag replaces the last one.
      for (const region of regions.getRegions()) if (region !== created) region.remove();
      selection = created;
      showSpan(created);
    });
    regions.on("region-updated", showSpan);
    const span = typedSpan();
    if (!span.problem) regions.addRegion({ start: span.start, end: span.end, color: REGION_COLOUR });
    for (const input of [startInput, endInput]) {
      input.addEventListener("change", () => {
        const typed = typedSpan();
        if (typed.problem) return;
        if (selection) selection.setOptions({ start: typed.start, end: typed.end });
        else regions.addRegion({ start: typed.start, end: typed.end, color: REGION_COLOUR });
      });
    }
  }

  function renderPassage(passage) {
    const { track } = passage;
    const play = el("button", { type: "button", class: "play" }, `Play from ${clock(passage.start)}`,
      el("span", { class: "visually-hidden", text: ` in ${track.title}` }));
    play.addEventListener("click", () => preview(track, passage.start));
    const note = passage.same_track ? "A repeat within this track." : null;
    return el("li", { class: "result passage" },
      el("span", { class: "title" }, trackLink(track)),
      el("span", { class: "span", text: `${clock(passage.start)}–${clock(passage.end)}` }),
      el("span", { class: "score", title: `Score ${passage.score.toFixed(4)}` },
        el("span", { class: "visually-hidden", text: "score " }), passage.score.toFixed(3)),
      play,
      el("span", { class: "meta", text: [track.composer || "Unknown composer", track.work, track.dataset, note].filter(Boolean).join(" · ") }));
  }

  function passagesFound(body, span) {
    const repeats = body.results.filter((passage) => passage.same_track).length;
    return `${body.results.length} passages like ${clock(span.start)}–${clock(span.end)}, similar ${body.description}` +
      (repeats ? `; ${repeats} of them ${repeats === 1 ? "is a repeat" : "are repeats"} within this track.` : ".");
  }

  passageForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const span = typedSpan();
    if (span.problem) {
      fail(passageList, passageStatus, span.problem);
      return;
    }
    const query = new URLSearchParams({
      start: span.start, end: span.end, ...similarity(), k: 10, exclude_self: excludeSelf.checked,
    });
    loadPassages(`${page.urls.passages}?${query}`, {
      loading: `Looking for passages like ${clock(span.start)}–${clock(span.end)}…`,
      render: renderPassage,
      ready: (body) => passagesFound(body, span),
      empty: "No similar passage was found.",
    });
  });

  // ---- Radio and paths, in the site's player ---------------------------------------

  const { player } = MESS;
  // This track as the site's player knows it; the radio and a path start with it.
  const thisTrack = { id: page.id, title: page.title, artist: "", audio_url: mainAudio.src, url: location.pathname };

  /** similarity() as the API's JSON body takes it: a layer is a number there. */
  function similarityBody() {
    const { layer, aspect } = similarity();
    if (layer !== undefined) return { layer: Number(layer) };
    return aspect ? { aspect } : {};
  }

  const radioStatus = byId("radio-status");
  byId("start-radio").addEventListener("click", async () => {
    say(radioStatus, "Starting the radio…");
    try {
      // A few to start with: the player asks the session for more as they play.
      const session = await MESS.postJSON(page.urls.radio, { track: page.id, count: 5, ...similarityBody() });
      // The site's player takes over from the page's own, from where it had got to in this track.
      player.startRadio(session, thisTrack, mainAudio.currentTime);
      say(radioStatus, `Radio ${session.description}: ${session.results.length} tracks queued after this one; more follow as they play.`);
    } catch (error) {
      say(radioStatus, `The radio could not start: ${error.message}`, true);
    }
  });

  const pathSearch = byId("path-search");
  const destinations = byId("path-destinations");
  const pathSteps = byId("path-steps");
  const pathStatus = byId("path-status");
  const pathActions = byId("path-actions");
  let pathTracks = []; // the last path found, this track to its end, as the player takes them

  function destinationItem(track) {
    const choose = el("button", { type: "button" }, "Path to", el("span", { class: "visually-hidden", text: ` ${track.title}` }));
    choose.addEventListener("click", () => findPath(track));
    return el("li", { class: "result" }, choose, " ", trackLink(track),
      el("span", { class: "meta", text: ` ${[track.composer, track.work, track.dataset].filter(Boolean).join(" · ")}` }));
  }

  byId("path-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = pathSearch.value.trim();
    pathSteps.replaceChildren();
    pathActions.hidden = true;
    if (!text) {
      destinations.replaceChildren();
      return say(pathStatus, "Type part of the destination's title, composer or work.", true);
    }
    say(pathStatus, `Looking for “${text}”…`);
    try {
      const found = await getJSON(`${page.urls.tracks}?${new URLSearchParams({ search: text, page_size: 10 })}`);
      const others = found.results.filter((track) => track.id !== page.id);
      destinations.replaceChildren(...others.map(destinationItem));
      say(pathStatus, others.length ? `${others.length} matching tracks: choose the destination.` : `No other track matches “${text}”.`);
    } catch (error) {
      destinations.replaceChildren();
      say(pathStatus, error.message, true);
    }
  });

  /** A step on the way, with its similarity to both ends. */
  function stepItem(step, end) {
    return el("li", { class: "result step" },
      el("span", { class: "title" }, trackLink(step.track)),
      player.queueButtons(step.track),
      el("span", { class: "meta", text:
        `Similarity to ${page.title} ${step.score_to_start.toFixed(3)}, to ${end.title} ${step.score_to_end.toFixed(3)}` }));
  }

  async function findPath(end) {
    say(pathStatus, `Finding a path to ${end.title}…`);
    const query = new URLSearchParams({ start: page.id, end: end.id, steps: 8, ...similarityBody() });
    try {
      const path = await getJSON(`${page.urls.paths}?${query}`);
      destinations.replaceChildren();
      pathTracks = [thisTrack, ...path.steps.map((step) => player.fromApi(step.track)), player.fromApi(path.end)];
      pathSteps.replaceChildren(
        el("li", { class: "result step" }, el("span", { class: "title", text: `From ${page.title}` })),
        ...path.steps.map((step) => stepItem(step, path.end)),
        el("li", { class: "result step" }, el("span", { class: "title" }, "To ", trackLink(path.end))));
      pathActions.hidden = false;
      say(pathStatus, `${path.steps.length} steps from ${page.title} to ${path.end.title}, ${path.description}.`);
    } catch (error) {
      say(pathStatus, `No path to ${end.title}: ${error.message}`, true);
    }
  }

  byId("path-play").addEventListener("click", () => player.play(pathTracks));
  byId("path-queue").addEventListener("click", () => player.enqueue(pathTracks));

  // ---- Start -----------------------------------------------------------------------

  showTime();
  loadAspects();
  drawWaveform().then((regions) => {
    if (regions) linkRegions(regions);
  });
})();
