//! One module per subcommand.

pub mod audit;
pub mod auth;
pub mod gateway;
pub mod login;
pub mod serve;
pub mod up;
