//! The README's tour, typed at the shell prompt exactly as written there:
//! the commands of the fenced block under "A tour at the prompt", with a
//! second disk made from `docs/` as `/dev/c0d1`. Each must succeed, and the
//! answers the README promises must hold: the copies' checksums match and
//! MFS counts one restart more after `service fi mfs`.

use std::time::Duration;
use system_tests::mfs;
use system_tests::shell::{boot_shell, restarts};

/// The commands of the README's tour block (the `# ` prompt stripped).
fn tour() -> Vec<String> {
    let readme = images::build::workspace_root().join("README.md");
    let text = std::fs::read_to_string(readme).expect("README.md");
    let at = text
        .find("### A tour at the prompt")
        .expect("the README has its tour");
    let block = text[at..]
        .split("```")
        .nth(1)
        .expect("the tour's code block");
    block
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(String::from)
        .collect()
}

/// The checksum fields of `cksum A B` output, which must agree.
fn sums_agree(out: &str) -> bool {
    let sums: Vec<(&str, &str)> = out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?, w.next()?))
        })
        .collect();
    sums.len() == 2 && sums[0] == sums[1]
}

#[test]
fn qemu_shell_tour_from_the_readme() {
    let cmds = tour();
    assert!(cmds.len() >= 10, "{cmds:?}");
    assert_eq!(cmds.last().map(String::as_str), Some("halt"));
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = images::build::workspace_root().join("docs");
    let second = dir.path().join("docs.mfs");
    mfs::ok(&[
        "mkfs",
        "--size",
        "32M",
        "--from",
        &docs.to_string_lossy(),
        &second.to_string_lossy(),
    ]);
    let Some(mut sh) = boot_shell("", &[], &[&second]) else {
        return;
    };
    let mut crashed = false;
    for cmd in &cmds[..cmds.len() - 1] {
        let out = sh.run_timeout(cmd, Duration::from_secs(600));
        let (out, st) = out;
        assert_eq!(st, 0, "{cmd:?} exited {st}: {out}");
        if cmd.starts_with("cksum ") {
            assert!(sums_agree(&out), "{cmd:?}: {out}");
        }
        if cmd.contains("service fi mfs") {
            crashed = true;
        }
        if cmd == "service status mfs" {
            // A fresh boot: no restart before the tour's crash.
            assert!(crashed, "the tour crashes MFS first");
            assert!(restarts(&out) >= 1, "MFS restarted: {out}");
        }
        if cmd == "ls -l /mnt" {
            assert!(out.contains("ARCHITECTURE.md"), "{out}");
        }
        if cmd == "cat /etc/motd" {
            assert!(out.contains("MFS root image"), "{out}");
        }
    }
    let r = sh.shutdown();
    assert!(r.passed(), "{}", r.describe());
    mfs::assert_clean(&r.root);
    mfs::assert_clean(&second);
    assert_eq!(
        mfs::tree(&r.root, "/tmp/docs"),
        mfs::tree(&second, "/"),
        "the copy of the second disk"
    );
}
