//! The review commands on a known store: exact output of every format, filters, and the
//! locked-store path through a running admin listener.

mod book;
mod dashboard;
mod decisions;
mod fixture;
mod remote;
mod report;

use super::*;

/// Render `command` on `store` at the fixture's `now`.
fn run(store: Option<&Store>, command: ReviewCommand) -> Rendered {
    render(store, &fixture::request(command)).expect("renders")
}

fn output(store: &Store, command: ReviewCommand) -> String {
    run(Some(store), command).output
}

/// A fresh copy of the fixture store.
fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = fixture::build(&dir.path().join("store"));
    (dir, store)
}

/// `ledger --json` with these filters.
fn ledger(filters: Filters) -> ReviewCommand {
    ReviewCommand::Ledger(LedgerArgs {
        json: true,
        csv: false,
        filters,
    })
}

/// The fixture's `now`, as the CLI's clock.
struct FixedClock;

impl crate::clock::Clock for FixedClock {
    fn now(&self) -> strategies::Timestamp {
        fixture::now()
    }
}
