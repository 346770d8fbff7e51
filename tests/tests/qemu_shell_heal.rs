//! Healing, seen from the shell over the serial console: MFS is crashed
//! with `service fi` in the middle of a `cp -r` and the copy completes
//! byte for byte; a driver is taken down and brought back with `service
//! down` / `service up`. The copy is compared in the guest (`cksum`) and on
//! the host after shutdown (every file of both trees).

use std::time::Duration;
use system_tests::mfs;
use system_tests::shell::{boot_shell, restarts};

#[test]
fn qemu_shell_service_fi_mfs_during_cp_r_and_driver_down_up() {
    let Some(mut sh) = boot_shell("", &[], &[]) else {
        return;
    };
    // A tree of a few MiB: the programs, nested three deep.
    sh.ok("mkdir -p /tmp/src/a/b/c");
    sh.ok("cp /bin/* /tmp/src/");
    sh.ok("cp /sbin/* /tmp/src/a/b/");
    sh.ok("echo deep > /tmp/src/a/b/c/leaf");
    let before = restarts(&sh.ok("service status mfs"));

    // The copy runs in the background while MFS is crashed twice.
    let (out, st) = sh.run_timeout(
        "cp -r /tmp/src /tmp/dst & service fi mfs; sleep 1; service fi mfs; wait $!",
        Duration::from_secs(900),
    );
    assert_eq!(st, 0, "cp -r finished with status 0: {out}");
    let after = restarts(&sh.ok("service status mfs"));
    assert!(
        after >= before + 2,
        "MFS restarted twice: {before} -> {after}"
    );
    let sum = |sh: &mut system_tests::shell::Shell, root: &str| {
        sh.ok(&format!("cd {root} && cksum sh ls a/b/mkfs.mfs a/b/c/leaf"))
    };
    let src = sum(&mut sh, "/tmp/src");
    let dst = sum(&mut sh, "/tmp/dst");
    assert_eq!(src, dst, "cksum of the copy");
    assert!(src.contains("a/b/c/leaf"), "{src}");

    // A driver down and up again: /dev/zero reads fail while it is down
    // and work once it is back.
    sh.ok("service down memory");
    let (_, st) = sh.run("dd if=/dev/zero of=/tmp/z bs=512 count=4");
    assert_ne!(st, 0, "reading /dev/zero with its driver down fails");
    sh.ok("service up memory");
    let out = sh.ok("dd if=/dev/zero of=/tmp/z bs=512 count=4 && wc -c /tmp/z");
    assert!(out.contains("2048"), "{out}");

    let root = sh.root.clone();
    let r = sh.shutdown();
    assert!(r.passed(), "{}", r.describe());
    let src = mfs::tree(&root, "/tmp/src");
    let dst = mfs::tree(&root, "/tmp/dst");
    assert!(src.len() > 20, "the source tree: {:?}", src.keys());
    assert_eq!(
        src.keys().collect::<Vec<_>>(),
        dst.keys().collect::<Vec<_>>(),
        "same names"
    );
    for (name, data) in &src {
        assert!(dst[name] == *data, "{name} differs");
    }
    mfs::assert_clean(&root);
}
