//! Rock Ridge (RRIP) over SUSP: the system use area of a directory record,
//! followed through its continuation areas (CE), read into an [`Rr`].
//!
//! Guards: an entry longer than its area is [`Corruption::SuspEntry`]; an
//! entry shorter than its header ends the area (padding); at most
//! [`MAX_CE`] continuation areas per record ([`Corruption::CeLoop`]), each
//! inside one block of the volume ([`Corruption::CeArea`]); names and link
//! targets are capped ([`Corruption::RrTooLong`]).

use alloc::vec::Vec;
use zerocopy::FromBytes;

use crate::block::BlockAccess;
use crate::error::{Corruption, Result};
use crate::format::{
    BLOCK, CeBody, LONG_DATE_LEN, LinkBody, MAX_CE, PnBody, PxBody, SUSP_HEAD, ShortDate, SuspHead,
    nm_flags, sig, sl_flags, tf_flags,
};

/// Longest Rock Ridge name accepted.
pub const MAX_NAME: usize = 1024;
/// Longest symlink target accepted.
pub const MAX_TARGET: usize = 4096;

/// What the Rock Ridge entries of one record say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rr {
    /// PX: mode, links, uid, gid.
    pub px: Option<(u32, u32, u32, u32)>,
    /// PN: the device number as this system encodes it (major << 8 | minor).
    pub rdev: Option<u32>,
    /// NM: the name (None: no NM entry).
    pub name: Option<Vec<u8>>,
    /// SL: the link target.
    pub target: Option<Vec<u8>>,
    /// TF: modification, access, attribute-change times.
    pub mtime: Option<u32>,
    /// Access time.
    pub atime: Option<u32>,
    /// Attribute change time.
    pub ctime: Option<u32>,
    /// CL: the real location of a relocated directory.
    pub child_link: Option<u32>,
    /// PL: the real parent of a relocated directory (in its "..").
    pub parent_link: Option<u32>,
    /// RE: this is a relocated directory where it physically is (hidden).
    pub relocated: bool,
    /// An SP entry (the root's "." record): its LEN_SKP.
    pub sp_skip: Option<u8>,
}

fn both(b: &crate::format::Both32) -> u32 {
    b.get()
}

/// Device number from PN's halves, as Linux decodes it, in this system's
/// encoding (major << 8 | minor).
fn rdev_of(high: u32, low: u32) -> u32 {
    if high == 0 && low & !0xff != 0 {
        // An old-style combined number in the low half.
        low
    } else {
        (high << 8) | (low & 0xff)
    }
}

struct SlState {
    out: Vec<u8>,
}

impl SlState {
    fn add(&mut self, body: &[u8], block: u32) -> Result<()> {
        // body[0]: SL flags (continuation of the entry; components say
        // the same per component).
        let mut i = 1;
        while i + 2 <= body.len() {
            let flags = body[i];
            let len = usize::from(body[i + 1]);
            let content = body
                .get(i + 2..i + 2 + len)
                .ok_or(Corruption::SuspEntry(block))?;
            if flags & sl_flags::ROOT != 0 {
                self.out.clear();
            } else if flags & sl_flags::CURRENT != 0 {
                self.out.push(b'.');
            } else if flags & sl_flags::PARENT != 0 {
                self.out.extend_from_slice(b"..");
            } else {
                self.out.extend_from_slice(content);
            }
            if flags & sl_flags::CONTINUE == 0 {
                self.out.push(b'/');
            }
            if self.out.len() > MAX_TARGET {
                return Err(Corruption::RrTooLong(block).into());
            }
            i += 2 + len;
        }
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        if self.out.len() > 1 && self.out.last() == Some(&b'/') {
            self.out.pop();
        }
        self.out
    }
}

/// Reads the Rock Ridge entries of a record in block `block` whose system
/// use area is `su`, skipping `skip` bytes first (SP's LEN_SKP), following
/// continuation areas inside a volume of `vol_blocks` blocks.
pub fn parse<B: BlockAccess>(
    io: &B,
    vol_blocks: u64,
    block: u32,
    su: &[u8],
    skip: usize,
) -> Result<Rr> {
    let mut rr = Rr::default();
    let mut area: Vec<u8> = su.get(skip..).unwrap_or(&[]).to_vec();
    let mut ces = 0usize;
    let mut sl: Option<SlState> = None;
    let mut name: Option<Vec<u8>> = None;
    loop {
        let mut next: Option<CeBody> = None;
        let mut i = 0usize;
        while i + SUSP_HEAD <= area.len() {
            let Ok((h, _)) = SuspHead::read_from_prefix(&area[i..]) else {
                break;
            };
            let len = usize::from(h.len);
            if len < SUSP_HEAD {
                break;
            }
            let body = area
                .get(i + SUSP_HEAD..i + len)
                .ok_or(Corruption::SuspEntry(block))?;
            match h.sig {
                sig::ST => break,
                sig::CE => {
                    if let Ok((ce, _)) = CeBody::read_from_prefix(body) {
                        next = Some(ce);
                    }
                }
                sig::SP if body.len() >= 3 && body[..2] == crate::format::SP_CHECK => {
                    rr.sp_skip = Some(body[2]);
                }
                sig::PX => {
                    if let Ok((px, _)) = PxBody::read_from_prefix(body) {
                        rr.px = Some((
                            both(&px.mode),
                            both(&px.nlinks),
                            both(&px.uid),
                            both(&px.gid),
                        ));
                    }
                }
                sig::PN => {
                    if let Ok((pn, _)) = PnBody::read_from_prefix(body) {
                        rr.rdev = Some(rdev_of(both(&pn.high), both(&pn.low)));
                    }
                }
                sig::NM => {
                    if let Some((&flags, text)) = body.split_first() {
                        let n = name.get_or_insert_with(Vec::new);
                        if flags & nm_flags::CURRENT != 0 {
                            n.push(b'.');
                        } else if flags & nm_flags::PARENT != 0 {
                            n.extend_from_slice(b"..");
                        } else {
                            n.extend_from_slice(text);
                        }
                        if n.len() > MAX_NAME {
                            return Err(Corruption::RrTooLong(block).into());
                        }
                    }
                }
                sig::SL => {
                    sl.get_or_insert_with(|| SlState { out: Vec::new() })
                        .add(body, block)?;
                }
                sig::TF => tf(&mut rr, body),
                sig::CL => {
                    if let Ok((l, _)) = LinkBody::read_from_prefix(body) {
                        rr.child_link = Some(both(&l.block));
                    }
                }
                sig::PL => {
                    if let Ok((l, _)) = LinkBody::read_from_prefix(body) {
                        rr.parent_link = Some(both(&l.block));
                    }
                }
                sig::RE => rr.relocated = true,
                _ => {}
            }
            i += len;
        }
        let Some(ce) = next else { break };
        ces += 1;
        if ces > MAX_CE {
            return Err(Corruption::CeLoop(block).into());
        }
        let (cb, off, len) = (both(&ce.block), both(&ce.offset), both(&ce.len));
        let (off, len) = (off as usize, len as usize);
        if u64::from(cb) >= vol_blocks || off.checked_add(len).is_none_or(|e| e > BLOCK) {
            return Err(Corruption::CeArea(cb).into());
        }
        area = io.read(u64::from(cb), |d| d[off..off + len].to_vec())?;
    }
    rr.name = name;
    rr.target = sl.map(SlState::finish);
    Ok(rr)
}

fn tf(rr: &mut Rr, body: &[u8]) {
    let Some((&flags, mut rest)) = body.split_first() else {
        return;
    };
    let long = flags & tf_flags::LONG_FORM != 0;
    let size = if long { LONG_DATE_LEN } else { 7 };
    for bit in [
        tf_flags::CREATION,
        tf_flags::MODIFY,
        tf_flags::ACCESS,
        tf_flags::ATTRIBUTES,
    ] {
        if flags & bit == 0 {
            continue;
        }
        let Some(stamp) = rest.get(..size) else {
            return;
        };
        rest = &rest[size..];
        let t = if long {
            let mut a = [0u8; LONG_DATE_LEN];
            a.copy_from_slice(stamp);
            crate::format::long_date_unix(&a)
        } else {
            match ShortDate::read_from_bytes(stamp) {
                Ok(d) => d.unix(),
                Err(_) => return,
            }
        };
        match bit {
            tf_flags::MODIFY => rr.mtime = Some(t),
            tf_flags::ACCESS => rr.atime = Some(t),
            tf_flags::ATTRIBUTES => rr.ctime = Some(t),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemImage;
    use alloc::vec;

    fn entry(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
        let mut v = vec![sig[0], sig[1], (4 + body.len()) as u8, 1];
        v.extend_from_slice(body);
        v
    }

    fn b32(v: u32) -> Vec<u8> {
        let mut o = v.to_le_bytes().to_vec();
        o.extend_from_slice(&v.to_be_bytes());
        o
    }

    #[test]
    fn symlink_components_join_as_linux_does() {
        let img = MemImage::new(vec![0; BLOCK]);
        // "/usr/../lib" split over two SL entries, "lib" continued.
        let mut su = entry(b"SL", &[0, 8, 0, 0, 3, b'u', b's', b'r', 4, 0]);
        su.extend(entry(b"SL", &[0, 1, 1, b'l', 0, 2, b'i', b'b']));
        let rr = parse(&img, 1, 0, &su, 0).unwrap();
        assert_eq!(rr.target.as_deref(), Some(&b"/usr/../lib"[..]));
        let su = entry(b"SL", &[0, 8, 0]);
        assert_eq!(
            parse(&img, 1, 0, &su, 0).unwrap().target.as_deref(),
            Some(&b"/"[..])
        );
    }

    #[test]
    fn continuation_loops_are_cut() {
        // A CE in block 0 pointing at itself.
        let mut ce = b32(0);
        ce.extend(b32(0));
        ce.extend(b32(28));
        let e = entry(b"CE", &ce);
        let mut img = vec![0u8; BLOCK];
        img[..e.len()].copy_from_slice(&e);
        let io = MemImage::new(img);
        assert_eq!(parse(&io, 1, 7, &e, 0), Err(Corruption::CeLoop(7).into()));
        // Out of the volume, or past the block.
        let mut far = b32(5);
        far.extend(b32(0));
        far.extend(b32(10));
        assert_eq!(
            parse(&io, 1, 7, &entry(b"CE", &far), 0),
            Err(Corruption::CeArea(5).into())
        );
        let mut past = b32(0);
        past.extend(b32(2040));
        past.extend(b32(10));
        assert_eq!(
            parse(&io, 1, 7, &entry(b"CE", &past), 0),
            Err(Corruption::CeArea(0).into())
        );
    }

    #[test]
    fn entries_past_their_area_are_errors() {
        let img = MemImage::new(vec![0; BLOCK]);
        let mut e = entry(b"NM", b"\0abc");
        e[2] = 40;
        assert_eq!(
            parse(&img, 1, 3, &e, 0),
            Err(Corruption::SuspEntry(3).into())
        );
        // Short garbage (length < 4) ends the area quietly.
        assert_eq!(
            parse(&img, 1, 3, &[b'N', b'M', 2, 1, 0, 0], 0),
            Ok(Rr::default())
        );
    }

    #[test]
    fn device_numbers() {
        assert_eq!(rdev_of(3, 1), 0x301);
        assert_eq!(rdev_of(0, 0x0e00), 0x0e00);
        assert_eq!(rdev_of(0, 5), 5);
    }
}
