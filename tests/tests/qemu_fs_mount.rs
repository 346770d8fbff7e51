//! QEMU: the file-system stack on the kernel (issue "the file-system stack
//! runs on the kernel"). RS starts the virtio-blk and memory drivers, MFS,
//! PFS and VFS from the boot image; MFS mounts the root from the first
//! virtio disk (made on the host from `images/rootfs.proto`) and logs what
//! it mounted; `fsclient` lists `/`, reads the file the host wrote, writes,
//! renames, stats and unlinks files, prints `df`, mounts a second disk on
//! `/mnt` through a second MFS instance (`service up mfs2`), unmounts it,
//! syncs, unmounts `/` and powers off. On the way it checks the servers'
//! defences: MFS and PFS refuse requests from anyone but VFS, and every
//! server answers an unknown message type with ENOSYS. On the host, `mfs fsck` (and
//! util-linux `fsck.minix -f` on a 1 KiB-block image) must find both disks
//! clean, and the files must hold what the guest wrote. Same harness rules
//! as the other `qemu_*` tests: under `CI=true` a missing QEMU fails.

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use system_tests::mfs;
use system_tests::qemu::{assert_in_order, boot_with_disks};

/// The boot image of the file-system system.
pub const FS_MODULES: &str = "rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,\
                              mfs-native:mfs image,pfs-native:pfs image,vfs-native:vfs image";

/// What fsclient writes to /guest/written.txt.
const GUEST_TEXT: &str = "written by the guest through VFS, MFS and virtio-blk\n";

fn boot_and_check(block_size: u32) -> Option<(tempfile::TempDir, String)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, second) = (dir.path().join("root.mfs"), dir.path().join("second.mfs"));
    mfs::root_image(&root, "32M", block_size);
    mfs::ok(&[
        "mkfs",
        "--size",
        "8M",
        "--block-size",
        &block_size.to_string(),
        &second.to_string_lossy(),
    ]);
    let r = boot_with_disks(
        &format!("{FS_MODULES},fsclient mount hostile persist mnt2 shutdown"),
        "critical=rs",
        &[&root, &second],
        Duration::from_secs(300),
    )?;
    let log = r.serial.clone();
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
    assert_in_order(
        &log,
        &[
            format!("[mfs] mfs: mfs virtio-blk minor 0: MINIX V3, {block_size}-byte blocks, "),
            "[vfs] init Fresh: root file system from 'mfs'".into(),
            "[fsclient] ls -l /".into(),
            "etc".into(),
            "[fsclient] /etc/motd (75 bytes): Welcome to the MINIX-style Rust OS.".into(),
            "hello.txt".into(),
            "[fsclient] write / read back / rename / stat / unlink: ok".into(),
            "[fsclient] df /: 32768 KiB total".into(),
            "[fsclient] check mount: ok".into(),
            "[fsclient] mfs: a stranger's UNMOUNT is refused (EPERM".into(),
            "[fsclient] pfs: a stranger's UNMOUNT is refused (EPERM".into(),
            "[fsclient] mfs: unknown message type -> ENOSYS".into(),
            "[fsclient] virtio-blk: unknown message type -> ENOSYS".into(),
            "[fsclient] check hostile: ok".into(),
            "[fsclient] check persist: ok".into(),
            format!("[mfs] mfs: mfs2 virtio-blk minor 1: MINIX V3, {block_size}-byte blocks"),
            "[fsclient] mounted mfs2 on /mnt".into(),
            "[fsclient] df /mnt: 8192 KiB total".into(),
            "[fsclient] unmounted /mnt".into(),
            "[fsclient] synced and unmounted /".into(),
            "[fsclient] all checks passed".into(),
        ],
    );
    // The root listing shows what the host put there.
    for name in ["etc", "home", "dev", "tmp", "mnt"] {
        assert!(
            log.lines()
                .any(|l| l.starts_with("[fsclient]   d") && l.ends_with(&format!(" {name}"))),
            "/{name} missing from the listing"
        );
    }
    // On the host: both disks clean, the guest's files intact.
    mfs::assert_clean(&root);
    mfs::assert_clean(&second);
    assert_eq!(mfs::cat(&root, "/guest/written.txt"), GUEST_TEXT.as_bytes());
    let pattern: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    assert!(
        mfs::cat(&root, "/guest/pattern.bin") == pattern,
        "pattern.bin differs"
    );
    assert_eq!(mfs::cat(&second, "/second.txt"), b"on the second disk\n");
    // The scratch files the mount check removed are gone.
    let (code, _, _) = mfs::run(&["stat", &root.to_string_lossy(), "/tmp/b"]);
    assert_ne!(code, 0, "/tmp/b should have been unlinked");
    Some((dir, log))
}

/// util-linux `fsck.minix -f` (read-only: `-a` corrupts V3 images).
fn fsck_minix(img: &Path) -> Option<(i32, String)> {
    let tool = Path::new("/usr/sbin/fsck.minix");
    if !tool.exists() {
        assert!(
            !system_tests::qemu::in_ci(),
            "CI is set but /usr/sbin/fsck.minix is missing (install util-linux)"
        );
        return None;
    }
    let o = Command::new(tool)
        .arg("-f")
        .arg(img)
        .output()
        .expect("fsck.minix");
    Some((
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    ))
}

#[test]
fn qemu_fs_mounts_the_virtio_root_writes_mounts_a_second_disk_and_shuts_down_clean() {
    boot_and_check(4096);
}

#[test]
fn qemu_fs_on_a_1k_block_disk_passes_util_linux_fsck_afterwards() {
    let Some((dir, _)) = boot_and_check(1024) else {
        return;
    };
    for img in ["root.mfs", "second.mfs"] {
        if let Some((code, out)) = fsck_minix(&dir.path().join(img)) {
            assert_eq!(code, 0, "fsck.minix -f {img}: {out}");
        }
    }
}

#[test]
fn qemu_fs_a_64_mib_cache_full_of_dirty_blocks_survives_an_mfs_crash() {
    // MFS with a 64 MiB cache: 48 MiB written in 64 KiB writes stay dirty
    // in it (no sync); RS crashes MFS; the restarted instance adopts the
    // cache from the preserved window (crc32-checked) and every byte reads
    // back, then reaches the disk at shutdown.
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.mfs");
    mfs::root_image(&root, "128M", 4096);
    let modules = FS_MODULES.replace("mfs-native:mfs image", "mfs-native:mfs image cache=64");
    let Some(r) = boot_with_disks(
        &format!("{modules},fsclient bigcache=48 shutdown"),
        "critical=rs",
        &[&root],
        Duration::from_secs(600),
    ) else {
        return;
    };
    let log = &r.serial;
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
    assert_in_order(
        log,
        &[
            "[fsclient] wrote 48 MiB without a sync; crashing mfs",
            "[mfs] mfs: mfs: restart: adopted the cache (",
            "[fsclient] read all 48 MiB back from the restarted mfs",
            "[fsclient] all checks passed",
        ],
    );
    // The adopted cache held the unsynced data: at least 48 MiB of dirty
    // 4 KiB blocks.
    let at = log
        .find("restart: adopted the cache (")
        .expect("adoption line")
        + 28;
    let dirty: u64 = log[at..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("dirty block count");
    assert!(dirty >= 48 * 256, "only {dirty} dirty blocks were adopted");
    mfs::assert_clean(&root);
    let data = mfs::cat(&root, "/bigcache.bin");
    assert_eq!(data.len(), 48 << 20);
    let pat = |i: usize| (i as u8) ^ ((i >> 16) as u8).wrapping_mul(7);
    assert!(
        data.iter().enumerate().all(|(i, &b)| b == pat(i)),
        "the file on disk differs from what was written"
    );
}
