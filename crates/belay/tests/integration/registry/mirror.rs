//! `belay registry import`: an export of the public registry mirrored with provenance.

use serde_json::{Value, json};

use super::fixture::*;
use crate::support::*;

/// A `GET /v0.1/servers` answer in the official shape, as saved from the public registry.
const EXPORT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../belay-registry/tests/fixtures/official-servers.json"
);

#[tokio::test]
async fn an_export_of_the_public_registry_is_mirrored_with_provenance() -> anyhow::Result<()> {
    let dir = fresh_dir("registry-import")?;
    let data = dir.join("data").to_string_lossy().into_owned();
    let cli = |args: &[&str]| belay().args(args).args(["--data-dir", &data]).output();
    let imported = cli(&["registry", "import", EXPORT])?;
    // One broken item: the rest is imported, the exit status says something failed.
    assert_eq!(imported.status.code(), Some(1), "{imported:?}");
    let text = String::from_utf8_lossy(&imported.stdout).into_owned();
    assert!(
        text.contains("3 imported (0 approved), 1 skipped, 1 failed"),
        "{text}"
    );
    let listed = cli(&["registry", "list", "--json"])?;
    let listed: Value = serde_json::from_slice(&listed.stdout)?;
    let entries = listed.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3, "{listed:#}");
    assert!(
        entries.iter().all(|e| e["status"] == "pending"),
        "{listed:#}"
    );
    let weather = entries
        .iter()
        .find(|e| e["name"] == "io.github.example/weather")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        weather["provenance"]["source"],
        "registry.modelcontextprotocol.io"
    );
    assert_eq!(
        weather["provenance"]["upstream"]["publishedAt"],
        "2025-09-10T08:12:31.123456Z"
    );

    // Again with --approve, from a copy without the broken item: the clean ones are
    // approved, the poisoned one stays pending; what is already here is skipped.
    let mut export: Value = serde_json::from_str(&std::fs::read_to_string(EXPORT)?)?;
    if let Some(servers) = export["servers"].as_array_mut() {
        servers.retain(|s| s["server"]["name"] != "not a reverse dns name");
        for server in servers.iter_mut() {
            if let Some(version) = server["server"]["version"].as_str() {
                server["server"]["version"] = json!(format!("{version}-1"));
            }
        }
    }
    let next = dir.join("next.json");
    std::fs::write(&next, export.to_string())?;
    let next = next.to_string_lossy().into_owned();
    let approved = cli(&["registry", "import", &next, "--approve", "--json"])?;
    assert!(approved.status.success(), "{approved:?}");
    let report: Value = serde_json::from_slice(&approved.stdout)?;
    assert_eq!(
        pairs(&report["lines"], "item", "outcome"),
        [
            ("io.github.example/weather@1.2.0-1", "approved"),
            ("io.github.example/notes@0.3.1-1", "approved"),
            ("io.github.example/helper@2.0.0-1", "imported"),
            ("io.github.example/gone@1.0.0-1", "skipped"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{report:#}"
    );
    // Bad input: no file, not an export, --override without a reason.
    let missing = cli(&["registry", "import", "/nonexistent.json"])?;
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    let not_export = dir.join("not-export.json");
    std::fs::write(&not_export, "{\"items\": []}")?;
    let refused = cli(&["registry", "import", &not_export.to_string_lossy()])?;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("list answer"),
        "{refused:?}"
    );
    let no_reason = cli(&["registry", "import", &next, "--approve", "--override"])?;
    assert_eq!(no_reason.status.code(), Some(2), "{no_reason:?}");
    let history = cli(&["registry", "history", "io.github.example/weather", "--json"])?;
    let history: Value = serde_json::from_slice(&history.stdout)?;
    assert!(
        history[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("imported from registry.modelcontextprotocol.io")),
        "{history:#}"
    );
    Ok(())
}
