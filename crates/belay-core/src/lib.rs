//! Protocol-neutral foundations that every Belay crate may use.
//!
//! [`telemetry`] sets up logging that never touches stdout (stdout is the MCP stdio channel),
//! and [`shutdown`] turns SIGINT/SIGTERM into a [`tokio_util::sync::CancellationToken`] so
//! every server stops the same way. This crate depends on no other Belay crate.
#![deny(missing_docs)]

pub mod shutdown;
pub mod telemetry;
