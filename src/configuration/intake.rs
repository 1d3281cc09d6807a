//! `[[intake]]`: where events come from, any number, each its own table in an array (read like
//! `[[notify]]`: one [`Reader`] per table, problems under `intake[N].`). None (the default)
//! means the `[feed]` stream alone, exactly as before `[[intake]]` existed.

use std::net::SocketAddr;
use std::time::Duration;

use config::{Value, ValueKind};
use serde::{Deserialize, Serialize};

use super::notify::{env_secret, read_name};
use super::problems::ConfigProblem;
use super::reader::Reader;
use super::sections::duration_text;
use super::values::{describe, DurationRange};
use super::Secret;
use crate::intake::webhook::scheme::Scheme;

mod pull;

pub use pull::{PollMode, PollSettings, WebsocketSettings};

/// What kind of source an intake is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntakeKind {
    /// The `[feed]` SSE / JSON-lines stream.
    Stream,
    /// A signed-webhook receiver.
    Webhook,
    /// A WebSocket feed the bot connects to.
    Websocket,
    /// `GET /v1/markets` on an interval, price shifts derived from the quotes.
    Poll,
}

/// One `[[intake]]` table. Webhook keys are `None` / defaults on a stream intake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeSettings {
    /// Unique; in the events' `source`, the decision log and the metrics' `intake` label.
    pub name: String,
    pub kind: IntakeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebsocketSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollSettings>,
}

/// The keys of a `kind = "webhook"` intake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSettings {
    pub listen: SocketAddr,
    pub path: String,
    pub scheme: Scheme,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(with = "duration_text")]
    pub tolerance: Duration,
    pub max_body: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    pub allow_unsigned: bool,
    /// Read from `secret_env` at load; never printed, never stored.
    #[serde(skip)]
    pub secret: Option<Secret>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
const MAX_TOLERANCE: Duration = Duration::from_secs(24 * 3600);
const MAX_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What reading the intakes needs from outside their tables.
pub(crate) struct Context<'a> {
    /// Where secrets are looked up.
    pub env: &'a [(String, String)],
    /// `feed.kind = "sim"`: the simulator signs with a secret made for the run.
    pub sim: bool,
    /// `[poll] max_per_day`, the poll intake's default for its own `max_per_day`.
    pub poll_max_per_day: Option<u64>,
}

/// Read `intake` (an array of tables; `[]` in the default).
pub(crate) fn read_intakes(
    r: &mut Reader<'_>,
    context: &Context<'_>,
) -> Option<Vec<IntakeSettings>> {
    let mut taken: Vec<IntakeSettings> = Vec::new();
    r.tables("intake", |table, own, _| {
        let intake = read_intake(table, context, own)?;
        if !own.is_empty() {
            return None;
        }
        if taken.iter().any(|other| other.name == intake.name) {
            own.push(ConfigProblem::new(
                "name",
                format!(
                    "two intakes are named {:?}; names must be unique",
                    intake.name
                ),
            ));
        }
        if intake.kind == IntakeKind::Stream
            && taken.iter().any(|other| other.kind == IntakeKind::Stream)
        {
            own.push(ConfigProblem::new(
                "kind",
                "a second stream intake: there is one [feed] stream; remove this one",
            ));
        }
        if intake.kind == IntakeKind::Poll && taken.iter().any(|other| other.kind == IntakeKind::Poll)
        {
            own.push(ConfigProblem::new(
                "kind",
                "a second poll intake: one poller covers every platform in its sources; remove this one",
            ));
        }
        if let Some(hook) = &intake.webhook {
            let clash = taken
                .iter()
                .filter_map(|o| o.webhook.as_ref())
                .any(|o| o.listen == hook.listen && o.path == hook.path);
            if clash {
                own.push(ConfigProblem::new(
                    "path",
                    format!(
                        "another webhook intake already receives on {}{}; give each its own path",
                        hook.listen, hook.path
                    ),
                ));
            }
        }
        taken.push(intake.clone());
        Some(intake)
    })
}

fn read_intake(
    table: &config::Map<String, Value>,
    context: &Context<'_>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<IntakeSettings> {
    let env = context.env;
    let mut r = Reader::new(table);
    let has = |key: &str| table.contains_key(key);
    let name = read_name(&mut r, problems);
    let kind = r.choice(
        "kind",
        &[
            ("stream", IntakeKind::Stream),
            ("webhook", IntakeKind::Webhook),
            ("websocket", IntakeKind::Websocket),
            ("poll", IntakeKind::Poll),
        ],
    );
    let (mut webhook, mut websocket, mut poll) = (None, None, None);
    let read = match kind {
        Some(IntakeKind::Webhook) => {
            webhook = read_webhook(&mut r, &has, env, context.sim, problems);
            webhook.is_some()
        }
        Some(IntakeKind::Websocket) => {
            websocket = pull::read_websocket(&mut r, &has, env, problems);
            websocket.is_some()
        }
        Some(IntakeKind::Poll) => {
            poll = pull::read_poll(&mut r, &has, context.poll_max_per_day);
            poll.is_some()
        }
        Some(IntakeKind::Stream) | None => true,
    };
    r.report_unknown_keys(|path| match path {
        "secret" => Some(
            "secrets are never read from files: put it in an environment variable and name it with secret_env"
                .to_string(),
        ),
        "token" => Some(
            "secrets are never read from files: put it in an environment variable and name it with token_env"
                .to_string(),
        ),
        _ => None,
    });
    problems.extend(r.into_problems());
    if !read {
        return None;
    }
    Some(IntakeSettings {
        name: name?,
        kind: kind?,
        webhook,
        websocket,
        poll,
    })
}

fn read_webhook(
    r: &mut Reader<'_>,
    has: &dyn Fn(&str) -> bool,
    env: &[(String, String)],
    sim: bool,
    problems: &mut Vec<ConfigProblem>,
) -> Option<WebhookSettings> {
    let listen = match has("listen") {
        true => r.text("listen"),
        false => Some(DEFAULT_LISTEN.to_string()),
    }
    .and_then(|text| match text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(ConfigProblem::new(
                "listen",
                format!("expected an address and port such as \"127.0.0.1:8787\", got {text:?}"),
            ));
            None
        }
    });
    let path = match has("path") {
        true => r.text("path"),
        false => Some("/webhook".to_string()),
    }
    .filter(|path| {
        let good = path.starts_with('/') && !path.contains(['?', '#', ' ']);
        if !good {
            problems.push(ConfigProblem::new(
                "path",
                format!("expected a path starting with '/' (\"/webhook\"), got {path:?}"),
            ));
        }
        good
    });
    let scheme = r.choice("scheme", &Scheme::ALL.map(|s| (s.as_str(), s)));
    let secret_env = has("secret_env").then(|| r.text("secret_env")).flatten();
    let tolerance = match has("tolerance") {
        true => r.duration("tolerance", DurationRange::positive_up_to(MAX_TOLERANCE)),
        false => Some(Duration::from_secs(300)),
    };
    let max_body = match has("max_body") {
        true => r.read("max_body", |kind| byte_size(kind, MAX_BODY_LIMIT)),
        false => Some(64 * 1024),
    };
    let public_url = has("public_url").then(|| r.text("public_url")).flatten();
    let allow_unsigned = match has("allow_unsigned") {
        true => r.boolean("allow_unsigned"),
        false => Some(false),
    };
    if let Some(url) = &public_url {
        match reqwest::Url::parse(url) {
            Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
            _ => problems.push(ConfigProblem::new(
                "public_url",
                format!("expected the https:// address the API should call, got {url:?}"),
            )),
        }
    }
    let secret = secret_env
        .as_deref()
        .and_then(|var| env_secret(env, "secret_env", var, problems));
    if secret_env.is_none() {
        let loopback = listen.is_some_and(|addr| addr.ip().is_loopback());
        match (allow_unsigned, loopback) {
            (Some(true), true) => {}
            // feed.kind = "sim": the bot makes a secret for the run and the simulator signs
            // with it (nothing to configure, still verified).
            (Some(false), _) if sim => {}
            (Some(true), false) => problems.push(ConfigProblem::new(
                "allow_unsigned",
                "an unsigned receiver may listen on loopback only; set secret_env, or listen on 127.0.0.1",
            )),
            _ => problems.push(ConfigProblem::new(
                "secret_env",
                "missing; a webhook intake verifies signatures with the secret in this environment variable (allow_unsigned = true accepts unsigned posts, on loopback only)",
            )),
        }
    }
    Some(WebhookSettings {
        listen: listen?,
        path: path?,
        scheme: scheme?,
        secret_env,
        tolerance: tolerance?,
        max_body: max_body?,
        public_url,
        allow_unsigned: allow_unsigned?,
        secret,
    })
}

/// A size in bytes: an integer, or text such as `"64KiB"`, `"1MiB"`, `"512B"`.
fn byte_size(kind: &ValueKind, max: usize) -> Result<usize, String> {
    let bytes = match kind {
        ValueKind::I64(n) if *n > 0 => usize::try_from(*n).ok(),
        ValueKind::U64(n) if *n > 0 => usize::try_from(*n).ok(),
        ValueKind::String(text) => {
            let text = text.trim();
            let split = text
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(text.len());
            let (digits, unit) = text.split_at(split);
            let scale = match unit.trim() {
                "" | "B" => Some(1),
                "KiB" => Some(1024),
                "MiB" => Some(1024 * 1024),
                _ => None,
            };
            digits
                .parse::<usize>()
                .ok()
                .zip(scale)
                .and_then(|(n, s)| n.checked_mul(s))
                .filter(|n| *n > 0)
        }
        _ => None,
    };
    match bytes {
        Some(n) if n <= max => Ok(n),
        Some(_) => Err(format!("at most {} MiB", max / (1024 * 1024))),
        None => Err(format!(
            "expected a size such as 65536, \"64KiB\" or \"1MiB\", got {}",
            describe(kind)
        )),
    }
}
