/* The catalogue list: each row's Play button plays its track in the one player above
 * the table, so pressing another row's Play switches tracks rather than layering sound. */
"use strict";

(function () {
  const audio = document.getElementById("catalogue-audio");
  if (!audio) return; // no tracks match: no table, no player
  const now = document.getElementById("catalogue-now");

  function say(text, failed = false) {
    now.textContent = text;
    now.classList.toggle("failed", failed);
  }

  function mark(id) {
    for (const row of document.querySelectorAll("table.tracks tr[data-track-id]")) {
      row.classList.toggle("playing", row.dataset.trackId === String(id));
    }
  }

  const play = MESS.trackPlayer(audio, {
    loading: (track) => {
      mark(track.id);
      say(`Loading ${track.title}…`);
    },
    playing: (track) => say(`Playing ${track.title}`),
    failed: (track, _start, reason) => say(`${track.title} could not be played: ${reason}`, true),
  });

  document.querySelector("table.tracks").addEventListener("click", (event) => {
    const button = event.target.closest("button.play");
    if (!button) return;
    const row = button.closest("tr");
    play({ id: row.dataset.trackId, title: button.dataset.title, audio_url: button.dataset.audioUrl });
  });
})();
