//! Tokens on disk: one JSON file per MCP server under a cache directory.
//!
//! The directory is created 0700 and every file is written 0600 through a temporary file and
//! a rename, so a crash never leaves half a token file and other users never read one. Next to
//! rmcp's [`StoredCredentials`] the file keeps the client registration (id and secret) together
//! with the issuer that issued it: a registration is only reused with that same authorization
//! server (SEP-2352), and a confidential client can refresh after a restart.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{Error, Result};

/// A client registration remembered for one authorization server.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientRecord {
    /// The issuer of the authorization server that registered the client (`None` for
    /// servers without metadata, the 2025-03-26 fallback).
    pub issuer: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client secret, for confidential clients.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// Everything cached for one server.
#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    /// The MCP server URL, so a human can tell the files apart.
    server: String,
    #[serde(default)]
    credentials: Option<StoredCredentials>,
    #[serde(default)]
    client: Option<ClientRecord>,
}

/// A directory of token files, one per MCP server.
#[derive(Debug, Clone)]
pub struct TokenCache {
    dir: PathBuf,
}

impl TokenCache {
    /// A cache in `dir` (created on first write, mode 0700).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default cache directory: `$XDG_CACHE_HOME/belay/tokens`, else
    /// `$HOME/.cache/belay/tokens`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("belay").join("tokens"))
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `server`'s tokens: a readable host part plus a hash of the whole
    /// URL, so two servers on one host never share a file.
    pub fn path_for(&self, server: &Url) -> PathBuf {
        let digest = Sha256::digest(server.as_str().as_bytes());
        let hash: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        let host: String = format!(
            "{}_{}",
            server.host_str().unwrap_or("server"),
            server.port_or_known_default().unwrap_or(0)
        )
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
        self.dir.join(format!("{host}-{hash}.json"))
    }

    /// The credential store rmcp's authorization manager uses for `server`.
    pub fn store_for(&self, server: &Url) -> TokenStore {
        TokenStore {
            server: server.to_string(),
            file: Some((self.clone(), self.path_for(server))),
            memory: Arc::new(tokio::sync::Mutex::new(CacheFile::default())),
        }
    }

    fn ensure_dir(&self) -> Result<()> {
        let err = |source| Error::Cache {
            path: self.dir.clone(),
            source,
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir).map_err(err)?;
        // A directory that already existed keeps its mode; tokens must not be listable by others.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
        }
        Ok(())
    }
}

/// [`CredentialStore`] for one server, backed by a cache file or kept in memory; it also
/// remembers the client registration.
#[derive(Clone)]
pub struct TokenStore {
    server: String,
    file: Option<(TokenCache, PathBuf)>,
    // The contents when in memory; for a file, only the lock that serialises
    // read-modify-write within this process.
    memory: Arc<tokio::sync::Mutex<CacheFile>>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("server", &self.server)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// A store that keeps everything in memory (nothing survives the process).
    pub fn in_memory(server: &Url) -> Self {
        Self {
            server: server.to_string(),
            file: None,
            memory: Arc::new(tokio::sync::Mutex::new(CacheFile::default())),
        }
    }

    /// The file this store reads and writes, if it is not in memory.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(_, path)| path.as_path())
    }

    /// The remembered client registration, if any.
    pub async fn client(&self) -> Result<Option<ClientRecord>> {
        let memory = self.memory.lock().await;
        Ok(self.read(&memory)?.client)
    }

    /// Remembers (or forgets, with `None`) the client registration.
    pub async fn set_client(&self, client: Option<ClientRecord>) -> Result<()> {
        let mut memory = self.memory.lock().await;
        let mut file = self.read(&memory)?;
        file.client = client;
        self.write(&mut memory, file)
    }

    /// Deletes the file (sign out).
    pub async fn remove(&self) -> Result<()> {
        let mut memory = self.memory.lock().await;
        *memory = CacheFile::default();
        let Some((_, path)) = &self.file else {
            return Ok(());
        };
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Cache {
                path: path.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    // Small local files: blocking I/O here is shorter than a spawn_blocking round trip.
    fn read(&self, memory: &CacheFile) -> Result<CacheFile> {
        let Some((_, path)) = &self.file else {
            return Ok(clone_file(memory));
        };
        match fs::read(path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                // A corrupt cache is not fatal: the user signs in again and it is rewritten.
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable token cache file");
                CacheFile::default()
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CacheFile::default()),
            Err(e) => Err(Error::Cache { path: path.clone(), source: e }),
        }
    }

    fn write(&self, memory: &mut CacheFile, file: CacheFile) -> Result<()> {
        let file = CacheFile {
            server: self.server.clone(),
            ..file
        };
        let Some((cache, path)) = &self.file else {
            *memory = file;
            return Ok(());
        };
        cache.ensure_dir()?;
        let err = |source| Error::Cache {
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| err(std::io::Error::other(e)))?;
        let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let result = options.open(&tmp).and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        });
        if let Err(e) = result.and_then(|()| fs::rename(&tmp, path)) {
            let _ = fs::remove_file(&tmp);
            return Err(err(e));
        }
        Ok(())
    }
}

fn clone_file(file: &CacheFile) -> CacheFile {
    CacheFile {
        server: file.server.clone(),
        credentials: file.credentials.clone(),
        client: file.client.clone(),
    }
}

fn store_error(e: Error) -> AuthError {
    AuthError::CredentialStoreError(e.to_string())
}

#[async_trait]
impl CredentialStore for TokenStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        let memory = self.memory.lock().await;
        Ok(self.read(&memory).map_err(store_error)?.credentials)
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        let mut memory = self.memory.lock().await;
        let mut file = self.read(&memory).map_err(store_error)?;
        file.credentials = Some(credentials);
        self.write(&mut memory, file).map_err(store_error)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        let mut memory = self.memory.lock().await;
        let mut file = self.read(&memory).map_err(store_error)?;
        file.credentials = None;
        self.write(&mut memory, file).map_err(store_error)
    }
}
