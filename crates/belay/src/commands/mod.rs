//! One module per subcommand.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod auth_client;
pub mod chat;
mod console;
pub mod gateway;
pub mod lab;
pub mod login;
pub mod openapi;
mod pins;
pub mod redteam;
pub mod registry;
mod registry_gate;
mod reload;
pub mod report;
pub mod scan;
pub mod serve;
pub mod up;

/// Creates the data folder (0700 where it is new) and refuses one other local users may
/// write.
pub(crate) fn create_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    belay_core::private::create_dir(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    belay_core::private::check(dir)?;
    Ok(())
}

/// Writes a server's start-up banner on stdout. Not `println!`, which panics when stdout is
/// closed: a supervisor (or a test) that read the URL and went away must not stop the server.
pub(crate) fn announce(text: &str) {
    use std::io::Write;
    let mut stdout = anstream::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}
