//! One module per subcommand.

pub mod auth;
pub mod login;
pub mod serve;
pub mod up;
