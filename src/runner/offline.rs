//! Operator actions on a stopped store (`shiftbot pause` with no bot running): the same
//! engine and core as a running bot, without intake, on the store's own writer.

use strategies::Control;
use tokio::sync::{oneshot, watch};

use super::{restore_core, ControlDone, Engine, RunError};
use crate::clock::SharedClock;
use crate::configuration::Settings;
use crate::notify::outbox::Notifier;
use crate::store::{Committer, Store};

/// Apply `control` to the store at `settings.storage.path`, which no process holds: decided,
/// journaled and persisted exactly as the running bot would (notifications it causes are
/// queued for the next `run`). A store that has never run starts its book here.
pub fn control_in_store(
    settings: &Settings,
    store: Store,
    control: &Control,
    clock: SharedClock,
) -> Result<ControlDone, RunError> {
    crate::store::health::verify(&store, crate::store::health::Depth::Quick)?;
    let loaded = store.load()?;
    let fresh = loaded.totals.is_none();
    let core = restore_core(settings, &loaded);
    let notifier = Notifier::offline(&settings.notify, &store)?;
    let (committer, mut reports) = Committer::start(store.clone());
    let (cursor_tx, _cursor_rx) = watch::channel(loaded.cursor.clone());
    let mut engine = Engine::new(
        core,
        store,
        committer,
        clock,
        loaded.counters,
        cursor_tx,
        None,
    );
    engine.set_notifier(notifier);
    if fresh {
        engine.write_initial_totals();
    }
    let (tx, mut rx) = oneshot::channel();
    engine.on_control(control, Some(tx));
    engine.close(&mut reports)?;
    rx.try_recv()
        .map_err(|_| RunError::Other("the action was not stored".to_string()))
}
