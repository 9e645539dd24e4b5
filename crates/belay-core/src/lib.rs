//! Protocol-neutral foundations that every Belay crate may use.
//!
//! [`telemetry`] sets up logging that never touches stdout (stdout is the MCP stdio channel),
//! and [`shutdown`] turns SIGINT/SIGTERM into a [`tokio_util::sync::CancellationToken`] so
//! every server stops the same way; [`private`] keeps state files away from other local users.
//! [`Principal`] is who a request comes from, as the authentication layer tells the MCP
//! harness. This crate depends on no other Belay crate.
#![deny(missing_docs)]

mod principal;
pub mod private;
pub mod shutdown;
pub mod telemetry;

pub use principal::Principal;
