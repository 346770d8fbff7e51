//! Crash recovery under load: clients run a mixed workload (exclusive
//! create, checksummed writes, appends, read-verify, rename, unlink, fsync)
//! while the fault injector kills MFS — at message boundaries (the request
//! is bounced and resent) and right after a request was applied but before
//! its reply left (the resend must be answered from the record). At the end
//! every acknowledged write reads back exactly, nothing was applied twice
//! (an applied-twice append or exclusive create shows up as a wrong byte or
//! an unexpected error), no client hung, and the image passes fsck.

mod common;

use common::workload::{Faults, run};

#[test]
fn no_faults_baseline() {
    let r = run(
        11,
        4,
        150,
        Faults {
            crash_ppm: 0,
            die_ppm: 0,
            dev_ppm: 0,
            bs: 0,
        },
        true,
    );
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    assert_eq!(r.ops, 4 * 150);
    assert_eq!(r.crashes, 0);
    assert_eq!(r.leaked_refs, 0);
}

#[test]
fn mfs_crashes_are_invisible_and_exactly_once() {
    sim::seeded("vfs-crash", 7, |seed| {
        let r = run(
            seed,
            8,
            250,
            Faults {
                crash_ppm: 20_000,
                die_ppm: 20_000,
                dev_ppm: 0,
                bs: 0,
            },
            true,
        );
        assert!(
            r.errors.is_empty(),
            "{:#?}",
            &r.errors[..r.errors.len().min(20)]
        );
        assert_eq!(r.ops, 8 * 250);
        assert!(r.crashes > 100, "crashes: {}", r.crashes);
        assert!(
            r.deaths_after_apply > 20,
            "deaths after apply: {}",
            r.deaths_after_apply
        );
        assert!(r.resent > 0);
        assert_eq!(r.leaked_refs, 0, "inode references left in MFS");
        assert!(r.pfs_restarts > 5, "pfs restarts: {}", r.pfs_restarts);
        assert!(
            r.loopdev_restarts > 0,
            "char driver restarts: {}",
            r.loopdev_restarts
        );
        assert!(r.adoptions > 100, "adoptions: {}", r.adoptions);
        // Resends of applied requests were answered from the record.
        assert!(r.replayed > 20, "replayed: {}", r.replayed);
        assert_eq!(r.fsck_errors, 0);
        eprintln!(
            "seed {seed}: {} ops, {} crashes ({} after apply, {} PFS restarts), {} resends, {} answered from the record",
            r.ops, r.crashes, r.deaths_after_apply, r.pfs_restarts, r.resent, r.replayed
        );
    });
}

#[test]
fn without_the_record_resends_apply_twice() {
    // Same faults, exactly-once off: a resent append/create/rename/unlink
    // is applied again, and the workload notices.
    let r = run(
        7,
        8,
        250,
        Faults {
            crash_ppm: 0,
            die_ppm: 20_000,
            dev_ppm: 0,
            bs: 0,
        },
        false,
    );
    assert!(r.deaths_after_apply > 20);
    eprintln!(
        "without the record: {:?}",
        &r.errors[..r.errors.len().min(4)]
    );
    // What the workload sees must be duplicate applications, not some
    // other failure: a replayed exclusive create finds its own file
    // (EEXIST), a replayed unlink or rename finds the name gone (ENOENT),
    // a replayed append makes the file longer than acknowledged.
    let dups: Vec<&String> = r.errors.iter().filter(|e| is_duplicate(e)).collect();
    assert!(
        !dups.is_empty(),
        "duplicates must be visible without the record: {:#?}",
        r.errors
    );
    // A replay can also show second-hand (a file a replayed unlink
    // removed reads ENOENT later, a replayed create leaves an unnamed
    // inode: a leak); what it cannot cause is a hang, an I/O error, a
    // broken pipe or an image damaged beyond leaks.
    let foreign: Vec<&String> = r.errors.iter().filter(|e| is_foreign(e)).collect();
    assert!(
        foreign.is_empty(),
        "failures other than duplicate applications: {foreign:#?}"
    );
}

/// Whether a workload error is one a replayed request cannot explain.
fn is_foreign(e: &str) -> bool {
    e.contains("hung")
        || e.contains("EIO")
        || e.contains(": pipe")
        || (e.contains("fsck:") && !e.contains("leak: true"))
}

/// Whether a workload error is the trace of a request applied twice.
fn is_duplicate(e: &str) -> bool {
    if e.contains(": create ") && e.ends_with("EEXIST") {
        return true;
    }
    if (e.contains(": unlink ") || e.contains(": rename ")) && e.ends_with("ENOENT") {
        return true;
    }
    // "<path> reads back N bytes, expected M" with N > M: an append twice.
    if let Some((_, rest)) = e.split_once(" reads back ") {
        let mut w = rest.split_whitespace();
        let got = w.next().and_then(|n| n.parse::<u64>().ok());
        let want = rest
            .rsplit_once("expected ")
            .and_then(|(_, n)| n.parse::<u64>().ok());
        if let (Some(g), Some(x)) = (got, want) {
            return g > x;
        }
    }
    false
}

#[test]
fn duplicate_traces_are_told_apart_from_other_failures() {
    assert!(is_duplicate("client 3: create /w3/f12: EEXIST"));
    assert!(is_duplicate("client 5: unlink f3: ENOENT"));
    assert!(is_duplicate(
        "client 1: /w1/f1 reads back 9986 bytes, expected 9639"
    ));
    assert!(!is_duplicate(
        "client 1: /w1/f1 reads back 10 bytes, expected 9639"
    ));
    assert!(!is_duplicate("client 0: write /w0/f1: Err(EIO)"));
    assert!(!is_duplicate("clients hung: 3 of 8 finished"));
    assert!(!is_duplicate("fsck: Finding { .. }"));
    assert!(is_foreign("client 0: write /w0/f1: Err(EIO)"));
    assert!(is_foreign("clients hung: 3 of 8 finished"));
    assert!(is_foreign("client 2: pipe read: EPIPE"));
    assert!(!is_foreign("client 5: read /w5/f3: ENOENT"));
    assert!(!is_foreign("fsck: Finding { kind: Orphan, leak: true }"));
    assert!(is_foreign(
        "fsck: Finding { kind: DuplicateZone, leak: false }"
    ));
}

#[test]
fn block_driver_crashes_are_invisible() {
    sim::seeded("vfs-dev-crash", 5, |seed| {
        let r = run(
            seed,
            4,
            200,
            Faults {
                crash_ppm: 10_000,
                die_ppm: 0,
                dev_ppm: 300_000,
                bs: 0,
            },
            true,
        );
        assert!(
            r.errors.is_empty(),
            "{:#?}",
            &r.errors[..r.errors.len().min(20)]
        );
        assert!(r.dev_crashes > 20, "device crashes: {}", r.dev_crashes);
        assert_eq!(r.fsck_errors, 0);
        eprintln!(
            "seed {seed}: {} device crashes, {} MFS crashes",
            r.dev_crashes, r.crashes
        );
    });
}

/// util-linux `fsck.minix -f` on the image left by a crash run (1024-byte
/// blocks, which util-linux handles). Under CI=true a missing tool fails.
#[test]
fn crash_run_image_passes_util_linux_fsck() {
    let tool = std::path::Path::new("/usr/sbin/fsck.minix");
    if !tool.exists() {
        assert!(
            std::env::var("CI").map(|v| v != "true").unwrap_or(true),
            "CI=true but /usr/sbin/fsck.minix is missing (install util-linux)"
        );
        eprintln!("skipping: util-linux fsck.minix not installed");
        return;
    }
    let r = run(
        9,
        4,
        200,
        Faults {
            crash_ppm: 20_000,
            die_ppm: 20_000,
            dev_ppm: 0,
            bs: 1024,
        },
        true,
    );
    assert!(
        r.errors.is_empty(),
        "{:#?}",
        &r.errors[..r.errors.len().min(20)]
    );
    assert!(r.crashes > 20);
    let dir = std::env::temp_dir().join(format!("vfs-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("crash.img");
    std::fs::write(&img, &r.image).unwrap();
    let out = std::process::Command::new(tool)
        .arg("-f")
        .arg(&img)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "fsck.minix -f: {text}");
}

/// The CI figure the issue asks for: at least 10,000 crashes (MFS, PFS, the
/// character driver, plus block-driver crashes) survived by 8 clients, run
/// after run, every run fully verified.
#[test]
fn ten_thousand_crashes() {
    let mut crashes = 0;
    let mut seed = 1000;
    while crashes < 10_000 {
        let r = run(
            seed,
            8,
            60,
            Faults {
                crash_ppm: 150_000,
                die_ppm: 50_000,
                dev_ppm: 100_000,
                bs: 0,
            },
            true,
        );
        assert!(
            r.errors.is_empty() && r.fsck_errors == 0,
            "seed {seed}: {:#?}",
            &r.errors[..r.errors.len().min(20)]
        );
        assert_eq!(
            r.leaked_refs, 0,
            "seed {seed}: inode references left in MFS"
        );
        crashes += r.crashes;
        seed += 1;
    }
    eprintln!("{crashes} crashes survived in {} runs", seed - 1000);
}
