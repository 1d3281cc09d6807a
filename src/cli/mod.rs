//! The command-line shell: parse arguments, load settings, install logging, dispatch, and turn
//! every outcome into an exit code (a public contract):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | ok |
//! | 1 | any other failure |
//! | 2 | bad configuration or bad usage |
//! | 3 | the API rejected the key (401/403) |
//! | 4 | the store could not be written (disk full, I/O error); what was acknowledged is intact |
//!
//! Command output goes to stdout; logs and errors to stderr.

mod args;
mod signals;

use std::io::{self, BufWriter, Write};
use std::time::Duration;

use clap::Parser;
use tokio::sync::watch;

pub use args::{Cli, Command, ConfigAction, NotifyAction, StoreAction, WebhooksAction};

use crate::commands::{ReviewCommand, ReviewTarget};
use crate::configuration::{ConfigErrors, Settings};
use crate::telemetry;

/// Exit codes.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const UNAUTHORIZED: i32 = 3;
    pub const STORE_WRITE: i32 = 4;
}

/// How long the runtime may take to wind down after the work itself has returned.
const RUNTIME_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The whole program; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version are early exits with code 0; everything else is a usage error.
            let _ = err.print();
            return err.exit_code();
        }
    };
    execute(cli)
}

/// Run a parsed command line.
pub fn execute(cli: Cli) -> i32 {
    let settings = match Settings::from_process(cli.config.clone()) {
        Ok(settings) => settings,
        Err(errors) => return report_config_errors(&errors),
    };
    if let Err(err) = telemetry::init(cli.log_format) {
        eprintln!("error: {err}");
        return exit::FAILURE;
    }
    match cli.command {
        Command::Run => run(settings, cli.config.clone()),
        Command::Sim {
            listen: Some(listen),
            ..
        } => sim(settings, &listen),
        Command::Sim {
            record: Some(file),
            events: Some(events),
            ..
        } => {
            with_stdout(|out| crate::replay::cli::sim_record_command(&settings, &file, events, out))
        }
        Command::Sim { .. } => {
            eprintln!("error: sim needs --listen ADDR, or --record FILE --events N");
            exit::USAGE
        }
        Command::ExportEvents(args) => with_stdout(|out| {
            let now = crate::clock::system().now();
            crate::replay::cli::export_command(&settings, &args, now, out)
        }),
        Command::Replay(args) => {
            with_stdout(|out| crate::replay::cli::replay_command(&settings, &args, out))
        }
        Command::Sweep(args) => match crate::replay::cli::sweep_combinations(cli.config, &args) {
            Ok(combinations) => {
                with_stdout(|out| crate::replay::cli::sweep_command(&args, &combinations, out))
            }
            Err(errors) => report_config_errors(&errors),
        },
        Command::SweepMerge(args) => {
            with_stdout(|out| crate::replay::cli::sweep_merge_command(&args, out))
        }
        Command::Config {
            action: ConfigAction::Check { json },
        } => config_check(&settings, json),
        Command::Positions(args) => review(&settings, ReviewCommand::Positions(args)),
        Command::Ledger(args) => review(&settings, ReviewCommand::Ledger(args)),
        Command::Decisions(args) => review(&settings, ReviewCommand::Decisions(args)),
        Command::Report(args) => review(&settings, ReviewCommand::Report(args)),
        Command::Reload => reload(&settings),
        Command::Pause => control(&settings, strategies::Control::Pause),
        Command::Resume => control(&settings, strategies::Control::Resume),
        Command::Close(args) => control(&settings, args.control()),
        Command::Notify {
            action: NotifyAction::Test { sink },
        } => crate::commands::control::notify_test(&settings, sink.as_deref()),
        Command::Webhooks { action } => crate::commands::webhooks::command(&settings, &action),
        Command::Store {
            action: StoreAction::Verify,
        } => with_stdout(|out| {
            crate::commands::maintenance::verify_command(&settings.storage.path, out)
        }),
        Command::Store {
            action: StoreAction::Stats,
        } => with_stdout(|out| {
            crate::commands::maintenance::stats_command(&settings.storage.path, out)
        }),
        Command::Store {
            action: StoreAction::Backup { dir },
        } => with_stdout(|out| {
            crate::commands::maintenance::backup_command(
                &settings.storage.path,
                &settings.admin.listen.to_string(),
                &dir,
                out,
            )
        }),
        Command::Reset { yes: false } => {
            eprintln!(
                "error: reset archives the store at {} and starts again with a fresh bankroll of {}; \
                 nothing was changed. Run `shiftbot reset --yes` to do it.",
                settings.storage.path.display(),
                settings.sizing.bankroll
            );
            exit::USAGE
        }
        Command::Reset { yes: true } => {
            with_stdout(|out| crate::commands::reset(&settings, &crate::clock::system(), out))
        }
        Command::Settle(args) => with_stdout(|out| {
            crate::settle::settle_command(&settings, &args, crate::clock::system().now(), out)
        }),
    }
}

/// `shiftbot reload`: 0 reloaded (whatever changed), 2 the file is invalid (nothing changed),
/// 1 no running bot answered.
fn reload(settings: &Settings) -> i32 {
    let path = &settings.storage.path;
    let store = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
    let request = crate::admin::StoreNamed { store: Some(store) };
    let listen = settings.admin.listen.to_string();
    let report = match crate::admin::request_reload(&listen, &request) {
        Ok(report) => report,
        Err(err) => {
            return failure(format_args!(
                "no running shiftbot reloaded (asked its admin listener at {listen}): {err}"
            ))
        }
    };
    if !report.valid {
        eprintln!(
            "error: invalid configuration ({} problems), nothing changed:",
            report.problems.len()
        );
        for problem in &report.problems {
            eprintln!("  {problem}");
        }
        return exit::USAGE;
    }
    match report.changed.is_empty() {
        true => println!("reloaded: no changeable key differs"),
        false => println!("reloaded: changed {}", report.changed.join(", ")),
    }
    if !report.refused.is_empty() {
        println!(
            "refused (cannot change while running; restart to apply): {}",
            report.refused.join(", ")
        );
    }
    exit::OK
}

/// `shiftbot pause`, `resume`, `close`: 0 done, 1 no store or no bot answered.
fn control(settings: &Settings, control: strategies::Control) -> i32 {
    with_stdout(|out| {
        crate::commands::control::control_command(settings, &control, &crate::clock::system(), out)
    })
}

/// A review command: read the store, or ask the running bot that holds it.
fn review(settings: &Settings, command: ReviewCommand) -> i32 {
    let target = ReviewTarget::from_settings(settings);
    with_stdout(|out| crate::commands::review(&target, command, &crate::clock::system(), out))
}

/// Every problem on its own line, key path first, so a user (or a test) can find each one.
fn report_config_errors(errors: &ConfigErrors) -> i32 {
    eprintln!("error: {errors}");
    exit::USAGE
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shiftbot")
        .build()
}

fn run(settings: Settings, config_file: Option<std::path::PathBuf>) -> i32 {
    if let Err(errors) = settings.check_ready_to_run() {
        return report_config_errors(&errors);
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(err) => return failure(format_args!("cannot start the async runtime: {err}")),
    };
    let result = runtime.block_on(async {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        if let Err(err) = signals::spawn_shutdown_on_signal(shutdown_tx) {
            return Err(failure(format_args!(
                "cannot install signal handlers: {err}"
            )));
        }
        // SIGHUP reloads the same layers the bot started from: the file, then the environment.
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
        if let Err(err) = signals::spawn_reload_on_hangup(reload_tx) {
            return Err(failure(format_args!(
                "cannot install the SIGHUP handler: {err}"
            )));
        }
        let reloads = crate::runner::Reloads {
            requests: reload_rx,
            load: Box::new(move || Settings::from_process(config_file.clone())),
        };
        crate::runner::run_reloadable(settings, crate::clock::system(), shutdown_rx, reloads)
            .await
            .map_err(|err| {
                eprintln!("error: {err}");
                err.exit_code()
            })
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    match result {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}

fn sim(settings: Settings, listen: &str) -> i32 {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(err) => return failure(format_args!("cannot start the async runtime: {err}")),
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|err| failure(format_args!("cannot listen on {listen}: {err}")))?;
        let addr = listener
            .local_addr()
            .map_err(|err| failure(format_args!("cannot read the listening address: {err}")))?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        signals::spawn_shutdown_on_signal(shutdown_tx)
            .map_err(|err| failure(format_args!("cannot install signal handlers: {err}")))?;
        // Scripts and tests wait for this line to learn the port, so flush it at once.
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "listening on http://{addr}")
            .and_then(|()| stdout.flush())
            .map_err(|err| failure(format_args!("cannot write to stdout: {err}")))?;
        drop(stdout);
        let mut shutdown = shutdown_rx;
        let stop = async move {
            // An error means the sender is gone, which only happens when the process ends.
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        crate::sim::serve(settings.sim_config(), listener, stop)
            .await
            .map_err(|err| failure(format_args!("simulator stopped: {err}")))
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    match result {
        Ok(()) => exit::OK,
        Err(code) => code,
    }
}

/// Print the effective configuration, then say whether `run` would accept it.
fn config_check(settings: &Settings, json: bool) -> i32 {
    let printed = if json {
        serde_json::to_string(settings).map_err(|err| err.to_string())
    } else {
        settings.to_toml().map_err(|err| err.to_string())
    };
    let printed = match printed {
        Ok(text) => text,
        Err(err) => return failure(format_args!("cannot print the configuration: {err}")),
    };
    let code = with_stdout(|out| {
        out.write_all(printed.trim_end().as_bytes())?;
        out.write_all(b"\n")
    });
    if code != exit::OK {
        return code;
    }
    match settings.check_ready_to_run() {
        Ok(()) => exit::OK,
        Err(errors) => report_config_errors(&errors),
    }
}

/// Give `work` a buffered stdout, flush it, and map the result to an exit code. A closed pipe
/// (`shiftbot ledger --json | head`) is not an error: the reader has what it wanted.
fn with_stdout<E: std::fmt::Display>(work: impl FnOnce(&mut dyn Write) -> Result<(), E>) -> i32 {
    let mut out = BufWriter::new(QuietPipe::new(io::stdout().lock()));
    let result = work(&mut out);
    let flushed = out.flush();
    match (result, flushed) {
        (Err(err), _) => failure(format_args!("{err}")),
        (Ok(()), Err(err)) => failure(format_args!("cannot write to stdout: {err}")),
        (Ok(()), Ok(())) => exit::OK,
    }
}

fn failure(message: std::fmt::Arguments<'_>) -> i32 {
    eprintln!("error: {message}");
    exit::FAILURE
}

/// A writer that swallows everything once the other end of the pipe has gone away.
struct QuietPipe<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> QuietPipe<W> {
    fn new(inner: W) -> QuietPipe<W> {
        QuietPipe {
            inner,
            closed: false,
        }
    }
}

impl<W: Write> Write for QuietPipe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone: every write fails with `BrokenPipe`.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_swallowed_but_other_errors_are_not() {
        let mut quiet = QuietPipe::new(ClosedPipe);
        assert!(quiet.write_all(b"line 1\n").is_ok());
        assert!(quiet.write_all(b"line 2\n").is_ok());
        assert!(quiet.flush().is_ok());
        assert!(quiet.closed);

        let mut full = QuietPipe::new(Full);
        let err = full.write_all(b"x").expect_err("disk full is reported");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn passes_writes_through_while_the_pipe_is_open() {
        let mut quiet = QuietPipe::new(Vec::new());
        quiet.write_all(b"hello\n").expect("write");
        quiet.flush().expect("flush");
        assert_eq!(quiet.inner, b"hello\n");
    }
}
