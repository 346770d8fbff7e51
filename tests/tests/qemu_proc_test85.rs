//! QEMU: MINIX test85's four sequences — peeks (mmap of a block device)
//! included — as the disk program `/bin/test85`, started by init from
//! `/etc/rc` on the MFS root disk (PM, VM and `bootinit` in the boot
//! image). Disks 1-3 are `3·4096 − 512`, `3·4096` and `3·4096 + 512` bytes
//! of a known pattern, `/dev/c0d1..3` on the root. A read or write goes VFS
//! → root MFS → `bio`; a peek is `mmap` through VM, which asks VFS
//! (`PeekDev`), which reads through the same root MFS `bio` (its cache)
//! into VM's buffer; VM maps the pages holding device bytes read-only and
//! leaves the pages past `roundup(size, page)` unmapped. The guest checks
//! every count, every byte (mapped ones included), the zero tail of the
//! last page and each page's accessibility (`write(pipe, page, 1)`: 1 or
//! EFAULT), and reports each accepted write; the host rebuilds the
//! expected disks from those reports and compares them with the images.
//!
//! Negative control: the peek sequences alone, with the guest told each
//! size 512 bytes larger — the peeks must catch it (mapped bytes that are
//! zero where the guest expects device bytes, or a page past the real end
//! that is not mapped) and fail the run.

use std::path::Path;
use std::time::Duration;
use system_tests::proc::{PROC_APPEND, PROC_MODULES, root_disk_with};
use system_tests::qemu::{assert_in_order, boot_with_disks};
use system_tests::test85::{self, initial};

const SIZES: [u64; 3] = [3 * 4096 - 512, 3 * 4096, 3 * 4096 + 512];

/// Boots with `/etc/rc` running `/bin/test85 seed=SEED EXTRA 1:S1 2:S2
/// 3:S3` (each size plus `lie`); the log, the status and the disks.
fn run(seed: u64, extra: &str, lie: u64) -> Option<(String, Option<i32>, Vec<Vec<u8>>)> {
    let mut cmd = format!("/bin/test85 seed={seed} {extra}");
    for (i, s) in SIZES.iter().enumerate() {
        cmd.push_str(&format!(" {}:{}", i + 1, s + lie));
    }
    let (dir, root) = root_disk_with(&format!("{cmd}\nshutdown\n"));
    let mut paths = Vec::new();
    for (i, &size) in SIZES.iter().enumerate() {
        let p = dir.path().join(format!("d{}.img", i + 1));
        std::fs::write(&p, initial(i as u32 + 1, size)).expect("writing a disk");
        paths.push(p);
    }
    let disks: Vec<&Path> = std::iter::once(root.as_path())
        .chain(paths.iter().map(|p| p.as_path()))
        .collect();
    let r = boot_with_disks(PROC_MODULES, PROC_APPEND, &disks, Duration::from_secs(900))?;
    assert!(!r.serial.contains("KERNEL PANIC"), "{}", r.serial);
    let imgs = paths
        .iter()
        .map(|p| std::fs::read(p).expect("disk"))
        .collect();
    Some((r.serial, r.status, imgs))
}

#[test]
fn qemu_proc_test85_peek_sequences_through_mmap_of_a_block_device() {
    let Some((log, status, imgs)) = run(21, "", 0) else {
        return;
    };
    assert!(!log.contains("FAILED"), "{log}");
    assert_in_order(
        &log,
        &[
            "test85: root block size 4096, page size 4096: peeks on",
            "test85: c0d1: sequence 0 done, closed",
            "test85: c0d1: sequence 1 done, closed",
            "test85: c0d1: sequence 2 done, closed",
            "test85: c0d1: sequence 3 done, closed",
            "test85: c0d2: sequence 3 done, closed",
            "test85: c0d3: sequence 3 done, closed",
            "test85: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
    assert_eq!(status, Some(33), "{log}");
    // Every case of every pass ran: 10 passes (4 read, 4 write, ... ) of
    // six cases on three disks; 3 peek passes per disk.
    let cases = log.lines().filter(|l| l.contains("_EOF pos ")).count();
    assert_eq!(cases, 3 * 10 * 6, "{log}");
    let peeks: Vec<&str> = log.lines().filter(|l| l.contains(" peek ")).collect();
    assert_eq!(peeks.len(), 3 * 3 * 6);
    // Both outcomes of a peek occurred: ENXIO for ranges past the end,
    // and mappings with pages past roundup(size, page) left unmapped
    // (the EFAULT side of the probe).
    assert!(peeks.iter().any(|l| l.ends_with("-> ENXIO")), "{log}");
    let partly_mapped = peeks.iter().any(|l| {
        // "... -> E bytes, M of P pages mapped"
        let Some((_, tail)) = l.rsplit_once(" -> ") else {
            return false;
        };
        let w: Vec<&str> = tail.split_whitespace().collect();
        w.len() == 7 && w[6] == "mapped" && w[2] != w[4]
    });
    assert!(
        partly_mapped,
        "no peek with an unmapped page past the end: {log}"
    );
    // Four write passes: sequences 0 and 1 write twice, 2 and 3 once.
    test85::check_disks(&log, "test85:", &SIZES, &imgs, 4);
}

/// Negative control: the guest believes each disk is 512 bytes larger;
/// with only the peek sequences run, a peek must catch it.
#[test]
fn qemu_proc_test85_peek_wrong_size_is_caught() {
    let Some((log, status, imgs)) = run(22, "seq=2,3", 512) else {
        return;
    };
    assert_ne!(status, Some(33), "the run must fail: {log}");
    assert!(
        log.contains("test85: FAILED: c0d1 peek "),
        "no peek failure reported: {log}"
    );
    assert!(
        log.contains("init: all done (1 commands, 1 failed)"),
        "{log}"
    );
    for (img, size) in imgs.iter().zip(SIZES) {
        assert_eq!(img.len() as u64, size, "a disk grew");
    }
}
