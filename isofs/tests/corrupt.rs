//! Hand-built images (multi-extent files) and damaged ones: every damage
//! gives a clear error value, never a panic or a hang.

mod common;

use common::builder::{File, b32, build, susp};
use common::*;
use isofs::format::BLOCK;
use isofs::{Corruption, IsoError, IsoFs, MemImage, MountOptions};
use std::collections::BTreeSet;

fn mount(img: Vec<u8>) -> isofs::Result<IsoFs<MemImage>> {
    IsoFs::mount(MemImage::new(img), MountOptions::default())
}

#[test]
fn multi_extent_files_read_across_their_extents() {
    let a = bytes(1, 3 * BLOCK);
    let b = bytes(2, 2 * BLOCK);
    let c = bytes(3, 777);
    let whole: Vec<u8> = [a.clone(), b.clone(), c.clone()].concat();
    // Many small files first, so the multi-extent file's records straddle
    // a directory block boundary.
    let mut files: Vec<File> = (0..60)
        .map(|i| File::plain(&format!("F{i:02}.TXT;1"), vec![bytes(100 + i, 10)]))
        .collect();
    files.push(File::plain("MULTI.BIN;1", vec![a, b, c]));
    files.push(File::plain("LAST.TXT;1", vec![b"last".to_vec()]));
    let (img, lay) = build(&files, 0);
    assert!(lay.root_blocks >= 2);
    let fs = mount(img).unwrap();
    let ino = fs.lookup(fs.root(), b"multi.bin").unwrap();
    assert_eq!(fs.stat(ino).unwrap().size, whole.len() as u64);
    assert!(fs.read_all(ino).unwrap() == whole);
    // Reads that cross extent boundaries at odd places.
    for (pos, len) in [
        (0usize, 10usize),
        (3 * BLOCK - 5, 10),
        (5 * BLOCK - 1, 2),
        (5 * BLOCK + 700, 500),
        (100, 20_000),
    ] {
        let mut buf = vec![0u8; len];
        let n = fs.read(ino, pos as u64, &mut buf).unwrap();
        let end = (pos + len).min(whole.len());
        assert_eq!(n, end - pos);
        assert!(buf[..n] == whole[pos..end], "pos {pos} len {len}");
    }
    // The file is listed once, and the directory goes on after it.
    let names: Vec<Vec<u8>> = fs
        .list(fs.root())
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names.iter().filter(|n| *n == b"multi.bin").count(), 1);
    assert_eq!(names.len(), 62);
    assert_eq!(
        fs.read_all(fs.lookup(fs.root(), b"last.txt").unwrap())
            .unwrap(),
        b"last"
    );
    // getdents in small batches gives the same entries.
    let mut pos = 0;
    let mut seen = Vec::new();
    loop {
        let v = fs.getdents(fs.root(), pos, 3).unwrap();
        if v.is_empty() {
            break;
        }
        pos = v.last().unwrap().next_pos;
        seen.extend(v.into_iter().map(|e| e.name));
    }
    assert_eq!(seen.len(), 64);
}

#[test]
fn broken_multi_extent_chain_is_an_error() {
    let files = vec![File::plain("M.BIN;1", vec![bytes(1, BLOCK), bytes(2, 10)])];
    let (mut img, lay) = build(&files, 0);
    // The last record claims more extents follow: none do.
    let second = lay.file_records[0] + usize::from(img[lay.file_records[0]]);
    img[second + 25] |= 0x80;
    let fs = mount(img).unwrap();
    let e = fs
        .lookup(fs.root(), b"m.bin")
        .and_then(|ino| fs.stat(ino))
        .unwrap_err();
    assert!(matches!(e, IsoError::Corrupt(_)), "{e}");
    assert!(matches!(
        fs.list(fs.root()),
        Err(IsoError::Corrupt(_)) | Ok(_)
    ));
}

#[test]
fn bad_volume_descriptors() {
    let (img, _) = build(&[File::plain("A;1", vec![b"a".to_vec()])], 0);
    let mut no_id = img.clone();
    no_id[16 * BLOCK + 1] = b'X';
    assert_eq!(
        mount(no_id).err(),
        Some(IsoError::Corrupt(Corruption::NoVolumeDescriptor))
    );
    let mut bad_later = img.clone();
    bad_later[17 * BLOCK + 3] = 0;
    assert_eq!(
        mount(bad_later).err(),
        Some(IsoError::Corrupt(Corruption::BadDescriptor(17)))
    );
    let mut no_primary = img.clone();
    no_primary[16 * BLOCK] = 3;
    assert_eq!(
        mount(no_primary).err(),
        Some(IsoError::Corrupt(Corruption::NoPrimary))
    );
    let mut block_size = img.clone();
    block_size[16 * BLOCK + 128..16 * BLOCK + 130].copy_from_slice(&512u16.to_le_bytes());
    assert!(matches!(mount(block_size), Err(IsoError::Unsupported(_))));
    let mut root_not_dir = img.clone();
    root_not_dir[16 * BLOCK + 156 + 25] = 0;
    assert_eq!(
        mount(root_not_dir).err(),
        Some(IsoError::Corrupt(Corruption::BadRoot))
    );
    let mut root_far = img.clone();
    root_far[16 * BLOCK + 158..16 * BLOCK + 162].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert_eq!(
        mount(root_far).err(),
        Some(IsoError::Corrupt(Corruption::BadRoot))
    );
    // The root's extent is not a directory (no "." record there).
    let mut root_data = img.clone();
    root_data[16 * BLOCK + 158..16 * BLOCK + 162].copy_from_slice(&18u32.to_le_bytes());
    assert!(matches!(mount(root_data), Err(IsoError::Corrupt(_))));
    // Every descriptor valid but no terminator in sight.
    let mut endless = img.clone();
    endless.resize(120 * BLOCK, 0);
    for s in 17..100 {
        let src = img[16 * BLOCK..17 * BLOCK].to_vec();
        endless[s * BLOCK..(s + 1) * BLOCK].copy_from_slice(&src);
        endless[s * BLOCK] = 3;
    }
    assert_eq!(
        mount(endless).err(),
        Some(IsoError::Corrupt(Corruption::NoTerminator))
    );
    // Too short to hold a descriptor at all.
    assert_eq!(
        mount(vec![0; 10 * BLOCK]).err(),
        Some(IsoError::Corrupt(Corruption::NoVolumeDescriptor))
    );
    assert_eq!(
        mount(Vec::new()).err(),
        Some(IsoError::Corrupt(Corruption::NoVolumeDescriptor))
    );
}

#[test]
fn directory_records_running_past_the_sector() {
    let files: Vec<File> = (0..60)
        .map(|i| File::plain(&format!("FILE{i:02};1"), vec![vec![i as u8; 5]]))
        .collect();
    let (img, lay) = build(&files, 0);
    // The last record of the first directory block claims 254 bytes.
    let last = *lay
        .file_records
        .iter()
        .filter(|&&o| o / BLOCK == lay.root as usize)
        .max()
        .unwrap();
    assert!(last % BLOCK + 254 > BLOCK);
    let mut past = img.clone();
    past[last] = 254;
    let fs = mount(past).unwrap();
    let e = fs.list(fs.root()).unwrap_err();
    assert!(
        matches!(e, IsoError::Corrupt(Corruption::RecordPastSector { .. })),
        "{e}"
    );
    assert_eq!(e.errno(), 5);
    assert!(matches!(
        fs.lookup(fs.root(), b"zzz"),
        Err(IsoError::Corrupt(_))
    ));
    // A record shorter than its name.
    let mut short = img.clone();
    short[lay.file_records[1] + 32] = 200;
    let fs = mount(short).unwrap();
    assert!(matches!(
        fs.list(fs.root()),
        Err(IsoError::Corrupt(Corruption::RecordTooShort { .. }))
    ));
}

#[test]
fn extents_past_the_end_and_truncated_images() {
    let files = vec![
        File::plain("A;1", vec![bytes(1, 5000)]),
        File::plain("B;1", vec![bytes(2, 9000)]),
    ];
    let (img, lay) = build(&files, 0);
    let mut far = img.clone();
    let r = lay.file_records[0];
    far[r + 2..r + 6].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let fs = mount(far).unwrap();
    let ino = fs.lookup(fs.root(), b"a").unwrap();
    assert!(matches!(
        fs.stat(ino),
        Err(IsoError::Corrupt(Corruption::ExtentPastEnd(_)))
    ));
    // Cut short: the mount says so.
    let cut = img[..img.len() - 3 * BLOCK].to_vec();
    let e = mount(cut).unwrap_err();
    assert!(
        matches!(e, IsoError::Corrupt(Corruption::Truncated { .. })),
        "{e}"
    );
    // Cut short with the volume size patched to match: reading the lost
    // part is a device error, the rest still reads.
    let keep = img.len() / BLOCK - 3;
    let mut cut = img[..keep * BLOCK].to_vec();
    cut[16 * BLOCK + 80..16 * BLOCK + 84].copy_from_slice(&(keep as u32).to_le_bytes());
    let fs = mount(cut).unwrap();
    let a = fs.lookup(fs.root(), b"a").unwrap();
    assert!(fs.read_all(a).unwrap() == bytes(1, 5000));
    let b = fs.lookup(fs.root(), b"b").unwrap();
    assert!(matches!(
        fs.stat(b),
        Err(IsoError::Corrupt(Corruption::ExtentPastEnd(_)))
    ));
    // An image of a few bytes.
    assert!(mount(img[..16 * BLOCK + 100].to_vec()).is_err());
}

#[test]
fn rock_ridge_continuation_loops_and_bad_entries() {
    let ce_loop = |block: u32| {
        let mut ce = b32(block);
        ce.extend(b32(0));
        ce.extend(b32(28));
        susp(b"CE", &ce)
    };
    let mut f = File::plain("LOOP;1", vec![b"x".to_vec()]);
    f.rr = Some(("a-rock-ridge-name-long-enough-for-a-ce".into(), 0o100644));
    let (mut img, lay) = build(&[f, File::plain("OK;1", vec![b"ok".to_vec()])], 0);
    // Put a CE pointing at itself in a spare block at the end.
    let spare = (img.len() / BLOCK - 1) as u32;
    let e = ce_loop(spare);
    img[spare as usize * BLOCK..spare as usize * BLOCK + e.len()].copy_from_slice(&e);
    // Point the file's NM entry... replace it by a CE into the loop.
    let r = lay.file_records[0];
    let len = usize::from(img[r]);
    let su_at = r + isofs::format::system_use_offset(6);
    let nm_at = su_at + 36;
    assert_eq!(&img[nm_at..nm_at + 2], b"NM");
    let ce = ce_loop(spare);
    let room = len - (nm_at - r);
    assert!(room >= ce.len(), "room {room}");
    img[nm_at..nm_at + room].fill(0);
    img[nm_at..nm_at + ce.len()].copy_from_slice(&ce);
    let fs = mount(img.clone()).unwrap();
    let e = fs.list(fs.root()).unwrap_err();
    assert!(matches!(e, IsoError::Corrupt(Corruption::CeLoop(_))), "{e}");
    // An entry longer than the area.
    let mut long = img.clone();
    long[nm_at + 2] = 200;
    let fs = mount(long).unwrap();
    assert!(matches!(
        fs.list(fs.root()),
        Err(IsoError::Corrupt(Corruption::SuspEntry(_)))
    ));
    // A CE past the volume.
    let mut far = img.clone();
    far[nm_at + 4..nm_at + 8].copy_from_slice(&9_999_999u32.to_le_bytes());
    let fs = mount(far).unwrap();
    assert!(matches!(
        fs.list(fs.root()),
        Err(IsoError::Corrupt(Corruption::CeArea(_)))
    ));
}

#[test]
fn directory_loops_do_not_hang_walkers() {
    // A subdirectory record whose extent is the root itself.
    let (mut img, lay) = build(&[File::plain("SUB", vec![vec![0; 10]])], 0);
    let r = lay.file_records[0];
    img[r + 25] = 2; // directory
    img[r + 2..r + 6].copy_from_slice(&lay.root.to_le_bytes());
    img[r + 10..r + 14].copy_from_slice(&((lay.root_blocks as usize * BLOCK) as u32).to_le_bytes());
    let fs = mount(img).unwrap();
    let sub = fs.lookup(fs.root(), b"sub").unwrap();
    assert_eq!(sub, fs.root());
    let p = fs.resolve(&b"sub/".repeat(1000), true).unwrap();
    assert_eq!(p, fs.root());
    assert_eq!(walk_all(&fs), 1);
}

/// Visits every directory once (by inode number), reading every file;
/// returns the directories seen. Errors are fine, panics and hangs are not.
fn walk_all(fs: &IsoFs<MemImage>) -> usize {
    let mut seen = BTreeSet::new();
    let mut todo = vec![fs.root()];
    while let Some(d) = todo.pop() {
        if !seen.insert(d) {
            continue;
        }
        let Ok(list) = fs.list(d) else { continue };
        for e in list {
            let Ok(st) = fs.stat(e.ino) else { continue };
            match u32::from(st.mode) & isofs::format::mode::S_IFMT {
                isofs::format::mode::S_IFDIR => todo.push(e.ino),
                isofs::format::mode::S_IFREG => {
                    let _ = fs.read_all(e.ino);
                }
                _ => {
                    let _ = fs.readlink(e.ino);
                }
            }
        }
    }
    seen.len()
}

#[test]
fn flipped_bytes_in_xorriso_images_never_panic() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    for i in 0..30u64 {
        write(
            &src.join(format!("d{}/f{i}.txt", i % 4)),
            &bytes(i, (i * 300) as usize),
            0o644,
        );
    }
    std::os::unix::fs::symlink("d1/f1.txt", src.join("link")).unwrap();
    let iso = t.path().join("f.iso");
    xorriso(&["-R", "-J"], &src, &iso);
    let img = std::fs::read(&iso).unwrap();
    // Damage only the metadata area (descriptors, path tables, directories).
    let meta_end = img.len().min(60 * BLOCK);
    let mut rng = 0x1234_5678u64;
    let mut next = || {
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z ^ (z >> 27)
    };
    let mut mounted = 0;
    for _ in 0..400 {
        let mut bad = img.clone();
        for _ in 0..(next() % 16 + 1) {
            let at = 16 * BLOCK + (next() as usize) % (meta_end - 16 * BLOCK);
            bad[at] = next() as u8;
        }
        for opts in [
            MountOptions::default(),
            MountOptions {
                norock: true,
                nojoliet: false,
            },
        ] {
            if let Ok(fs) = IsoFs::mount(MemImage::new(bad.clone()), opts) {
                mounted += 1;
                walk_all(&fs);
            }
        }
    }
    assert!(
        mounted > 100,
        "most damage leaves the volume mountable: {mounted}"
    );
}
