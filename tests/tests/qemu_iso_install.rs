//! The installation ISO (`images iso`, issue 13 item 3) in QEMU, booted
//! as a PC boots it: SeaBIOS → GRUB (grub-mkrescue's image) → the kernel
//! and the boot modules from the ISO → the root on the ISO through isofs
//! → init's shell prompt, with no `-kernel`.

use images::qemu::QemuConfig;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use system_tests::qemu::built;
use system_tests::shell::{Shell, boot_firmware_shell};

/// The ISO of the built system, in `dir`.
fn make_iso(dir: &Path) -> PathBuf {
    let iso = dir.join("sys.iso");
    images::iso::make_iso(built(), &iso, images::iso::ISO_RC, &[]).expect("making the ISO");
    iso
}

/// `isofs ARGS...` (the host viewer) on the ISO; its output.
fn host_iso(args: &[&str]) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = images::isotool::run_with(
        std::iter::once("isofs").chain(args.iter().copied()),
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "isofs {args:?}: {}", String::from_utf8_lossy(&err));
    String::from_utf8_lossy(&out).into_owned()
}

fn names(listing: &str) -> BTreeSet<String> {
    listing.split_whitespace().map(String::from).collect()
}

/// Boots the ISO attached as a (read-only) virtio disk, the only drive.
fn boot_iso(iso: &Path) -> Option<(Shell, f64)> {
    let mut cfg = QemuConfig::firmware(PathBuf::new());
    cfg.readonly_disks = vec![iso.to_path_buf()];
    let t = Instant::now();
    let sh = boot_firmware_shell(cfg, iso.to_path_buf())?;
    Some((sh, t.elapsed().as_secs_f64()))
}

#[test]
fn qemu_iso_boots_with_its_root_on_the_iso() {
    let dir = tempfile::tempdir().expect("temp dir");
    let iso = make_iso(dir.path());
    let Some((mut sh, secs)) = boot_iso(&iso) else {
        return;
    };
    eprintln!("ISO boot (SeaBIOS, GRUB, kernel, servers) to the prompt: {secs:.1} s");

    // The root is the ISO through isofs, read-only.
    let mounts = sh.ok("mount");
    assert!(
        mounts.contains("/dev/c0d0 on / type isofs (ro,label=isofs)"),
        "{mounts}"
    );
    assert_eq!(
        names(&sh.ok("ls /")),
        names(&host_iso(&["ls", iso.to_str().unwrap(), "/"])),
        "ls / in the guest against the host's listing of the ISO"
    );
    assert_eq!(
        names(&sh.ok("ls /boot/modules")),
        names(&host_iso(&["ls", iso.to_str().unwrap(), "/boot/modules"])),
    );
    assert_eq!(
        sh.ok("cat /etc/motd"),
        host_iso(&["cat", iso.to_str().unwrap(), "/etc/motd"])
    );
    // Device nodes from Rock Ridge PN entries, owners from PX.
    let dev = sh.ok("ls -l /dev/c0d0 /dev/null /home");
    assert!(dev.contains("brw-------"), "{dev}");
    assert!(dev.contains("crw-rw-rw-"), "{dev}");
    // Nothing can be written on the ISO.
    let (out, st) = sh.run("echo x > /etc/new");
    assert_ne!(st, 0, "writing on the ISO must fail: {out}");
    assert!(out.contains("Read-only file system"), "{out}");

    let halted = sh.shutdown();
    assert!(halted.passed(), "{}", halted.describe());
}
