//! QEMU: the text and system utilities (`commands/sysutils`) in one boot
//! of the process system. init runs an `/etc/rc` that calls each utility
//! on files the host put on the root disk (their output goes to the
//! kernel console as `[prog] ...` lines, fd 1 being closed), makes file
//! systems on two blank disks with `/sbin/mkfs.mfs` and checks them with
//! `/sbin/fsck.mfs` (both refuse a device `/etc/mtab` lists as
//! mounted), then powers off with `/sbin/poweroff`. On the host:
//! wc counts, `cksum` equal to the host's `cksum` of the same bytes, grep
//! counts and regular expressions, sort orders, `ps` listing init, `date`'s year equal to the
//! host's (the kernel's `BootTime` from the CMOS clock, which QEMU starts
//! at the host's UTC time), the exit codes init reports (grep without a
//! match 1, a missing file 1), and the new file systems clean under the
//! host's `mfs fsck` (and util-linux `fsck.minix` for the V2 one).
//! Same harness rules as the other `qemu_*` tests: under `CI=true` a
//! missing QEMU fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use system_tests::mfs;
use system_tests::proc::{PROC_APPEND, PROC_MODULES};
use system_tests::qemu::{self, assert_in_order, boot_with_disks};

/// The words file: fruit names (some repeated), one per line.
const WORDS: &str = "banana\napple\ncherry\nbanana split\nApple pie\ndate\n\
                     elderberry\nfig and banana\ngrape\napple\n";
/// Numbers for `sort -n -r`.
const NUMS: &str = "10\n9\n-3\n100\n2.5\n0\n42\n";

/// The lines `prog` printed while init ran `cmd` (between init's
/// `running` and its status line), without the `[prog] ` prefix.
fn output_of(log: &str, cmd: &str, prog: &str) -> Vec<String> {
    let start = format!("init: running {cmd}");
    let end = format!("init: {cmd}: ");
    let prefix = format!("[{prog}] ");
    let mut lines = log.lines();
    assert!(
        lines.by_ref().any(|l| l.ends_with(&start)),
        "init never ran {cmd:?}:\n{log}"
    );
    lines
        .take_while(|l| !l.contains(&end))
        .filter_map(|l| l.strip_prefix(&prefix).map(String::from))
        .collect()
}

/// init's status line for `cmd` (`exit 0`, ...).
fn status_of(log: &str, cmd: &str) -> String {
    let key = format!("init: {cmd}: ");
    log.lines()
        .find_map(|l| l.split_once(&key).map(|(_, s)| s.to_string()))
        .unwrap_or_else(|| panic!("no status for {cmd:?}:\n{log}"))
}

/// The host's `cksum FILE` as (crc, length).
fn host_cksum(file: &Path) -> (String, String) {
    let o = Command::new("cksum")
        .arg(file)
        .output()
        .expect("running the host's cksum");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut w = text.split_whitespace();
    (w.next().unwrap().into(), w.next().unwrap().into())
}

fn host_year() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    // Civil year from days (Hinnant), independent of the guest's code.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    yoe + era * 400 + i64::from(mp >= 10)
}

fn blank_disk(path: &Path, bytes: u64) {
    let f = std::fs::File::create(path).expect("blank disk");
    f.set_len(bytes).expect("sizing the blank disk");
}

const RC: &str = "\
/bin/wc /tmp/words.txt
/bin/wc -l /tmp/words.txt /tmp/nums.txt
/bin/cksum /tmp/words.txt /bin/child
/bin/grep -c banana /tmp/words.txt
/bin/grep -n -i APPLE /tmp/words.txt
/bin/grep -v -c a /tmp/words.txt
/bin/grep nothing-matches-this /tmp/words.txt
/bin/grep -c ^apple$ /tmp/words.txt
/bin/grep -E -n fig|^d /tmp/words.txt
/bin/sort /tmp/words.txt
/bin/sort -n -r /tmp/nums.txt
/bin/sort -u /tmp/words.txt
/bin/head -n 2 /tmp/words.txt
/bin/tail -n 3 /tmp/words.txt
/bin/od -c /tmp/nums.txt
/bin/hexdump -C /tmp/nums.txt
/bin/ps
/bin/date +%Y
/bin/date
/bin/date -r 951782400
/bin/uname -a
/bin/env SYSUTILS_TEST=yes /bin/env
/bin/kill -l 9
/bin/sleep 0.1
/bin/true
/bin/false
/bin/wc /tmp/no-such-file
/sbin/mkfs.mfs /dev/c0d1
/sbin/fsck.mfs /dev/c0d1
/sbin/mkfs.mfs /dev/c0d3
/sbin/fsck.mfs -r /dev/c0d3
/sbin/mkfs.mfs -V 2 -B 1024 -i 96 /dev/c0d2 2048
/sbin/fsck.mfs /dev/c0d2
/sbin/poweroff
";

#[test]
fn qemu_sysutils_text_tools_ps_date_mkfs_fsck_and_poweroff() {
    let out = qemu::built();
    let dir = tempfile::tempdir().expect("temp dir");
    let words = dir.path().join("words.txt");
    let nums = dir.path().join("nums.txt");
    std::fs::write(&words, WORDS).unwrap();
    std::fs::write(&nums, NUMS).unwrap();
    let mut files = images::rootdisk::user_programs(out);
    let mtab = dir.path().join("mtab");
    std::fs::write(&mtab, "/dev/c0d3 /mnt mfs rw\n").unwrap();
    for (host, path) in [
        (&words, "/tmp/words.txt"),
        (&nums, "/tmp/nums.txt"),
        (&mtab, "/etc/mtab"),
    ] {
        files.push(images::rootdisk::DiskFile {
            path: path.into(),
            host: host.clone(),
            perm: 0o644,
            uid: 0,
            gid: 0,
        });
    }
    let root = dir.path().join("root.mfs");
    images::rootdisk::make_root_disk(&root, 64 << 20, &files, RC).expect("root disk");
    let (d1, d2): (PathBuf, PathBuf) = (dir.path().join("d1.img"), dir.path().join("d2.img"));
    blank_disk(&d1, 8 << 20);
    blank_disk(&d2, 4 << 20);
    let Some(r) = boot_with_disks(
        PROC_MODULES,
        PROC_APPEND,
        &[&root, &d1, &d2],
        Duration::from_secs(600),
    ) else {
        return;
    };
    let log = r.serial.clone();
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    // poweroff ends the run as a pass (the failing commands above only
    // show in init's status lines).
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
    assert_in_order(
        &log,
        &[
            "init: running /sbin/poweroff",
            "pm: reboot: syncing file systems",
        ],
    );

    // wc: the counts of the host's bytes.
    let (l, w, c) = (
        WORDS.lines().count(),
        WORDS.split_whitespace().count(),
        WORDS.len(),
    );
    let wc = output_of(&log, "/bin/wc /tmp/words.txt", "wc");
    let fields: Vec<&str> = wc[0].split_whitespace().collect();
    assert_eq!(
        fields,
        [
            l.to_string().as_str(),
            &w.to_string(),
            &c.to_string(),
            "/tmp/words.txt"
        ],
        "{wc:?}"
    );
    let wc = output_of(&log, "/bin/wc -l /tmp/words.txt /tmp/nums.txt", "wc");
    let counts: Vec<Vec<&str>> = wc.iter().map(|l| l.split_whitespace().collect()).collect();
    let n = NUMS.lines().count();
    assert_eq!(
        counts,
        [
            vec![l.to_string().as_str(), "/tmp/words.txt"],
            vec![n.to_string().as_str(), "/tmp/nums.txt"],
            vec![(l + n).to_string().as_str(), "total"],
        ]
    );

    // cksum: what the host's cksum says of the same bytes (the text file,
    // and /bin/child as staged on the disk).
    let ck = output_of(&log, "/bin/cksum /tmp/words.txt /bin/child", "cksum");
    assert_eq!(ck.len(), 2, "{ck:?}");
    for (line, (host, name)) in ck.iter().zip([
        (words.clone(), "/tmp/words.txt"),
        (out.disk_dir().join("child"), "/bin/child"),
    ]) {
        let (crc, len) = host_cksum(&host);
        assert_eq!(line, &format!("{crc} {len} {name}"));
    }

    // grep.
    let count = |pat: &str| WORDS.lines().filter(|l| l.contains(pat)).count();
    assert_eq!(
        output_of(&log, "/bin/grep -c banana /tmp/words.txt", "grep"),
        [count("banana").to_string()]
    );
    assert_eq!(
        output_of(&log, "/bin/grep -n -i APPLE /tmp/words.txt", "grep"),
        ["2:apple", "5:Apple pie", "10:apple"]
    );
    assert_eq!(
        output_of(&log, "/bin/grep -v -c a /tmp/words.txt", "grep"),
        [WORDS
            .lines()
            .filter(|l| !l.contains('a'))
            .count()
            .to_string()]
    );
    assert_eq!(
        status_of(&log, "/bin/grep nothing-matches-this /tmp/words.txt"),
        "exit 1"
    );
    assert!(
        output_of(
            &log,
            "/bin/grep nothing-matches-this /tmp/words.txt",
            "grep"
        )
        .is_empty()
    );
    // Regular expressions: anchors (basic), alternatives (extended).
    assert_eq!(
        output_of(&log, "/bin/grep -c ^apple$ /tmp/words.txt", "grep"),
        ["2"]
    );
    assert_eq!(
        output_of(&log, "/bin/grep -E -n fig|^d /tmp/words.txt", "grep"),
        ["6:date", "8:fig and banana"]
    );

    // sort: byte order (LC_ALL=C), numeric reverse, unique.
    let mut sorted: Vec<&str> = WORDS.lines().collect();
    sorted.sort();
    assert_eq!(output_of(&log, "/bin/sort /tmp/words.txt", "sort"), sorted);
    assert_eq!(
        output_of(&log, "/bin/sort -n -r /tmp/nums.txt", "sort"),
        ["100", "42", "10", "9", "2.5", "0", "-3"]
    );
    sorted.dedup();
    assert_eq!(
        output_of(&log, "/bin/sort -u /tmp/words.txt", "sort"),
        sorted
    );

    // head, tail.
    let all: Vec<&str> = WORDS.lines().collect();
    assert_eq!(
        output_of(&log, "/bin/head -n 2 /tmp/words.txt", "head"),
        all[..2]
    );
    assert_eq!(
        output_of(&log, "/bin/tail -n 3 /tmp/words.txt", "tail"),
        all[all.len() - 3..]
    );

    // od -c and hexdump -C of "10\n9\n...".
    let od = output_of(&log, "/bin/od -c /tmp/nums.txt", "od");
    assert_eq!(
        od[0],
        "0000000   1   0  \\n   9  \\n   -   3  \\n   1   0   0  \\n   2   .   5  \\n"
    );
    assert_eq!(od.last().unwrap(), &format!("{:07o}", NUMS.len()));
    let hd = output_of(&log, "/bin/hexdump -C /tmp/nums.txt", "hexdump");
    assert_eq!(
        hd[0],
        "00000000  31 30 0a 39 0a 2d 33 0a  31 30 30 0a 32 2e 35 0a  |10.9.-3.100.2.5.|"
    );

    // ps: init is process 1, and ps sees itself.
    let ps = output_of(&log, "/bin/ps", "ps");
    assert_eq!(
        ps[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "PPID", "UID", "STATE", "TIME", "NAME"]
    );
    assert!(
        ps.iter().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&"1") && f.last() == Some(&"init")
        }),
        "{ps:?}"
    );
    assert!(ps.iter().any(|l| l.ends_with(" ps")), "{ps:?}");

    // date: the RTC's year is the host's; the default format; -r.
    let year = output_of(&log, "/bin/date +%Y", "date");
    assert_eq!(year, [host_year().to_string()]);
    let date = output_of(&log, "/bin/date", "date");
    assert_eq!(date.len(), 1);
    assert!(
        date[0].ends_with(&format!(" UTC {}", host_year())),
        "{date:?}"
    );
    assert_eq!(
        output_of(&log, "/bin/date -r 951782400", "date"),
        ["Tue Feb 29 00:00:00 UTC 2000"]
    );

    // uname, env, kill -l, the true/false/missing-file exit codes.
    assert_eq!(
        output_of(&log, "/bin/uname -a", "uname"),
        [format!(
            "Minix-rs minix {} #1 x86_64",
            env!("CARGO_PKG_VERSION")
        )]
    );
    let env = output_of(&log, "/bin/env SYSUTILS_TEST=yes /bin/env", "env");
    assert!(env.iter().any(|l| l == "SYSUTILS_TEST=yes"), "{env:?}");
    assert!(env.iter().any(|l| l.starts_with("PATH=")), "{env:?}");
    assert_eq!(output_of(&log, "/bin/kill -l 9", "kill"), ["KILL"]);
    assert_eq!(status_of(&log, "/bin/sleep 0.1"), "exit 0");
    assert_eq!(status_of(&log, "/bin/true"), "exit 0");
    assert_eq!(status_of(&log, "/bin/false"), "exit 1");
    assert_eq!(status_of(&log, "/bin/wc /tmp/no-such-file"), "exit 1");
    assert_eq!(
        output_of(&log, "/bin/wc /tmp/no-such-file", "wc"),
        ["wc: /tmp/no-such-file: No such file or directory"]
    );

    // mkfs.mfs and fsck.mfs in the guest, mfs fsck on the host.
    let mk = output_of(&log, "/sbin/mkfs.mfs /dev/c0d1", "mkfs.mfs");
    assert_eq!(mk.len(), 1, "{mk:?}");
    assert!(
        mk[0].starts_with("/dev/c0d1: MINIX V3 file system, 2048 blocks of 4096 bytes, "),
        "{mk:?}"
    );
    assert_eq!(
        output_of(&log, "/sbin/fsck.mfs /dev/c0d1", "fsck.mfs"),
        ["/dev/c0d1: clean"]
    );
    assert_eq!(status_of(&log, "/sbin/fsck.mfs /dev/c0d1"), "exit 0");
    // A device /etc/mtab lists as mounted: mkfs.mfs and fsck.mfs -r
    // refuse it (before opening it).
    assert_eq!(
        output_of(&log, "/sbin/mkfs.mfs /dev/c0d3", "mkfs.mfs"),
        ["mkfs.mfs: /dev/c0d3 is mounted on /mnt"]
    );
    assert_eq!(status_of(&log, "/sbin/mkfs.mfs /dev/c0d3"), "exit 1");
    assert_eq!(
        output_of(&log, "/sbin/fsck.mfs -r /dev/c0d3", "fsck.mfs"),
        ["fsck.mfs: /dev/c0d3 is mounted on /mnt: not repairing it"]
    );
    assert_eq!(status_of(&log, "/sbin/fsck.mfs -r /dev/c0d3"), "exit 8");
    let cmd2 = "/sbin/mkfs.mfs -V 2 -B 1024 -i 96 /dev/c0d2 2048";
    let mk = output_of(&log, cmd2, "mkfs.mfs");
    assert!(
        mk.len() == 1
            && mk[0].starts_with(
                "/dev/c0d2: MINIX V2 file system, 2048 blocks of 1024 bytes, 96 inodes, "
            ),
        "{mk:?}"
    );
    assert_eq!(
        output_of(&log, "/sbin/fsck.mfs /dev/c0d2", "fsck.mfs"),
        ["/dev/c0d2: clean"]
    );
    mfs::assert_clean(&d1);
    mfs::assert_clean(&d2);
    let ls = mfs::ok(&["ls", &d1.to_string_lossy(), "/"]);
    assert!(ls.trim().is_empty(), "{ls}");
    if let Some((code, text)) = fsck_minix(&d2) {
        assert_eq!(
            code, 0,
            "fsck.minix -f on the guest's V2 file system: {text}"
        );
    }
    // The root disk came through the utilities' run and the power-off clean.
    mfs::assert_clean(&root);
}

/// util-linux `fsck.minix -f` (read-only) when installed; under CI it must be.
fn fsck_minix(img: &Path) -> Option<(i32, String)> {
    let tool = Path::new("/usr/sbin/fsck.minix");
    if !tool.exists() {
        assert!(
            !qemu::in_ci(),
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
