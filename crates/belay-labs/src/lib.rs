//! Belay's security labs: each shows one attack on MCP with a vulnerable server, its fixed
//! twin, and an exploit that proves both (`belay lab list|run|exploit`).
//!
//! The model side of an exploit (an assistant that obeys instructions it finds in tool
//! metadata or results) is the deterministic [`agent::Agent`], so every exploit runs without
//! a language model and the same way every time. Exploits never touch the machine they run
//! on: the secrets the assistant "reads" are invented ([`world`]), and any command a
//! vulnerable server is made to run only prints. Labs are tagged with the OWASP MCP Top 10
//! risks they show ([`owasp::Risk`]); each has a page in `labs/NAME/README.md`.
#![deny(missing_docs)]

pub mod agent;
mod exploit;
mod labs;
pub mod owasp;
pub mod world;

pub use exploit::{ExploitError, Report};
pub use labs::{
    Lab, LabName, Variant, over_sharing, privilege_escalation, rce, rug_pull, token_mismanagement,
    tool_poisoning, tool_shadowing, xpia,
};
