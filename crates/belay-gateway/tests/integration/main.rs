//! Integration tests of belay-gateway: real reference servers as upstreams (Streamable
//! HTTP on loopback, and a real stdio process), real rmcp clients downstream.

mod config;
mod credentials;
mod federation;
mod passthrough;
mod resilience;
mod support;
