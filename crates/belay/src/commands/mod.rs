//! One module per subcommand.

pub mod auth;
pub mod serve;
pub mod up;
