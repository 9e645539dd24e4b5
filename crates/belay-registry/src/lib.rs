//! A private MCP registry: the official MCP Registry REST API (`modelcontextprotocol/registry`,
//! `docs/reference/api/openapi.yaml`) served from Belay's store, with governance.
//!
//! - [`validate`]: submitted `server.json` documents are checked against the official JSON
//!   Schema (vendored in `schema/`, version 2025-12-11) and the registry's own rules, with
//!   errors that name the failing field as a JSON pointer and say what to fix.
//! - [`store`]: every version is kept in the shared SQLite store with `publishedAt`,
//!   `updatedAt`, `isLatest`, its owner and a governance [`Status`] (new versions start
//!   `pending`), the [`scan`] of its document made at submission, its server's owners and
//!   tags; every change is kept in a history table, from which [`audit`] seals each change
//!   into Belay's audit log.
//! - [`import`]: the mirror: versions from a file exported from another registry (the
//!   public one's list answer), offline, with their provenance in `_meta`.
//! - [`scan`]: belay-guard's metadata rules over every text of a submitted `server.json`; a
//!   version whose scan finds high or critical issues is approved only with an override
//!   (a reason, recorded and audited).
//! - [`api`]: the axum router (`GET /v0.1/servers`, `…/versions`, `…/versions/{version}`,
//!   `POST /v0.1/publish`, and the same under `/v0`), protocol-neutral: the binary mounts it.
//!   Publishing needs a bearer token checked by `belay_auth` with the `registry:publish`
//!   scope, limited to the namespaces `[registry.publishers]` grants the caller.
#![deny(missing_docs)]

pub mod api;
pub mod audit;
mod error;
pub mod import;
pub mod name;
pub mod scan;
pub mod spec;
pub mod store;
pub mod validate;
pub mod version;

pub use error::Error;
pub use name::ServerName;
pub use scan::{ScanFinding, ScanReport, scan_document};
pub use spec::RegistrySpec;
pub use store::{
    Entry, Event, ListQuery, Page, RegistryStore, Review, ServerList, Status, Submission, Unaudited,
};
pub use validate::{DocumentValidator, Problem};
