//! QEMU: the text and system utilities at the shell prompt, where their
//! standard input is a pipe or a redirected file and their output goes to
//! the terminal: `tail` reading a pipe, `wc`, `grep`, `sort`, `cksum`
//! and `od` reading standard input, exit statuses as `$?` (grep 1 and 2,
//! env 127), `kill` of a background `sleep` seen by `wait`, `env -i`,
//! `ps` listing the shell, and `halt` ending the run as a pass. One boot;
//! same harness rules as the other `qemu_*` tests.

use images::rootdisk::DiskFile;
use std::process::Command;
use system_tests::shell::boot_shell;

const WORDS: &str = "banana\napple\ncherry\nbanana split\nApple pie\ndate\n\
                     elderberry\nfig and banana\ngrape\napple\n";

/// The output's lines without the kernel's own console messages
/// (`kernel: process 'cat' exited ...`, `[name] ...`), which share the
/// serial line, and without a prompt the shell printed after the terminal
/// had already echoed the command line (the typing does not wait for it).
fn lines(out: &str) -> Vec<&str> {
    out.lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .filter(|l| !l.starts_with("kernel: ") && !l.starts_with('[') && *l != "#")
        .collect()
}

/// [`lines`] joined, trimmed.
fn text(out: &str) -> String {
    lines(out).join("\n").trim().to_string()
}

#[test]
fn qemu_sysutils_read_pipes_and_report_statuses_at_the_shell() {
    let dir = tempfile::tempdir().expect("temp dir");
    let words = dir.path().join("words.txt");
    std::fs::write(&words, WORDS).unwrap();
    let extra = [DiskFile {
        path: "/tmp/words.txt".into(),
        host: words.clone(),
        perm: 0o644,
        uid: 0,
        gid: 0,
    }];
    let Some(mut sh) = boot_shell("", &extra, &[]) else {
        return;
    };
    let all: Vec<&str> = WORDS.lines().collect();

    // tail keeps the last lines of a pipe; -n +N from a redirection.
    assert_eq!(
        lines(&sh.ok("cat /tmp/words.txt | tail -n 2")),
        all[all.len() - 2..]
    );
    assert_eq!(lines(&sh.ok("tail -n +9 < /tmp/words.txt")), all[8..]);
    assert_eq!(lines(&sh.ok("head -3 < /tmp/words.txt")), all[..3]);

    // wc, grep, sort, cksum on standard input.
    assert_eq!(
        text(&sh.ok("cat /tmp/words.txt | wc -l")),
        all.len().to_string()
    );
    let wc: Vec<String> = text(&sh.ok("wc < /tmp/words.txt"))
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        wc,
        [
            all.len().to_string(),
            WORDS.split_whitespace().count().to_string(),
            WORDS.len().to_string()
        ]
    );
    assert_eq!(
        text(&sh.ok("cat /tmp/words.txt | grep -c banana")),
        all.iter()
            .filter(|l| l.contains("banana"))
            .count()
            .to_string()
    );
    let mut sorted = all.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(lines(&sh.ok("sort -r < /tmp/words.txt")), sorted);
    let host = Command::new("cksum").arg(&words).output().expect("cksum");
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    let host: Vec<&str> = host.split_whitespace().take(2).collect();
    assert_eq!(text(&sh.ok("cat /tmp/words.txt | cksum")), host.join(" "));
    assert_eq!(
        lines(&sh.ok("echo hi | od -c")),
        ["0000000   h   i  \\n", "0000003"]
    );

    // Exit statuses: no match 1, an error 2, a missing command 127.
    let (out, st) = sh.run("grep nothing-like-this /tmp/words.txt");
    assert_eq!((text(&out).as_str(), st), ("", 1));
    let (out, st) = sh.run("grep x /tmp/no-such-file");
    assert_eq!(st, 2);
    assert!(
        out.contains("grep: /tmp/no-such-file: No such file or directory"),
        "{out:?}"
    );
    let (_, st) = sh.run("env no-such-command-anywhere");
    assert_eq!(st, 127);
    assert_eq!(sh.run("false").1, 1);

    // env -i: only what is given (and PWD, which ulib's exec adds when
    // the environment lacks it).
    let out = sh.ok("env -i ONLY=this /bin/env");
    let mut env = lines(&out);
    env.sort();
    assert_eq!(env, ["ONLY=this", "PWD=/"]);

    // A background sleep killed with SIGKILL: wait reports 128 + 9.
    sh.ok("sleep 600 &");
    assert_eq!(sh.run("kill -9 $!").1, 0);
    assert_eq!(sh.run("wait $!").1, 137);
    assert_eq!(sh.run("kill -s TERM 99999").1, 1);

    // ps lists the shell and itself.
    let ps = sh.ok("ps");
    assert!(ps.lines().any(|l| l.ends_with(" sh")), "{ps}");
    assert!(ps.lines().any(|l| l.ends_with(" ps")), "{ps}");

    let r = sh.shutdown();
    assert_eq!(r.status, Some(33), "{}", r.describe());
}
