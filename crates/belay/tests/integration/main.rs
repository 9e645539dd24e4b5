//! The `belay` binary end to end: real processes, real sockets, real signals.
#![allow(missing_docs, unreachable_pub)]

mod anthropic_script;
mod audit;
mod auth;
mod chat;
mod chat_anthropic;
mod chat_ask;
mod chat_era;
mod chat_terminal;
mod chat_up;
mod chat_url;
mod connections;
mod front_door;
mod gateway;
mod lab;
mod model_script;
mod ports;
mod quiet;
mod redteam;
mod reload;
mod scan;
mod serve;
mod support;
mod up;
mod url_fixture;
