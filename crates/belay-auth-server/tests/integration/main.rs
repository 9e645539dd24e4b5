//! The authorization server on a real loopback listener, driven over HTTP with a frozen,
//! advanceable clock.
#![allow(unreachable_pub, missing_docs)]

mod cimd;
mod connections;
mod device;
mod flow;
mod grants;
mod persistence;
mod refusals;
mod service_grants;
mod support;
mod throttle;
