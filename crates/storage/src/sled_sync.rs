//! Making a sled flush durable against power loss, not only against a killed process.
//!
//! sled 0.34's `flush` promises "calls fsync", but on Linux (without its `io_uring` feature)
//! it makes its log stable with `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`
//! (`pagecache/iobuf.rs`), which writes the data pages and waits, but commits no file
//! metadata (the log file's size and extents) and never flushes the disk's write cache. And
//! pages larger than a quarter of a segment (128 KiB by default) go to *blob* files under
//! `blobs/`, written with plain `write_all` and never synced at all (`pagecache/blob_io.rs`);
//! Cairn's nodes of full entry bundles become such blobs (measured: 209 blob files, 123 MB,
//! for 458k entries). A killed process loses none of it (the page cache survives), which is
//! why the SIGKILL crash test passes; a power cut could lose acknowledged batches, or blobs
//! that hold old ones.
//!
//! [`SledSync::flush`] therefore completes what sled's flush leaves out: it syncs the blob
//! files created since the last call (and the `blobs` directory, for their names), then runs
//! sled's flush, then `fdatasync`s the log file, which commits its metadata and flushes the
//! disk cache. Finding new blobs costs one `stat` of the directory per flush; the directory
//! is listed only when its modification time changed or the last listing began too soon
//! after it to trust it (timestamps are coarse, so a blob created in the same tick as the
//! change the last listing saw leaves the time unchanged).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::StorageError;

/// Longer than a file timestamp's tick: one jiffy (1–10 ms) on filesystems with fine
/// timestamps, one second on those without (ext4 with 128-byte inodes, ext3, some NFS).
const TIMESTAMP_SLACK: Duration = Duration::from_secs(2);

/// Syncs what sled's own flush leaves unsynced, for one sled database directory.
pub struct SledSync {
    log: File,
    blobs_dir: PathBuf,
    blobs: Mutex<BlobWatch>,
}

/// The blob files known to be synced, and the directory time they were listed at.
#[derive(Default)]
struct BlobWatch {
    synced: HashSet<OsString>,
    /// The directory's modification time at the last listing, and when that listing began.
    listed: Option<(SystemTime, SystemTime)>,
    /// Directory listings so far (the cost this avoids; for the tests).
    listings: u64,
}

impl SledSync {
    /// For the sled database already opened in `dir`: syncs the directories and every blob
    /// file there now (a previous process may have been killed before they reached the
    /// disk; a clean file syncs in about 0.1 ms), then the log file.
    pub fn open(dir: &Path) -> io::Result<SledSync> {
        let sync = SledSync {
            log: File::open(dir.join("db"))?,
            blobs_dir: dir.join("blobs"),
            blobs: Mutex::new(BlobWatch::default()),
        };
        sync.sync_new_blobs()?;
        sync_dir(&sync.blobs_dir)?;
        sync_dir(dir)?;
        sync.log.sync_data()?;
        Ok(sync)
    }

    /// sled's `flush`, made durable: new blobs first (so a log record is never on disk long
    /// before the blob it points to), then sled's flush, then the log file's metadata and
    /// the disk cache.
    ///
    /// Reads the data directory sled was opened on; call it for the database in `open`'s
    /// directory only.
    pub fn flush(&self, db: &sled::Db) -> Result<(), StorageError> {
        let durable = |e: io::Error| StorageError::Backend(format!("syncing sled's files: {e}"));
        self.sync_new_blobs().map_err(durable)?;
        db.flush()?;
        // sled writes blobs when it reserves log space, so normally all are there before
        // its flush; looking again costs a `stat` and covers any its flush wrote.
        self.sync_new_blobs().map_err(durable)?;
        self.log.sync_data().map_err(durable)?;
        Ok(())
    }

    /// Syncs the blob files not synced before (and then the directory, if there were any);
    /// returns how many.
    fn sync_new_blobs(&self) -> io::Result<usize> {
        let mut watch = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        // Before the stat: the listing below starts after this moment.
        let looked_at = SystemTime::now();
        let mtime = match std::fs::metadata(&self.blobs_dir) {
            Ok(m) => m.modified()?,
            // sled creates the directory at open; without it there is nothing to sync.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        // An unchanged time proves nothing changed only if the last listing began at least
        // a timestamp tick after that time: a blob created in the same tick as the change
        // the last listing saw leaves the time as it was.
        let trusted = watch.listed.is_some_and(|(at_mtime, began)| {
            at_mtime == mtime
                && began
                    .duration_since(mtime)
                    .is_ok_and(|gap| gap >= TIMESTAMP_SLACK)
        });
        if trusted {
            return Ok(0);
        }
        watch.listings += 1;
        let mut present = HashSet::with_capacity(watch.synced.len());
        let mut new = 0;
        for entry in std::fs::read_dir(&self.blobs_dir)? {
            let name = entry?.file_name();
            if !watch.synced.contains(&name) {
                match File::open(self.blobs_dir.join(&name)) {
                    Ok(f) => f.sync_data()?,
                    // Removed by sled's segment cleaning since the listing: nothing to keep.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new += 1;
            }
            present.insert(name);
        }
        if new > 0 {
            sync_dir(&self.blobs_dir)?;
        }
        watch.listed = Some((mtime, looked_at));
        watch.synced = present;
        Ok(new)
    }
}

impl SledSync {
    /// The blob files synced so far (for the tests).
    #[cfg(test)]
    pub(crate) fn synced_blobs(&self) -> HashSet<OsString> {
        self.blobs.lock().unwrap().synced.clone()
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir) {
        Ok(d) => d.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(dir: &Path) -> SledSync {
        std::fs::create_dir_all(dir.join("blobs")).unwrap();
        std::fs::write(dir.join("db"), b"log").unwrap();
        SledSync::open(dir).unwrap()
    }

    #[test]
    fn new_blobs_are_found_once_even_within_one_timestamp_tick() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("blobs/1"), b"old").unwrap();
        let sync = watched(dir.path());
        // Synced at open, so not again.
        assert_eq!(sync.sync_new_blobs().unwrap(), 0);
        // Created right after a look, in what may be the same clock tick.
        std::fs::write(dir.path().join("blobs/7"), b"a").unwrap();
        std::fs::write(dir.path().join("blobs/3"), b"b").unwrap();
        assert_eq!(sync.sync_new_blobs().unwrap(), 2);
        assert_eq!(sync.sync_new_blobs().unwrap(), 0);
        // A removed blob is forgotten; a later one under any name is found.
        std::fs::remove_file(dir.path().join("blobs/7")).unwrap();
        std::fs::write(dir.path().join("blobs/2"), b"c").unwrap();
        assert_eq!(sync.sync_new_blobs().unwrap(), 1);
        assert_eq!(sync.blobs.lock().unwrap().synced.len(), 3);
        // Unchanged since a listing that began a tick or more after its time: not listed.
        // The last listing began right after the last change, so the next look lists again
        // (a blob created in that tick would not change the time); after that, not.
        std::thread::sleep(TIMESTAMP_SLACK + Duration::from_millis(100));
        let listings = sync.blobs.lock().unwrap().listings;
        assert_eq!(sync.sync_new_blobs().unwrap(), 0);
        assert_eq!(sync.blobs.lock().unwrap().listings, listings + 1);
        assert_eq!(sync.sync_new_blobs().unwrap(), 0);
        assert_eq!(sync.blobs.lock().unwrap().listings, listings + 1);
        // And a blob that appears without changing the recorded time (as one created in the
        // same tick would) is still found while the time is untrusted.
        let mtime = std::fs::metadata(dir.path().join("blobs"))
            .unwrap()
            .modified()
            .unwrap();
        sync.blobs.lock().unwrap().listed = Some((mtime, mtime));
        std::fs::write(dir.path().join("blobs/9"), b"d").unwrap();
        let now_mtime = std::fs::metadata(dir.path().join("blobs"))
            .unwrap()
            .modified()
            .unwrap();
        sync.blobs.lock().unwrap().listed = Some((now_mtime, now_mtime));
        assert_eq!(sync.sync_new_blobs().unwrap(), 1);
    }
}
