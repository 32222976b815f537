// Makes the operation page live: listens to the operation's server-sent events, shows each
// state and progress as it comes, and reloads the page when the operation has ended so the
// server draws its result. Without this script the page is still right, only not live.
// When the session ends (signed out everywhere, account disabled) the server sends `ended`:
// the page reloads, which takes the browser to sign-in. When the server refuses the stream
// (too many live pages in this session) the page says updates stopped.
"use strict";
const root = document.querySelector("[data-operation-events]");
if (root && "EventSource" in window) {
  const source = new EventSource(root.getAttribute("data-operation-events"));
  source.addEventListener("state", (event) => {
    const update = JSON.parse(event.data);
    const state = document.getElementById("op-state");
    state.textContent = update.label;
    state.className = "badge op-" + update.state;
    const progress = document.getElementById("op-progress");
    if (progress && typeof update.progress === "number") {
      progress.value = update.progress;
      progress.textContent = update.progress + "%";
    }
    if (update.final) {
      source.close();
      window.location.reload();
    }
  });
  source.addEventListener("ended", () => {
    source.close();
    window.location.reload();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      const note = document.getElementById("op-live");
      if (note) {
        note.textContent = note.getAttribute("data-stopped");
      }
    }
  });
}
