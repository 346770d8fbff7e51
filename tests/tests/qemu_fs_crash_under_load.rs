//! QEMU: the file-system stack keeps every acknowledged change through
//! crashes under load. `fsload` clients (boot modules `fsload1..3`) create,
//! read back, rename, unlink, append to files and push data through pipes
//! while the `fsload` coordinator asks RS to crash MFS, PFS and virtio-blk
//! at random (`service fi`), one crash at a time, 1,000 by default; MFS
//! also dies after applying and recording some requests before answering
//! (`die=PPM`), so VFS resends them and MFS must answer from its record.
//! The guest checks every acknowledged write reads back, nothing was
//! applied twice, no client hung; the host then checks the image with
//! `mfs fsck` and the contents of every file the guest reported keeping
//! (`system_tests::fsload`). `qemu_shell_crashload` runs the same load as
//! the disk program `/bin/crashload` from the shell.
//!
//! Negative controls, each asserting the specific effect: without the
//! exactly-once record resends are applied twice (`dup`); with a volatile
//! MFS (a private heap: nothing kept across a restart) acknowledged writes
//! are lost. A small heap limit forces the failover (flush, state handed
//! over as bytes, fresh preserved heap) and nothing is lost there either.
//!
//! Soak: `FS_SOAK_CRASHES=N` runs N crashes instead of 1,000 and writes
//! the throughput plot (`images::soakplot`) to `target/soak/`.

use std::path::Path;
use std::time::Duration;
use system_tests::mfs;
use system_tests::qemu::boot_with_disks;

const FS_MODULES: &str = "rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,\
                          pfs-native:pfs image,vfs-native:vfs image";

/// `key=value` numbers of the coordinator's `summary` line.
fn summary(log: &str) -> std::collections::BTreeMap<String, u64> {
    let line = log
        .lines()
        .find(|l| l.starts_with("[fsload] summary "))
        .unwrap_or_else(|| panic!("no summary line\n{log}"));
    line.split_ascii_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// Boots the load on a fresh root image; `mfs_opts` go on the `mfs` boot
/// module line, `crasher` is the coordinator's argument list.
fn run(
    dir: &Path,
    mfs_opts: &str,
    crasher: &str,
    timeout: Duration,
) -> Option<(std::path::PathBuf, images::qemu::RunResult)> {
    let root = dir.join("root.mfs");
    mfs::root_image(&root, "32M", 4096);
    let modules = format!(
        "{FS_MODULES},mfs-native:mfs image {mfs_opts},fsload crasher {crasher},\
         fsload:fsload1 client 1,fsload:fsload2 client 2,fsload:fsload3 client 3"
    );
    let r = boot_with_disks(&modules, "critical=rs", &[&root], timeout)?;
    assert!(!r.serial.contains("KERNEL PANIC"), "{}", r.serial);
    Some((root, r))
}

/// The files the guest reported keeping hold what it wrote.
fn check_kept_files(root: &Path, log: &str) -> usize {
    system_tests::fsload::check_kept_files(root, log, "/tmp/c")
}

#[test]
fn fs_crash_under_load_keeps_every_acknowledged_change() {
    let soak: Option<u64> = std::env::var("FS_SOAK_CRASHES")
        .ok()
        .and_then(|v| v.parse().ok());
    let crashes = soak.unwrap_or(1000);
    let dir = tempfile::tempdir().expect("temp dir");
    let timeout = Duration::from_secs(1200 + crashes);
    let Some((root, r)) = run(
        dir.path(),
        "die=3000",
        &format!("clients=3 crashes={crashes} seed=7"),
        timeout,
    ) else {
        return;
    };
    let log = &r.serial;
    if soak.is_some() {
        let out = images::build::workspace_root().join("target/soak");
        std::fs::create_dir_all(&out).expect("target/soak");
        let s = images::soakplot::parse(log);
        let series = s.series(100);
        let title = format!("fsload soak: {crashes} crashes");
        std::fs::write(out.join("fs-crash.csv"), series.csv()).expect("csv");
        std::fs::write(
            out.join("fs-crash.svg"),
            images::soakplot::svg(&s, &series, &title),
        )
        .expect("svg");
        std::fs::write(out.join("fs-crash.log"), log).expect("log");
    }
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
    let s = summary(log);
    assert_eq!(s["crashes"], crashes, "every crash was delivered");
    for svc in ["mfs", "pfs", "virtio-blk"] {
        assert!(s[svc] > 0, "{svc} was crashed");
    }
    for bad in ["dup", "vanished", "lost", "errors", "hung"] {
        assert_eq!(s[bad], 0, "{bad}");
    }
    assert!(s["ops"] > 0 && s["bytes"] > 0);
    // MFS adopted its preserved heap at every restart and answered resends
    // of requests it had applied before dying from its record.
    assert!(log.contains("[mfs] preserved heap adopted: generation 2,"));
    assert!(
        !log.contains("starting stateless"),
        "a stateless MFS restart"
    );
    let replayed = log
        .lines()
        .filter_map(|l| l.split(" resends answered from the record so far").next())
        .filter(|l| l.contains("[mfs] mfs: mfs: restart: adopted the cache"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert!(replayed > 0, "no resend was answered from the record");
    assert!(log.contains("[fsload] synced and unmounted /"));
    mfs::assert_clean(&root);
    let kept = check_kept_files(&root, log);
    assert!(kept > 0, "the clients kept no files");
    eprintln!(
        "crashes {crashes} (mfs {}, pfs {}, virtio-blk {}), ops {}, bytes checked {}, \
         resends answered from the record {replayed}, files checked on the host {kept}",
        s["mfs"], s["pfs"], s["virtio-blk"], s["ops"], s["bytes"]
    );
}

#[test]
fn fs_crash_under_load_without_the_record_applies_resends_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((_, r)) = run(
        dir.path(),
        "norecord die=20000",
        "clients=3 crashes=0",
        Duration::from_secs(600),
    ) else {
        return;
    };
    let log = &r.serial;
    assert!(log.contains("[mfs] options: exactly-once record off"));
    assert_ne!(r.status, Some(33), "{log}");
    let s = summary(log);
    assert!(s["dup"] > 0, "no change was applied twice\n{log}");
    assert!(log.contains("applied twice: "), "{log}");
}

#[test]
fn fs_crash_under_load_with_a_volatile_mfs_loses_acknowledged_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((_, r)) = run(
        dir.path(),
        "volatile",
        "clients=3 crashes=20 targets=mfs",
        Duration::from_secs(600),
    ) else {
        return;
    };
    let log = &r.serial;
    assert!(log.contains("[mfs] volatile: private heap"));
    assert_ne!(r.status, Some(33), "{log}");
    let s = summary(log);
    assert!(s["lost"] > 0, "no acknowledged write was lost\n{log}");
    assert!(log.contains("] lost: "), "{log}");
}

#[test]
fn fs_crash_under_load_fails_over_to_a_fresh_heap_without_losing_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((root, r)) = run(
        dir.path(),
        "heaplimit=1024 die=3000",
        "clients=3 crashes=150 targets=mfs seed=3",
        Duration::from_secs(900),
    ) else {
        return;
    };
    let log = &r.serial;
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
    assert!(
        log.contains("[mfs] preserved heap failover: "),
        "no failover\n{log}"
    );
    assert!(log.contains("[mfs] preserved heap started afresh (failover); took over "));
    let s = summary(log);
    for bad in ["dup", "vanished", "lost", "errors", "hung"] {
        assert_eq!(s[bad], 0, "{bad}");
    }
    mfs::assert_clean(&root);
    assert!(check_kept_files(&root, log) > 0);
}
