//! The shared test kit (see `belay_mcp::testkit`).

pub use belay_mcp::testkit::*;
