//! A tiny ISO 9660 writer for images xorriso will not make: multi-extent
//! files with small extents, and hand-made damage (records, continuation
//! areas). Layout: descriptors at 16 (primary) and 17 (terminator), the
//! path table at 18, the root directory from 19, then a subdirectory, then
//! file data.

use isofs::format::{
    BLOCK, Both16, Both32, DirRecord, PATH_RECORD_HEAD, PathRecord, STD_ID, VolDesc, file_flags,
    system_use_offset, vd_type,
};
use zerocopy::{FromZeros, IntoBytes};

/// One file of the root directory.
pub struct File {
    /// ISO identifier (e.g. "DATA.BIN;1").
    pub id: String,
    /// Rock Ridge name and mode (with an SP in the root's ".").
    pub rr: Option<(String, u32)>,
    /// Extents' contents: more than one makes a multi-extent file.
    pub extents: Vec<Vec<u8>>,
    /// Extra system use bytes after the Rock Ridge entries.
    pub extra_su: Vec<u8>,
}

impl File {
    pub fn plain(id: &str, extents: Vec<Vec<u8>>) -> File {
        File {
            id: id.into(),
            rr: None,
            extents,
            extra_su: Vec::new(),
        }
    }
}

pub fn susp(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
    let mut v = vec![sig[0], sig[1], (4 + body.len()) as u8, 1];
    v.extend_from_slice(body);
    v
}

pub fn b32(v: u32) -> Vec<u8> {
    Both32::new(v).as_bytes().to_vec()
}

fn record(extent: u32, size: u32, flags: u8, id: &[u8], su: &[u8]) -> Vec<u8> {
    let len = system_use_offset(id.len()) + su.len();
    assert!(len <= 255);
    let mut r = DirRecord::new_zeroed();
    r.len = len as u8;
    r.extent = Both32::new(extent);
    r.size = Both32::new(size);
    r.date = [126, 12, 5, 15, 30, 0, 0];
    r.flags = flags;
    r.vol_seq = Both16::new(1);
    r.name_len = id.len() as u8;
    let mut v = r.as_bytes().to_vec();
    v.extend_from_slice(id);
    v.resize(system_use_offset(id.len()), 0);
    v.extend_from_slice(su);
    assert_eq!(v.len(), len);
    v
}

/// Where things went in a built image.
pub struct Layout {
    /// First block of the root directory.
    pub root: u32,
    /// Blocks of the root directory.
    pub root_blocks: u32,
    /// Byte offsets in the image of each file's first record.
    pub file_records: Vec<usize>,
}

/// Builds an image of `files` in the root (records spread over as many
/// directory blocks as needed, `pad_records` zero bytes after the dot
/// records to push files into later blocks).
pub fn build(files: &[File], pad_records: usize) -> (Vec<u8>, Layout) {
    let rock = files.iter().any(|f| f.rr.is_some());
    let root = 19u32;
    // The records of the root, packed into blocks.
    let mut data_next = 0u32; // relative, fixed up below
    let mut extents_at: Vec<Vec<(u32, u32)>> = Vec::new();
    for f in files {
        let mut v = Vec::new();
        for e in &f.extents {
            v.push((data_next, e.len() as u32));
            data_next += (e.len() as u32).div_ceil(BLOCK as u32).max(1);
        }
        extents_at.push(v);
    }
    // Root directory size: computed from the packing.
    let mut blocks: Vec<Vec<u8>> = vec![Vec::new()];
    let place = |blocks: &mut Vec<Vec<u8>>, r: &[u8]| -> usize {
        if blocks.last().unwrap().len() + r.len() > BLOCK {
            blocks.push(Vec::new());
        }
        let b = blocks.len() - 1;
        let off = blocks[b].len();
        blocks[b].extend_from_slice(r);
        b * BLOCK + off
    };
    // Two passes: the root's size is needed in its own records.
    let mut root_blocks = 1u32;
    let mut file_records = Vec::new();
    for _pass in 0..2 {
        blocks = vec![Vec::new()];
        file_records.clear();
        let data0 = root + root_blocks;
        let size = root_blocks * BLOCK as u32;
        let mut dot_su = Vec::new();
        if rock {
            dot_su.extend(susp(b"SP", &[0xbe, 0xef, 0]));
            let mut px = b32(0o40755);
            px.extend(b32(2));
            px.extend(b32(0));
            px.extend(b32(0));
            dot_su.extend(susp(b"PX", &px));
        }
        place(
            &mut blocks,
            &record(root, size, file_flags::DIRECTORY, &[0], &dot_su),
        );
        place(
            &mut blocks,
            &record(root, size, file_flags::DIRECTORY, &[1], &[]),
        );
        if pad_records > 0 {
            let b = blocks.len() - 1;
            let n = pad_records.min(BLOCK - blocks[b].len());
            blocks[b].extend(std::iter::repeat_n(0u8, n));
        }
        for (f, ext) in files.iter().zip(&extents_at) {
            for (k, &(rel, len)) in ext.iter().enumerate() {
                let last = k + 1 == ext.len();
                let mut su = Vec::new();
                if let Some((name, m)) = &f.rr {
                    let mut px = b32(*m);
                    px.extend(b32(1));
                    px.extend(b32(0));
                    px.extend(b32(0));
                    su.extend(susp(b"PX", &px));
                    let mut nm = vec![0u8];
                    nm.extend_from_slice(name.as_bytes());
                    su.extend(susp(b"NM", &nm));
                }
                su.extend_from_slice(&f.extra_su);
                let flags = if last { 0 } else { file_flags::MULTI_EXTENT };
                let r = record(data0 + rel, len, flags, f.id.as_bytes(), &su);
                let at = place(&mut blocks, &r);
                if k == 0 {
                    file_records.push(at);
                }
            }
        }
        root_blocks = blocks.len() as u32;
    }
    let data0 = root + root_blocks;
    let total = data0 + data_next + 1;
    let mut img = vec![0u8; total as usize * BLOCK];
    // Primary volume descriptor.
    let mut pvd = VolDesc::new_zeroed();
    pvd.vd_type = vd_type::PRIMARY;
    pvd.id = *STD_ID;
    pvd.version = 1;
    pvd.volume_id[..4].copy_from_slice(b"TEST");
    pvd.space_size = Both32::new(total);
    pvd.set_size = Both16::new(1);
    pvd.seq_num = Both16::new(1);
    pvd.block_size = Both16::new(BLOCK as u16);
    pvd.path_table_size = Both32::new(10);
    pvd.l_path = 18.into();
    let rr = record(
        root,
        root_blocks * BLOCK as u32,
        file_flags::DIRECTORY,
        &[0],
        &[],
    );
    pvd.root.copy_from_slice(&rr);
    img[16 * BLOCK..17 * BLOCK].copy_from_slice(pvd.as_bytes());
    let mut term = VolDesc::new_zeroed();
    term.vd_type = vd_type::TERMINATOR;
    term.id = *STD_ID;
    term.version = 1;
    img[17 * BLOCK..18 * BLOCK].copy_from_slice(term.as_bytes());
    let mut pt = PathRecord::new_zeroed();
    pt.name_len = 1;
    pt.extent = root.into();
    pt.parent = 1.into();
    img[18 * BLOCK..18 * BLOCK + PATH_RECORD_HEAD].copy_from_slice(pt.as_bytes());
    for (i, b) in blocks.iter().enumerate() {
        let at = (root as usize + i) * BLOCK;
        img[at..at + b.len()].copy_from_slice(b);
    }
    for (f, ext) in files.iter().zip(&extents_at) {
        for (e, &(rel, _)) in f.extents.iter().zip(ext) {
            let at = (data0 + rel) as usize * BLOCK;
            img[at..at + e.len()].copy_from_slice(e);
        }
    }
    let file_records = file_records
        .iter()
        .map(|&o| root as usize * BLOCK + o)
        .collect();
    (
        img,
        Layout {
            root,
            root_blocks,
            file_records,
        },
    )
}
