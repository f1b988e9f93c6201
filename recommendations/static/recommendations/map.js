/* The embedding map: drag a box over the points to list the tracks inside it, each with
 * a Play button (one shared player), Next and Queue (the site's player) and a link to its page. Escape or "Clear selection"
 * empties the list. The points stay links, so a plain click still opens a track.
 */
"use strict";

(function () {
  const svg = document.getElementById("embedding-map");
  if (!svg) return; // no map drawn: nothing to select
  const { el } = MESS;
  const box = document.getElementById("map-box");
  const section = document.getElementById("map-selection");
  const list = document.getElementById("map-selected");
  const heading = document.getElementById("map-selection-heading");
  const now = document.getElementById("map-now");
  const points = Array.from(svg.querySelectorAll("a[data-track-id]"));
  const MIN_DRAG = 4; // map units: less is a click, not a box

  const audio = document.getElementById("map-audio");
  const play = MESS.trackPlayer(audio, {
    loading: (track) => say(`Loading ${track.title}…`),
    playing: (track) => say(`Playing ${track.title}`),
    failed: (track, _start, reason) => say(`${track.title} could not be played: ${reason}`, true),
  });

  function say(text, failed = false) {
    now.textContent = text;
    now.classList.toggle("failed", failed);
  }

  /** A pointer event's position in the SVG's own units (its viewBox). */
  function mapPoint(event) {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    return { x: point.x, y: point.y };
  }

  function showBox(shown) {
    box.toggleAttribute("hidden", !shown); // an SVG element has no .hidden property
  }

  function drawBox(from, to) {
    box.setAttribute("x", Math.min(from.x, to.x));
    box.setAttribute("y", Math.min(from.y, to.y));
    box.setAttribute("width", Math.abs(to.x - from.x));
    box.setAttribute("height", Math.abs(to.y - from.y));
  }

  function inside(point, from, to) {
    const circle = point.querySelector("circle");
    const x = Number(circle.getAttribute("cx"));
    const y = Number(circle.getAttribute("cy"));
    return (
      x >= Math.min(from.x, to.x) && x <= Math.max(from.x, to.x) &&
      y >= Math.min(from.y, to.y) && y <= Math.max(from.y, to.y)
    );
  }

  function trackOf(point) {
    return {
      id: point.dataset.trackId,
      title: point.dataset.title,
      audio_url: point.dataset.audioUrl,
      url: point.getAttribute("href"),
      label: point.querySelector("title").textContent,
    };
  }

  function select(chosen) {
    for (const point of points) point.classList.toggle("selected", chosen.includes(point));
    svg.classList.toggle("has-selection", chosen.length > 0);
    list.replaceChildren(
      ...chosen.map(trackOf).map((track) => {
        const button = el("button", { type: "button", class: "play" }, "Play",
          el("span", { class: "visually-hidden", text: ` ${track.title}` }));
        button.addEventListener("click", () => play(track));
        return el("li", {}, button, " ", MESS.player.queueButtons(track), " ", el("a", { href: track.url, text: track.label }));
      }),
    );
    heading.textContent = `Selected tracks: ${chosen.length}`;
    section.hidden = false;
    if (chosen.length === 0) list.append(el("li", { class: "none", text: "No point lies inside the box." }));
  }

  function clear() {
    for (const point of points) point.classList.remove("selected");
    svg.classList.remove("has-selection");
    list.replaceChildren();
    audio.pause(); // a hidden player must not go on sounding
    section.hidden = true;
    showBox(false);
  }

  let start = null; // where the drag began, in map units; null when not dragging

  svg.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || event.target.closest("a")) return; // a point: its link opens
    start = mapPoint(event);
    svg.setPointerCapture(event.pointerId);
    drawBox(start, start);
    showBox(true);
    event.preventDefault(); // no text selection while dragging
  });
  svg.addEventListener("pointermove", (event) => {
    if (start) drawBox(start, mapPoint(event));
  });
  svg.addEventListener("pointerup", (event) => {
    if (!start) return;
    const end = mapPoint(event);
    const from = start;
    start = null;
    showBox(false);
    if (Math.abs(end.x - from.x) < MIN_DRAG && Math.abs(end.y - from.y) < MIN_DRAG) return;
    select(points.filter((point) => inside(point, from, end)));
    heading.focus({ preventScroll: true }); // announced, without moving the map out of a dragging hand
  });
  svg.addEventListener("pointercancel", () => {
    start = null;
    showBox(false);
  });

  document.getElementById("map-clear").addEventListener("click", () => {
    clear();
    svg.focus();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    start = null;
    clear();
  }, { signal: MESS.pageSignal() }); // the document outlives the map when the site's player moves on (Turbo)
})();
