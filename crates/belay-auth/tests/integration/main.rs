//! One integration-test binary for belay-auth: a real issuer (axum on 127.0.0.1:0, keys
//! made in the test) and a protected router on another socket, driven with reqwest.

#![allow(unreachable_pub, missing_docs)]

mod accepted;
mod issuer;
mod refusals;
