//! `shiftbot webhooks ensure|list|delete ID [--dry-run]`: the webhook intakes' registrations
//! with the API ([`crate::intake::registration`]).
//!
//! Exit codes: 0 done, 1 a call failed (nothing is retried: registration calls are billed),
//! 2 nothing to do it with (the embedded simulator, no webhook intake with a `public_url`),
//! 3 the API refused the key.

use std::io::Write;

use crate::cli::exit;
use crate::cli::WebhooksAction;
use crate::configuration::{FeedKind, Settings};
use crate::intake::registration::{
    ensure, remember, RegisterError, RegistrationClient, Wanted, WebhookInfo,
};
use crate::store::{Store, StoreError};

pub fn command(settings: &Settings, action: &WebhooksAction) -> i32 {
    if settings.feed.kind == FeedKind::Sim {
        eprintln!(
            "error: webhooks registers with the API at feed.base_url, and feed.kind is \"sim\": \
             the embedded simulator needs no registration (it pushes to each webhook intake by \
             itself); set feed.kind = \"rekko\""
        );
        return exit::USAGE;
    }
    let client = match RegistrationClient::new(
        &settings.feed.base_url,
        settings.api_key.as_ref(),
        settings.signal.timeout,
    ) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("error: {err}");
            return exit::USAGE;
        }
    };
    let Some(runtime) = super::command_runtime() else {
        return exit::FAILURE;
    };
    let mut out = std::io::stdout().lock();
    let result = runtime.block_on(async {
        match action {
            WebhooksAction::Ensure { dry_run } => {
                ensure_all(settings, &client, *dry_run, &mut out).await
            }
            WebhooksAction::List { json } => list(&client, *json, &mut out).await,
            WebhooksAction::Delete { id, dry_run } => {
                delete(settings, &client, id, *dry_run, &mut out).await
            }
        }
    });
    let _ = out.flush();
    match result {
        Ok(code) => code,
        Err(Failure::Api(err @ RegisterError::Unauthorized { .. })) => {
            eprintln!("error: {err} (set REKKO_API_KEY)");
            exit::UNAUTHORIZED
        }
        Err(err) => {
            eprintln!("error: {err}");
            exit::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Api(#[from] RegisterError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// The store, when this process can open it: the running bot holds it otherwise (then nothing
/// is remembered here; the bot ensures its own registrations at start).
fn open_store(settings: &Settings) -> Result<Option<Store>, Failure> {
    match Store::open(&settings.storage.path) {
        Ok(store) => Ok(Some(store)),
        Err(StoreError::Locked { .. }) => {
            eprintln!(
                "note: the running bot holds the store at {}: what is registered now is not \
                 remembered there (the bot checks its registrations at its next start)",
                settings.storage.path.display()
            );
            Ok(None)
        }
        Err(err) => Err(err.into()),
    }
}

async fn ensure_all(
    settings: &Settings,
    client: &RegistrationClient,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let wanted: Vec<Wanted<'_>> = settings
        .intake
        .iter()
        .filter_map(|intake| {
            let hook = intake.webhook.as_ref()?;
            Some(Wanted {
                intake: &intake.name,
                url: hook.public_url.as_deref()?,
                events: &settings.feed.events,
                secret: hook.secret.as_ref(),
            })
        })
        .collect();
    if wanted.is_empty() {
        eprintln!(
            "error: no webhook intake has a public_url: add public_url = \"https://...\" (the \
             address the API should call) to an [[intake]] of kind \"webhook\""
        );
        return Ok(exit::USAGE);
    }
    let store = match dry_run {
        true => None,
        false => open_store(settings)?,
    };
    let existing = client.list().await?;
    let now = chrono::Utc::now();
    for want in &wanted {
        let steps = ensure(client, want, &existing, dry_run).await?;
        for step in &steps {
            writeln!(out, "{}", step.line(want))?;
        }
        if let Some(store) = &store {
            remember(store, want, &steps, now)?;
        }
    }
    Ok(exit::OK)
}

async fn list(
    client: &RegistrationClient,
    json: bool,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let hooks = client.list().await?;
    if json {
        let rows: Vec<serde_json::Value> = hooks.iter().map(json_row).collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = hooks
        .iter()
        .map(|h| {
            vec![
                h.webhook_id.clone(),
                h.url.clone(),
                h.events.join(","),
                h.enabled.to_string(),
                h.failure_count.to_string(),
                h.created_at.clone(),
            ]
        })
        .collect();
    super::format::table(
        out,
        &[
            "id",
            "url",
            "events",
            "enabled",
            "failure_count",
            "created_at",
        ],
        &rows,
        &[4],
    )?;
    Ok(exit::OK)
}

fn json_row(hook: &WebhookInfo) -> serde_json::Value {
    serde_json::json!({
        "id": hook.webhook_id,
        "url": hook.url,
        "events": hook.events,
        "enabled": hook.enabled,
        "failure_count": hook.failure_count,
        "created_at": hook.created_at,
    })
}

async fn delete(
    settings: &Settings,
    client: &RegistrationClient,
    id: &str,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    if dry_run {
        let hooks = client.list().await?;
        let Some(hook) = hooks.iter().find(|h| h.webhook_id == id) else {
            return Err(RegisterError::NotFound { id: id.to_string() }.into());
        };
        writeln!(out, "would delete {id} ({})", hook.url)?;
        return Ok(exit::OK);
    }
    client.delete(id).await?;
    writeln!(out, "deleted {id}")?;
    if let Some(store) = open_store(settings)? {
        for (intake, registration) in store.registrations()? {
            if registration.webhook_id == id {
                store.set_registration(&intake, None)?;
            }
        }
    }
    Ok(exit::OK)
}
