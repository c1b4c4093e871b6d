//! `[journal]`: the key the journal's HMAC chain is made with. It never
//! goes into the database (whoever has the database must not be able to
//! recompute the chain), is never logged, and prints as `***`.
//!
//! Embedded, without a setting, the first `tocsin serve` creates
//! `<data_dir>/journal.key` (32 random bytes as hex, mode 0600) and every
//! later start and `tocsin journal verify` read it. The cluster mode
//! needs the key configured: its processes share no disk, and a key made
//! by one `serve` would be lost with its container.

use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use tocsin_channels::Secret;

use super::{Config, ConfigError};
use crate::domain::journal::JournalKey;

/// The embedded default, inside `data_dir`.
pub const KEY_FILE: &str = "journal.key";
/// A key file is text of at most this many bytes (a 1024-byte key in hex).
const MAX_FILE_BYTES: u64 = 4096;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Hex or base64 of at least 32 bytes (`TOCSIN_JOURNAL__KEY`).
    pub key: Option<Secret>,
    /// A file holding the key in the same form (e.g. a mounted secret).
    pub key_file: Option<PathBuf>,
}

impl JournalConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.key.is_some() && self.key_file.is_some() {
            return Err("journal.key and journal.key_file are both set: use one".into());
        }
        if let Some(key) = &self.key {
            JournalKey::parse(key.expose()).map_err(|e| format!("journal.key {e}"))?;
        }
        Ok(())
    }
}

impl Config {
    /// Where the journal key comes from when nothing is configured.
    pub fn default_journal_key_file(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE)
    }

    /// The journal key: configured, from `key_file`, or (embedded) the
    /// default file, which `create` makes on first use (`serve`; the data
    /// directory must exist). `journal verify` never creates it.
    pub fn journal_key(&self, create: bool) -> Result<JournalKey, ConfigError> {
        let fail = |m: String| ConfigError::JournalKey(m);
        if let Some(key) = &self.journal.key {
            return JournalKey::parse(key.expose()).map_err(|e| fail(format!("journal.key {e}")));
        }
        if let Some(path) = &self.journal.key_file {
            return read(path).map_err(fail);
        }
        if self.database.is_some() {
            return Err(fail(
                "the cluster mode needs [journal] key (TOCSIN_JOURNAL__KEY) or [journal] \
                 key_file: every `serve` and `tocsin journal verify` must use the same key, \
                 kept outside the database"
                    .into(),
            ));
        }
        let path = self.default_journal_key_file();
        if path.exists() || !create {
            return read(&path).map_err(|e| {
                fail(format!(
                    "{e} (the first `tocsin serve` creates it; set [journal] key or \
                     key_file if the key is kept elsewhere)"
                ))
            });
        }
        create_file(&path).map_err(fail)
    }
}

fn read(path: &Path) -> Result<JournalKey, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("no journal key at {shown}: {e}"))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "journal key file {shown} is larger than {MAX_FILE_BYTES} bytes"
        ));
    }
    #[cfg(unix)]
    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
        tracing::warn!(path = %shown, "the journal key file can be read by other users; make it mode 0600");
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the journal key file {shown}: {e}"))?;
    JournalKey::parse(&text).map_err(|e| format!("journal key file {shown}: {e}"))
}

/// Writes a new key to a file of its own and links it into place, so a
/// second process starting at the same moment reads a whole key or makes
/// none (the link fails if the file exists).
fn create_file(path: &Path) -> Result<JournalKey, String> {
    let shown = path.display();
    let key = JournalKey::generate();
    let temp = path.with_extension(format!("key.{}.new", std::process::id()));
    // A crashed earlier process with the same id may have left one.
    let _ = std::fs::remove_file(&temp);
    let written = write_private(&temp, &format!("{}\n", key.to_hex()));
    let linked = match written {
        Ok(()) => std::fs::hard_link(&temp, path),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(format!("cannot write the journal key file {shown}: {e}"));
        }
    };
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %shown, "created the journal key; back it up apart from the database");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(format!("cannot create the journal key file {shown}: {e}")),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded(dir: &Path) -> Config {
        Config {
            data_dir: dir.to_owned(),
            ..Config::default()
        }
    }

    #[test]
    fn the_embedded_default_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let config = embedded(dir.path());
        let err = config.journal_key(false).unwrap_err().to_string();
        assert!(err.contains("no journal key at"), "{err}");
        assert!(
            !config.default_journal_key_file().exists(),
            "verify creates nothing"
        );

        let made = config.journal_key(true).unwrap();
        let path = config.default_journal_key_file();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(config.journal_key(true).unwrap().to_hex(), made.to_hex());
        assert_eq!(config.journal_key(false).unwrap().to_hex(), made.to_hex());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
    }

    #[test]
    fn a_configured_key_or_file_wins_and_the_cluster_needs_one() {
        let dir = tempfile::tempdir().unwrap();
        let hex = "ab".repeat(32);
        let mut config = embedded(dir.path());
        config.journal.key = Some(Secret::new(hex.clone()));
        assert_eq!(config.journal_key(true).unwrap().to_hex(), hex);
        assert!(!config.default_journal_key_file().exists());

        let file = dir.path().join("mounted");
        std::fs::write(&file, format!("{}\n", "cd".repeat(32))).unwrap();
        config.journal.key = None;
        config.journal.key_file = Some(file);
        assert_eq!(config.journal_key(false).unwrap().to_hex(), "cd".repeat(32));

        let mut cluster = embedded(dir.path());
        cluster.database = Some(Secret::new("postgres://db/x".into()));
        let err = cluster.journal_key(true).unwrap_err().to_string();
        assert!(err.contains("TOCSIN_JOURNAL__KEY"), "{err}");
    }

    #[test]
    fn a_bad_key_is_refused_without_printing_it() {
        let bad = JournalConfig {
            key: Some(Secret::new("tooshort-secret".into())),
            key_file: None,
        };
        let err = bad.validate().unwrap_err();
        assert!(
            err.contains("journal.key") && !err.contains("tooshort"),
            "{err}"
        );
        let both = JournalConfig {
            key: Some(Secret::new("ab".repeat(32))),
            key_file: Some("k".into()),
        };
        assert!(both.validate().unwrap_err().contains("both"));
        assert_eq!(format!("{both:?}").matches("***").count(), 1, "{both:?}");
    }
}
