//! One module per subcommand.

pub mod audit;
pub mod auth;
pub mod gateway;
pub mod login;
mod reload;
pub mod serve;
pub mod up;

/// Writes a server's start-up banner on stdout. Not `println!`, which panics when stdout is
/// closed: a supervisor (or a test) that read the URL and went away must not stop the server.
pub(crate) fn announce(text: &str) {
    use std::io::Write;
    let mut stdout = anstream::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}
