// The app with its IPC mocked (`@tauri-apps/api/mocks`): the browser tests load this page in
// Chromium, drive the real UI code and read the fake backend's state through `window.__ecsp`.
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { makeBackend } from "./fake-backend";

const backend = makeBackend();
if (new URLSearchParams(location.search).has("signedIn")) {
  backend.state.signedIn = true;
  backend.state.server = "https://localhost:8443";
}
mockWindows("main");
mockIPC((cmd, payload) => backend.invoke(cmd, (payload ?? {}) as Record<string, unknown>));
// `emit` posts a list of events as the shell does; the app fetches it (`next_events`).
(window as unknown as { __ecsp: unknown }).__ecsp = { backend, emit: backend.post };
await import("../../src/main");
