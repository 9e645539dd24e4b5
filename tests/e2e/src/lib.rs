//! Cross-crate tests live in `tests/integration/`: Belay's client library signs in at
//! Belay's embedded authorization server, through its login form, and calls reference servers
//! protected by Belay's resource-server checks, all in one process over loopback HTTP.
#![deny(missing_docs)]
