//! A server between eras: it answers `server/discover` but offers only 2025-11-25 there.
//! rmcp's automatic mode gives up on it ("no compatible protocol version"); `open` must start
//! it again and open the session with the `initialize` handshake.

use std::{collections::BTreeMap, path::PathBuf};

use belay_client::{ConnectOptions, Target, Transport, open};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/discover_old.py")
}

#[tokio::test]
async fn a_server_offering_no_2026_revision_in_discover_gets_the_handshake() -> anyhow::Result<()> {
    let python = std::env::var("BELAY_PYTHON").unwrap_or_else(|_| "python3".into());
    let target = Target {
        name: "between-eras".into(),
        transport: Transport::Stdio {
            command: python,
            args: vec![fixture().display().to_string()],
            env: BTreeMap::new(),
            cwd: None,
        },
    };
    let session = open(&target, (), &ConnectOptions::default())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = session
        .peer_info()
        .map(|i| i.protocol_version.to_string())
        .unwrap_or_default();
    assert_eq!(info, "2025-11-25");
    let tools = session.list_all_tools().await?;
    assert_eq!(tools.first().map(|t| t.name.as_ref()), Some("old_ping"));
    session.cancel().await?;
    Ok(())
}
