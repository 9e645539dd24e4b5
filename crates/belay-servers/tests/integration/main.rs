//! One integration-test binary for the reference servers (one link instead of many).
//! Each server has its own module; `common` connects real rmcp clients to them.

#![allow(unreachable_pub, missing_docs)]

mod common;
mod conformance;
mod matheval;
mod news;
mod schemas;
mod stock;
mod weather;
mod whoami;
