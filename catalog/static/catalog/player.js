/* The site's one player, at the foot of every page (base.html): a queue that plays on
 * from track to track, and keeps playing while the listener browses.
 *
 * Staying alive across pages: while the queue holds something, Turbo Drive
 * (@hotwired/turbo) turns same-origin link clicks and GET forms into visits that swap the
 * page's <body> but keep this player's element (data-turbo-permanent), so the same
 * <audio> plays on; page scripts in the new body run again as on a full load. With an
 * empty queue Turbo Drive is off and every page loads in full, exactly as before. A page
 * Turbo cannot swap (a POST form, the admin, a reload) loads in full: the queue, the track
 * and the position are kept in sessionStorage and the player says that playback stopped
 * and offers to resume (browsers refuse to start sound by themselves).
 *
 * One sound at a time: any <audio>/<video> that starts playing pauses all the others, the
 * page's own players (track page waveform, previews, map) and this one alike.
 *
 * Any page wires buttons without a script of its own:
 *   <button type="button" data-player-action="play|next|queue" data-track-id="7"
 *           data-track-title="..." data-track-artist="..." data-audio-url="/tracks/7/audio">
 * "play" replaces the queue with this track and those after it in the nearest ancestor
 * carrying data-player-list; "next" inserts after the current track; "queue" appends;
 * "play-all" (a button without track data) plays its data-player-list from the top.
 * A button without the data takes it from its nearest ancestor with data-track-id.
 * Scripts call window.MESS.player (play, playNext, enqueue, startRadio, ...).
 */
"use strict";

(function () {
  const root = document.getElementById("global-player");
  if (!root) return;
  const byId = (id) => document.getElementById(id);
  const { clock, el, postJSON } = MESS;
  const audio = byId("gp-audio");
  const now = byId("gp-now");
  const list = byId("gp-list");
  const queuePanel = byId("gp-queue");
  const queueToggle = byId("gp-queue-toggle");
  const resumeBox = byId("gp-resume");
  const saveForm = byId("gp-save");
  const saveStatus = byId("gp-save-status");

  const STORAGE_KEY = "mess.player";
  const RADIO_LOW_WATER = 3; // ask the radio for more when fewer tracks than this wait
  const RADIO_BATCH = 10;
  const RESTART_AFTER = 3; // Previous within the first seconds goes back a track, later restarts this one

  const state = {
    queue: [], // [{id, title, artist, audio_url, url}]
    index: -1, // the current track in queue, -1 when none
    radio: null, // {next: URL to POST for more, description} while a radio feeds the queue
  };
  let refilling = false;

  // ---- Tracks and pages ---------------------------------------------------------------

  /** A track's page: its own url when given, else the site's track page for its id. */
  function pageOf(track) {
    return track.url || root.dataset.trackPage.replace("/0/", `/${track.id}/`);
  }

  /** A track from an API's TrackSummary ({id, title, composer, audio_url, ...}). */
  function fromApi(track) {
    return { id: track.id, title: track.title, artist: track.composer || "", audio_url: track.audio_url, url: null };
  }

  /** The track an element describes: itself, or its nearest ancestor with data-track-id. */
  function fromElement(element) {
    const item = element.closest("[data-track-id]");
    if (!item) return null;
    const data = item.dataset;
    if (!data.audioUrl) return null;
    return {
      id: Number(data.trackId),
      title: data.trackTitle || data.title || `Track ${data.trackId}`,
      artist: data.trackArtist || "",
      audio_url: data.audioUrl,
      url: data.trackUrl || null,
    };
  }

  /** The tracks of a data-player-list: its outermost elements that carry a track, one per
   * row (a row's own buttons may carry the same track again). */
  function itemsOf(container) {
    const items = [];
    for (const element of container.querySelectorAll("[data-track-id]")) {
      const outer = element.parentElement.closest("[data-track-id]");
      if (outer && container.contains(outer)) continue;
      if (fromElement(element)) items.push(element);
    }
    return items;
  }

  function current() {
    return state.queue[state.index] || null;
  }

  // ---- Saving across full page loads ----------------------------------------------

  function save() {
    const saved = { ...state, time: audio.currentTime || 0, playing: !audio.paused };
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
    } catch (error) {
      // Storage full or refused (private mode): the player still works on this page.
    }
  }

  function restore() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY));
    } catch (error) {
      return;
    }
    if (!saved || !Array.isArray(saved.queue) || !saved.queue.length) return;
    state.queue = saved.queue;
    state.index = Math.min(Math.max(saved.index, 0), saved.queue.length - 1);
    state.radio = saved.radio || null;
    load(current(), saved.time || 0);
    if (saved.playing) {
      byId("gp-resume-text").textContent =
        `Playback stopped at ${clock(saved.time)} of ${current().title}: this page loaded in full ` +
        "(a form was sent, or the page was reloaded), which stops the sound.";
      resumeBox.hidden = false;
    }
  }

  // ---- Playing ----------------------------------------------------------------------

  let startAt = 0; // seek here once the new source's metadata is known

  audio.addEventListener("loadedmetadata", () => {
    if (startAt > 0 && startAt < audio.duration) audio.currentTime = startAt;
    startAt = 0;
  });

  function load(track, start = 0) {
    startAt = start;
    audio.dataset.trackId = track.id;
    audio.src = track.audio_url;
  }

  function say(text, failed = false) {
    now.textContent = text;
    now.classList.toggle("failed", failed);
  }

  function announce() {
    const track = current();
    if (!track) return say("The queue is empty.");
    const by = track.artist ? ` by ${track.artist}` : "";
    say(`${audio.paused ? "Paused" : "Playing"} ${state.index + 1} of ${state.queue.length}: ${track.title}${by}`);
  }

  /** Plays queue position `index` from `start` seconds. */
  function playAt(index, start = 0) {
    if (index < 0 || index >= state.queue.length) return;
    state.index = index;
    resumeBox.hidden = true;
    if (audio.dataset.trackId === String(current().id) && audio.readyState >= HTMLMediaElement.HAVE_METADATA) {
      audio.currentTime = start;
    } else {
      load(current(), start);
    }
    changed();
    audio.play().catch((error) => {
      if (error.name !== "AbortError") say(`${current().title} could not be played: ${error.message}`, true);
    });
  }

  function next() {
    if (state.index + 1 < state.queue.length) playAt(state.index + 1);
  }

  function previous() {
    if (audio.currentTime > RESTART_AFTER || state.index === 0) playAt(state.index, 0);
    else playAt(state.index - 1);
  }

  function toggle() {
    if (!current()) return;
    if (audio.paused) playAt(state.index, audio.currentTime);
    else audio.pause();
  }

  audio.addEventListener("ended", () => {
    if (state.index + 1 < state.queue.length) next();
    else say(`End of the queue: ${current().title} was the last track.`);
  });
  audio.addEventListener("error", () => {
    if (current()) say(`${current().title} could not be played: its audio did not load.`, true);
  });
  for (const type of ["play", "pause"]) audio.addEventListener(type, () => {
    announce();
    save();
  });

  // One sound at a time (see the top): capture, as media events do not bubble.
  document.addEventListener("play", (event) => {
    for (const media of document.querySelectorAll("audio, video")) {
      if (media !== event.target) media.pause();
    }
  }, true);

  // ---- The queue ---------------------------------------------------------------------

  /** Replaces the queue with `tracks` and plays the `from`-th. */
  function play(tracks, from = 0) {
    state.queue = tracks.slice();
    state.radio = null;
    playAt(from);
  }

  function playNext(tracks) {
    state.queue.splice(state.index + 1, 0, ...tracks);
    startIfIdle(state.index + 1);
  }

  function enqueue(tracks) {
    const first = state.queue.length;
    state.queue.push(...tracks);
    startIfIdle(first);
  }

  /** An empty player starts with the tracks just added; a playing one plays on. */
  function startIfIdle(index) {
    if (state.index === -1) playAt(index);
    else changed();
  }

  function remove(index) {
    state.queue.splice(index, 1);
    if (index < state.index) state.index -= 1;
    else if (index === state.index) {
      if (state.index < state.queue.length) playAt(state.index);
      else stop();
    }
    changed();
  }

  function move(from, to) {
    if (to < 0 || to >= state.queue.length) return;
    const [track] = state.queue.splice(from, 1);
    state.queue.splice(to, 0, track);
    if (state.index === from) state.index = to;
    else if (from < state.index && to >= state.index) state.index -= 1;
    else if (from > state.index && to <= state.index) state.index += 1;
    changed();
  }

  function stop() {
    audio.pause();
    audio.removeAttribute("src");
    delete audio.dataset.trackId;
    audio.load();
    state.index = state.queue.length ? 0 : -1;
  }

  function clear() {
    state.queue = [];
    state.radio = null;
    stop();
    resumeBox.hidden = true;
    changed();
  }

  /** A radio session's first tracks ({next, description, results} from POST
   * /api/v1/radio/) after `seed` (null for none): the player asks for more as it runs low. */
  function startRadio(session, seed = null, seedStart = 0) {
    const tracks = session.results.map((result) => fromApi(result.track));
    state.queue = seed ? [seed, ...tracks] : tracks;
    // next: null once the radio has nothing more to add (the catalogue is small, the caps tight).
    state.radio = { next: session.exhausted ? null : session.next, description: session.description || "" };
    playAt(0, seed ? seedStart : 0);
  }

  async function refillRadio() {
    if (!state.radio?.next || refilling || state.queue.length - state.index - 1 >= RADIO_LOW_WATER) return;
    refilling = true;
    const radio = state.radio;
    try {
      const body = await postJSON(radio.next, { count: RADIO_BATCH });
      if (state.radio !== radio) return; // the queue was replaced meanwhile
      state.queue.push(...body.results.map((result) => fromApi(result.track)));
      if (body.exhausted || !body.results.length) radio.next = null;
      changed();
    } catch (error) {
      if (state.radio === radio) state.radio = null;
      renderQueue();
      say(`The radio stopped: ${error.message} The queue plays on to its end.`, true);
    } finally {
      refilling = false;
    }
  }

  /** "Next" and "Queue" buttons (the data-player-action contract) for a track of the API
   * ({id, title, composer, audio_url}), for the pages that list tracks from scripts. */
  function queueButtons(track) {
    const data = {
      "data-track-id": track.id, "data-track-title": track.title,
      "data-track-artist": track.composer || "", "data-audio-url": track.audio_url,
    };
    return el("span", { class: "queue-actions" },
      el("button", { type: "button", "data-player-action": "next", "aria-label": `Up next: ${track.title}`, ...data }, "Next"),
      el("button", { type: "button", "data-player-action": "queue", "aria-label": `Add to queue: ${track.title}`, ...data }, "Queue"));
  }

  // ---- Showing it --------------------------------------------------------------------

  function renderQueue() {
    list.replaceChildren(...state.queue.map((track, index) => {
      const label = ` ${track.title}`;
      const hidden = (text) => el("span", { class: "visually-hidden", text });
      const button = (text, action, enabled = true) => el("button", {
        type: "button", class: "gp-item-action", "data-queue-action": action, "data-index": String(index), disabled: !enabled,
      }, text, hidden(label));
      return el("li", { "aria-current": index === state.index ? "true" : null },
        el("a", { href: pageOf(track), text: track.title }),
        track.artist ? el("span", { class: "gp-artist", text: ` ${track.artist}` }) : null,
        el("span", { class: "gp-item-actions" },
          button("Play", "jump", index !== state.index),
          button("Up", "up", index > 0),
          button("Down", "down", index < state.queue.length - 1),
          button("Remove", "remove")));
    }));
    byId("gp-count").textContent = String(state.queue.length);
    const radio = state.radio;
    byId("gp-radio").textContent = !radio ? "" : `Radio ${radio.description}: ` +
      (radio.next ? "more tracks join as the queue runs low." : "it has no more tracks to add; the queue plays to its end.");
  }

  /** Marks the current track's rows wherever a page lists it. */
  function markPlaying() {
    const id = current() ? String(current().id) : null;
    for (const container of document.querySelectorAll("[data-player-list]")) {
      for (const row of itemsOf(container)) row.classList.toggle("playing", row.dataset.trackId === id);
    }
  }

  function changed() {
    root.hidden = state.queue.length === 0;
    // Stay on the page while something is queued (see the top).
    if (window.Turbo) Turbo.session.drive = state.queue.length > 0;
    byId("gp-previous").disabled = !current();
    byId("gp-next").disabled = state.index + 1 >= state.queue.length;
    renderQueue();
    announce();
    markPlaying();
    save();
    refillRadio();
  }

  // ---- Controls ----------------------------------------------------------------------

  byId("gp-previous").addEventListener("click", previous);
  byId("gp-next").addEventListener("click", next);
  byId("gp-clear").addEventListener("click", clear);
  byId("gp-resume-button").addEventListener("click", () => playAt(state.index, audio.currentTime || 0));
  queueToggle.addEventListener("click", () => {
    const open = queuePanel.hidden;
    queuePanel.hidden = !open;
    queueToggle.setAttribute("aria-expanded", String(open));
  });
  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-queue-action]");
    if (!button) return;
    const index = Number(button.dataset.index);
    ({
      jump: () => playAt(index),
      up: () => move(index, index - 1),
      down: () => move(index, index + 1),
      remove: () => remove(index),
    })[button.dataset.queueAction]();
  });

  // The player outlives the page it was drawn with (Turbo): sign in back to the page shown now.
  root.querySelector("[data-sign-in]")?.addEventListener("click", (event) => {
    const link = new URL(event.currentTarget.href);
    link.searchParams.set("next", location.pathname + location.search);
    event.currentTarget.href = link.href;
  });

  // The data-player-action buttons of any page, present or added later.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-player-action]");
    if (!button) return;
    const action = button.dataset.playerAction;
    if (action === "play-all") {
      const container = button.closest("[data-player-list]");
      const tracks = container ? itemsOf(container).map(fromElement) : [];
      if (tracks.length) play(tracks);
      return;
    }
    const track = fromElement(button);
    if (!track) return;
    if (action === "play") {
      const container = button.closest("[data-player-list]");
      const items = container ? itemsOf(container) : [];
      // The row holding the button (a playlist may hold a track twice), else the first with its track.
      let at = items.findIndex((item) => item.contains(button));
      if (at === -1) at = items.findIndex((item) => item.dataset.trackId === String(track.id));
      play(at === -1 ? [track] : items.slice(at).map(fromElement));
    } else if (action === "next") {
      playNext([track]);
      say(`${track.title} plays next.`);
    } else if (action === "queue") {
      enqueue([track]);
      say(`${track.title} was added to the queue (${state.queue.length} tracks).`);
    }
  });

  /** Keys: not while typing, nor when a control that uses the key has the focus. */
  const TYPING = "input, textarea, select, [contenteditable]";
  const USES_SPACE = `${TYPING}, a[href], button, audio, video, summary, [role=slider], [role=tab], [role=button]`;
  document.addEventListener("keydown", (event) => {
    if (!current() || event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    const target = event.target instanceof Element ? event.target : document.body;
    if (event.key === " " && !event.shiftKey && !target.closest(USES_SPACE)) {
      event.preventDefault();
      toggle();
    } else if (event.shiftKey && (event.key === "N" || event.key === "P") && !target.closest(TYPING)) {
      event.preventDefault();
      if (event.key === "N") next();
      else previous();
    }
  });

  // ---- Saving the queue as a playlist ------------------------------------------------

  if (saveForm) {
    saveForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = saveForm.elements.name.value.trim();
      saveStatus.classList.remove("failed");
      if (!name || !state.queue.length) {
        saveStatus.textContent = name ? "The queue is empty: nothing to save." : "Give the playlist a name.";
        saveStatus.classList.add("failed");
        return;
      }
      saveStatus.textContent = "Saving…";
      try {
        const playlist = await postJSON(saveForm.action, {
          name, public: false, tracks: state.queue.map((track) => track.id),
        });
        const where = root.dataset.playlistPage.replace("/0/", `/${playlist.id}/`);
        saveStatus.replaceChildren("Saved as ", el("a", { href: where, text: playlist.name }),
          ` (${state.queue.length} tracks, private).`);
      } catch (error) {
        saveStatus.textContent = `The queue was not saved: ${error.message}`;
        saveStatus.classList.add("failed");
      }
    });
  }

  // ---- Turbo Drive: only while something is queued -----------------------------------

  if (window.Turbo) {
    Turbo.config.forms.mode = "off"; // POST forms load in full: the server's answers expect it
    // A GET form (the catalogue's filters) becomes a visit like a link, unless its page handles it.
    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (event.defaultPrevented || !Turbo.session.drive || form.method !== "get" || form.target) return;
      const url = new URL(form.action, location.href);
      if (url.origin !== location.origin) return;
      event.preventDefault();
      url.search = new URLSearchParams(new FormData(form, event.submitter)).toString();
      Turbo.visit(url.href);
    });
    // Turbo 8 throws on a click on an SVG link (its href is no string): the map's points are
    // such links. They stay Turbo's secret: a visit while Drive is on, else the browser's own.
    document.addEventListener("click", (event) => {
      const link = event.target instanceof Element && event.target.closest("svg a[href]");
      if (!link) return;
      event.stopPropagation();
      if (!Turbo.session.drive || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      Turbo.visit(new URL(link.getAttribute("href"), location.href).href);
    }, true);
    // Every visit fetches afresh: a cached copy of a page would show it as its script left it,
    // and the script then runs over it a second time.
    let visited = false; // turbo:load also follows the first, full load
    document.addEventListener("turbo:visit", () => {
      visited = true;
    });
    document.addEventListener("turbo:load", () => {
      Turbo.cache.exemptPageFromCache();
      // As after a full load, the next Tab starts from the top of the new page, not from a link
      // that is gone; the main region (tabindex -1) takes the focus, past the navigation.
      if (visited) byId("main")?.focus({ preventScroll: true });
      // A page's <audio src> was parsed in Turbo's inert document and did not load there.
      for (const media of document.querySelectorAll("audio[src], video[src]")) {
        if (media !== audio && media.networkState === HTMLMediaElement.NETWORK_NO_SOURCE) media.load();
      }
      markPlaying();
      // A page's own stylesheets leave with it: mark them so that Turbo removes them on the
      // next visit unless that page has them too.
      for (const link of document.head.querySelectorAll('link[rel="stylesheet"]:not([data-turbo-track])')) {
        link.setAttribute("data-turbo-track", "dynamic");
      }
    });
  }

  window.addEventListener("pagehide", save);
  audio.addEventListener("seeked", save);
  let lastSaved = 0;
  audio.addEventListener("timeupdate", () => {
    if (Math.abs(audio.currentTime - lastSaved) < 2) return;
    lastSaved = audio.currentTime;
    save();
  });

  const player = Object.freeze({
    play, playNext, enqueue, remove, move, clear, next, previous, toggle, startRadio,
    fromApi, queueButtons,
    get queue() { return state.queue.slice(); },
    get index() { return state.index; },
  });
  // MESS is frozen (mess.js): the player joins it as a new frozen object, before any page script runs.
  window.MESS = Object.freeze({ ...MESS, player });
  restore();
  changed();
})();
