//! What `belay chat` connects to: belay-client's [`Target`]s, shared with `belay scan`.

pub use belay_client::target::{BUILT_IN, Target, TargetError, Transport, unique_names};
