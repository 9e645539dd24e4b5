//! Belay's client signs in at Belay's authorization server and calls protected servers.
#![allow(missing_docs)]

mod sessions;
mod signin;
mod world;
