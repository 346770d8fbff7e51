//! QEMU: the file utilities (`commands/fileutils`: /bin/ls, cp, mv, rm,
//! mkdir, ln, chmod, chown, touch, dd, mknod, stat, du, df, mount, umount,
//! sync, echo, cat) run by init from `/etc/rc` in one boot of the process
//! system with a second, empty disk. Programs started by init have no
//! descriptors 1 and 2, so what they print shows on the kernel console as
//! `[prog] text` lines, and init reports each command's exit status. After
//! the power-off the host reads both disks back with the `mfs` tool: the
//! tree `cp -r` made equals its source (types, modes, sizes, contents, link
//! targets), `rm -r` removed its tree, `mkdir -p`/`-m`, links, `chmod`,
//! `chown`, `touch -t`, `cp -p`, `dd`, `mknod` and the move across file
//! systems (`EXDEV`: copy and remove) left what they should, and both
//! file systems are clean. Same harness rules as the other `qemu_*` tests:
//! under `CI=true` a missing QEMU fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use system_tests::mfs;
use system_tests::proc::{PROC_APPEND, PROC_MODULES, root_disk_with};
use system_tests::qemu::{assert_in_order, boot_with_disks};

const TIMEOUT: Duration = Duration::from_secs(900);

/// The commands init runs. The mount comes among the first twenty: RS
/// asks PM about each `service` caller (mount and umount start and stop
/// the disk's MFS through RS), and after some forty commands PM no longer
/// takes RS's request (the kernel answers "not ready": PM owes too many
/// replies), which `/bin/service` meets as well.
const RC: &str = "\
mkdir -p /tmp/src/d1/d2/d3
mkdir -m 700 /tmp/src/private
cp /etc/motd /tmp/src
cp -r /home /tmp/src
dd if=/bin/ls of=/tmp/src/d1/d2/d3/big bs=4k
ln -s ../motd /tmp/src/d1/rel
ln -s /etc/motd /tmp/src/abs
ln /tmp/src/motd /tmp/src/hard
mknod /tmp/src/fifo p
chmod 640 /tmp/src/hard
chmod u=rwx,g=x,o= /tmp/src/d1/d2/d3/big
mount /dev/c0d1 /mnt
mount
df
cp /etc/motd /mnt/motd
mkdir /mnt/sub
cp -r /tmp/src/d1 /mnt/d1
mv /mnt/motd /tmp/moved
ls -l /mnt
umount /mnt
cp -r /tmp/src /tmp/dst
cp -r /tmp/src /tmp/gone
rm -r /tmp/gone
cp -p /etc/motd /tmp/kept
touch -t 1000000000 /tmp/old
touch /tmp/new
mv /tmp/new /tmp/newer
mkdir /tmp/mvdir /tmp/mvto
mv /tmp/mvdir /tmp/mvto
chown 1000:1000 /tmp/kept
mknod /tmp/cdev c 1 3
rm /tmp/src
ls /nope
rmdir /tmp/src
mkdir -z /tmp/q
rm -f /nope
echo hello world
cat /tmp/src/motd
ls -l /tmp/src
ls -R /tmp/dst/d1
stat /tmp/src/abs
dd if=/etc/motd of=/tmp/part bs=10 skip=1 count=2
dd if=/dev/zero of=/tmp/zeros bs=1k count=3
dd if=/etc/motd of=/tmp/reblock ibs=7 obs=5
du -s -k /tmp/dst
sync
shutdown
";

/// Commands of [`RC`] that must fail: rm of a directory, ls of a missing
/// file, rmdir of a full directory (exit 1), an unknown option (exit 2).
const FAILING: usize = 4;

/// One entry of a tree as `mfs ls -l` shows it: mode string, size (or
/// device numbers), contents of a regular file, target of a link.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    mode: String,
    size: String,
    data: Option<Vec<u8>>,
    target: Option<String>,
}

/// Every entry below `dir` in `img`, by path relative to `dir` (links
/// counts, owners and times left out).
fn tree(img: &Path, dir: &str) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(img, dir, "", &mut out);
    out
}

fn walk(img: &Path, dir: &str, rel: &str, out: &mut BTreeMap<String, Node>) {
    let listing = mfs::ok(&["ls", "-l", &img.to_string_lossy(), dir]);
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let mode = f[0].to_string();
        // Devices show "major, minor" in the size column.
        let (size, rest) = if mode.starts_with(['c', 'b']) {
            (format!("{} {}", f[4], f[5]), &f[6..])
        } else {
            (f[4].to_string(), &f[5..])
        };
        // rest: date, time, name [-> target]
        let name = rest[2];
        let target = (rest.get(3) == Some(&"->")).then(|| rest[4].to_string());
        let path = format!("{dir}/{name}");
        let key = format!("{rel}{name}");
        let data = mode.starts_with('-').then(|| mfs::cat(img, &path));
        let is_dir = mode.starts_with('d');
        out.insert(
            key.clone(),
            Node {
                mode,
                size,
                data,
                target,
            },
        );
        if is_dir {
            walk(img, &path, &format!("{key}/"), out);
        }
    }
}

/// The `mfs stat` line starting with `field` (e.g. `Modify:`).
fn stat_field(img: &Path, path: &str, field: &str) -> String {
    let out = mfs::ok(&["stat", &img.to_string_lossy(), path]);
    out.lines()
        .find(|l| l.trim_start().starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in mfs stat {path}: {out}"))
        .trim()
        .to_string()
}

fn exists(img: &Path, path: &str) -> bool {
    mfs::run(&["stat", &img.to_string_lossy(), path]).0 == 0
}

#[test]
fn qemu_fileutils_from_etc_rc() {
    let (dir, root) = root_disk_with(RC);
    let second = dir.path().join("second.mfs");
    mfs::ok(&["mkfs", "--size", "8M", &second.to_string_lossy()]);
    let Some(r) = boot_with_disks(PROC_MODULES, PROC_APPEND, &[&root, &second], TIMEOUT) else {
        return;
    };
    let log = r.serial.clone();
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let commands = RC
        .lines()
        .filter(|l| !l.is_empty() && *l != "shutdown")
        .count();
    assert_in_order(
        &log,
        &[
            "[mount] /dev/c0d1 is mounted on /mnt".to_string(),
            "[mount] root on / type mfs (rw)".into(),
            "[mount] /dev/c0d1 on /mnt type mfs (rw,label=mfs2)".into(),
            "[df] Filesystem".into(),
            "/mnt".into(),
            "init: mv /mnt/motd /tmp/moved: exit 0".into(),
            "[ls] drwx".into(),
            "[umount] /dev/c0d1 unmounted from /mnt".into(),
            "init: cp -r /tmp/src /tmp/dst: exit 0".into(),
            "init: rm -r /tmp/gone: exit 0".into(),
            "[rm] rm: /tmp/src: Is a directory".into(),
            "init: rm /tmp/src: exit 1".into(),
            "[ls] ls: /nope: No such file or directory".into(),
            "init: ls /nope: exit 1".into(),
            "[rmdir] rmdir: /tmp/src: Directory not empty".into(),
            "init: rmdir /tmp/src: exit 1".into(),
            "[mkdir] mkdir: unknown option -- z".into(),
            "[mkdir] usage: mkdir [-p] [-m mode] dir ...".into(),
            "init: mkdir -z /tmp/q: exit 2".into(),
            "init: rm -f /nope: exit 0".into(),
            "[echo] hello world".into(),
            "[cat] Welcome to the MINIX-style Rust OS.".into(),
            "[cat] This file lives on the MFS root image.".into(),
            "init: ls -l /tmp/src: exit 0".into(),
            "[ls] /tmp/dst/d1:".into(),
            "[ls] d2".into(),
            "[ls] rel".into(),
            "[ls] /tmp/dst/d1/d2:".into(),
            "[ls] d3".into(),
            "[ls] /tmp/dst/d1/d2/d3:".into(),
            "[ls] big".into(),
            "[stat]   File: /tmp/src/abs -> /etc/motd".into(),
            "Type: symbolic link".into(),
            "[dd] 2+0 records in".into(),
            "[dd] 2+0 records out".into(),
            "[dd] 3+0 records in".into(),
            "[dd] 3+0 records out".into(),
            "[dd] 10+1 records in".into(),
            "[dd] 15+0 records out".into(),
            "\t/tmp/dst".into(),
            "init: sync: exit 0".into(),
            format!("init: all done ({commands} commands, {FAILING} failed)"),
        ],
    );
    // ls -l: mode strings, link counts, sizes, link targets.
    let ls_line = |name: &str| {
        log.lines()
            .find(|l| l.starts_with("[ls] ") && l.ends_with(name))
            .unwrap_or_else(|| panic!("no ls -l line for {name}: {log}"))
            .to_string()
    };
    assert!(
        ls_line(" abs -> /etc/motd").starts_with("[ls] lrwxrwxrwx  1    0    0        9 abs"),
        "{log}"
    );
    assert!(
        ls_line(" hard").starts_with("[ls] -rw-r-----  2    0    0       75 hard"),
        "{log}"
    );
    assert!(ls_line(" private").starts_with("[ls] drwx------"), "{log}");
    assert!(ls_line(" fifo").starts_with("[ls] prw-"), "{log}");
    // du's line is "N<TAB>/tmp/dst" with N > 0 KiB.
    let du: u64 = log
        .lines()
        .find_map(|l| l.strip_prefix("[du] ")?.strip_suffix("\t/tmp/dst"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no du line: {log}"));
    assert!(du > 0, "{log}");

    // The disks on the host.
    let motd = mfs::cat(&root, "/etc/motd");
    let src = tree(&root, "/tmp/src");
    let dst = tree(&root, "/tmp/dst");
    assert_eq!(src, dst, "cp -r made a different tree");
    for p in [
        "motd",
        "hard",
        "abs",
        "fifo",
        "private",
        "home/user/hello.txt",
        "d1/rel",
        "d1/d2/d3/big",
    ] {
        assert!(dst.contains_key(p), "{p} missing from the copy: {dst:?}");
    }
    assert_eq!(dst["motd"].data.as_deref(), Some(&motd[..]));
    assert_eq!(dst["abs"].target.as_deref(), Some("/etc/motd"));
    assert_eq!(dst["d1/rel"].target.as_deref(), Some("../motd"));
    assert_eq!(dst["private"].mode, "drwx------");
    assert_eq!(dst["hard"].mode, "-rw-r-----");
    assert_eq!(dst["fifo"].mode.chars().next(), Some('p'));
    assert_eq!(dst["d1/d2/d3/big"].mode, "-rwx--x---");
    assert_eq!(
        dst["d1/d2/d3/big"].data.as_deref(),
        Some(&mfs::cat(&root, "/bin/ls")[..]),
        "dd of a whole program"
    );
    assert_eq!(
        dst["home/user/hello.txt"].data.as_deref(),
        Some(&b"hello from the disk image\n"[..])
    );
    // The hard link shares the inode (2 links) in the source.
    let src_hard = stat_field(&root, "/tmp/src/hard", "Inode:");
    assert_eq!(src_hard, stat_field(&root, "/tmp/src/motd", "Inode:"));
    assert!(src_hard.ends_with("Links: 2"), "{src_hard}");

    assert!(!exists(&root, "/tmp/gone"), "rm -r left /tmp/gone");
    assert!(!exists(&root, "/tmp/new"), "mv left /tmp/new");
    assert!(exists(&root, "/tmp/newer"));
    assert!(exists(&root, "/tmp/mvto/mvdir") && !exists(&root, "/tmp/mvdir"));
    assert!(!exists(&root, "/tmp/q"));
    assert!(!exists(&root, "/tmp/src/old"));
    // touch -t and cp -p set the times; chown the owner.
    assert_eq!(
        stat_field(&root, "/tmp/old", "Modify:"),
        "Modify: 2001-09-09 01:46:40"
    );
    assert_eq!(
        stat_field(&root, "/tmp/kept", "Modify:"),
        stat_field(&root, "/etc/motd", "Modify:")
    );
    assert!(
        stat_field(&root, "/tmp/kept", "Mode:").contains("Uid: 1000  Gid: 1000"),
        "{}",
        stat_field(&root, "/tmp/kept", "Mode:")
    );
    assert!(
        stat_field(&root, "/tmp/cdev", "Size:").contains("Device: 1,3"),
        "{}",
        stat_field(&root, "/tmp/cdev", "Size:")
    );
    // dd: a slice, zeros, and a re-blocked whole copy.
    assert_eq!(mfs::cat(&root, "/tmp/part"), &motd[10..30]);
    assert_eq!(mfs::cat(&root, "/tmp/zeros"), vec![0u8; 3072]);
    assert_eq!(mfs::cat(&root, "/tmp/reblock"), motd);
    // The second disk: the copy there, the file moved off it across file
    // systems (copied, then removed).
    assert_eq!(mfs::cat(&root, "/tmp/moved"), motd);
    assert!(
        !exists(&second, "/motd"),
        "mv across file systems kept the source"
    );
    assert!(exists(&second, "/sub"));
    assert_eq!(tree(&second, "/d1"), tree(&root, "/tmp/src/d1"));
    // mount added its line to /etc/mtab, umount took it out again.
    assert_eq!(mfs::cat(&root, "/etc/mtab"), b"");
    mfs::assert_clean(&second);
    mfs::assert_clean(&root);
}
