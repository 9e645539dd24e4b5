//! Harness tests: a small probe server driven by real clients over every transport.
#![allow(unreachable_pub, missing_docs, deprecated)]

mod ask;
mod ask_all;
mod connections;
mod http_errors;
mod legacy_sse;
mod probe;
mod sharded;
mod stdio;
