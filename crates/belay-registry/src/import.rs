//! The mirror: versions imported from a file exported from another registry (the public
//! one's `GET /v0.1/servers` answer, saved), offline.
//!
//! Each `server.json` is checked like a publication (the official schema and the
//! registry's rules) and scanned; it is stored with its provenance in Belay's `_meta`
//! (where it came from, the file's SHA-256, when and by whom it was imported, and the
//! source registry's own metadata), owned by `import:<source>`, and `pending` like any
//! new version unless the import approves it (which the scan can still refuse without an
//! override). Versions already here are skipped, so importing a newer export again adds
//! only what is new; versions the source marked `deleted` are not imported.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::Digest;

use crate::{
    DocumentValidator, Error, RegistryStore, Review, ServerName, Status, Submission,
    scan::scan_document, store::now_micros, store::rfc3339, validate::OFFICIAL_META,
};

/// Largest export read (the public registry's whole list is a few MiB).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Most versions one import stores.
const MAX_VERSIONS: usize = 100_000;

/// How one import runs.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Where the file came from, as shown in provenance (`registry.modelcontextprotocol.io`).
    pub source: String,
    /// The file's name, as shown in provenance.
    pub file: String,
    /// Who imports (`cli:<user>`).
    pub actor: String,
    /// Approve each imported version (a version whose scan needs an override stays
    /// pending unless `override_reason` is given).
    pub approve: bool,
    /// With `approve`: the reason to approve versions whose scan found high or critical
    /// issues.
    pub override_reason: Option<String>,
}

/// What happened to one version of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportLine {
    /// `NAME@VERSION`, or the item's position when it has neither.
    pub item: String,
    /// `imported`, `approved`, `skipped` or `failed`.
    pub outcome: String,
    /// Why (the scan, the duplicate, the problems).
    pub detail: String,
}

/// What one import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// One line per item of the file, in its order.
    pub lines: Vec<ImportLine>,
}

impl ImportReport {
    /// How many lines have `outcome`.
    pub fn count(&self, outcome: &str) -> usize {
        self.lines.iter().filter(|l| l.outcome == outcome).count()
    }
}

/// Imports `bytes`, the JSON of a `GET /v0.1/servers` answer (`{"servers": [{"server":
/// …, "_meta": …}], "metadata": …}`), into `store`.
pub async fn import(
    store: &RegistryStore,
    validator: &DocumentValidator,
    guard: &belay_guard::MetadataGuard,
    bytes: &[u8],
    options: &ImportOptions,
) -> Result<ImportReport, Error> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Error::BadRequest(format!(
            "the file is over {MAX_FILE_BYTES} bytes"
        )));
    }
    let export: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::BadRequest(format!("the file is not JSON: {e}")))?;
    let items = export
        .get("servers")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::BadRequest(
                "the file is not a registry list answer: expected {\"servers\": [{\"server\": \
                 …, \"_meta\": …}], \"metadata\": …} as GET /v0.1/servers returns"
                    .into(),
            )
        })?;
    if items.len() > MAX_VERSIONS {
        return Err(Error::BadRequest(format!(
            "the file lists {} versions, more than {MAX_VERSIONS}",
            items.len()
        )));
    }
    let sha256: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let imported_at = rfc3339(now_micros());
    let mut report = ImportReport::default();
    for (index, item) in items.iter().enumerate() {
        let line = import_one(
            store,
            validator,
            guard,
            item,
            options,
            &json!({
                "source": options.source,
                "file": options.file,
                "sha256": sha256,
                "importedAt": imported_at,
                "importedBy": options.actor,
            }),
        )
        .await;
        let line = match line {
            Ok(line) => line,
            Err(Error::Store(e)) => return Err(Error::Store(e)),
            Err(e) => ImportLine {
                item: label(item, index),
                outcome: "failed".into(),
                detail: e.to_string(),
            },
        };
        report.lines.push(line);
    }
    Ok(report)
}

/// `NAME@VERSION` of an item, or `#INDEX` when it has no name or version.
fn label(item: &Value, index: usize) -> String {
    let server = &item["server"];
    match (server["name"].as_str(), server["version"].as_str()) {
        (Some(name), Some(version)) => format!("{name}@{version}"),
        _ => format!("#{index}"),
    }
}

async fn import_one(
    store: &RegistryStore,
    validator: &DocumentValidator,
    guard: &belay_guard::MetadataGuard,
    item: &Value,
    options: &ImportOptions,
    provenance: &Value,
) -> Result<ImportLine, Error> {
    let document = item
        .get("server")
        .filter(|s| s.is_object())
        .ok_or_else(|| Error::BadRequest("the item has no `server` object".into()))?;
    let item_label = label(item, 0);
    let upstream = item
        .get("_meta")
        .and_then(|m| m.get(OFFICIAL_META))
        .cloned()
        .unwrap_or(Value::Null);
    if upstream["status"].as_str() == Some("deleted") {
        return Ok(ImportLine {
            item: item_label,
            outcome: "skipped".into(),
            detail: "deleted in the source registry".into(),
        });
    }
    validator.check(document)?;
    let name = document["name"].as_str().unwrap_or_default();
    ServerName::parse(name)?;
    let mut provenance = provenance.clone();
    provenance["upstream"] = upstream;
    let scan = scan_document(guard, document);
    let entry = match store
        .publish(Submission {
            document: document.clone(),
            publisher: format!("import:{}", options.source),
            scan,
            provenance: Some(provenance),
        })
        .await
    {
        Ok(entry) => entry,
        Err(Error::Duplicate { .. }) => {
            return Ok(ImportLine {
                item: item_label,
                outcome: "skipped".into(),
                detail: "already in the registry".into(),
            });
        }
        Err(e) => return Err(e),
    };
    let scan_line = entry
        .scan
        .as_ref()
        .map(crate::ScanReport::summary)
        .unwrap_or_default();
    if !options.approve {
        return Ok(ImportLine {
            item: item_label,
            outcome: "imported".into(),
            detail: format!("pending; scan: {scan_line}"),
        });
    }
    if entry.needs_override() && options.override_reason.is_none() {
        return Ok(ImportLine {
            item: item_label,
            outcome: "imported".into(),
            detail: format!(
                "pending: its scan found {scan_line}; approve it with --override --reason"
            ),
        });
    }
    let review = Review {
        actor: options.actor.clone(),
        override_reason: options
            .override_reason
            .clone()
            .filter(|_| entry.needs_override()),
    };
    store
        .set_status(&entry.name, &entry.version, Status::Approved, &review)
        .await?;
    Ok(ImportLine {
        item: item_label,
        outcome: "approved".into(),
        detail: format!("scan: {scan_line}"),
    })
}

#[cfg(test)]
mod tests {
    use belay_store::Db;

    use super::*;

    const EXPORT: &[u8] = include_bytes!("../tests/fixtures/official-servers.json");

    fn options(approve: bool) -> ImportOptions {
        ImportOptions {
            source: "registry.modelcontextprotocol.io".into(),
            file: "official-servers.json".into(),
            actor: "cli:admin".into(),
            approve,
            override_reason: None,
        }
    }

    #[tokio::test]
    async fn an_export_is_imported_with_provenance_pending_then_skipped() -> anyhow::Result<()> {
        let store = RegistryStore::open(Db::in_memory()?)?;
        let (validator, guard) = (
            DocumentValidator::new()?,
            belay_guard::MetadataGuard::new()?,
        );
        let report = import(&store, &validator, &guard, EXPORT, &options(false)).await?;
        let outcomes: Vec<(&str, &str)> = report
            .lines
            .iter()
            .map(|l| (l.item.as_str(), l.outcome.as_str()))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("io.github.example/weather@1.2.0", "imported"),
                ("io.github.example/notes@0.3.1", "imported"),
                ("io.github.example/helper@2.0.0", "imported"),
                ("io.github.example/gone@1.0.0", "skipped"),
                ("not a reverse dns name@1.0.0", "failed"),
            ],
            "{report:#?}"
        );
        assert!(report.lines[4].detail.contains("/name"), "{report:#?}");
        let all = store.all(None, None, None).await?;
        assert!(all.iter().all(|e| e.status == Status::Pending));
        let notes = store
            .get("io.github.example/notes", "0.3.1", true)
            .await?
            .ok_or_else(|| anyhow::anyhow!("notes missing"))?;
        let provenance = notes.provenance.clone().unwrap_or_default();
        assert_eq!(provenance["source"], "registry.modelcontextprotocol.io");
        assert_eq!(
            provenance["upstream"]["publishedAt"],
            "2025-10-01T12:00:00Z"
        );
        assert_eq!(provenance["sha256"].as_str().map(str::len), Some(64));
        assert!(provenance["importedAt"].is_string());
        assert_eq!(notes.owners, ["import:registry.modelcontextprotocol.io"]);
        let meta = notes.response();
        assert_eq!(
            meta["_meta"][crate::validate::GOVERNANCE_META]["provenance"]["source"],
            "registry.modelcontextprotocol.io"
        );
        let history = store.history(Some("io.github.example/notes")).await?;
        assert!(
            history[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("imported from registry.modelcontextprotocol.io")),
            "{history:?}"
        );
        // Again: nothing new.
        let again = import(&store, &validator, &guard, EXPORT, &options(false)).await?;
        assert_eq!(again.count("skipped"), 4, "{again:#?}");
        assert_eq!(again.count("imported"), 0);
        Ok(())
    }

    #[tokio::test]
    async fn approving_on_import_still_needs_an_override_for_a_poisoned_version()
    -> anyhow::Result<()> {
        let store = RegistryStore::open(Db::in_memory()?)?;
        let (validator, guard) = (
            DocumentValidator::new()?,
            belay_guard::MetadataGuard::new()?,
        );
        let report = import(&store, &validator, &guard, EXPORT, &options(true)).await?;
        assert_eq!(report.count("approved"), 2, "{report:#?}");
        let helper = store
            .get("io.github.example/helper", "2.0.0", true)
            .await?
            .ok_or_else(|| anyhow::anyhow!("helper missing"))?;
        assert_eq!(helper.status, Status::Pending, "{report:#?}");
        assert!(helper.needs_override());
        Ok(())
    }

    #[tokio::test]
    async fn files_that_are_not_exports_are_refused_whole() -> anyhow::Result<()> {
        let store = RegistryStore::open(Db::in_memory()?)?;
        let (validator, guard) = (
            DocumentValidator::new()?,
            belay_guard::MetadataGuard::new()?,
        );
        for bad in [&b"not json"[..], b"[]", b"{\"servers\": 3}", b"{}"] {
            let result = import(&store, &validator, &guard, bad, &options(false)).await;
            assert!(matches!(result, Err(Error::BadRequest(_))), "{result:?}");
        }
        let items: Vec<Value> = vec![json!({"server": 1}), json!("x"), json!({})];
        let odd = serde_json::to_vec(&json!({ "servers": items }))?;
        let report = import(&store, &validator, &guard, &odd, &options(false)).await?;
        assert_eq!(report.count("failed"), 3, "{report:#?}");
        assert!(store.all(None, None, None).await?.is_empty());
        Ok(())
    }
}
