//! The audit log end to end: real files in a temporary folder, a real in-memory SQLite store.
#![allow(unreachable_pub, missing_docs)]

mod chain;
mod keyed;
mod limits;
mod query;
mod queue;
mod redact;
mod spec;
mod support;
mod tail;
mod verify;
