//! QEMU: an ISO 9660 image (made by xorriso from a host tree, Rock Ridge
//! and Joliet) attached as the second virtio disk, served by the native
//! ISOFS (`servers/isofs-native`, started with `service up`) and mounted
//! on /mnt from `/etc/rc`: `ls -l` shows the tree's modes, owners, sizes
//! and link targets, `cksum` of every file equals the host's, writes are
//! refused (read-only file system), and after `service fi` crashes ISOFS
//! the same files read back with the same checksums (stateful restart:
//! the mount survives, VFS resends). Same harness rules as the other
//! `qemu_*` tests: under `CI=true` a missing QEMU fails.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use system_tests::proc::{PROC_APPEND, PROC_MODULES, root_disk_with};
use system_tests::qemu::{assert_in_order, boot_with_disks};

const TIMEOUT: Duration = Duration::from_secs(900);

/// Files whose checksums are compared (paths below the mount).
const FILES: &[&str] = &[
    "hello.txt",
    "big.bin",
    "sub/data.bin",
    "sub/deeper/level3/level4/level5/level6/level7/level8/level9/deep.txt",
    "A-Long-Rock-Ridge-Name-That-Plain-ISO-9660-Could-Never-Hold.txt",
];

const RC: &str = "\
service up /sbin/isofs -label isofs2
mount isofs2 /mnt
ls -l /mnt
cksum CKSUM_FILES
cat /mnt/hello.txt
touch /mnt/new
service fi isofs2
sleep 1
cksum CKSUM_FILES
ls /mnt/sub
shutdown
";

fn bytes(seed: u32, n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

fn make_tree(src: &Path) {
    let w = |p: &str, d: &[u8], perm: u32| {
        let path = src.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, d).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm)).unwrap();
    };
    w("hello.txt", b"Hello from the ISO.\n", 0o644);
    w("big.bin", &bytes(1, 700_001), 0o640);
    w("sub/data.bin", &bytes(2, 12_345), 0o600);
    w(FILES[3], b"nine levels down\n", 0o444);
    w(FILES[4], &bytes(3, 4096), 0o755);
    std::os::unix::fs::symlink("sub/data.bin", src.join("link")).unwrap();
}

/// The host's `cksum` line of each file, with the guest's path.
fn host_cksums(src: &Path) -> Vec<String> {
    FILES
        .iter()
        .map(|f| {
            let o = Command::new("cksum")
                .arg(src.join(f))
                .output()
                .expect("cksum");
            let line = String::from_utf8(o.stdout).unwrap();
            let mut it = line.split_whitespace();
            let (crc, size) = (it.next().unwrap(), it.next().unwrap());
            format!("[cksum] {crc} {size} /mnt/{f}")
        })
        .collect()
}

#[test]
fn qemu_isofs_mount_list_checksum_and_crash() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    make_tree(&src);
    let iso = t.path().join("cd.iso");
    let st = Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-J", "-quiet", "-V", "QEMUCD", "-o"])
        .arg(&iso)
        .arg(&src)
        .status()
        .expect("xorriso runs (the setup script installs it)");
    assert!(st.success());
    let files: Vec<String> = FILES.iter().map(|f| format!("/mnt/{f}")).collect();
    let rc = RC.replace("CKSUM_FILES", &files.join(" "));
    let (_dir, root) = root_disk_with(&rc);
    let Some(r) = boot_with_disks(PROC_MODULES, PROC_APPEND, &[&root, &iso], TIMEOUT) else {
        return;
    };
    let log = r.serial.clone();
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let sums = host_cksums(&src);
    let mut want: Vec<String> = vec![
        "isofs: isofs2 virtio-blk minor 1: ISO 9660 volume \"QEMUCD\", RockRidge names".into(),
        "[mount] isofs2 is mounted on /mnt".into(),
        "[ls] -rwxr-xr-x".into(),
        "A-Long-Rock-Ridge-Name-That-Plain-ISO-9660-Could-Never-Hold.txt".into(),
        "[ls] -rw-r-----".into(),
        "700001".into(),
        "big.bin".into(),
        "[ls] lrwxrwxrwx".into(),
        "link -> sub/data.bin".into(),
        "[ls] drwxr-xr-x".into(),
        "sub".into(),
    ];
    want.extend(sums.iter().cloned());
    want.push("[cat] Hello from the ISO.".into());
    want.push("Read-only file system".into());
    want.push("init: touch /mnt/new: exit 1".into());
    want.push("isofs: isofs2: restart: took over the mount".into());
    want.extend(sums.iter().cloned());
    want.push("[ls] data.bin".into());
    want.push("[ls] deeper".into());
    assert_in_order(&log, &want);
}
