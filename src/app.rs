//! Wiring shared by every command: configuration, paths, the store and the service.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config, ConfigError};
use crate::paths::{self, AppPaths, PathsError, Secret};
use crate::service::{Service, Settings};
use crate::store::{Store, StoreError};

/// Startup failures, each mapped to an exit code once in main.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AppError {
    /// 2 for what the operator must fix in the configuration, 1 for runtime failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_)
            | AppError::Paths(PathsError::NoHome | PathsError::SecretKey { .. }) => 2,
            _ => 1,
        }
    }
}

/// The loaded configuration and where things live.
#[derive(Debug, Clone)]
pub struct Env {
    pub config: Config,
    pub config_source: Option<PathBuf>,
    pub db_path: PathBuf,
    pub data_dir: PathBuf,
}

impl Env {
    pub fn load(explicit_config: Option<&Path>) -> Result<Env, AppError> {
        let loaded = config::load(explicit_config)?;
        Env::from_config(loaded.config, loaded.source)
    }

    pub fn from_config(config: Config, config_source: Option<PathBuf>) -> Result<Env, AppError> {
        // No home directory is fine when database.path says where the data goes.
        let platform = match AppPaths::discover() {
            Ok(p) => Some(p),
            Err(PathsError::NoHome) if config.database.path.is_some() => None,
            Err(e) => return Err(e.into()),
        };
        let db_path = paths::database_path(&config, platform.as_ref())?;
        let data_dir = paths::data_dir_for(&db_path);
        let owner = if config.database.path.is_some() {
            paths::DirOwner::Operator
        } else {
            paths::DirOwner::Carette
        };
        paths::secure_dir(&data_dir, owner);
        Ok(Env {
            config,
            config_source,
            db_path,
            data_dir,
        })
    }

    /// Opens the database read-write, applying migrations.
    pub fn open_service(&self) -> Result<Service, AppError> {
        let timeout =
            std::time::Duration::from_secs(self.config.server.request_timeout_secs.max(1));
        let store = Store::open(&self.db_path)?.with_write_timeout(timeout);
        let mut settings = Settings::from_config(&self.config);
        settings.retention.eml_dir = Some(paths::emails_dir(&self.data_dir));
        Ok(Service::new(Arc::new(store), settings))
    }

    /// The magic-link key (generated once into the data dir when not configured).
    pub fn secret(&self) -> Result<Secret, AppError> {
        Ok(paths::resolve_secret(&self.config, &self.data_dir)?)
    }
}
