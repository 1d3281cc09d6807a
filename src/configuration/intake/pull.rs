//! The keys of the intakes that reach out: `kind = "websocket"` (a connection the bot keeps
//! open) and `kind = "poll"` (`GET /v1/markets` on an interval). Read from one `[[intake]]`
//! table like the webhook keys, problems under `intake[N].key`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strategies::Platform;

use super::super::notify::env_secret;
use super::super::problems::ConfigProblem;
use super::super::reader::Reader;
use super::super::schema::PLATFORMS;
use super::super::sections::duration_text;
use super::super::values::{choose, DurationRange};
use super::super::Secret;

/// The keys of a `kind = "websocket"` intake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebsocketSettings {
    /// `ws://` or `wss://`, without the token.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// The server's ping interval; 2.5 × this without any message means the connection is dead.
    #[serde(with = "duration_text")]
    pub heartbeat: Duration,
    /// Read from `token_env` at load, sent as `?token=`; never printed, never stored.
    #[serde(skip)]
    pub token: Option<Secret>,
}

/// When a poll intake polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollMode {
    /// Only while every stream and WebSocket intake has been unhealthy for `after`.
    Fallback,
    /// On every interval, whatever the other intakes do.
    Always,
}

/// The keys of a `kind = "poll"` intake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollSettings {
    pub sources: Vec<Platform>,
    #[serde(with = "duration_text")]
    pub interval: Duration,
    pub mode: PollMode,
    #[serde(with = "duration_text")]
    pub after: Duration,
    /// Billed `GET /v1/markets` calls per UTC day, all sources together; 0 = unlimited.
    pub max_per_day: u64,
}

const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);
/// Tests poll this fast; a real API is polled every few minutes (`max_per_day` caps the bill).
const MIN_INTERVAL: Duration = Duration::from_millis(100);
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

pub(super) fn read_websocket(
    r: &mut Reader<'_>,
    has: &dyn Fn(&str) -> bool,
    env: &[(String, String)],
    problems: &mut Vec<ConfigProblem>,
) -> Option<WebsocketSettings> {
    let url = match has("url") {
        true => r.text("url"),
        false => {
            problems.push(ConfigProblem::new(
                "url",
                "missing; the ws:// or wss:// address of the WebSocket feed",
            ));
            None
        }
    }
    .filter(|text| match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "ws" | "wss") && url.host().is_some() => {
            let token_in_url = url.query_pairs().any(|(key, _)| key == "token");
            if token_in_url {
                // The value is not echoed: it is a secret.
                problems.push(ConfigProblem::new(
                    "url",
                    "carries a token= parameter; secrets are never read from files: put the \
                     token in an environment variable and name it with token_env",
                ));
            }
            !token_in_url
        }
        _ => {
            problems.push(ConfigProblem::new(
                "url",
                format!("expected a ws:// or wss:// address, got {text:?}"),
            ));
            false
        }
    });
    let token_env = has("token_env").then(|| r.text("token_env")).flatten();
    let token = token_env
        .as_deref()
        .and_then(|var| env_secret(env, "token_env", var, problems));
    let heartbeat = match has("heartbeat") {
        true => r.duration("heartbeat", DurationRange::positive_up_to(MAX_HEARTBEAT)),
        false => Some(Duration::from_secs(30)),
    };
    Some(WebsocketSettings {
        url: url?,
        token_env,
        heartbeat: heartbeat?,
        token,
    })
}

pub(super) fn read_poll(
    r: &mut Reader<'_>,
    has: &dyn Fn(&str) -> bool,
    default_max_per_day: Option<u64>,
) -> Option<PollSettings> {
    let sources = match has("sources") {
        true => r.list("sources", |item| choose(item, &PLATFORMS)),
        false => Some(Platform::ALL.to_vec()),
    };
    let sources = sources.filter(|list| {
        let empty = list.is_empty();
        if empty {
            r.problem(
                "sources",
                "empty; list the platforms to poll: [\"kalshi\", \"polymarket\"]",
            );
        }
        !empty
    });
    let interval = match has("interval") {
        true => r.duration("interval", DurationRange::positive_up_to(MAX_INTERVAL)),
        false => Some(Duration::from_secs(300)),
    }
    .filter(|interval| {
        let short = *interval < MIN_INTERVAL;
        if short {
            r.problem(
                "interval",
                "under 100ms; every poll is a billed call: poll every few minutes",
            );
        }
        !short
    });
    let mode = match has("mode") {
        true => r.choice(
            "mode",
            &[
                ("fallback", PollMode::Fallback),
                ("always", PollMode::Always),
            ],
        ),
        false => Some(PollMode::Fallback),
    };
    let after = match has("after") {
        true => r.duration("after", DurationRange::positive_up_to(MAX_INTERVAL)),
        false => Some(Duration::from_secs(120)),
    };
    let max_per_day = match has("max_per_day") {
        true => r.unsigned("max_per_day", 0..=1_000_000),
        false => Some(default_max_per_day.unwrap_or(1000)),
    };
    Some(PollSettings {
        sources: sources?,
        interval: interval?,
        mode: mode?,
        after: after?,
        max_per_day: max_per_day?,
    })
}
