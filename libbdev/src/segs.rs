//! Segment helpers shared by the back ends: copying between a flat byte
//! store and a gather/scatter vector, cut short at the end of the store.

/// Total bytes in a vector (saturating: a vector cannot really exceed memory,
/// but the same slice may be listed many times).
pub(crate) fn total_len<T: AsRef<[u8]>>(bufs: &[T]) -> usize {
    bufs.iter()
        .fold(0usize, |acc, b| acc.saturating_add(b.as_ref().len()))
}

/// Copy bytes of `src` starting at `pos` into the segments in order, at most
/// `limit` bytes and never past the end of `src`. Returns bytes copied.
pub(crate) fn copy_out(src: &[u8], pos: u64, bufs: &mut [&mut [u8]], limit: usize) -> usize {
    let Ok(start) = usize::try_from(pos) else {
        return 0;
    };
    if start >= src.len() {
        return 0;
    }
    let avail = (src.len() - start).min(limit);
    let mut done = 0;
    for buf in bufs.iter_mut() {
        if done == avail {
            break;
        }
        let n = buf.len().min(avail - done);
        buf[..n].copy_from_slice(&src[start + done..start + done + n]);
        done += n;
    }
    done
}

/// Copy the segments in order into `dst` starting at `pos`, at most `limit`
/// bytes and never past the end of `dst`. Returns bytes copied.
pub(crate) fn copy_in(dst: &mut [u8], pos: u64, bufs: &[&[u8]], limit: usize) -> usize {
    let Ok(start) = usize::try_from(pos) else {
        return 0;
    };
    if start >= dst.len() {
        return 0;
    }
    let avail = (dst.len() - start).min(limit);
    let mut done = 0;
    for buf in bufs {
        if done == avail {
            break;
        }
        let n = buf.len().min(avail - done);
        dst[start + done..start + done + n].copy_from_slice(&buf[..n]);
        done += n;
    }
    done
}

/// How many bytes of a `len`-byte transfer at `pos` fit on a `size`-byte
/// device (0 at or past the end).
pub(crate) fn clip(pos: u64, len: usize, size: u64) -> usize {
    if pos >= size {
        0
    } else {
        let room = size - pos;
        usize::try_from(room).map_or(len, |room| room.min(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_out_stops_at_end_and_limit() {
        let src: alloc::vec::Vec<u8> = (0..10).collect();
        let mut a = [0u8; 3];
        let mut b = [0u8; 4];
        let n = copy_out(&src, 5, &mut [&mut a, &mut b], usize::MAX);
        assert_eq!(n, 5);
        assert_eq!(a, [5, 6, 7]);
        assert_eq!(b, [8, 9, 0, 0]);
        let n = copy_out(&src, 0, &mut [&mut a, &mut b], 4);
        assert_eq!(n, 4);
        assert_eq!(a, [0, 1, 2]);
        assert_eq!(b[0], 3);
        assert_eq!(copy_out(&src, 10, &mut [&mut a], usize::MAX), 0);
        assert_eq!(copy_out(&src, u64::MAX, &mut [&mut a], usize::MAX), 0);
    }

    #[test]
    fn copy_in_stops_at_end() {
        let mut dst = [0u8; 6];
        let n = copy_in(&mut dst, 4, &[&[1, 2], &[3, 4]], usize::MAX);
        assert_eq!(n, 2);
        assert_eq!(dst, [0, 0, 0, 0, 1, 2]);
        assert_eq!(copy_in(&mut dst, 6, &[&[9]], usize::MAX), 0);
    }

    #[test]
    fn clip_cases() {
        assert_eq!(clip(0, 10, 5), 5);
        assert_eq!(clip(5, 10, 5), 0);
        assert_eq!(clip(7, 10, 5), 0);
        assert_eq!(clip(1, 3, 5), 3);
        assert_eq!(total_len(&[&[1u8, 2][..], &[3u8][..]]), 3);
    }
}
