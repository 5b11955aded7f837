//! Fault injection for the end-to-end tests: settings that hold the worker at chosen points, so
//! that tests can widen race windows or kill it between a commit and an ack. Compiled only with
//! the `fault-injection` feature, which the `tests` package turns on (its default feature): a
//! `cargo build --workspace` for the test suite has the settings, while a build of the binaries
//! alone (`cargo build --release -p api -p worker`, as the Dockerfile does) has neither the
//! settings nor their names. The feature lives here rather than in the worker because a
//! package can only switch on features of a library it depends on.

use clap::Args;

/// Where the worker may be held. Without the feature it has no fields, and every hook is a
/// no-op the compiler removes.
#[cfg(feature = "fault-injection")]
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Hold every apply transaction open this long before commit, to widen race windows.
    #[arg(
        long = "fault-hold-before-commit-ms",
        env = "SCIM_FAULT_HOLD_BEFORE_COMMIT_MS",
        hide = true
    )]
    hold_before_commit_ms: Option<u64>,
    /// After an apply committed, wait this long before acking, so a test can kill the worker in
    /// between. Every delivery sits unacked that long.
    #[arg(
        long = "fault-hold-before-ack-ms",
        env = "SCIM_FAULT_HOLD_BEFORE_ACK_MS",
        hide = true
    )]
    hold_before_ack_ms: Option<u64>,
}

#[cfg(not(feature = "fault-injection"))]
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct Faults {}

impl Faults {
    /// Just before an apply transaction commits.
    pub async fn before_commit(&self) {
        #[cfg(feature = "fault-injection")]
        if let Some(ms) = self.hold_before_commit_ms {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }

    /// After a commit, just before the ack.
    pub async fn before_ack(&self) {
        #[cfg(feature = "fault-injection")]
        if let Some(ms) = self.hold_before_ack_ms {
            tracing::warn!(hold_ms = ms, "fault injection: committed, holding the ack");
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
}
