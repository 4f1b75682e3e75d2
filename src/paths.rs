//! Where Carette keeps its files: platform dirs, the database path, and the generated
//! link secret (mode 0600).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use directories::ProjectDirs;

use crate::config::{Config, check_secret_key};

/// Name of the generated secret in the data dir.
pub const SECRET_FILE: &str = "secret.key";
/// Length of a generated secret, and the least a secret file must hold.
pub const SECRET_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    #[error(
        "no home directory found, so there is no platform config or data directory: \
         pass --config FILE and set database.path in it"
    )]
    NoHome,
    #[error("{}: cannot create directory: {error}", path.display())]
    CreateDir { path: PathBuf, error: io::Error },
    #[error("security.secret_key {reason}")]
    SecretKey { reason: &'static str },
    #[error("{}: cannot read or write the link secret: {error}", path.display())]
    SecretFile { path: PathBuf, error: io::Error },
    #[error(
        "{}: holds {len} bytes, expected at least {SECRET_LEN}; delete it to have a new \
         one generated (links already sent will then stop working)",
        path.display()
    )]
    SecretFileTooShort { path: PathBuf, len: usize },
    #[error(
        "{}: permissions {mode:o} let other users read the link secret; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    SecretFilePermissions { path: PathBuf, mode: u32 },
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(getrandom::Error),
}

/// The platform directories (e.g. ~/.config/carette and ~/.local/share/carette).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPaths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
}

fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("org", "carette", "carette")
}

impl AppPaths {
    /// Finds the platform directories; creates nothing (a read-only command such as
    /// `stats` must not leave directories behind).
    pub fn discover() -> Result<AppPaths, PathsError> {
        let dirs = project_dirs().ok_or(PathsError::NoHome)?;
        Ok(AppPaths {
            config_dir: dirs.config_dir().to_path_buf(),
            data_dir: dirs.data_dir().to_path_buf(),
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }
}

/// The platform config file, if the platform has a home directory.
pub fn platform_config_file() -> Option<PathBuf> {
    project_dirs().map(|dirs| dirs.config_dir().join("config.toml"))
}

/// `database.path` if set, else `<data dir>/carette.db`; the parent directory is created
/// (SQLite would not). `paths` is optional so a host without a home directory works as
/// long as `database.path` is set.
pub fn database_path(config: &Config, paths: Option<&AppPaths>) -> Result<PathBuf, PathsError> {
    let path = match (&config.database.path, paths) {
        (Some(path), _) => path.clone(),
        (None, Some(paths)) => paths.data_dir.join("carette.db"),
        (None, None) => return Err(PathsError::NoHome),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    Ok(path)
}

/// Directory for dev-mode .eml files and the secret file: the database's own directory,
/// so a test with `database.path` in a temp dir keeps everything inside it.
/// Created if missing, best effort: `database_path` normally has already, and a failure
/// here resurfaces with a precise message at the first write into it.
pub fn data_dir_for(db_path: &Path) -> PathBuf {
    let dir = match db_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let _ = create_private_dir(&dir);
    dir
}

/// Where dev mode keeps its .eml files (and the retention job deletes old ones).
pub fn emails_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("emails")
}

/// Creates a directory (and missing parents) readable by its owner only: it holds the
/// link secret and riders' emails.
pub fn create_private_dir(path: &Path) -> Result<(), PathsError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(|error| PathsError::CreateDir {
        path: path.to_path_buf(),
        error,
    })
}

/// Who made a directory Carette keeps riders' data in, which decides what Carette may do
/// about loose permissions on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirOwner {
    /// Carette's own: the platform data dir, the dev-mode `emails/` dir. Nothing else
    /// belongs there, so loose permissions are tightened to 0700 (with a warning).
    Carette,
    /// Named by the operator (`database.path`'s directory): it may be shared with other
    /// software or users on purpose, so Carette only warns. The files in it are 0600
    /// anyway; a wider directory only lets others list their names.
    Operator,
}

/// Makes sure `dir` (which exists) is not open to other local users: tightened to 0700
/// when it is Carette's own, a warning otherwise. Best effort: a failure is a warning,
/// never a refusal to start (the files inside are 0600 whatever happens here).
pub fn secure_dir(dir: &Path, owner: DirOwner) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = fs::metadata(dir) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        match owner {
            DirOwner::Carette => {
                match fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
                    Ok(()) => tracing::warn!(
                        dir = %dir.display(),
                        was = format!("{mode:o}"),
                        "data directory was open to other local users; its permissions are now 700"
                    ),
                    Err(e) => tracing::warn!(
                        dir = %dir.display(),
                        mode = format!("{mode:o}"),
                        error = %e,
                        "data directory is open to other local users and cannot be tightened; run chmod 700 on it"
                    ),
                }
            }
            DirOwner::Operator => tracing::warn!(
                dir = %dir.display(),
                mode = format!("{mode:o}"),
                "the database directory lets other local users list its files (the files themselves are 0600); run `chmod 700` on it unless it is shared on purpose"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = (dir, owner);
}

/// Carette's own files (the database and its -wal/-shm) found readable by others (made
/// by an older version, or copied in) are set to 0600, with a warning.
pub fn tighten_own_file(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if !meta.is_file() || mode & 0o077 == 0 {
            return;
        }
        match fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
            Ok(()) => tracing::warn!(
                file = %path.display(),
                was = format!("{mode:o}"),
                "file was readable by other local users; its permissions are now 600"
            ),
            Err(e) => tracing::warn!(
                file = %path.display(),
                mode = format!("{mode:o}"),
                error = %e,
                "file is readable by other local users and cannot be tightened; run chmod 600 on it"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Creates `path` empty with mode 0600 if it does not exist. Used for the database
/// before SQLite opens it: SQLite would create it 0644 (minus the umask), and it gives
/// the `-wal` and `-shm` files it creates the permissions of the database file.
pub fn create_private_file(path: &Path) -> io::Result<()> {
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

/// The HMAC key of magic links, as raw bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `security.secret_key` if set (the placeholder and short keys are refused), else the
/// key in `<data_dir>/secret.key`, generated on first use.
pub fn resolve_secret(config: &Config, data_dir: &Path) -> Result<Secret, PathsError> {
    if let Some(key) = &config.security.secret_key {
        check_secret_key(key).map_err(|reason| PathsError::SecretKey { reason })?;
        return Ok(Secret(key.as_bytes().to_vec()));
    }
    create_private_dir(data_dir)?;
    let path = data_dir.join(SECRET_FILE);
    match read_secret_file(&path)? {
        Some(secret) => Ok(secret),
        None => create_secret_file(&path),
    }
}

/// None when the file does not exist yet.
fn read_secret_file(path: &Path) -> Result<Option<Secret>, PathsError> {
    let file_error = |error| PathsError::SecretFile {
        path: path.to_path_buf(),
        error,
    };
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(file_error(error)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).map_err(file_error)?.permissions().mode() & 0o777;
        // Like ssh with private keys: anyone who can read it can forge every link.
        if mode & 0o077 != 0 {
            return Err(PathsError::SecretFilePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    if bytes.len() < SECRET_LEN {
        return Err(PathsError::SecretFileTooShort {
            path: path.to_path_buf(),
            len: bytes.len(),
        });
    }
    Ok(Some(Secret(bytes)))
}

/// Writes the key to a temporary file, then hard-links it into place: the link fails if
/// another process won the race (we then read its key), and a reader never sees a
/// half-written file, even after a crash.
fn create_secret_file(path: &Path) -> Result<Secret, PathsError> {
    let mut key = vec![0; SECRET_LEN];
    getrandom::fill(&mut key).map_err(PathsError::Random)?;
    let nonce = getrandom::u64().map_err(PathsError::Random)?;
    let tmp = path.with_file_name(format!(".{SECRET_FILE}.{nonce:016x}.tmp"));
    let file_error = |error| PathsError::SecretFile {
        path: path.to_path_buf(),
        error,
    };
    write_new_private(&tmp, &key).map_err(file_error)?;
    let linked = fs::hard_link(&tmp, path);
    // Best effort: a leftover temp file holds an unused key and harms nothing.
    let _ = fs::remove_file(&tmp);
    let result = match linked {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Err(error),
        // A filesystem without hard links: create_new still refuses to clobber a key.
        Err(_) => write_new_private(path, &key),
    };
    match result {
        Ok(()) => Ok(Secret(key)),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => read_secret_file(path)?
            .ok_or_else(|| file_error(io::Error::from(io::ErrorKind::NotFound))),
        Err(error) => Err(file_error(error)),
    }
}

/// Creates `path` (never overwriting), mode 0600 from the start so the content is never
/// readable by others, and flushes it to disk. A failed write removes the partial file.
pub fn write_new_private(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let written = file.write_all(content).and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = fs::remove_file(path);
    }
    written
}
