//! The catalogue, one module per family of attacks.

pub(crate) mod hidden;
pub(crate) mod http;
pub(crate) mod injection;
pub(crate) mod labs;
pub(crate) mod poisoning;
pub(crate) mod prompt;
pub(crate) mod schema;
pub(crate) mod tokens;
