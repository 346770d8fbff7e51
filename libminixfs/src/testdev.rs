//! A test-only in-memory block device with a request log, scripted short
//! writes and injected errors.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use libbdev::{BdevError, BlockDevice};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Req {
    Read { pos: u64, segs: Vec<usize> },
    Write { pos: u64, segs: Vec<usize> },
    Flush,
}

#[derive(Default)]
pub(crate) struct State {
    pub data: Vec<u8>,
    pub log: Vec<Req>,
    /// Scripted results of the next writes: Some(n) = write only n bytes, Err = fail.
    pub write_script: Vec<core::result::Result<usize, BdevError>>,
    /// Fail every read touching this byte range.
    pub bad_read: Option<(u64, u64)>,
}

#[derive(Clone)]
pub(crate) struct TestDev(pub Rc<RefCell<State>>);

impl TestDev {
    pub fn new(size: usize) -> TestDev {
        let data = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
        TestDev(Rc::new(RefCell::new(State {
            data,
            ..State::default()
        })))
    }
    pub fn boxed(&self) -> alloc::boxed::Box<dyn BlockDevice> {
        alloc::boxed::Box::new(self.clone())
    }
    pub fn reads(&self) -> usize {
        self.0
            .borrow()
            .log
            .iter()
            .filter(|r| matches!(r, Req::Read { .. }))
            .count()
    }
    pub fn writes(&self) -> Vec<(u64, usize)> {
        self.0
            .borrow()
            .log
            .iter()
            .filter_map(|r| match r {
                Req::Write { pos, segs } => Some((*pos, segs.len())),
                _ => None,
            })
            .collect()
    }
    pub fn bytes(&self, pos: usize, len: usize) -> Vec<u8> {
        self.0.borrow().data[pos..pos + len].to_vec()
    }
}

impl BlockDevice for TestDev {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        let mut st = self.0.borrow_mut();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        st.log.push(Req::Read {
            pos,
            segs: bufs.iter().map(|b| b.len()).collect(),
        });
        if let Some((a, b)) = st.bad_read
            && pos < b
            && pos + total as u64 > a
        {
            return Err(BdevError::Io);
        }
        let mut p = pos as usize;
        let mut done = 0;
        for buf in bufs.iter_mut() {
            if p >= st.data.len() {
                break;
            }
            let n = buf.len().min(st.data.len() - p);
            buf[..n].copy_from_slice(&st.data[p..p + n]);
            p += n;
            done += n;
            if n < buf.len() {
                break;
            }
        }
        Ok(done)
    }

    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        let mut st = self.0.borrow_mut();
        st.log.push(Req::Write {
            pos,
            segs: bufs.iter().map(|b| b.len()).collect(),
        });
        let limit = if st.write_script.is_empty() {
            usize::MAX
        } else {
            st.write_script.remove(0)?
        };
        let mut p = pos as usize;
        let mut done = 0;
        for buf in bufs {
            if p >= st.data.len() || done >= limit {
                break;
            }
            let n = buf.len().min(st.data.len() - p).min(limit - done);
            st.data[p..p + n].copy_from_slice(&buf[..n]);
            p += n;
            done += n;
        }
        Ok(done)
    }

    fn size(&mut self) -> libbdev::Result<u64> {
        Ok(self.0.borrow().data.len() as u64)
    }

    fn flush(&mut self) -> libbdev::Result<()> {
        self.0.borrow_mut().log.push(Req::Flush);
        Ok(())
    }
}
