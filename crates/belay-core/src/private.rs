//! Files only their owner may read: Belay's state holds signing keys, password hashes,
//! client secrets and audit records, and another local user who can read them can forge
//! tokens. Folders Belay creates are 0700 and files 0600; [`check`] refuses one that
//! others can read or write, saying which `chmod` fixes it. On other systems than Unix
//! these are no-ops.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// A file or folder other users can reach.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is open to other users (mode {mode:04o}): it holds secrets. Run `{fix}` and start again",
    path.display()
)]
pub struct Exposed {
    /// The file or folder.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// The command that fixes it.
    pub fix: String,
}

/// Creates `dir` and any missing parents, the new ones readable by their owner only.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` empty if it does not exist, readable and writable by its owner only.
/// An existing file is left as it is (see [`check`]).
pub fn create_file(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes `contents` to `path`, replacing it, readable by its owner only (also when the
/// file existed with a looser mode).
pub fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents)
}

/// Refuses `path` (a file or a folder; a missing one passes) if another user could read
/// or write it: group or other bits on a file; group or other write bits on a folder (one
/// others may list is fine when its files are private, one they may write is not: they
/// could replace a file).
pub fn check(path: &Path) -> Result<(), Exposed> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = fs::metadata(path) else {
            return Ok(());
        };
        let mode = meta.permissions().mode() & 0o7777;
        let (open, fix) = if meta.is_dir() {
            (mode & 0o022 != 0, format!("chmod 700 {}", path.display()))
        } else {
            (mode & 0o077 != 0, format!("chmod 600 {}", path.display()))
        };
        if open {
            return Err(Exposed {
                path: path.to_owned(),
                mode,
                fix,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777)
    }

    #[test]
    fn what_belay_creates_is_private_and_what_others_can_read_is_refused() -> io::Result<()> {
        let root = std::env::temp_dir().join(format!("belay-private-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let dir = root.join("a").join("b");
        create_dir(&dir)?;
        assert_eq!(mode(&root.join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("state.db");
        create_file(&file)?;
        assert_eq!(mode(&file), 0o600);
        assert!(check(&file).is_ok() && check(&dir).is_ok());

        fs::set_permissions(&file, fs::Permissions::from_mode(0o644))?;
        let refused = check(&file)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            refused.contains(&format!("chmod 600 {}", file.display())),
            "{refused}"
        );
        // Rewriting a secret tightens a file left loose.
        write(&file, b"s3cret")?;
        assert_eq!(mode(&file), 0o600);

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        assert!(
            check(&dir).is_ok(),
            "listable is fine when the files are private"
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))?;
        assert!(check(&dir).is_err(), "others could replace a file");
        assert!(check(&root.join("missing")).is_ok());
        fs::remove_dir_all(&root)
    }
}
