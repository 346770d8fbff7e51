//! QEMU: the crash-under-load run and test85 typed at the console shell,
//! as a person would, on the process system with three extra disks.
//!
//! `crashload crashes=200 keep=1` (`/bin/crashload`, the load of
//! `fsload-core` in forked clients while the program asks RS to crash MFS,
//! PFS and virtio-blk, one at a time, through `ulib::service`) must print
//! MINIX's `Test crashload ... ok` and exit 0; its summary must show every
//! crash delivered and followed by a restart, each target crashed, and no
//! lost, duplicated or vanished change, no error and no hung client. Then
//! `test85 seed=23 1:S1 2:S2 3:S3` on disks of `3·4096 − 512`, `3·4096`
//! and `3·4096 + 512` bytes (as `qemu_proc_test85`) must print `test85:
//! ok` and exit 0. After `sync; halt` the host checks the three disks
//! against test85's write reports (`system_tests::test85`), the root image
//! with `mfs fsck`, and every file crashload's clients reported keeping
//! against the pattern they wrote (`system_tests::fsload`).
//!
//! Negative controls at the same prompt: a target RS does not know makes
//! crashload fail the MINIX way (`FAILED, 1 errors`, exit 1), and an
//! unknown argument is a usage error (exit 2).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use system_tests::fsload::check_kept_files;
use system_tests::mfs;
use system_tests::shell::boot_shell;
use system_tests::test85::{self, initial};

const SIZES: [u64; 3] = [3 * 4096 - 512, 3 * 4096, 3 * 4096 + 512];
const CRASHES: u64 = 200;

/// `key=value` numbers of crashload's summary line.
fn summary(out: &str) -> BTreeMap<String, u64> {
    let line = out
        .lines()
        .find(|l| l.starts_with("crashload: summary "))
        .unwrap_or_else(|| panic!("no summary line\n{out}"));
    line.split_ascii_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// The sum of `key=` over the clients' `final` lines.
fn final_sum(out: &str, key: &str) -> u64 {
    out.lines()
        .filter(|l| l.starts_with("crashload: client ") && l.contains(": final ops="))
        .filter_map(|l| {
            l.split_ascii_whitespace()
                .find_map(|w| w.strip_prefix(key)?.parse::<u64>().ok())
        })
        .sum()
}

#[test]
fn qemu_shell_crashload_and_test85_from_the_prompt() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut paths = Vec::new();
    for (i, &size) in SIZES.iter().enumerate() {
        let p = dir.path().join(format!("d{}.img", i + 1));
        std::fs::write(&p, initial(i as u32 + 1, size)).expect("writing a disk");
        paths.push(p);
    }
    let disks: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let Some(mut sh) = boot_shell("", &[], &disks) else {
        return;
    };

    // Failures are reported the MINIX way.
    let (out, status) = sh.run("crashload crashes=1 targets=nosuch");
    if status != 1 || !out.contains("Test crashload ... FAILED, 1 errors") {
        sh.fail(&format!(
            "crashload with an unknown target: {status}\n{out}"
        ));
    }
    let (out, status) = sh.run("crashload bogus");
    if status != 2 || !out.contains("crashload: unknown argument 'bogus'") {
        sh.fail(&format!("crashload with a bad argument: {status}\n{out}"));
    }

    // The crash-under-load run.
    let cmd = format!("crashload crashes={CRASHES} keep=1");
    let (load, status) = sh.run_timeout(&cmd, Duration::from_secs(1800));
    if status != 0 || !load.contains("Test crashload ... ok") || load.contains("FAILED") {
        sh.fail(&format!("{cmd}: status {status}\n{load}"));
    }
    let s = summary(&load);
    assert_eq!(s["crashes"], CRASHES, "every crash was delivered\n{load}");
    assert_eq!(
        s["restarts"], CRASHES,
        "every crash was followed by a restart"
    );
    for svc in ["mfs", "pfs", "virtio-blk"] {
        assert!(s[svc] > 0, "{svc} was never crashed\n{load}");
    }
    assert_eq!(s["mfs"] + s["pfs"] + s["virtio-blk"], CRASHES);
    for bad in ["dup", "vanished", "lost", "errors", "hung"] {
        assert_eq!(s[bad], 0, "{bad}\n{load}");
    }
    assert!(s["ops"] > 0 && s["bytes"] > 0, "{load}");
    assert_eq!(final_sum(&load, "ops="), s["ops"], "{load}");

    // test85 on the three extra disks.
    let mut cmd = String::from("test85 seed=23");
    for (i, s) in SIZES.iter().enumerate() {
        cmd.push_str(&format!(" {}:{s}", i + 1));
    }
    let (t85, status) = sh.run_timeout(&cmd, Duration::from_secs(900));
    if status != 0 || !t85.contains("test85: ok") || t85.contains("FAILED") {
        sh.fail(&format!("{cmd}: status {status}\n{t85}"));
    }

    let h = sh.shutdown();
    assert!(h.passed(), "{}", h.describe());
    assert!(!h.serial.contains("KERNEL PANIC"), "{}", h.serial);
    let imgs: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("disk"))
        .collect();
    // Four write passes: sequences 0 and 1 write twice, 2 and 3 once.
    test85::check_disks(&t85, "test85:", &SIZES, &imgs, 4);
    mfs::assert_clean(&h.root);
    let kept = check_kept_files(&h.root, &load, "/tmp/crashload/");
    assert!(kept > 0, "the clients kept no files\n{load}");
    assert_eq!(kept as u64, final_sum(&load, "files="), "{load}");
    eprintln!(
        "crashload: crashes {CRASHES} (mfs {}, pfs {}, virtio-blk {}), restarts {}, ops {}, \
         bytes checked {}, files checked on the host {kept}, {} ticks",
        s["mfs"], s["pfs"], s["virtio-blk"], s["restarts"], s["ops"], s["bytes"], s["ticks"]
    );
}
