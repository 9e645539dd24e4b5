//! `belay chat --protocol 2026-07-28` against a server of the handshake era fails at once,
//! saying the era is not offered and what to use instead (no silent fallback); the same era
//! asked for through `BELAY_CHAT_PROTOCOL`; and an era nobody knows is refused by name.

use std::process::Output;

use crate::support::*;

/// A stdio server that answers `server/discover` offering only 2025-11-25, then serves the
/// `initialize` handshake (belay-client's fixture).
fn handshake_era_server() -> Vec<String> {
    let python = std::env::var("BELAY_PYTHON").unwrap_or_else(|_| "python3".into());
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../belay-client/tests/fixtures/discover_old.py");
    vec![python, fixture.display().to_string()]
}

fn chat_once(protocol_flag: Option<&str>, protocol_var: Option<&str>) -> anyhow::Result<Output> {
    let mut command = belay();
    command
        .args(["chat", "--no-browser", "--prompt", "hi"])
        // Never reached: the session fails first.
        .args(["--base-url", "http://127.0.0.1:9/v1"])
        .args(
            protocol_flag
                .map(|era| ["--protocol", era])
                .into_iter()
                .flatten(),
        )
        .env_remove("OPENAI_API_KEY")
        .env_remove("BELAY_CONFIG")
        .env_remove("BELAY_CHAT_PROTOCOL")
        .stdin(Stdio::null());
    if let Some(era) = protocol_var {
        command.env("BELAY_CHAT_PROTOCOL", era);
    }
    Ok(command.arg("--").args(handshake_era_server()).output()?)
}

#[test]
fn the_2026_era_only_against_a_handshake_server_fails_saying_what_to_use() -> anyhow::Result<()> {
    for (flag, var) in [(Some("2026-07-28"), None), (None, Some("2026-07-28"))] {
        let started = std::time::Instant::now();
        let output = chat_once(flag, var)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("did not open a session in the 2026-07-28 protocol era")
                && stderr.contains("use protocol `auto`"),
            "{stderr}"
        );
        // Refused by the server's answer, not after a start timeout.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }
    Ok(())
}

#[test]
fn an_unknown_protocol_era_is_refused_naming_the_choices() -> anyhow::Result<()> {
    let flag = chat_once(Some("2025-11-25"), None)?;
    let stderr = String::from_utf8_lossy(&flag.stderr);
    assert_eq!(flag.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`auto`, `handshake` or `2026-07-28`"),
        "{stderr}"
    );
    let var = chat_once(None, Some("latest"))?;
    let stderr = String::from_utf8_lossy(&var.stderr);
    assert!(!var.status.success(), "{stderr}");
    assert!(
        stderr.contains("BELAY_CHAT_PROTOCOL") && stderr.contains("`latest`"),
        "{stderr}"
    );
    Ok(())
}
