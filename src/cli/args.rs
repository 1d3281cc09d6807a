//! The command line, as clap derive types. Subcommand names, flags and their meaning are a
//! public contract (scripts call them); add new subcommands rather than change these.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::{DecisionsArgs, LedgerArgs, PositionsArgs, ReportArgs};
use crate::replay::cli::{ExportArgs, ReplayArgs, SweepArgs};
use crate::telemetry::LogFormat;

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "shiftbot",
    version,
    about = "Headless paper-trading bot for prediction markets, driven by the Rekko API's price shifts",
    after_help = "Exit codes: 0 ok; 1 failure; 2 bad configuration or usage; 3 the API rejected the key; \
                  4 the store could not be written (disk full).\n\
                  Settings: config/default.toml < --config FILE < SHIFTBOT__SECTION__KEY variables; \
                  the API key only from REKKO_API_KEY.",
    propagate_version = true
)]
pub struct Cli {
    /// Config file layered over the built-in default (then SHIFTBOT__SECTION__KEY variables).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format on stderr; filter with RUST_LOG (default "info").
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bot: stream events, decide, paper-trade, persist. Stops cleanly on SIGINT/SIGTERM.
    Run,
    /// Serve the Rekko-compatible simulator on its own (stream, signals, shadow trades), or
    /// record a synthetic session of its events for `replay`.
    Sim {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(
            long,
            value_name = "ADDR",
            required_unless_present = "record",
            conflicts_with = "record"
        )]
        listen: Option<String>,
        /// Instead of serving, write a synthetic session (NDJSON, as `export-events`) here.
        #[arg(long, value_name = "FILE", requires = "events")]
        record: Option<PathBuf>,
        /// Number of events to record.
        #[arg(long, value_name = "N", requires = "record")]
        events: Option<u64>,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Open positions at their last prices: side, contracts, average and last price, value,
    /// unrealized P&L, age.
    Positions(PositionsArgs),
    /// The paper trades, newest last.
    Ledger(LedgerArgs),
    /// Why each event was or was not traded, one line per decided event.
    Decisions(DecisionsArgs),
    /// Performance: equity, P&L, fees, win rate, profit factor, drawdown, Sharpe, exposure.
    Report(ReportArgs),
    /// Settle a resolved market by hand (with the bot stopped): each winning contract is paid
    /// 1, each losing one 0. Settling a market with no open position does nothing.
    Settle(crate::settle::SettleArgs),
    /// Write every received event, with the signal it got, and every settlement, as NDJSON
    /// (ready to replay).
    ExportEvents(ExportArgs),
    /// Replay recorded events through the core with this config and report the result.
    Replay(ReplayArgs),
    /// Replay recorded events under every combination of config values, ranked by a metric.
    Sweep(SweepArgs),
    /// Merge the shard files of a sweep run as `sweep --shard I/N` into the table one run
    /// prints.
    SweepMerge(crate::replay::cli::SweepMergeArgs),
    /// Make the running bot reload its configuration (as SIGHUP does), through its admin
    /// listener; prints what changed and what was refused. Needs SHIFTBOT_ADMIN_TOKEN unless
    /// admin.local_writes = true.
    Reload,
    /// Stop opening positions: events are still decided (as `paused`), exits and settlement
    /// keep running; survives a restart. Through the running bot, or on the stopped store.
    Pause,
    /// Open positions again after `pause`.
    Resume,
    /// Close a market's position by hand: a paper sale at its last price, recorded like an
    /// exit with reason `manual`.
    Close(crate::commands::control::CloseArgs),
    /// Notification sinks: `notify test [--sink NAME]` sends each one a test message.
    Notify {
        #[command(subcommand)]
        action: NotifyAction,
    },
    /// Webhook registrations with the API (`/v1/webhooks`): `ensure` registers each webhook
    /// intake's `public_url` for `feed.events` (idempotently), `list` shows them, `delete ID`
    /// removes one. Each call is billed by the API.
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Check or back up the store.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Archive the store and start again with a fresh bankroll.
    Reset {
        /// Confirm: without it nothing is changed.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Send one test message to each `[[notify]]` sink and print what each answered.
    Test {
        /// Only this sink.
        #[arg(long, value_name = "NAME")]
        sink: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Register each webhook intake's `public_url`, reusing a matching enabled registration
    /// and replacing the others of that URL; what is registered is remembered in the store.
    Ensure {
        /// Print what would be done; register and delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The registrations: id, url, events, enabled, failure_count, created_at.
    List {
        /// One JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Delete one registration.
    Delete {
        /// Its id (`webhooks list`).
        id: String,
        /// Print what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StoreAction {
    /// Check that the store agrees with itself: every record reads, the counters match, the
    /// cash follows the trades, the positions are what the trades left open (bot stopped).
    Verify,
    /// Write a consistent copy of the store to DIR (new or empty), while the bot runs or not;
    /// the copy is verified. Restore by pointing storage.path at it.
    Backup {
        /// Where to write the copy.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// What the store holds, tree by tree (entries, key and value bytes), its size on disk
    /// and the bytes per decision (bot stopped).
    Stats,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate and print the effective configuration (secrets redacted).
    Check {
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("shiftbot").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_and_log_format_go_before_or_after_the_subcommand() {
        let before = parse(&["--config", "a.toml", "--log-format", "json", "run"]).expect("parses");
        let after = parse(&["run", "--config", "a.toml", "--log-format", "json"]).expect("parses");
        for cli in [before, after] {
            assert_eq!(cli.config, Some(PathBuf::from("a.toml")));
            assert_eq!(cli.log_format, LogFormat::Json);
            assert!(matches!(cli.command, Command::Run));
        }
        let defaults = parse(&["run"]).expect("parses");
        assert_eq!(
            (defaults.config, defaults.log_format),
            (None, LogFormat::Text)
        );
    }

    #[test]
    fn subcommands_and_their_flags_parse() {
        assert!(matches!(
            parse(&["sim", "--listen", "127.0.0.1:0"]).expect("parses").command,
            Command::Sim { listen: Some(listen), record: None, events: None } if listen == "127.0.0.1:0"
        ));
        assert!(matches!(
            parse(&["sim", "--record", "e.ndjson", "--events", "10"]).expect("parses").command,
            Command::Sim { listen: None, record: Some(file), events: Some(10) }
                if file == std::path::Path::new("e.ndjson")
        ));
        assert!(matches!(
            parse(&["export-events", "--since", "24h"])
                .expect("parses")
                .command,
            Command::ExportEvents(ExportArgs { since: Some(_) })
        ));
        assert!(matches!(
            parse(&["replay", "--events", "e.ndjson", "--json"])
                .expect("parses")
                .command,
            Command::Replay(ReplayArgs {
                json: true,
                chart: None,
                ..
            })
        ));
        match parse(&[
            "sweep",
            "--events",
            "e.ndjson",
            "--set",
            "filter.min_shift_pct=2,3",
            "--set",
            "sizing.kelly_fraction=0.1",
            "--by",
            "sharpe",
            "--csv",
        ])
        .expect("parses")
        .command
        {
            Command::Sweep(args) => {
                assert_eq!(args.sets.len(), 2);
                assert_eq!(args.sets[0].values, ["2", "3"]);
                assert_eq!(args.by, crate::replay::Metric::Sharpe);
                assert!(args.csv && !args.json);
            }
            other => panic!("not a sweep: {other:?}"),
        }
        assert!(matches!(
            parse(&["config", "check", "--json"])
                .expect("parses")
                .command,
            Command::Config {
                action: ConfigAction::Check { json: true }
            }
        ));
        assert!(matches!(
            parse(&["decisions", "--json"]).expect("parses").command,
            Command::Decisions(DecisionsArgs { json: true, .. })
        ));
        assert!(matches!(
            parse(&["ledger"]).expect("parses").command,
            Command::Ledger(LedgerArgs {
                json: false,
                csv: false,
                ..
            })
        ));
        assert!(matches!(
            parse(&["reset"]).expect("parses").command,
            Command::Reset { yes: false }
        ));
        assert!(matches!(
            parse(&["reset", "--yes"]).expect("parses").command,
            Command::Reset { yes: true }
        ));
    }

    #[test]
    fn usage_errors_are_exit_code_2() {
        for args in [
            &["fly"][..],
            &["--log-format", "xml", "run"],
            &["sim"],
            &[],
            &[
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--record",
                "e.ndjson",
                "--events",
                "1",
            ],
            &["sim", "--record", "e.ndjson"],
            &["replay"],
            &["sweep", "--events", "e.ndjson"],
            &["sweep", "--events", "e", "--set", "filter.min_shift_pct"],
            &["sweep", "--events", "e", "--set", "Filter.Min=1"],
            &[
                "sweep",
                "--events",
                "e",
                "--set",
                "filter.min_shift_pct=1,,2",
            ],
            &[
                "sweep", "--events", "e", "--set", "a.b=1", "--json", "--csv",
            ],
            &["export-events", "--since", "yesterday"],
        ] {
            let err = parse(args).expect_err("usage error");
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
        assert_eq!(
            parse(&["--help"])
                .expect_err("help is an early exit")
                .exit_code(),
            0
        );
    }
}
