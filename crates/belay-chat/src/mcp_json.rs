//! `mcp.json` files (VS Code, Claude Desktop, Cursor): belay-client's reader, shared with
//! `belay scan`.

pub use belay_client::mcp_json::{InputSpec, McpJson};
