// The app with its IPC mocked (`@tauri-apps/api/mocks`): the browser tests load this page in
// Chromium, drive the real UI code and read the fake backend's state through `window.__ecsp`.
import { emit } from "@tauri-apps/api/event";
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { makeBackend } from "./fake-backend";

const backend = makeBackend();
if (new URLSearchParams(location.search).has("signedIn")) {
  backend.state.signedIn = true;
  backend.state.server = "https://localhost:8443";
}
mockWindows("main");
mockIPC((cmd, payload) => backend.invoke(cmd, (payload ?? {}) as Record<string, unknown>), { shouldMockEvents: true });
(window as unknown as { __ecsp: unknown }).__ecsp = { backend, emit };
await import("../../src/main");
