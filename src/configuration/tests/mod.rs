//! Tests of loading, layering and validation, with real files in temp dirs and explicit
//! environments (never the process environment).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use strategies::filter::Direction;
use strategies::{MarketKey, Platform};

use super::*;

mod intake;
mod loading;
mod notify;
mod validation;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    Settings::load(LoadOptions {
        file: None,
        env: env(pairs),
    })
}

/// A config file in a temp dir that lives as long as the returned guard.
fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shiftbot.toml");
    let mut file = std::fs::File::create(&path).expect("create config file");
    file.write_all(text.as_bytes()).expect("write config file");
    (dir, path)
}

fn load_text(text: &str) -> Result<Settings, ConfigErrors> {
    load_with(text, &[])
}

/// A config file of `text`, with these environment variables.
fn load_with(text: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    let (_dir, path) = file_with(text);
    Settings::load(LoadOptions {
        file: Some(path),
        env: env(vars),
    })
}

fn errors_of(result: Result<Settings, ConfigErrors>) -> ConfigErrors {
    match result {
        Ok(settings) => panic!("expected errors, got {settings:?}"),
        Err(errors) => errors,
    }
}

fn message_for<'a>(errors: &'a ConfigErrors, path: &str) -> &'a str {
    match errors.problems().iter().find(|p| p.path == path) {
        Some(problem) => &problem.message,
        None => panic!("no problem for {path} in {errors}"),
    }
}

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}
