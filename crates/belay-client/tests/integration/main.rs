//! belay-client against small in-test authorization and resource servers on 127.0.0.1.
#![allow(unreachable_pub, missing_docs)]

mod between_eras;
mod cache;
mod device;
mod discovery;
mod pkce;
mod step_up;
mod support;
