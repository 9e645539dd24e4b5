//! Integration tests of belay-gateway: real reference servers as upstreams (Streamable
//! HTTP on loopback, and a real stdio process), real rmcp clients downstream.

mod audit;
mod config;
mod credentials;
mod edge_auth;
mod federation;
mod lab;
mod limits;
mod passthrough;
mod policy;
mod resilience;
mod support;
