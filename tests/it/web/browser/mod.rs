//! Browser tests: Debian's Chromium, headless, driven over the DevTools protocol
//! (`headless_chrome`), against the real server. Without Chromium they print one line and
//! pass, unless `KONNEKTID_TEST_REQUIRE_BROWSER=1` (CI) makes that a failure. Each page is
//! screenshotted into the test's temporary directory, and into `docs/screenshots/` when
//! `KONNEKTID_UPDATE_SCREENSHOTS=1`.

mod console;
mod graphiql;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Emulation, Network, Page};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::Value;

/// How long a page may take to show what a test waits for.
const DEADLINE: Duration = Duration::from_secs(20);
/// Desktop and phone viewports.
pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

/// One browser at a time: two Chromiums on two busy cores only slow each other down.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A headless Chromium with a fresh profile, and what its pages asked the network for.
pub struct Chromium {
    browser: Browser,
    _profile: tempfile::TempDir,
    shots: tempfile::TempDir,
    requests: Arc<Mutex<Vec<String>>>,
    problems: Arc<Mutex<Vec<String>>>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

fn chromium_binary() -> PathBuf {
    std::env::var_os("KONNEKTID_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Chromium, or `None` (after one printed line) where it is not installed.
pub fn launch() -> Option<Chromium> {
    let binary = chromium_binary();
    if !binary.exists() {
        let required = std::env::var("KONNEKTID_TEST_REQUIRE_BROWSER").is_ok_and(|value| value == "1");
        assert!(!required, "KONNEKTID_TEST_REQUIRE_BROWSER=1 but there is no Chromium at {}", binary.display());
        println!("skipped: no Chromium at {} (apt-get install chromium)", binary.display());
        return None;
    }
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let profile = tempfile::tempdir().expect("a profile directory");
    let args: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        "--hide-scrollbars",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(binary))
        .headless(true)
        .sandbox(false)
        .window_size(Some(DESKTOP))
        .user_data_dir(Some(profile.path().to_owned()))
        .args(args)
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .expect("launch options");
    let browser = Browser::new(options).expect("Chromium starts");
    let shots = tempfile::tempdir().expect("a screenshot directory");
    Some(Chromium { browser, _profile: profile, shots, requests: Arc::default(), problems: Arc::default(), _turn: turn })
}

impl Chromium {
    /// A new tab that records every request and every error its pages meet.
    pub fn tab(&self) -> Arc<Tab> {
        let tab = self.browser.new_tab().expect("a tab");
        tab.set_default_timeout(DEADLINE);
        let (requests, problems) = (self.requests.clone(), self.problems.clone());
        tab.add_event_listener(Arc::new(move |event: &Event| match event {
            Event::NetworkRequestWillBeSent(sent) => requests.lock().expect("requests").push(sent.params.request.url.clone()),
            Event::LogEntryAdded(entry) => {
                let entry = &entry.params.entry;
                if format!("{:?}", entry.level) == "Error" {
                    problems.lock().expect("problems").push(format!("{:?}: {} ({:?})", entry.source, entry.text, entry.url));
                }
            }
            Event::RuntimeExceptionThrown(thrown) => {
                problems.lock().expect("problems").push(format!("uncaught: {:?}", thrown.params.exception_details.text))
            }
            _ => {}
        }))
        .expect("a listener");
        let enable = serde_json::from_value::<Network::Enable>(serde_json::json!({})).expect("Network.enable");
        tab.call_method(enable).expect("network events");
        tab.enable_log().expect("log events");
        tab.enable_runtime().expect("runtime events");
        tab
    }

    /// Every URL asked for so far must be on `base` (the server under test) or inline.
    pub fn assert_nothing_left(&self, base: &str) {
        let requests = self.requests.lock().expect("requests");
        assert!(!requests.is_empty(), "no request was seen: the recorder is broken");
        let outside: Vec<&String> =
            requests.iter().filter(|url| !url.starts_with(base) && !url.starts_with("data:") && !url.starts_with("blob:")).collect();
        assert!(outside.is_empty(), "requests left the server under test: {outside:?}");
    }

    /// No page logged an error (a refused resource, a CSP violation) or threw.
    pub fn assert_no_problems(&self) {
        let problems = self.problems.lock().expect("problems");
        assert!(problems.is_empty(), "the pages met problems: {problems:#?}");
    }

    /// A PNG of what the tab shows, in the test's directory (and in docs/ when asked).
    pub fn screenshot(&self, tab: &Tab, name: &str) -> PathBuf {
        let png = tab.capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true).expect("a screenshot");
        let path = self.shots.path().join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("the screenshot is written");
        if std::env::var("KONNEKTID_UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&docs).expect("docs/screenshots");
            std::fs::write(docs.join(format!("{name}.png")), &png).expect("the screenshot is copied to docs");
        }
        path
    }
}

/// Sets the tab's viewport, as a phone or a desktop window.
pub fn viewport(tab: &Tab, (width, height): (u32, u32)) {
    let metrics = serde_json::json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600 });
    let metrics = serde_json::from_value::<Emulation::SetDeviceMetricsOverride>(metrics).expect("device metrics");
    tab.call_method(metrics).expect("the viewport changes");
}

/// The value of `expression` (JSON-serialisable JavaScript) in the page.
pub fn eval(tab: &Tab, expression: &str) -> Value {
    // An element stands for "it is there": serialising one can meet cycles (CodeMirror's).
    let wrapped = format!(
        "JSON.stringify((() => {{ try {{ const v = ({expression}); return v instanceof Node ? true : v; }} catch (e) {{ return null; }} }})() ?? null)"
    );
    let object = tab.evaluate(&wrapped, false).expect("the page evaluates");
    object.value.as_ref().and_then(Value::as_str).map_or(Value::Null, |text| serde_json::from_str(text).unwrap_or(Value::Null))
}

/// Waits until `expression` is truthy; answers its value.
pub fn wait(tab: &Tab, expression: &str, what: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = eval(tab, expression);
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if started.elapsed() > DEADLINE {
            let body = eval(tab, "document.body && document.body.innerText.slice(0, 2000)");
            panic!("{what}: not seen within {DEADLINE:?}; the page shows: {body}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens `url` in the tab and waits until `ready` is true.
pub fn open(tab: &Tab, url: &str, ready: &str) {
    tab.navigate_to(url).expect("the page opens");
    wait(tab, ready, url);
}

/// Clicks the first element `selector` matches.
pub fn click(tab: &Tab, selector: &str) {
    tab.wait_for_element(selector).unwrap_or_else(|e| panic!("{selector}: {e}")).click().unwrap_or_else(|e| panic!("{selector}: {e}"));
}
