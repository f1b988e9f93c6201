/* What the page scripts share, on one global: window.MESS.
 *
 * base.html loads this (defer) before each page's own deferred scripts, and deferred
 * scripts run in document order, so a page script can use MESS from its first line.
 */
"use strict";

window.MESS = (function () {
  /** Seconds as m:ss, or h:mm:ss from an hour up (as the server's duration filter); whole
   * seconds passed, so a passage from 2.5 s is "0:02". */
  function clock(seconds) {
    const whole = Math.max(0, Math.floor(seconds || 0));
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const secs = String(whole % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
  }

  /** An element with attributes (class, text, or any attribute; true sets an empty one,
   * false/null/undefined none) and children (nodes or strings; null/undefined skipped). */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  /** The API's refusal ({"error": {"message"}}) in words, or what its HTTP status means
   * when the answer has no such body (a proxy's page, a body too large to be read). */
  function apiErrorMessage(status, body) {
    const message = body && body.error && body.error.message;
    if (message) return message;
    if (status === 413) return "The server refused the file: it is too large.";
    if (status === 401 || status === 403) return "You are signed out; sign in again and retry.";
    return `The server could not answer (HTTP ${status}).`;
  }

  /** A fetch response's JSON answer. Rejects with an Error that says in words what went
   * wrong and carries the HTTP `status` (the server refused, or its answer cannot be read),
   * or with an AbortError when the request's signal aborts while the body is read. */
  async function readAnswer(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      if (error.name === "AbortError") throw error;
    }
    if (response.ok && body !== null) return body;
    const error = new Error(
      response.ok ? "The server's answer could not be read." : apiErrorMessage(response.status, body),
    );
    error.status = response.status;
    throw error;
  }

  /** GET a JSON url with the session; resolves to its answer, or rejects as readAnswer
   * does, with fetch's own error (no `status`) when no answer came, with an AbortError
   * when `signal` aborts it. */
  async function getJSON(url, { signal } = {}) {
    return readAnswer(await fetch(url, { signal, headers: { Accept: "application/json" }, credentials: "same-origin" }));
  }

  /** POST a JSON body to an API url with the session and its CSRF token; resolves to the
   * JSON answer, or rejects like getJSON. */
  async function postJSON(url, body) {
    return readAnswer(await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    }));
  }

  /** The page's CSRF token (from a {% csrf_token %} input: the site's player has one on
   * every page), for the X-CSRFToken header. */
  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (!input) throw new Error("This page has no CSRF token to send with its request.");
    return input.value;
  }

  /** POSTs a multipart form to an API url with the CSRF token, and calls back with the
   * percentage sent (`progress`), the HTTP status and JSON body, or null (`answered`), or
   * nothing when the server could not be reached (`unreachable`); none of these once
   * `signal` aborts it. Returns the request, so the caller can abort it or listen for its end. */
  function postForm(url, body, { progress, answered, unreachable, signal }) {
    const request = new XMLHttpRequest();
    if (signal) {
      const abort = () => request.abort();
      signal.addEventListener("abort", abort, { once: true });
      request.addEventListener("loadend", () => signal.removeEventListener("abort", abort));
    }
    request.open("POST", url);
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => answered(request.status, request.response));
    request.addEventListener("error", () => unreachable());
    request.send(body);
    return request;
  }

  /** A link to a track's page; `urlTemplate` is the page's URL with "{pk}" for the id. */
  function trackLink(urlTemplate, track, text = track.title) {
    return el("a", { href: urlTemplate.replace("{pk}", track.id), text });
  }

  /** Plays tracks ({id, title, audio_url}) in one page <audio>, each from a given second:
   * returns play(track, start = 0). `report` tells the page what happens, in its own words:
   * loading(track, start) at once, playing(track, start) once it sounds (both optional),
   * failed(track, start, reason) when it cannot play (the reason ends with its own full
   * stop). A newer play interrupts an older one's load; only the newer reports. */
  function trackPlayer(audio, report) {
    let startAt = null; // seek here once the new source's metadata is known
    let asked = null; // the last play asked for: {track, start}

    audio.addEventListener("loadedmetadata", () => {
      if (startAt !== null) audio.currentTime = startAt;
      startAt = null;
    });
    audio.addEventListener("error", () => {
      if (asked) report.failed(asked.track, asked.start, "its audio did not load.");
    });

    return function play(track, start = 0) {
      asked = { track, start };
      if (audio.dataset.trackId === String(track.id) && audio.readyState >= HTMLMediaElement.HAVE_METADATA) {
        audio.currentTime = start;
      } else {
        startAt = start;
        audio.dataset.trackId = track.id;
        audio.src = track.audio_url;
      }
      if (report.loading) report.loading(track, start);
      audio.play().then(
        () => {
          if (report.playing) report.playing(track, start);
        },
        (error) => {
          if (error.name !== "AbortError") report.failed(track, start, error.message);
        },
      );
    };
  }

  // While the player's queue holds something, Turbo swaps pages in this one window
  // (player.js) and runs each page's script again, so a page's timers, requests and
  // listeners on window or document would outlive it. Each page has a signal that aborts
  // as Turbo renders the next one; a page left by a full load ends with it, never aborted.
  let page = new AbortController();
  document.addEventListener("turbo:before-render", () => {
    page.abort();
    page = new AbortController();
  });

  /** The page shown now's signal, for its script to take as it starts: listeners on window
   * or document get it ({signal}), and so do its requests and timers (pageTimeout). */
  function pageSignal() {
    return page.signal;
  }

  /** setTimeout that stops when `signal` aborts: cleared then, never set once it has.
   * Returns the timer's id (null when not set). */
  function pageTimeout(callback, ms, signal) {
    if (signal.aborted) return null;
    const cancel = () => clearTimeout(timer);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", cancel);
      callback();
    }, ms);
    signal.addEventListener("abort", cancel, { once: true });
    return timer;
  }

  return Object.freeze({
    clock, el, apiErrorMessage, readAnswer, getJSON, postJSON, csrfToken, postForm, trackLink, trackPlayer,
    pageSignal, pageTimeout,
  });
})();
