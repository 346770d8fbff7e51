//! Byte-granular I/O on a block device through the cache (MINIX `bio.c`,
//! `lmfs_bio`): what a file server runs for `read`/`write` on a
//! block-special file and for the page-in of an `mmap`ed block device.
//!
//! EOF rules (MINIX test85): a transfer starting at or after the end returns 0 (writes
//! too: not an error); a transfer crossing the end is cut short at the last
//! byte. A device whose size is not a multiple of the block size ends in a
//! partial block of `size % block_size` bytes, cached as a block of that
//! size. A partial and a full block with the same number never coexist: a
//! request of the other size gets [`CacheError::SizeMismatch`].
//!
//! Device size: MINIX asks the driver on every call (one request per
//! transfer). Here the size last reported is reused while a transfer ends
//! within it, and asked again for any transfer reaching past it (so a
//! device that grew is seen at once); [`flush`] (last close) and
//! [`Cache::invalidate`] forget it. A device that shrank while open is seen
//! at the next close: until then transfers past the new end fail with EIO
//! instead of returning 0.
//!
//! Writes are only cached: success means "accepted by the cache"; data
//! reaches the device on flush ([`flush`], [`Cache::flush_dev`]) or eviction.

use crate::cache::How;
use crate::error::{CacheError, Result};
use crate::{BlockIndex, BlockNo, Cache, Dev, NO_DEV};

enum Op<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
    Peek,
}

/// Read up to `buf.len()` bytes of `dev` at byte `pos` into `buf`. Returns
/// bytes read: 0 at or after the end, fewer than asked across the end. An
/// error is returned only if nothing was transferred; a later failure cuts
/// the count short.
///
/// Errors: `Invalid` (`dev == NO_DEV`, `pos + len - 1 > i64::MAX`), the
/// device-size query's error, the first block's error.
pub fn read<I: BlockIndex>(cache: &Cache<I>, dev: Dev, pos: u64, buf: &mut [u8]) -> Result<usize> {
    let len = buf.len();
    transfer(cache, dev, pos, len, Op::Read(buf))
}

/// Write `data` to `dev` at byte `pos` (into the cache). Returns bytes
/// accepted: 0 at or after the end, fewer than given across the end.
/// Blocks overwritten whole are not read first; a partly overwritten block
/// is read (read-modify-write). Errors as [`read`].
pub fn write<I: BlockIndex>(cache: &Cache<I>, dev: Dev, pos: u64, data: &[u8]) -> Result<usize> {
    transfer(cache, dev, pos, data.len(), Op::Write(data))
}

/// Bring `len` bytes of `dev` at `pos` into the cache without copying them
/// anywhere (MINIX `FSC_PEEK`, used to page in an mmapped device). Returns
/// the bytes covered, with the same EOF rules as [`read`].
pub fn peek<I: BlockIndex>(cache: &Cache<I>, dev: Dev, pos: u64, len: usize) -> Result<usize> {
    transfer(cache, dev, pos, len, Op::Peek)
}

/// Write back every dirty block of `dev`, then drop all its cached blocks
/// (MINIX `lmfs_bflush`, run when the last opener closes the device). Unlike
/// MINIX, if the write-back fails nothing is dropped (the error is returned
/// and the dirty blocks stay for a later try).
pub fn flush<I: BlockIndex>(cache: &Cache<I>, dev: Dev) -> Result<usize> {
    let n = cache.flush_dev(dev)?;
    cache.invalidate(dev);
    Ok(n)
}

fn transfer<I: BlockIndex>(
    cache: &Cache<I>,
    dev: Dev,
    pos: u64,
    len: usize,
    mut op: Op<'_>,
) -> Result<usize> {
    if dev == NO_DEV {
        return Err(CacheError::Invalid);
    }
    if len == 0 {
        return Ok(0);
    }
    let len64 = len as u64;
    if len64 > i64::MAX as u64 || pos > i64::MAX as u64 - len64 + 1 {
        return Err(CacheError::Invalid);
    }
    let size = cache.known_size(dev, pos + len64)?;
    if pos >= size {
        return Ok(0);
    }
    let len = len64.min(size - pos) as usize;
    let bs = cache.block_size(dev).ok_or(CacheError::NoDevice)? as u64;
    let first = pos / bs;
    let mut off = (pos % bs) as usize;
    let nblocks = (off as u64 + len as u64).div_ceil(bs);
    let last_block = first + nblocks - 1;
    let last_size = if size % bs != 0 && last_block == size / bs {
        (size % bs) as usize
    } else {
        bs as usize
    };
    let writing = matches!(op, Op::Write(_));
    // Sequential reads read ahead past the end of this transfer (MINIX
    // only prefetches within the transfer).
    let window = if writing {
        0
    } else {
        cache.seq_window(dev, first) as u64
    };
    let dev_blocks = size.div_ceil(bs);
    let mut done = 0usize;
    let mut err = None;
    for k in 0..nblocks {
        let block = first + k;
        let size_k = if k == nblocks - 1 {
            last_size
        } else {
            bs as usize
        };
        let chunk = (size_k - off).min(len - done);
        if !writing {
            let want = (nblocks - k).max(window.saturating_sub(k));
            let end_size = if size % bs != 0 {
                (size % bs) as usize
            } else {
                bs as usize
            };
            if block + want >= dev_blocks {
                // The run reaches the real last block of the device.
                block_prefetch(cache, dev, block, dev_blocks - block, bs as usize, end_size);
            } else if want > nblocks - k {
                block_prefetch(cache, dev, block, want, bs as usize, bs as usize);
            } else {
                block_prefetch(cache, dev, block, nblocks - k, bs as usize, last_size);
            }
        }
        let how = if writing && chunk == size_k {
            How::NoRead
        } else {
            How::Normal
        };
        let mut b = match cache.get_block_sized(dev, block, how, size_k) {
            Ok(b) => b,
            Err(e) => {
                err = Some(e);
                break;
            }
        };
        match &mut op {
            Op::Read(buf) => buf[done..done + chunk].copy_from_slice(&b.data()[off..off + chunk]),
            Op::Write(data) => {
                b.data_mut()[off..off + chunk].copy_from_slice(&data[done..done + chunk])
            }
            Op::Peek => {}
        }
        drop(b);
        done += chunk;
        off = 0;
    }
    match err {
        Some(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

/// Before getting `block` for a read, read the run of absent blocks that
/// starts there (at most the read-ahead limit; `n` blocks remain in the
/// request, the last of `last_size` bytes) in one request (MINIX
/// `block_prefetch`). Failures are left to the `get_block` that follows.
fn block_prefetch<I: BlockIndex>(
    cache: &Cache<I>,
    dev: Dev,
    block: BlockNo,
    n: u64,
    bs: usize,
    mut last_size: usize,
) {
    let limit = cache.readahead_limit() as u64;
    let mut n = n;
    if n > limit {
        n = limit;
        last_size = bs;
    }
    let mut count = 0;
    while count < n {
        if cache.is_cached(dev, block + count) {
            break;
        }
        count += 1;
    }
    if count == 0 {
        return;
    }
    let last = if count == n { last_size } else { bs };
    let _ = cache.fill_range(dev, block, count as usize, last);
}
