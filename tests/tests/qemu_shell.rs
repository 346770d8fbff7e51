//! The interactive system in QEMU, driven over the serial console as a
//! person would use it: init's login shell on `/dev/console` (TTY driver),
//! the shell's pipelines and redirections, ^C, bad input at the prompt,
//! and files written from the shell read back on the host after shutdown.

use std::time::Duration;
use system_tests::mfs;
use system_tests::shell::{Shell, boot_shell};

/// Lines of the big file; every seventh contains an `x`.
const BIG_LINES: usize = 8000;

fn big_file(dir: &std::path::Path) -> (images::rootdisk::DiskFile, usize) {
    let mut text = String::new();
    let mut with_x = 0;
    for i in 0..BIG_LINES {
        if i % 7 == 0 {
            text.push_str(&format!("line {i:05} has an x in it\n"));
            with_x += 1;
        } else {
            text.push_str(&format!("line {i:05} plain words only\n"));
        }
    }
    let host = dir.join("big.txt");
    std::fs::write(&host, text).expect("writing big.txt");
    (
        images::rootdisk::DiskFile {
            path: "/data/big.txt".into(),
            host,
            perm: 0o644,
            uid: 0,
            gid: 0,
        },
        with_x,
    )
}

fn boot(extra: &[images::rootdisk::DiskFile]) -> Option<Shell> {
    boot_shell("", extra, &[])
}

#[test]
fn qemu_shell_pipelines_redirections_interrupts_and_bad_input() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (big, with_x) = big_file(tmp.path());
    let Some(mut sh) = boot(&[big]) else { return };

    // The harness itself: a builtin and a program, output and status.
    assert_eq!(sh.ok("echo hello world"), "hello world\n");
    // Backspace editing at the prompt (the terminal's canonical mode):
    // BS and DEL each erase the character before them.
    assert_eq!(sh.ok("echo abx\u{8}c dex\u{7f}f"), "abc def\n");
    let (_, st) = sh.run("false");
    assert_eq!(st, 1, "false exits 1");

    // A three-stage pipeline over a file bigger than a pipe's buffer.
    let count = sh.ok("cat /data/big.txt | grep x | wc -l");
    assert_eq!(count.trim(), with_x.to_string(), "lines with an x");

    // Redirections: create, append, stderr into the same file.
    sh.ok("echo first > /tmp/r.txt");
    sh.ok("echo second >> /tmp/r.txt");
    let (_, st) = sh.run("ls /nonexistent > /tmp/err.txt 2>&1");
    assert_ne!(st, 0, "ls of a missing path fails");
    assert_eq!(sh.ok("cat /tmp/r.txt"), "first\nsecond\n");

    // Bad input: the shell says why and carries on.
    let (out, st) = sh.run("nosuchcommand");
    assert_eq!(st, 127, "unknown command: {out}");
    assert!(out.contains("nosuchcommand: not found"), "{out}");
    let (out, st) = sh.run("cat < /nofile");
    assert_ne!(st, 0, "redirection from a missing file fails: {out}");
    assert!(
        out.contains("/nofile") && out.contains("No such file"),
        "{out}"
    );
    sh.type_line("echo \"unbalanced");
    sh.expect("unterminated", Duration::from_secs(60));
    sh.expect(system_tests::shell::PROMPT, Duration::from_secs(60));
    assert_eq!(sh.ok("echo still here"), "still here\n");
    let long = "a".repeat(10_000);
    let out = sh.ok(&format!("echo {long}"));
    assert_eq!(
        out.trim_end(),
        long,
        "a 10,000-character line comes through whole"
    );

    // ^C ends a running sleep and the prompt comes back. The sleep is far
    // longer than any test run, so only the interrupt can end it.
    sh.type_line("sleep 100000");
    sh.expect("sleep 100000", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    sh.session.send(b"\x03").expect("typing ^C");
    sh.expect("# ", Duration::from_secs(120));
    let (out, _) = sh.run("echo status=$?");
    assert!(out.contains("status=130"), "sleep ended by SIGINT: {out}");

    let root = sh.root.clone();
    let r = sh.shutdown();
    assert!(r.passed(), "{}", r.describe());
    assert_eq!(mfs::cat(&root, "/tmp/r.txt"), b"first\nsecond\n");
    let err = String::from_utf8_lossy(&mfs::cat(&root, "/tmp/err.txt")).into_owned();
    assert!(
        err.contains("/nonexistent"),
        "ls's error went to the file: {err}"
    );
    mfs::assert_clean(&root);
}
