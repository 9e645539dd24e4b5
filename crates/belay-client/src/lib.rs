//! Connect to MCP servers and sign in to them with OAuth: the client side the chat client and the gateway reuse.
#![deny(missing_docs)]
