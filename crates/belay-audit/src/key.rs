//! [`AuditKey`]: the secret that seals the chain, kept outside the data folder.
//!
//! A plain hash chain can be recomputed by anyone who can write the log; an HMAC chain only
//! by whoever holds the key. The key lives by default under the user's config folder, so a
//! process (or person) that can write the data folder but not that file cannot re-seal an
//! edited log. The file holds 32 random bytes as 64 hex digits.

use std::{
    fmt,
    io::Write,
    path::{Path, PathBuf},
};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::{Error, chain::hex};

type HmacSha256 = Hmac<Sha256>;

const KEY_BYTES: usize = 32;

/// The key that seals (and checks) audit records. Cheap to clone; never printed.
#[derive(Clone)]
pub struct AuditKey {
    /// HMAC state with the key already absorbed; cloned for each record.
    hmac: HmacSha256,
    id: String,
    path: PathBuf,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("id", &self.id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// Reads the key at `path`. Refuses a missing file ([`Error::KeyMissing`]), one other
    /// users could read or replace ([`Error::KeyExposed`]), or one that is not a key.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::KeyMissing {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        check_private(path)?;
        let bytes = unhex(text.trim())
            .and_then(|b| <[u8; KEY_BYTES]>::try_from(b).ok())
            .ok_or_else(|| Error::BadKey {
                path: path.to_owned(),
                why: "it does not hold 64 hex digits".into(),
            })?;
        Self::from_bytes(&bytes, path)
    }

    /// Reads the key at `path`, creating it (0600, in a 0700 folder) if there is none.
    /// Two processes creating it at once agree on one key: each writes a private
    /// temporary file and links it into place, which fails if the other was first.
    pub fn load_or_create(path: &Path) -> Result<Self, Error> {
        match Self::load(path) {
            Err(Error::KeyMissing { .. }) => {}
            other => return other,
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| Error::Config(format!("key_file {} has no folder", path.display())))?;
        private_dir(dir)?;
        let mut bytes = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .map_or_else(Default::default, |n| n.to_string_lossy()),
            std::process::id()
        ));
        // A crashed earlier run of this pid may have left it.
        let _ = std::fs::remove_file(&tmp);
        let written = write_private(&tmp, format!("{}\n", hex(&bytes)).as_bytes(), true);
        let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(Error::io(path, e)),
            _ => Ok(()),
        });
        let _ = std::fs::remove_file(&tmp);
        linked?;
        let key = Self::load(path)?;
        if key.id == Self::from_bytes(&bytes, path)?.id {
            tracing::info!(
                key = %path.display(),
                "created the audit key: back it up with the log, which cannot be verified without it"
            );
        }
        Ok(key)
    }

    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, Error> {
        let hmac = HmacSha256::new_from_slice(bytes).map_err(|e| Error::BadKey {
            path: path.to_owned(),
            why: e.to_string(),
        })?;
        let mut key = Self {
            hmac,
            id: String::new(),
            path: path.to_owned(),
        };
        key.id = key.mac(b"belay audit key id")[..16].to_owned();
        Ok(key)
    }

    /// A short public name of the key (16 hex digits), written in every record it seals so
    /// a wrong key file is told apart from an edited record.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// HMAC-SHA256 of `body`, lowercase hex.
    pub(crate) fn mac(&self, body: &[u8]) -> String {
        let mut mac = self.hmac.clone();
        mac.update(body);
        hex(&mac.finalize().into_bytes())
    }

    /// Whether `mac_hex` is the MAC of `body` (compared in constant time).
    pub(crate) fn checks(&self, body: &[u8], mac_hex: &str) -> bool {
        let Some(expected) = unhex(mac_hex) else {
            return false;
        };
        let mut mac = self.hmac.clone();
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Creates `dir` (and missing parents) readable by its owner only.
pub(crate) fn private_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Error::io(dir, e))
}

/// Writes a new file only its owner can read (synced to disk when `sync`); fails if it exists.
pub(crate) fn write_private(path: &Path, bytes: &[u8], sync: bool) -> Result<(), Error> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| if sync { file.sync_all() } else { Ok(()) })
        .map_err(|e| Error::io(path, e))
}

/// Refuses a key other users could read, or replace through its folder.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::KeyExposed {
            path: path.to_owned(),
            why: format!(
                "is open to other users (mode {:o}); run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ),
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mode = std::fs::metadata(dir)
            .map_err(|e| Error::io(dir, e))?
            .permissions()
            .mode();
        // A sticky folder (like /tmp) stops others from renaming or removing our file.
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(Error::KeyExposed {
                path: path.to_owned(),
                why: format!(
                    "is in a folder other users can write (mode {:o}), so they could replace \
                     it; run `chmod go-w {}`",
                    mode & 0o777,
                    dir.display()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), Error> {
    Ok(())
}
