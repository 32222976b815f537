// Makes the operation page live: listens to the operation's server-sent events, shows each
// state and progress as it comes, and reloads the page when the operation has ended so the
// server draws its result. Without this script the page is still right, only not live.
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
}
