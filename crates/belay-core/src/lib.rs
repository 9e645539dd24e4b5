//! Protocol-neutral foundations that every Belay crate may use.
//!
//! [`telemetry`] sets up logging that never touches stdout (stdout is the MCP stdio channel),
//! and [`shutdown`] turns SIGINT/SIGTERM into a [`tokio_util::sync::CancellationToken`] so
//! every server stops the same way; [`private`] keeps state files away from other local users.
//! [`Principal`] is who a request comes from, as the authentication layer tells the MCP
//! harness. [`clock`] is the one injectable [`clock::Clock`] (monotonic and wall time, with a
//! manual clock for tests) and [`bucket`] the one token bucket, shared by the gateway's rate
//! limits and the authorization server. This crate depends on no other Belay crate.
#![deny(missing_docs)]

pub mod bucket;
pub mod clock;
pub mod html;
mod principal;
pub mod private;
pub mod shutdown;
pub mod telemetry;

pub use principal::Principal;
