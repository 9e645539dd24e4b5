//! The operations console (`belay-console`) as `belay up` and `belay gateway serve` mount it
//! at `/ui`: its sources (the gateway, the audit log and store, the pins) and its place
//! (base URL, issuer, client secret).

use std::path::Path;

use anyhow::Context;
use belay_audit::AuditLog;
use belay_console::{Console, Place, Sources};
use belay_gateway::{BlockStore, Gateway, PinStore};
use tokio_util::sync::CancellationToken;

use crate::config::BelayConfig;

/// What the console is mounted with.
pub(crate) struct Mount<'a> {
    pub(crate) config: &'a BelayConfig,
    pub(crate) dir: &'a Path,
    pub(crate) gateway: &'a Gateway,
    pub(crate) audit: Option<AuditLog>,
    pub(crate) pins: Option<PinStore>,
    pub(crate) blocks: Option<BlockStore>,
    pub(crate) reload: Option<belay_console::Reload>,
    pub(crate) alerts: Option<belay_console::alerts::notify::OpenIncidents>,
    pub(crate) registry: Option<belay_console::RegistryStatus>,
    pub(crate) place: Place,
    /// Admins when `[console] admins` names none (`belay up`: its demo user).
    pub(crate) default_admin: Option<&'a str>,
    pub(crate) shutdown: CancellationToken,
}

/// Starts `[alerts]`'s rules on the audit log, when there are rules and a log; the state
/// rules watch `pins` and the audit store in `dir`.
pub(crate) fn start_alerts(
    config: &BelayConfig,
    audit: Option<&AuditLog>,
    pins: Option<PinStore>,
    dir: &Path,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<belay_console::alerts::notify::OpenIncidents>> {
    let Some(log) = audit.filter(|_| !config.alerts.rule.is_empty()) else {
        return Ok(None);
    };
    let watched = belay_console::alerts::notify::Watched {
        pins,
        audit_db: audit_db(config, dir)?,
        audit_key: config.audit.key_path().ok(),
    };
    Ok(Some(
        belay_console::alerts::notify::spawn_watching(
            config.alerts.clone(),
            log,
            watched,
            shutdown.clone(),
        )
        .context("invalid [alerts]")?,
    ))
}

/// The audit store, when the audit log writes one.
fn audit_db(config: &BelayConfig, dir: &Path) -> anyhow::Result<Option<belay_store::Db>> {
    match config.audit.enabled && config.audit.has(belay_audit::Sink::Store) {
        true => Ok(Some(super::auth::open_db(
            &config.auth_server,
            Some(dir.to_owned()),
        )?)),
        false => Ok(None),
    }
}

/// The console's routes.
pub(crate) fn router(mount: Mount<'_>) -> anyhow::Result<axum::Router> {
    let config = mount.config;
    let audit_db = audit_db(config, mount.dir)?;
    let mut spec = config.console.clone();
    if spec.admins.is_empty()
        && let Some(admin) = mount.default_admin
    {
        spec.admins.push(admin.to_owned());
    }
    if spec.admins.is_empty() {
        tracing::warn!("the console at /ui lets nobody in until [console] admins names someone");
    }
    let sources = Sources {
        gateway: mount.gateway.clone(),
        audit: mount.audit,
        audit_db,
        audit_key: config.audit.key_path().ok(),
        pins: mount.pins,
        blocks: mount.blocks,
        reload: mount.reload,
        alerts: mount.alerts,
        registry: mount.registry,
        shutdown: mount.shutdown,
    };
    let console = Console::new(&spec, mount.place, sources).context("cannot start the console")?;
    Ok(console.router())
}
