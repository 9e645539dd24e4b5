//! Integration tests of belay-gateway: real reference servers as upstreams (Streamable
//! HTTP on loopback, and a real stdio process), real rmcp clients downstream.

mod admission;
mod audit;
mod blocks;
mod config;
mod credentials;
mod edge;
mod edge_auth;
mod federation;
mod foreign_events;
mod foreign_upstream;
mod http_limits;
mod input_required;
mod lab;
mod legacy_sse;
mod limits;
mod listen;
mod malformed;
mod metrics;
mod order;
mod outside_calls;
mod passthrough;
mod policy;
mod reload;
mod resilience;
mod round_trip_http;
mod sessions;
mod support;
mod task_caller;
mod tasks;
mod token_exchange;
mod unruly;
mod unruly_flood;
