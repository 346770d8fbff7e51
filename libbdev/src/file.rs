//! [`FileDriver`] (`std` only): block devices backed by host files, such as
//! disk images for `images` and for tests.
//!
//! Each minor is one file; its size is the file's length when the request
//! runs. Reads past the end come back short (0 at or past the end); writes
//! are cut at the end too, so a device never grows. `flush` syncs the file's
//! data to the host disk. Host I/O errors become [`BdevError::Io`].

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::segs::{clip, total_len};
use crate::{Access, BdevError, BlockDevice, Driver, Minor, Result};

#[derive(Debug)]
struct FileMinor {
    file: File,
    read_only: bool,
}

/// A driver whose minors are host files.
#[derive(Debug, Default)]
pub struct FileDriver {
    minors: BTreeMap<Minor, FileMinor>,
}

impl FileDriver {
    /// A driver with no minors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Open the image at `path` read-write as minor 0.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self::from_file(file, false))
    }

    /// Open the image at `path` read-only as minor 0.
    pub fn open_read_only(path: impl AsRef<Path>) -> io::Result<Self> {
        Ok(Self::from_file(File::open(path)?, true))
    }

    /// Use an already open file as minor 0.
    pub fn from_file(file: File, read_only: bool) -> Self {
        let mut d = Self::new();
        d.add_file(0, file, read_only);
        d
    }

    /// Add (or replace) `minor`, backed by `file`.
    pub fn add_file(&mut self, minor: Minor, file: File, read_only: bool) -> &mut Self {
        self.minors.insert(minor, FileMinor { file, read_only });
        self
    }

    /// Take back the file of `minor`.
    pub fn into_file(mut self, minor: Minor) -> Option<File> {
        self.minors.remove(&minor).map(|m| m.file)
    }

    fn get(&mut self, minor: Minor) -> Result<&mut FileMinor> {
        self.minors.get_mut(&minor).ok_or(BdevError::NoDevice)
    }
}

fn io_err(_: io::Error) -> BdevError {
    BdevError::Io
}

fn file_len(file: &File) -> Result<u64> {
    file.metadata().map(|m| m.len()).map_err(io_err)
}

/// Read until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    Ok(done)
}

impl Driver for FileDriver {
    fn open(&mut self, minor: Minor, access: Access) -> Result<()> {
        let m = self.get(minor)?;
        if !access.is_valid() {
            return Err(BdevError::Invalid);
        }
        if access.write && m.read_only {
            return Err(BdevError::ReadOnly);
        }
        Ok(())
    }

    fn close(&mut self, minor: Minor) -> Result<()> {
        self.get(minor).map(|_| ())
    }

    fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        let m = self.get(minor)?;
        let size = file_len(&m.file)?;
        let want = clip(pos, total_len(bufs), size);
        if want == 0 {
            return Ok(0);
        }
        m.file.seek(SeekFrom::Start(pos)).map_err(io_err)?;
        let mut done = 0;
        for buf in bufs.iter_mut() {
            if done == want {
                break;
            }
            let k = buf.len().min(want - done);
            let got = read_full(&mut m.file, &mut buf[..k])?;
            done += got;
            if got < k {
                // The file shrank under us: report what we have.
                break;
            }
        }
        Ok(done)
    }

    fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        let m = self.get(minor)?;
        if m.read_only {
            return Err(BdevError::ReadOnly);
        }
        let size = file_len(&m.file)?;
        let want = clip(pos, total_len(bufs), size);
        if want == 0 {
            return Ok(0);
        }
        m.file.seek(SeekFrom::Start(pos)).map_err(io_err)?;
        let mut done = 0;
        for buf in bufs {
            if done == want {
                break;
            }
            let k = buf.len().min(want - done);
            m.file.write_all(&buf[..k]).map_err(io_err)?;
            done += k;
        }
        Ok(done)
    }

    fn size(&mut self, minor: Minor) -> Result<u64> {
        file_len(&self.get(minor)?.file)
    }

    fn flush(&mut self, minor: Minor) -> Result<()> {
        let m = self.get(minor)?;
        if m.read_only {
            return Ok(());
        }
        m.file.sync_data().map_err(io_err)
    }
}

/// Minor 0 of a file driver as a device, for host tools (one attempt per
/// call; equivalent to `RawDevice::new(driver, 0)`).
impl BlockDevice for FileDriver {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        if bufs.len() > crate::MAX_SEGMENTS {
            return Err(BdevError::Invalid);
        }
        self.gather(0, pos, bufs)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        if bufs.len() > crate::MAX_SEGMENTS {
            return Err(BdevError::Invalid);
        }
        self.scatter(0, pos, bufs)
    }
    fn size(&mut self) -> Result<u64> {
        Driver::size(self, 0)
    }
    fn flush(&mut self) -> Result<()> {
        Driver::flush(self, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bdev, BdevDevice};

    fn image(len: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        f.write_all(&data).unwrap();
        f.flush().unwrap();
        f
    }

    #[test]
    fn size_is_file_length_and_reads_past_eof_are_short() {
        let img = image(1536 + 100);
        let mut d = FileDriver::open(img.path()).unwrap();
        assert_eq!(Driver::size(&mut d, 0), Ok(1636));
        let mut a = [0u8; 1024];
        let mut b = [0u8; 1024];
        assert_eq!(d.gather(0, 512, &mut [&mut a, &mut b]), Ok(1124));
        assert_eq!(a[0], (512 % 251) as u8);
        assert_eq!(b[99], (1635 % 251) as u8);
        assert_eq!(b[100], 0);
        assert_eq!(d.gather(0, 1636, &mut [&mut a]), Ok(0));
        assert_eq!(d.gather(0, 99_999, &mut [&mut a]), Ok(0));
        assert_eq!(Driver::size(&mut d, 1), Err(BdevError::NoDevice));
    }

    #[test]
    fn writes_are_cut_at_eof_and_never_grow_the_file() {
        let img = image(1024);
        let mut d = FileDriver::open(img.path()).unwrap();
        assert_eq!(d.scatter(0, 1000, &[&[7u8; 10], &[8u8; 30]]), Ok(24));
        assert_eq!(d.scatter(0, 1024, &[&[7u8; 10]]), Ok(0));
        assert_eq!(Driver::flush(&mut d, 0), Ok(()));
        let bytes = std::fs::read(img.path()).unwrap();
        assert_eq!(bytes.len(), 1024);
        assert_eq!(&bytes[1000..1010], &[7u8; 10]);
        assert_eq!(&bytes[1010..1024], &[8u8; 14]);
    }

    #[test]
    fn read_only_image() {
        let img = image(512);
        let mut d = FileDriver::open_read_only(img.path()).unwrap();
        assert_eq!(d.open(0, Access::RW), Err(BdevError::ReadOnly));
        assert_eq!(d.open(0, Access::R), Ok(()));
        assert_eq!(d.scatter(0, 0, &[&[1]]), Err(BdevError::ReadOnly));
    }

    #[test]
    fn through_the_client_and_as_a_block_device() {
        let img = image(4096);
        let mut dev =
            BdevDevice::open_new(FileDriver::open(img.path()).unwrap(), 0, Access::RW).unwrap();
        assert_eq!(dev.size(), Ok(4096));
        assert_eq!(dev.write_vectored(4000, &[&[1u8; 200]]), Ok(96));
        dev.flush().unwrap();
        drop(dev);
        let mut direct = FileDriver::open(img.path()).unwrap();
        let mut buf = [0u8; 100];
        assert_eq!(direct.read_vectored(3996, &mut [&mut buf]), Ok(100));
        assert_eq!(buf[3], (3999 % 251) as u8);
        assert_eq!(&buf[4..], &[1u8; 96]);
        let _ = Bdev::new(direct);
    }
}
