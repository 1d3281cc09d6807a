//! Webhook registration with the API (seed 001): `POST/GET/DELETE {base_url}/v1/webhooks`,
//! and [`plan`], the pure rule `webhooks ensure` follows.
//!
//! `ensure` registers each webhook intake's `public_url` for `feed.events`, idempotently: a
//! matching enabled registration (same URL, same set of events) is reused; others for the same
//! URL (disabled, other events, duplicates) are deleted and one new registration is made.
//! What was registered is remembered in the store ([`crate::store::intakes::Registration`]),
//! so a restart of the bot costs no call. Registration calls are billed: nothing here retries
//! or loops; a failure is reported and left to the operator.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};

use crate::configuration::Secret;
use crate::signal::http::{
    auth_headers, bearer, build_client, call, endpoint, status_text, CallError, ClientError,
    Redactor,
};
use crate::store::intakes::Registration;

const BODY_CAP: usize = 1024 * 1024;

/// One registration as the API reports it (`WebhookInfo`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    #[serde(default)]
    pub failure_count: u64,
    #[serde(default)]
    pub created_at: String,
}

fn enabled_default() -> bool {
    true
}

/// What `ensure` does for one intake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The registration to keep, if one matches.
    pub reuse: Option<String>,
    /// Registrations of the same URL to delete, with why.
    pub delete: Vec<(String, &'static str)>,
    /// Whether a new registration is needed.
    pub create: bool,
}

/// The rule: keep the first enabled registration of `url` for exactly `events` (as a set);
/// delete every other registration of `url`; create one when none was kept. Registrations of
/// other URLs are not this intake's and are left alone.
pub fn plan(url: &str, events: &[String], existing: &[WebhookInfo]) -> Plan {
    let wanted: BTreeSet<&str> = events.iter().map(String::as_str).collect();
    let mut plan = Plan::default();
    for hook in existing.iter().filter(|h| h.url == url) {
        let same_events = hook
            .events
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            == wanted;
        let why = match (hook.enabled, same_events, &plan.reuse) {
            (true, true, None) => {
                plan.reuse = Some(hook.webhook_id.clone());
                continue;
            }
            (true, true, Some(_)) => "duplicate",
            (false, _, _) => "disabled",
            (true, false, _) => "events differ",
        };
        plan.delete.push((hook.webhook_id.clone(), why));
    }
    plan.create = plan.reuse.is_none();
    plan
}

/// One webhook intake's wanted registration.
pub struct Wanted<'a> {
    pub intake: &'a str,
    pub url: &'a str,
    pub events: &'a [String],
    pub secret: Option<&'a Secret>,
}

/// What [`ensure`] did (or, dry, would do), one line each, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Kept(WebhookInfo),
    Deleted { id: String, why: &'static str },
    Registered(WebhookInfo),
    WouldDelete { id: String, why: &'static str },
    WouldRegister,
}

impl Step {
    /// The line `webhooks ensure` prints for it.
    pub fn line(&self, wanted: &Wanted<'_>) -> String {
        let events = wanted.events.join(",");
        let name = wanted.intake;
        match self {
            Step::Kept(h) => format!(
                "{name}: kept {} ({} for {})",
                h.webhook_id,
                h.url,
                h.events.join(",")
            ),
            Step::Deleted { id, why } => format!("{name}: deleted {id} ({why})"),
            Step::Registered(h) => format!(
                "{name}: registered {} ({} for {})",
                h.webhook_id,
                h.url,
                h.events.join(",")
            ),
            Step::WouldDelete { id, why } => format!("{name}: would delete {id} ({why})"),
            Step::WouldRegister => format!("{name}: would register {} for {events}", wanted.url),
        }
    }

    /// The registration in force after this step, if it names one.
    pub fn in_force(&self) -> Option<&WebhookInfo> {
        match self {
            Step::Kept(h) | Step::Registered(h) => Some(h),
            _ => None,
        }
    }
}

/// Carry out [`plan`] against `existing` (what `GET /v1/webhooks` answered): deletes first,
/// then at most one create. Stops at the first failure (nothing is retried: calls are billed).
pub async fn ensure(
    client: &RegistrationClient,
    wanted: &Wanted<'_>,
    existing: &[WebhookInfo],
    dry_run: bool,
) -> Result<Vec<Step>, RegisterError> {
    let plan = plan(wanted.url, wanted.events, existing);
    let mut steps = Vec::new();
    if let Some(id) = &plan.reuse {
        if let Some(hook) = existing.iter().find(|h| &h.webhook_id == id) {
            steps.push(Step::Kept(hook.clone()));
        }
    }
    for (id, why) in plan.delete {
        if dry_run {
            steps.push(Step::WouldDelete { id, why });
            continue;
        }
        match client.delete(&id).await {
            // Gone meanwhile: what was wanted.
            Ok(()) | Err(RegisterError::NotFound { .. }) => steps.push(Step::Deleted { id, why }),
            Err(err) => return Err(err),
        }
    }
    if plan.create {
        match dry_run {
            true => steps.push(Step::WouldRegister),
            false => steps.push(Step::Registered(
                client
                    .create(wanted.url, wanted.events, wanted.secret)
                    .await?,
            )),
        }
    }
    Ok(steps)
}

/// Remember the registration in force for `wanted.intake` (forget it when none is).
pub fn remember(
    store: &crate::store::Store,
    wanted: &Wanted<'_>,
    steps: &[Step],
    now: strategies::Timestamp,
) -> Result<(), crate::store::StoreError> {
    let kept = steps
        .iter()
        .find_map(Step::in_force)
        .map(|hook| Registration {
            webhook_id: hook.webhook_id.clone(),
            url: hook.url.clone(),
            events: hook.events.clone(),
            registered_at: now,
        });
    store.set_registration(wanted.intake, kept.as_ref())
}

/// Whether the store's memory already covers `wanted`: the same URL and set of events. A bot
/// restarted with an unchanged configuration then makes no registration call at all.
pub fn remembered(registration: Option<&Registration>, wanted: &Wanted<'_>) -> bool {
    let set = |events: &[String]| events.iter().cloned().collect::<BTreeSet<String>>();
    registration.is_some_and(|r| r.url == wanted.url && set(&r.events) == set(wanted.events))
}

/// Why a registration call failed; the text is safe to print (no key, no secret).
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("the API refused the key: {}", status_text(*status))]
    Unauthorized { status: reqwest::StatusCode },
    #[error("no webhook {id} at the API")]
    NotFound { id: String },
    #[error("the answer cannot be read: {reason}")]
    Decode { reason: String },
}

/// The HTTP client for `/v1/webhooks`.
pub struct RegistrationClient {
    http: reqwest::Client,
    base_url: String,
    auth: Option<HeaderValue>,
    redactor: Redactor,
}

impl RegistrationClient {
    /// `secrets` are every secret a request or an answer might carry (the key is one): each is
    /// redacted from error text.
    pub fn new(
        base_url: &str,
        api_key: Option<&Secret>,
        timeout: Duration,
    ) -> Result<RegistrationClient, ClientError> {
        let base = endpoint(base_url, "")?;
        Ok(RegistrationClient {
            http: build_client(&base, timeout)?,
            base_url: base_url.to_string(),
            auth: bearer(api_key)?,
            redactor: Redactor::new(api_key),
        })
    }

    /// `GET /v1/webhooks`: a list, or an object holding it under `webhooks` or `data`.
    pub async fn list(&self) -> Result<Vec<WebhookInfo>, RegisterError> {
        let url = endpoint(&self.base_url, "/v1/webhooks")?;
        let body = self
            .send(self.http.get(url).headers(auth_headers(&self.auth)), None)
            .await?;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Listing {
            List(Vec<WebhookInfo>),
            Wrapped {
                #[serde(alias = "data")]
                webhooks: Vec<WebhookInfo>,
            },
        }
        match serde_json::from_slice::<Listing>(&body) {
            Ok(Listing::List(list) | Listing::Wrapped { webhooks: list }) => Ok(list),
            Err(e) => Err(RegisterError::Decode {
                reason: format!("not a list of webhooks: {e}"),
            }),
        }
    }

    /// `POST /v1/webhooks` `{url, events, secret}`.
    pub async fn create(
        &self,
        url: &str,
        events: &[String],
        secret: Option<&Secret>,
    ) -> Result<WebhookInfo, RegisterError> {
        let endpoint = endpoint(&self.base_url, "/v1/webhooks")?;
        let body = serde_json::json!({
            "url": url,
            "events": events,
            "secret": secret.map(Secret::expose).unwrap_or_default(),
        });
        let redactor = secret.map(|s| Redactor::new(Some(s)));
        let answer = self
            .send(
                self.http
                    .post(endpoint)
                    .headers(auth_headers(&self.auth))
                    .json(&body),
                redactor.as_ref(),
            )
            .await?;
        serde_json::from_slice(&answer).map_err(|e| RegisterError::Decode {
            reason: format!("not a webhook: {e}"),
        })
    }

    /// `DELETE /v1/webhooks/{id}`.
    pub async fn delete(&self, id: &str) -> Result<(), RegisterError> {
        let mut url = endpoint(&self.base_url, "/v1/webhooks")?;
        url.path_segments_mut()
            .map_err(|()| ClientError::NoPath)?
            .push(id);
        match self
            .send(
                self.http.delete(url).headers(auth_headers(&self.auth)),
                None,
            )
            .await
        {
            Err(RegisterError::Call(CallError::Status { status, .. }))
                if status.as_u16() == 404 =>
            {
                Err(RegisterError::NotFound { id: id.to_string() })
            }
            other => other.map(drop),
        }
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        secret: Option<&Redactor>,
    ) -> Result<Vec<u8>, RegisterError> {
        // The webhook secret travels in a create's body: an echo of it is cleaned too.
        let clean = |text: String| secret.map_or_else(|| text.clone(), |r| r.clean(&text));
        match call(request, BODY_CAP, &self.redactor).await {
            Ok(body) => Ok(body),
            Err(CallError::Status { status, .. }) if matches!(status.as_u16(), 401 | 403) => {
                Err(RegisterError::Unauthorized { status })
            }
            Err(CallError::Status { status, excerpt }) => Err(CallError::Status {
                status,
                excerpt: clean(excerpt),
            }
            .into()),
            Err(CallError::Transport { detail, source }) => Err(CallError::Transport {
                detail: clean(detail),
                source,
            }
            .into()),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(id: &str, url: &str, events: &[&str], enabled: bool) -> WebhookInfo {
        WebhookInfo {
            webhook_id: id.into(),
            url: url.into(),
            events: events.iter().map(|e| (*e).to_string()).collect(),
            enabled,
            failure_count: 0,
            created_at: String::new(),
        }
    }

    #[test]
    fn ensure_reuses_a_match_replaces_the_rest_and_leaves_other_urls_alone() {
        let url = "https://bot.example.com/webhook";
        let events = vec!["price_shift".to_string(), "whale_alert".to_string()];
        assert_eq!(
            plan(url, &events, &[]),
            Plan {
                reuse: None,
                delete: vec![],
                create: true
            }
        );
        let existing = [
            hook(
                "other",
                "https://else.example.com/x",
                &["price_shift"],
                false,
            ),
            hook("off", url, &["price_shift", "whale_alert"], false),
            hook("narrow", url, &["price_shift"], true),
            hook("keep", url, &["whale_alert", "price_shift"], true),
            hook("twin", url, &["price_shift", "whale_alert"], true),
        ];
        let p = plan(url, &events, &existing);
        assert_eq!(
            p.reuse.as_deref(),
            Some("keep"),
            "the event order does not matter"
        );
        assert_eq!(
            p.delete,
            vec![
                ("off".to_string(), "disabled"),
                ("narrow".to_string(), "events differ"),
                ("twin".to_string(), "duplicate")
            ]
        );
        assert!(!p.create);
        // Only a disabled match: replaced.
        let p = plan(url, &events, &existing[..2]);
        assert_eq!((p.reuse, p.create), (None, true));
        assert_eq!(p.delete, vec![("off".to_string(), "disabled")]);
    }
}
