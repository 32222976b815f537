//! WebKitGTK settings that keep the idle memory of the app's process tree down. The window shows
//! a few small screens of text and tables from the binary itself, so WebKit's browser-sized
//! defaults (GPU compositing, a page cache, WebGL and Web Audio; a context that caches like a web
//! browser) only cost memory. Measured with `scripts/bench-desktop.sh` (PSS of the app and its
//! WebKit web and network processes, release build under Xvfb; WebKitGTK 2.50, Debian 12):
//! compositing off took the web process from 174 MiB to 103 MiB; the rest is within the noise
//! but costs nothing.
//!
//! Idle after sign-in with 1,000 records queued (the queue screen shown), the tree measured
//! 283.6 MiB against 183.6 MiB for WebKitGTK's MiniBrowser on `about:blank` in the same run:
//! 100 MiB over. These settings, the queue screen listing 50 rows, events fetched in lists,
//! times in local time from the shell's zone table and a smaller binary brought it to about
//! 31 MiB over MiniBrowser started the same way (README, "Figures"), short of the aim of at most
//! 25 MiB over. What is left is the cost of a live page (the web process's script, style and DOM
//! heaps and the WebKit, ICU and font files it touches) and the app's own binary, resident nearly
//! whole. Tried and not kept (no difference beyond the noise of ±3 MiB): a 512 KiB SQLite page
//! cache on the client core's connection, one tokio worker thread, one glibc arena,
//! JavaScriptCore's heap growth limit at 4 MiB, WebKit on the system allocator (`Malloc=1`).

use tauri::{Runtime, WebviewWindow};

/// Settings read from the environment at process start, for the app's own process and the WebKit
/// processes it starts (they inherit it). Each is set only where the user has not set it.
/// Measured with `scripts/bench-desktop.sh` (idle after sign-in with 1,000 records queued, each
/// alone on the earlier build, median of three runs):
/// - `MALLOC_ARENA_MAX=2`: glibc otherwise keeps up to 8 malloc arenas per core in each process,
///   each holding freed memory of its own; two took the app's process from 12.1 to 9.2 MiB of
///   anonymous memory outside its main heap (the WebKit processes did not change).
/// - `JSC_useJIT=0`: JavaScriptCore's interpreter only. The screens' script builds a few small
///   tables, for which the interpreter is quick enough (cold start to the first screen stayed
///   within its noise: a median of 660 ms before, 484 and 709 ms in two runs after); the JIT's
///   code and its compilers' memory cost the web process about 7 MiB of anonymous and 7 MiB of
///   file-backed memory (the tree 283.6 → 274.8 MiB).
/// - `WEBKIT_DISABLE_COMPOSITING_MODE=1`: with WebKitGTK 2.50 the settings' hardware acceleration
///   policy `Never` (see `linux::tune`) still left the web process compositing, with Mesa's
///   software renderer (`ThreadedCompositor` and `llvmpipe` threads, 17 in all); the variable turns
///   compositing off from the start, as for the engine floor the bench compares against: 13
///   threads, the web process 117.3 → 108.8 MiB and the tree 235.7 → 228.6 MiB (one run each).
/// - `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072`: glibc's default threshold, fixed.
///   Left dynamic, glibc raises it after the first large block freed (up to 32 MiB), so later
///   large blocks come from the heap and their memory stays there once freed; fixed, they are
///   mapped apart and returned on free. The web process's heap went from 5.6 to 2.4 MiB and the
///   tree 223.5 → 220.3 MiB (median of three; fixing the heap's trim threshold or top padding
///   instead did the same, since any of them stops the raising).
pub const PROCESS_ENVIRONMENT: &[(&str, &str)] = &[
    ("MALLOC_ARENA_MAX", "2"),
    ("JSC_useJIT", "0"),
    ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
    ("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072"),
];

/// Starts the app again (same process id, arguments and name) with [`PROCESS_ENVIRONMENT`] set,
/// when any of it is missing: glibc reads its settings when a process starts, so setting them
/// later would reach neither the app's own allocator nor, without unsafe code, its children.
/// Returns only when nothing was missing or the new start failed (then the app runs as it is).
// Linux only: these are glibc's and WebKitGTK's; macOS's and Windows's webviews run their
// processes apart from the app's environment.
#[cfg(target_os = "linux")]
pub fn restart_with_environment() {
    use std::os::unix::process::CommandExt;
    let missing: Vec<_> = PROCESS_ENVIRONMENT
        .iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut command = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        command.arg0(name);
    }
    command.args(args);
    for (name, value) in missing {
        command.env(name, value);
    }
    let error = command.exec();
    tracing::warn!(%error, "could not restart with the memory settings; running without them");
}

#[cfg(not(target_os = "linux"))]
pub fn restart_with_environment() {}

/// Applies the settings to the window's webview (a no-op where the webview is not WebKitGTK).
pub fn tune<R: Runtime>(window: &WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    if let Err(e) = window.with_webview(|webview| linux::tune(&webview.inner())) {
        tracing::warn!(error = %e, "webview settings not applied");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

#[cfg(target_os = "linux")]
mod linux {
    use webkit2gtk::{
        CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebView, WebViewExt,
    };

    pub(super) fn tune(webview: &WebView) {
        if let Some(context) = webview.context() {
            // Document viewer: no memory cache of decoded resources or back/forward pages
            // kept for pages the app will not show again.
            context.set_cache_model(CacheModel::DocumentViewer);
        }
        if let Some(settings) = WebViewExt::settings(webview) {
            // No GPU compositing: the screens are static text and tables, and accelerated
            // compositing keeps GL surfaces and tile buffers in the web process (≈ 75 MiB
            // under Mesa's software renderer). On WebKitGTK 2.50 this alone still left the web
            // process compositing; `WEBKIT_DISABLE_COMPOSITING_MODE` in `super::PROCESS_ENVIRONMENT`
            // turns it off from the start. The policy stays for a user who set that variable
            // otherwise.
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            // Single-page app: navigating never leaves the page, so a back/forward page cache
            // only holds memory.
            settings.set_enable_page_cache(false);
            // The screens use neither; wry turns both on.
            settings.set_enable_webgl(false);
            settings.set_enable_webaudio(false);
        }
    }
}
