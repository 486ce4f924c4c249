//! Owner-only files: the data directory (0700) and the SQLite database with its WAL and shared-memory files
//! (0600).
//!
//! SQLite creates `-wal` and `-shm` with the mode of the database file, so the database is created 0600 before
//! SQLite first opens it; that covers the other two without touching the process-wide umask (which would need
//! `unsafe` and would change every file the process creates). Files an older release left readable by others
//! are narrowed at start, with a warning.

use std::path::Path;

/// Create `dir` (and missing parents) owner-only, or narrow an existing one to 0700.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.exists() {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        narrow(dir, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Create the database file 0600 if it is missing, and narrow it and its `-wal` / `-shm` to 0600 if they exist
/// with a wider mode.
pub fn private_db_files(db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if !db.exists() {
            // create_new: two processes racing here both end with a 0600 file, one of them creating it.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(db)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let path = Path::new(&name);
            if path.exists() {
                narrow(path, 0o600)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

/// Set `path`'s permission bits to `mode` if any bit beyond it is set, with a warning.
#[cfg(unix)]
fn narrow(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let now = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if now & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{now:o}"),
            now = format!("{mode:o}"),
            "narrowed the permissions of a data file that other local users could read"
        );
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_are_private_and_old_ones_are_narrowed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("x.db");
        private_db_files(&db).unwrap();
        assert_eq!(mode(&db), 0o600);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let wal = dir.join("x.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
        private_dir(&dir).unwrap();
        private_db_files(&db).unwrap();
        assert_eq!((mode(&dir), mode(&db), mode(&wal)), (0o700, 0o600, 0o600));
    }
}
