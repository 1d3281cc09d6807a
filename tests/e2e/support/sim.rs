//! The simulator under test, in the test process: scripted events, injected faults, and
//! [`SimStats`] to assert on what the bot sent.

use std::sync::Arc;
use std::time::Duration;

use shiftbot::sim::{self, Faults, ScriptedEvent, SimConfig, SimHandle, SimStats};

use super::KEY;

/// The simulator, served from its own small runtime so the tests themselves stay synchronous.
pub struct Sim {
    runtime: tokio::runtime::Runtime,
    handle: Option<SimHandle>,
}

impl Sim {
    pub fn start(config: SimConfig) -> Sim {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("simulator runtime");
        let handle = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the simulator to 127.0.0.1:0");
            sim::spawn(config, listener).await.expect("start simulator")
        });
        Sim {
            runtime,
            handle: Some(handle),
        }
    }

    fn handle(&self) -> &SimHandle {
        self.handle.as_ref().expect("simulator running")
    }

    pub fn base_url(&self) -> String {
        self.handle().base_url()
    }

    pub fn stats(&self) -> Arc<SimStats> {
        self.handle().stats.clone()
    }

    /// Disable a `/v1/webhooks` registration, as the API does after failed deliveries.
    pub fn disable_webhook(&self, id: &str) -> bool {
        self.handle().disable_webhook(id)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.runtime.block_on(handle.shutdown());
        }
    }
}

/// A simulator configuration for scripted tests: the key required, events served as fast as
/// read, frequent heartbeats and a short `retry:` so reconnects are quick.
pub fn scripted_sim(script: Vec<ScriptedEvent>) -> SimConfig {
    SimConfig {
        events_per_second: 0,
        api_key: Some(KEY.into()),
        heartbeat: Duration::from_secs(1),
        retry_ms: Some(100),
        script: Some(script),
        faults: Faults::default(),
        ..SimConfig::default()
    }
}
