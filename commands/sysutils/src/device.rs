//! `mkfs.mfs` and `fsck.mfs` on a device or image file: a
//! [`libbdev::BlockDevice`] over a ulib file (`lseek` + `read`/`write`
//! through VFS, e.g. `/dev/c0d1`), its size from `st_size` or, for a
//! block device, probed with one-byte reads ([`probe_size`]).

use libbdev::{BdevError, BlockDevice};
use sysutils_core::disk::probe_size;
use ulib::Errno;
use ulib::fs::{File, SeekFrom};

fn bdev_err(e: Errno) -> BdevError {
    match e {
        Errno::EROFS | Errno::EACCES | Errno::EPERM => BdevError::ReadOnly,
        Errno::ENXIO | Errno::ENODEV => BdevError::NoDevice,
        Errno::EINVAL => BdevError::Invalid,
        _ => BdevError::Io,
    }
}

/// A block device (or image file) reached through VFS.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    size: Option<u64>,
}

impl FileDevice {
    /// Opens `path` for reading, and writing with `write`.
    pub fn open(path: &str, write: bool) -> Result<FileDevice, Errno> {
        let file = ulib::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .open(path)?;
        Ok(FileDevice { file, size: None })
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.file.seek(SeekFrom::Start(pos))?;
        self.file.read_full(buf)
    }

    /// The size in bytes: `st_size` of a regular file, else probed with
    /// one-byte reads.
    pub fn byte_size(&mut self) -> Result<u64, Errno> {
        if let Some(s) = self.size {
            return Ok(s);
        }
        let meta = self.file.metadata()?;
        let s = if meta.is_file() {
            meta.len()
        } else {
            let mut err = None;
            let s = probe_size(|pos| {
                let mut b = [0u8; 1];
                match self.read_at(pos, &mut b) {
                    Ok(n) => n == 1,
                    Err(e) => {
                        err.get_or_insert(e);
                        false
                    }
                }
            });
            // Reading at or past the end is EOF, never an error: an error
            // is a broken device.
            if let Some(e) = err {
                return Err(e);
            }
            s
        };
        self.size = Some(s);
        Ok(s)
    }
}

impl BlockDevice for FileDevice {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        self.file.seek(SeekFrom::Start(pos)).map_err(bdev_err)?;
        let mut total = 0;
        for b in bufs.iter_mut() {
            let n = self.file.read_full(b).map_err(bdev_err)?;
            total += n;
            if n < b.len() {
                break;
            }
        }
        Ok(total)
    }

    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        self.file.seek(SeekFrom::Start(pos)).map_err(bdev_err)?;
        let mut total = 0;
        for b in bufs {
            let mut done = 0;
            while done < b.len() {
                let n = self.file.write(&b[done..]).map_err(bdev_err)?;
                if n == 0 {
                    return Ok(total + done);
                }
                done += n;
            }
            total += done;
        }
        Ok(total)
    }

    fn size(&mut self) -> libbdev::Result<u64> {
        self.byte_size().map_err(bdev_err)
    }

    fn flush(&mut self) -> libbdev::Result<()> {
        // fsync of the device; VFS flushes the rest with sync.
        let _ = self.file.sync_all();
        ulib::fs::sync().map_err(bdev_err)
    }
}
