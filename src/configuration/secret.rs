//! A string that never prints itself.

use std::fmt;

use serde::{Serialize, Serializer};

/// What a secret prints as, everywhere.
pub const REDACTED: &str = "[redacted]";

/// An API key or similar credential. `Debug`, `Display` and `Serialize` all print
/// `[redacted]`, so putting a `Secret` into a log line, an error or `config check` output cannot
/// leak it; only [`Secret::expose`] gives the text, at the one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret text itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_display_and_serialize() {
        let secret = Secret::new("sk-live-123");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
        assert_eq!(secret.expose(), "sk-live-123");
    }

    /// Every settings type that carries the API key holds it as a `Secret`, so its derived
    /// `Debug` cannot print it.
    #[test]
    fn settings_with_a_key_never_print_it() {
        let key = "sk-live-456";
        let stream = crate::feed::StreamSettings {
            base_url: "http://127.0.0.1:1".into(),
            events: vec!["price_shift".into()],
            api_key: Some(key.into()),
            connect_timeout: std::time::Duration::from_secs(1),
            idle_timeout: std::time::Duration::from_secs(1),
            max_event_bytes: 1024,
            backoff_initial: std::time::Duration::from_secs(1),
            backoff_max: std::time::Duration::from_secs(1),
        };
        let mirror = crate::mirror::MirrorSettings {
            base_url: "http://127.0.0.1:1".into(),
            api_key: Some(key.into()),
            timeout: std::time::Duration::from_secs(1),
            backoff_initial: std::time::Duration::from_secs(1),
            backoff_max: std::time::Duration::from_secs(1),
        };
        let signal = crate::signal::SignalSettings::new(
            "http://127.0.0.1:1",
            Some(key.into()),
            "medium",
            std::time::Duration::from_secs(1),
            0,
        );
        let sim = crate::sim::SimConfig {
            api_key: Some(key.into()),
            ..crate::sim::SimConfig::default()
        };
        for printed in [
            format!("{stream:?}"),
            format!("{mirror:?}"),
            format!("{signal:?}"),
            format!("{sim:?}"),
        ] {
            assert!(!printed.contains(key), "{printed}");
            assert!(printed.contains(REDACTED), "{printed}");
        }
    }
}
