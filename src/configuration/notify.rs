//! `[[notify]]`: the notification sinks, any number, each its own table in an array.
//!
//! The reader's one-key-at-a-time schema cannot name array items, so each sink's table is read
//! by a [`Reader`] of its own and its problems are put under `notify[N].`; keys a sink may
//! leave out get their defaults here. URLs, tokens and secrets are never in the file: a sink
//! names the environment variable (`url_env`, `token_env`, `secret_env`) and its value is
//! read once, at load, into a [`Secret`].

use std::time::Duration;

use config::{Value, ValueKind};
use serde::{Deserialize, Serialize};

use super::problems::ConfigProblem;
use super::reader::Reader;
use super::sections::duration_text;
use super::values::{describe, DurationRange};
use super::Secret;

/// Where a sink sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// A JSON POST signed with `x-webhook-signature` and the Standard Webhooks headers.
    Webhook,
    /// A Slack incoming webhook: `{"text"}`.
    Slack,
    /// A Discord webhook: `{"content"}`, at most 2,000 characters.
    Discord,
    /// A Telegram bot's `sendMessage`, at most 4,096 characters.
    Telegram,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::Slack => "slack",
            SinkKind::Discord => "discord",
            SinkKind::Telegram => "telegram",
        }
    }
}

/// What a sink is told about (`on`). The names are a contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    Open,
    Close,
    Settle,
    Error,
    Daily,
}

impl NotifyOn {
    pub const ALL: [NotifyOn; 5] = [
        NotifyOn::Open,
        NotifyOn::Close,
        NotifyOn::Settle,
        NotifyOn::Error,
        NotifyOn::Daily,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOn::Open => "open",
            NotifyOn::Close => "close",
            NotifyOn::Settle => "settle",
            NotifyOn::Error => "error",
            NotifyOn::Daily => "daily",
        }
    }
}

/// One `[[notify]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySink {
    /// Unique; in logs and the metrics' `sink` label.
    pub name: String,
    pub kind: SinkKind,
    /// The variable holding the URL (webhook, slack, discord).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// The variable holding the Telegram bot token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// The variable holding the webhook's signing secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Telegram: the chat to post in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    /// Telegram: the Bot API's address (a proxy, or a local one in tests).
    pub api_url: String,
    pub on: Vec<NotifyOn>,
    /// An `error` message when no event has arrived for this long.
    #[serde(with = "duration_text")]
    pub feed_down_after: Duration,
    /// The daily summary's time of day, UTC, `HH:MM`.
    pub daily_at: String,
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Undelivered messages kept for this sink; past it new ones are dropped and counted.
    pub max_backlog: u64,
    /// Read from `url_env` / `token_env` at load; never printed, never stored.
    #[serde(skip)]
    pub url: Option<Secret>,
    #[serde(skip)]
    pub token: Option<Secret>,
    #[serde(skip)]
    pub secret: Option<Secret>,
}

impl NotifySink {
    pub fn wants(&self, what: NotifyOn) -> bool {
        self.on.contains(&what)
    }

    /// `daily_at` as hours and minutes (validated at load).
    pub fn daily_time(&self) -> chrono::NaiveTime {
        parse_time(&self.daily_at).unwrap_or(chrono::NaiveTime::MIN)
    }
}

const TELEGRAM_API: &str = "https://api.telegram.org";
const MAX_SINK_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_FEED_DOWN_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_BACKLOG: u64 = 1_000_000;

fn parse_time(text: &str) -> Option<chrono::NaiveTime> {
    chrono::NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()
}

/// Read `notify` (an array of tables; `[]` in the default). Problems go to `r` under
/// `notify[N].key`; secrets are looked up in `env`.
pub(crate) fn read_notify(r: &mut Reader<'_>, env: &[(String, String)]) -> Option<Vec<NotifySink>> {
    let mut names: Vec<String> = Vec::new();
    r.tables("notify", |table, own, outer| {
        if let Some(ValueKind::String(name)) = table.get("name").map(|v| &v.kind) {
            if names.contains(name) {
                outer.push(ConfigProblem::new(
                    "notify",
                    format!("two sinks are named {name:?}; names must be unique"),
                ));
            }
            names.push(name.clone());
        }
        read_sink(table, env, own)
    })
}

fn read_sink(
    table: &config::Map<String, Value>,
    env: &[(String, String)],
    problems: &mut Vec<ConfigProblem>,
) -> Option<NotifySink> {
    let mut r = Reader::new(table);
    let has = |key: &str| table.contains_key(key);
    let name = read_name(&mut r, problems);
    let kind = r.choice(
        "kind",
        &[
            ("webhook", SinkKind::Webhook),
            ("slack", SinkKind::Slack),
            ("discord", SinkKind::Discord),
            ("telegram", SinkKind::Telegram),
        ],
    );
    let optional_text = |r: &mut Reader<'_>, key: &str| has(key).then(|| r.text(key)).flatten();
    let url_env = optional_text(&mut r, "url_env");
    let token_env = optional_text(&mut r, "token_env");
    let secret_env = optional_text(&mut r, "secret_env");
    let chat_id = has("chat_id").then(|| r.read("chat_id", chat_id)).flatten();
    let api_url = match has("api_url") {
        true => r.text("api_url"),
        false => Some(TELEGRAM_API.to_string()),
    };
    let on = match has("on") {
        true => r.list("on", |kind| {
            super::values::choose(kind, &NotifyOn::ALL.map(|on| (on.as_str(), on)))
        }),
        false => Some(NotifyOn::ALL.to_vec()),
    };
    let feed_down_after = match has("feed_down_after") {
        true => r.duration(
            "feed_down_after",
            DurationRange::positive_up_to(MAX_FEED_DOWN_AFTER),
        ),
        false => Some(Duration::from_secs(300)),
    };
    let daily_at = match has("daily_at") {
        true => r.text("daily_at").filter(|text| {
            let good = parse_time(text).is_some();
            if !good {
                problems.push(ConfigProblem::new(
                    "daily_at",
                    format!("expected a UTC time of day as HH:MM (\"08:30\"), got {text:?}"),
                ));
            }
            good
        }),
        false => Some("00:00".to_string()),
    };
    let timeout = match has("timeout") {
        true => r.duration("timeout", DurationRange::positive_up_to(MAX_SINK_TIMEOUT)),
        false => Some(Duration::from_secs(10)),
    };
    let max_backlog = match has("max_backlog") {
        true => r.unsigned("max_backlog", 1..=MAX_BACKLOG),
        false => Some(10_000),
    };
    r.report_unknown_keys(|path| {
        ["url", "token", "secret"]
            .contains(&path)
            .then(|| format!("secrets are never read from files: put it in an environment variable and name it with {path}_env"))
    });
    problems.extend(r.into_problems());
    let kind = kind?;
    // What each kind needs, and what it cannot use.
    let needs: &[(&str, &Option<String>)] = match kind {
        SinkKind::Webhook => &[("url_env", &url_env), ("secret_env", &secret_env)],
        SinkKind::Slack | SinkKind::Discord => &[("url_env", &url_env)],
        SinkKind::Telegram => &[("token_env", &token_env), ("chat_id", &chat_id)],
    };
    for (key, value) in needs {
        if value.is_none() && !problems.iter().any(|p| p.path == *key) {
            problems.push(ConfigProblem::new(
                *key,
                format!("missing; a {} sink needs it", kind.as_str()),
            ));
        }
    }
    let unused: &[(&str, bool)] = match kind {
        SinkKind::Webhook => &[
            ("token_env", token_env.is_some()),
            ("chat_id", chat_id.is_some()),
        ],
        SinkKind::Slack | SinkKind::Discord => &[
            ("token_env", token_env.is_some()),
            ("secret_env", secret_env.is_some()),
            ("chat_id", chat_id.is_some()),
        ],
        SinkKind::Telegram => &[
            ("url_env", url_env.is_some()),
            ("secret_env", secret_env.is_some()),
        ],
    };
    for (key, set) in unused {
        if *set {
            problems.push(ConfigProblem::new(
                *key,
                format!("not used by a {} sink; remove it", kind.as_str()),
            ));
        }
    }
    let mut resolve =
        |key: &str, var: &Option<String>| env_secret(env, key, var.as_deref()?, problems);
    let url = resolve("url_env", &url_env);
    let token = resolve("token_env", &token_env);
    let secret = resolve("secret_env", &secret_env);
    if let Some(url) = &url {
        if let Err(why) = check_url(url.expose()) {
            // The URL is a secret (a Slack or Discord URL is its own credential): not echoed.
            problems.push(ConfigProblem::new(
                "url_env",
                format!(
                    "the value of {} is not a usable URL: {why}",
                    url_env.clone().unwrap_or_default()
                ),
            ));
        }
    }
    if let Some(api_url) = &api_url {
        if let Err(why) = check_url(api_url) {
            problems.push(ConfigProblem::new(
                "api_url",
                format!("{why}, got {api_url:?}"),
            ));
        }
    }
    Some(NotifySink {
        name: name?,
        kind,
        url_env,
        token_env,
        secret_env,
        chat_id,
        api_url: api_url?.trim_end_matches('/').to_string(),
        on: on?,
        feed_down_after: feed_down_after?,
        daily_at: daily_at?,
        timeout: timeout?,
        max_backlog: max_backlog?,
        url,
        token,
        secret,
    })
}

/// The `name` of an array item (a sink, an intake): 1 to 64 letters, digits, `-` or `_`, as
/// it goes into metric labels and store keys.
pub(super) fn read_name(r: &mut Reader<'_>, problems: &mut Vec<ConfigProblem>) -> Option<String> {
    r.text("name").filter(|name| {
        let good = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !good {
            problems.push(ConfigProblem::new(
                "name",
                format!("expected 1 to 64 letters, digits, '-' or '_', got {name:?}"),
            ));
        }
        good
    })
}

/// The secret in the environment variable `var` (named by the key `key`), or a problem.
pub(super) fn env_secret(
    env: &[(String, String)],
    key: &str,
    var: &str,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Secret> {
    match env.iter().rev().find(|(k, _)| k == var).map(|(_, v)| v) {
        Some(value) if !value.trim().is_empty() => Some(Secret::new(value.trim())),
        _ => {
            problems.push(ConfigProblem::new(
                key,
                format!("the environment variable {var} is not set (or empty)"),
            ));
            None
        }
    }
}

fn chat_id(kind: &ValueKind) -> Result<String, String> {
    match kind {
        ValueKind::I64(n) => Ok(n.to_string()),
        ValueKind::U64(n) => Ok(n.to_string()),
        ValueKind::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        other => Err(format!(
            "expected a chat id (a number, or \"@channel\"), got {}",
            describe(other)
        )),
    }
}

/// An `http://` or `https://` URL with a host.
fn check_url(text: &str) -> Result<(), String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
        Ok(_) => Err("expected an http:// or https:// URL with a host".to_string()),
        Err(err) => Err(format!("not a URL ({err})")),
    }
}
