//! Logging through `tracing`: building the subscriber (text for people, JSON lines for log
//! shippers) apart from installing it, so tests can capture what a subscriber writes.
//!
//! Logs go to stderr; stdout belongs to command output (`decisions --json` and friends), which
//! scripts parse.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Registry};

/// Filter used when `RUST_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info";

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per line, event fields at the top level (`jq .event_id` works).
    Json,
}

/// The filter from a `RUST_LOG` value (`None`: unset), or why the value was rejected.
pub fn env_filter(rust_log: Option<&str>) -> Result<EnvFilter, String> {
    match rust_log.map(str::trim) {
        None | Some("") => Ok(EnvFilter::new(DEFAULT_FILTER)),
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|err| format!("RUST_LOG={directives:?} is not a valid filter ({err})")),
    }
}

/// A subscriber writing `format` to `writer`, without colours.
pub fn build_subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    build(format, filter, writer, false)
}

fn build<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> impl Subscriber + Send + Sync + for<'a> LookupSpan<'a>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // Both layers are `Option`s so both formats have one concrete subscriber type.
    let (text, json) = match format {
        LogFormat::Text => (Some(fmt::layer().with_writer(writer).with_ansi(ansi)), None),
        LogFormat::Json => (
            None,
            Some(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            ),
        ),
    };
    Registry::default().with(filter).with(text).with(json)
}

/// Why logging could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the log subscriber: {0}")]
pub struct TelemetryError(String);

/// Install the global subscriber: `format` to stderr, filtered by `RUST_LOG` (default `info`).
/// Also routes the `log` crate (used by sled) into it. An invalid `RUST_LOG` is reported as a
/// warning and replaced by the default rather than silencing the bot.
pub fn init(format: LogFormat) -> Result<(), TelemetryError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, warning) = match env_filter(rust_log.as_deref()) {
        Ok(filter) => (filter, None),
        Err(why) => (EnvFilter::new(DEFAULT_FILTER), Some(why)),
    };
    let ansi = format == LogFormat::Text
        && io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    build(format, filter, io::stderr, ansi)
        .try_init()
        .map_err(|err| TelemetryError(err.to_string()))?;
    if let Some(why) = warning {
        tracing::warn!("{why}; using {DEFAULT_FILTER:?}");
    }
    Ok(())
}

/// An in-memory log sink for tests: every subscriber writing to a clone appends here.
#[derive(Clone, Debug, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn new() -> LogCapture {
        LogCapture::default()
    }

    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> LogCapture {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(format: LogFormat, filter: &str, emit: impl FnOnce()) -> String {
        let logs = LogCapture::new();
        let filter = env_filter(Some(filter)).expect("valid filter");
        tracing::subscriber::with_default(build_subscriber(format, filter, logs.clone()), emit);
        logs.contents()
    }

    #[test]
    fn json_format_writes_one_object_per_line_with_fields_on_top() {
        let out = capture(LogFormat::Json, "info", || {
            let span = tracing::info_span!("feed", source = "sim");
            let _entered = span.enter();
            tracing::info!(
                event_id = "evt-1",
                market = "kalshi/KXFED",
                outcome = "traded",
                contracts = 12,
                "decided"
            );
            tracing::warn!(event_id = "evt-2", "signal slow");
            tracing::debug!("filtered out at info");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).expect("line 1 is JSON");
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["message"], "decided");
        assert_eq!(first["event_id"], "evt-1");
        assert_eq!(first["market"], "kalshi/KXFED");
        assert_eq!(first["outcome"], "traded");
        assert_eq!(first["contracts"], 12);
        assert_eq!(first["span"]["source"], "sim");
        assert!(first["timestamp"].is_string());
        let second: serde_json::Value = serde_json::from_str(lines[1]).expect("line 2 is JSON");
        assert_eq!(
            (second["level"].as_str(), second["event_id"].as_str()),
            (Some("WARN"), Some("evt-2"))
        );
    }

    #[test]
    fn text_format_is_readable_and_uncoloured() {
        let out = capture(LogFormat::Text, "info", || {
            tracing::info!(event_id = "evt-1", outcome = "cooldown", "decided");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("INFO") && out.contains("decided"), "{out}");
        assert!(
            out.contains("event_id=\"evt-1\"") && out.contains("outcome=\"cooldown\""),
            "{out}"
        );
        assert!(
            !out.contains('\u{1b}'),
            "no ANSI escapes when writing to a capture: {out:?}"
        );
    }

    #[test]
    fn filter_directives_select_targets_and_levels() {
        let out = capture(LogFormat::Text, "warn,shiftbot=debug", || {
            tracing::debug!(target: "shiftbot::runner", "kept");
            tracing::info!(target: "sled::tree", "dropped");
            tracing::warn!(target: "sled::tree", "kept too");
        });
        assert!(out.contains("kept") && out.contains("kept too"), "{out}");
        assert!(!out.contains("dropped"), "{out}");
    }

    #[test]
    fn rust_log_defaults_to_info_and_bad_values_are_explained() {
        assert_eq!(env_filter(None).expect("default").to_string(), "info");
        assert_eq!(
            env_filter(Some("  "))
                .expect("blank is default")
                .to_string(),
            "info"
        );
        let err = env_filter(Some("shiftbot=loud")).expect_err("invalid level");
        assert!(err.contains("RUST_LOG=\"shiftbot=loud\""), "{err}");
    }
}
