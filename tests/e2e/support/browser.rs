//! A real headless Chromium (Debian's `chromium`), driven over WebDriver by `fantoccini`
//! through Debian's `chromedriver`. `.ci/run` installs both; a developer machine without them
//! skips the browser tests with a note, but under `CI` a missing browser fails them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser session, and the runtime its commands run on.
pub struct Browser {
    driver: Child,
    pub client: fantoccini::Client,
    pub runtime: tokio::runtime::Runtime,
    _profile: tempfile::TempDir,
}

/// A browser, or `None` (with a note) where this machine has none and this is not CI.
pub fn browser() -> Option<Browser> {
    let present = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {CHROMIUM} and {CHROMEDRIVER} (.ci/run installs them)"
        );
        eprintln!("skipped: no {CHROMIUM} / {CHROMEDRIVER} here (apt-get install chromium chromium-driver)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let profile = tempfile::tempdir().expect("profile dir");
    let mut options = serde_json::Map::new();
    options.insert("binary".into(), CHROMIUM.into());
    options.insert(
        "args".into(),
        serde_json::json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            format!("--user-data-dir={}", profile.path().display()),
        ]),
    );
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options.into());
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let attempt = runtime.block_on(
            fantoccini::ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url),
        );
        match attempt {
            Ok(client) => break client,
            Err(err) if started.elapsed() < Duration::from_secs(30) => {
                let _ = err;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(err) => panic!("chromedriver did not start a session: {err}"),
        }
    };
    Some(Browser {
        driver,
        client,
        runtime,
        _profile: profile,
    })
}

impl Browser {
    /// Run a browser command to completion.
    pub fn run<T>(&self, future: impl std::future::Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// `document.body.dataset[key]` (what the page says it has done).
    pub fn data(&self, key: &str) -> Option<String> {
        let script = format!("return document.body.dataset[{key:?}] || null;");
        let value = self
            .run(self.client.execute(&script, Vec::new()))
            .expect("script runs");
        value.as_str().map(str::to_string)
    }

    /// The text of the element with this id.
    pub fn text_of(&self, id: &str) -> String {
        let script = format!("return document.getElementById({id:?}).textContent;");
        let value = self
            .run(self.client.execute(&script, Vec::new()))
            .expect("script runs");
        value.as_str().unwrap_or_default().to_string()
    }

    /// Run a script returning a JSON value.
    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.run(self.client.execute(script, Vec::new()))
            .expect("script runs")
    }

    /// Save a screenshot of the page under `target/screenshots/` (a CI artifact).
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.run(self.client.screenshot()).expect("screenshot");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.runtime.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
