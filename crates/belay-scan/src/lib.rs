//! `belay scan`: connect to MCP servers, list everything they offer, and check it before a
//! model ever reads it.
//!
//! [`collect()`] opens a session to one [`belay_client::Target`] (stdio, Streamable HTTP
//! with sign-in, legacy SSE), lists its tools, prompts, resources and resource templates
//! (every page) within a time limit, and closes it. [`analyse()`] runs belay-guard's
//! metadata rules on every tool and on prompt, resource and template descriptions, and
//! [`belay_guard::find_shadowing`] across all the servers scanned together. [`PinFile`]
//! records tool definitions and reports what changed since (rug pulls). A [`Report`] holds
//! the outcome and renders as a table ([`table()`]), JSON ([`Report::to_json`]) or SARIF
//! 2.1.0 ([`sarif()`]); [`Report::outcome`] decides the exit status.
//!
//! A server that cannot be started, reached or listed is a [`CollectError`], never a
//! finding: a scan that could not look says so instead of passing or failing on a guess.
#![deny(missing_docs)]

mod analyse;
mod collect;
mod finding;
mod pins;
mod report;
mod sarif;
mod table;

pub use analyse::analyse;
pub use collect::{CollectError, CollectOptions, DEFAULT_TIMEOUT, Inventory, collect, describe};
pub use finding::{Finding, Object};
pub use pins::{Pin, PinError, PinFile, PinMode};
pub use report::{Failure, Outcome, Report, ServerSummary};
pub use sarif::sarif;
pub use table::table;
