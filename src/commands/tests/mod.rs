//! The review commands on a known store: exact output of every format, filters, and the
//! locked-store path through a running admin listener.

mod fixture;
mod outputs;
mod remote;

use super::*;

/// Render `command` on `store` at the fixture's `now`.
fn run(store: Option<&Store>, command: ReviewCommand) -> Rendered {
    render(store, &fixture::request(command)).expect("renders")
}

fn output(store: &Store, command: ReviewCommand) -> String {
    run(Some(store), command).output
}
