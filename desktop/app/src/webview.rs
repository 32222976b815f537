//! WebKitGTK settings that keep the idle memory of the app's process tree down. The window shows
//! a few small screens of text and tables from the binary itself, so WebKit's browser-sized
//! defaults (GPU compositing, a page cache, WebGL and Web Audio; a context that caches like a web
//! browser) only cost memory. Measured with `scripts/bench-desktop.sh` (PSS of the app and its
//! WebKit web and network processes, release build under Xvfb; WebKitGTK 2.50, Debian 12):
//! compositing off took the web process from 174 MiB to 103 MiB; the rest is within the noise
//! but costs nothing.

use tauri::{Runtime, WebviewWindow};

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
            // under Mesa's software renderer).
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
