//! The `belay` binary end to end: real processes, real sockets, real signals.
#![allow(missing_docs, unreachable_pub)]

mod auth;
mod gateway;
mod quiet;
mod reload;
mod serve;
mod support;
mod up;
