//! QEMU: `/bin/sh` running scripts (issue 12 item 2). The system boots
//! with processes (as `qemu_proc`); init's `/etc/rc` runs `/bin/sh` on
//! scripts put on the root disk for the test. The rc-started shell has no
//! descriptors open, so what it prints reaches the kernel console as
//! `[sh] ...` lines; files it writes are read back on the host after the
//! shutdown (PM syncs the file systems) with the `mfs` library.
//!
//! Programs used besides the shell itself: `/bin/true` and `/bin/child`
//! (exits with a given code, sleeps); pipelines pipe into `/bin/sh -c` and
//! into builtins, so the test needs no other utility.
//! Same harness rules as the other `qemu_*` tests: under `CI=true` a
//! missing QEMU fails.

use images::rootdisk::{DiskFile, make_root_disk, user_programs};
use std::path::{Path, PathBuf};
use std::time::Duration;
use system_tests::mfs;
use system_tests::proc::{PROC_APPEND, PROC_MODULES};
use system_tests::qemu::{assert_in_order, boot_with_disks, built};

const TIMEOUT: Duration = Duration::from_secs(600);

/// The main script: each check prints a line the test expects.
const SCRIPT: &str = r#"# quoting, variables, export
X='a  b'
echo "q1 [$X]" [$X]
export GREETING=hi
/bin/sh -c 'echo "q2 $GREETING"'
V=inline /bin/sh -c 'echo q3 $V'
echo "q4 [$V]" ${V:-dflt} ${#X}
set -- one "two three"
echo "q5 $# $1 $2" "$@"
echo q6 $((1 + 2 * 3)) $(echo sub) `echo back`

# exit statuses, && || ! and errors
/bin/child exit 3; echo "s1 $?"
/bin/true && echo s2 and || echo s2 or
/bin/child exit 1 && echo no || echo s3 or
! /bin/true; echo "s4 $?"
nosuchcmd; echo "s5 $?"
/etc/noexec.sh; echo "s6 $?"
/bin/sh -c 'echo "unterminated'; echo "s7 $?"

# if, while, for, case, functions
for i in 1 2 3; do echo "f$i"; done
i=0; while [ $i -lt 5 ]; do i=$((i+1)); if [ $i = 4 ]; then break; fi; done; echo "w$i"
if [ -d /etc ]; then echo if1; else echo no; fi
if test -f /nope; then echo no; elif [ "a" = "a" ] && [ ! -e /nope ]; then echo elif1; fi
case hello.txt in *.sh) echo no;; *.txt) echo case1;; esac
for f in /etc/*.sh; do echo "g1 $f"; done
echo g2 /etc/h*.sh /etc/nomatch* '/etc/*.sh'
greet() { echo "fn $1 $#"; return 4; }
greet a b; echo "fr $?"
tf() { local v=inner w; echo "lo1 $v"; }; v=outer; tf; echo "lo2 $v"
/bin/sh -c 'trap "echo tr-exit \$?" EXIT; exit 3'; echo "tr1 $?"
/bin/sh -c 'trap "echo got-usr1" USR1; /bin/kill -USR1 $$; echo tr2'
/bin/sh -c 'trap "" TERM; /bin/kill -TERM $$; echo tr3 survived'
/bin/sh -c 'r() { r; }; r'; echo "d1 $?"
/bin/sh -c 'f() { eval f; }; f'; echo "d2 $?"
s='echo d3'; i=0; while [ $i -lt 35 ]; do s="{ $s; }"; i=$((i+1)); done; eval "$s"
s='echo d4'; i=0; while [ $i -lt 20 ]; do s="if true; then $s; fi"; i=$((i+1)); done; eval "$s"
F=/etc/file.tar.gz; echo "t1 ${F##*/} ${F%.gz}"
read a b <<EOF
$GREETING there
EOF
echo "h1 $a $b"
{ read l; echo "h2 $l"; } <<-'EOF'
	literal $GREETING
	EOF

# pipelines
echo piped | /bin/sh -c 'read l; echo "p1 $l"'
echo a b c | { read x y; echo "p2 $y"; }
/bin/child exit 5 | /bin/true; echo "p3 $?"
/bin/true | /bin/child exit 6; echo "p4 $?"
echo x | /bin/sh -c 'read a; echo $a$a' | /bin/sh -c 'read b; echo "p5 $b"'

# redirections
echo one > /tmp/out.txt
echo two >> /tmp/out.txt
{ read a; read b; echo "r1 $a $b"; } < /tmp/out.txt
nosuch 2>/tmp/err.txt; read e < /tmp/err.txt; echo "r2 $e"
/bin/sh -c 'echo to-stderr >&2' 2>/tmp/e2.txt; read e < /tmp/e2.txt; echo "r3 $e"
echo lost > /nodir/file; echo "r4 $?"
read z < /nofile; echo "r5 $?"
exec 3>/tmp/fd3.txt; echo via3 >&3; exec 3>&-; read v < /tmp/fd3.txt; echo "r6 $v"
(echo sub1; echo sub2) > /tmp/sub.txt
/bin/sh -c 'echo out; echo err >&2' > /tmp/both.txt 2>&1

# printf, umask, commands and data from the same standard input
printf 'pf %s=%03d|%-3s|%x\n' a 7 b 255
umask 027; umask; umask 022
printf 'read l\nthis is data\necho "k1 $l"\n' > /tmp/in.sh
/bin/sh < /tmp/in.sh
printf 'read l\nfrom a pipe\necho "k2 $l"\n' | /bin/sh

# background and wait
/bin/child exit 7 & p=$!; wait $p; echo "b1 $?"
/bin/child sleep 50 & /bin/child sleep 20 & wait; echo "b2 $?"
wait 99999; echo "b3 $?"

# cd, pwd
cd /tmp; pwd
cd /etc; cd -
cd /nope; echo "c1 $?"
cd; pwd

# scripts: #!, sh FILE, text without #!, -c, -e
/etc/hello.sh arg1 "arg 2"; echo "x1 $?"
/bin/sh /etc/hello.sh z; echo "x2 $?"
/bin/sh -c 'exit 12'; echo "x3 $?"
/etc/plain.sh pa; echo "x4 $?"
/bin/sh -e -c '/bin/true; /bin/child exit 2; echo notreached'; echo "x5 $?"
/bin/sh -c 'echo "$0 $1"' name first
printf 'echo fine\nif then\n' > /tmp/bad.sh; /bin/sh /tmp/bad.sh; echo "x6 $?"
command -v sh true greet; type cd
/bin/sh /bin/true; echo "x7 $?"
/etc/badint.sh; echo "x11 $?"
/bin/sh -c 'set -u; echo $NOPE; echo notreached'; echo "u1 $?"
/bin/sh -c 'while getopts ab:c o; do echo "go $o ${OPTARG-none}"; done; shift $((OPTIND-1)); echo "go rest $*"' sh -a -b val -cx file
/bin/sh -c 'echo ${NOPE?custom message}; echo notreached'; echo "u2 $?"
echo -e 'e1 a\nb\c' never
/etc; echo "x8 $?"
echo x > /etc; echo "x9 $?"
cd /etc/motd; echo "x10 $?"

# a 10,000-character word and line
s=; i=0; while [ $i -lt 1000 ]; do s="${s}xxxxxxxxxx"; i=$((i+1)); done
echo "l1 ${#s}"
echo "$s" > /tmp/long.txt
echo "echo $s" > /tmp/longcmd.txt
/bin/sh -i < /tmp/longcmd.txt > /tmp/longout.txt 2>/tmp/longerr.txt; echo "l2 $?"

# an interactive shell (-i) reading a file: prompts on stderr
/bin/sh -i < /etc/input.txt 2>/tmp/prompt.txt; echo "i9 $?"
echo all-done
"#;

/// Input of the `-i` shell: a continuation, an unbalanced quote (an
/// error, the shell goes on), a missing redirection file.
const INPUT: &str =
    "echo i1\nif true\nthen echo i2\nfi\necho 'unterminated\necho i3 < /nofile\necho i4\n";

const HELLO: &str = "#!/bin/sh\necho \"hs $0 $# $1 $2\"\nexit 9\n";
const PLAIN: &str = "echo \"plain $1\"\n";
const NOEXEC: &str = "#!/bin/sh\necho should-not-run\n";
const BADINT: &str = "#!/bin/nosuch -x\necho should-not-run\n";

/// A root disk with the user programs, the scripts and `rc`.
fn disk(dir: &Path, rc: &str) -> PathBuf {
    let out = built();
    let mut files = user_programs(out);
    for (name, text, perm) in [
        ("script.sh", SCRIPT, 0o644),
        ("input.txt", INPUT, 0o644),
        ("hello.sh", HELLO, 0o755),
        ("plain.sh", PLAIN, 0o755),
        ("noexec.sh", NOEXEC, 0o644),
        ("badint.sh", BADINT, 0o755),
    ] {
        let host = dir.join(name);
        std::fs::write(&host, text).expect("writing a script");
        files.push(DiskFile {
            path: format!("/etc/{name}"),
            host,
            perm,
            uid: 0,
            gid: 0,
        });
    }
    let img = dir.join("root.mfs");
    make_root_disk(&img, 64 << 20, &files, rc).expect("making the root disk");
    img
}

#[test]
fn qemu_sh_scripts_run_from_rc() {
    let dir = tempfile::tempdir().expect("temp dir");
    let img = disk(dir.path(), "/bin/sh /etc/script.sh\nshutdown\n");
    let Some(r) = boot_with_disks(PROC_MODULES, PROC_APPEND, &[&img], TIMEOUT) else {
        return;
    };
    let log = &r.serial;
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let expect: Vec<String> = [
        "q1 [a  b] [a b]",
        "q2 hi",
        "q3 inline",
        "q4 [] dflt 4",
        "q5 2 one two three one two three",
        "q6 7 sub back",
        "s1 3",
        "s2 and",
        "s3 or",
        "s4 1",
        "sh: nosuchcmd: not found",
        "s5 127",
        "sh: /etc/noexec.sh: Permission denied",
        "s6 126",
        "sh: syntax error: unterminated quote",
        "s7 2",
        "f1",
        "f2",
        "f3",
        "w4",
        "if1",
        "elif1",
        "case1",
        "g1 /etc/badint.sh",
        "g1 /etc/hello.sh",
        "g1 /etc/noexec.sh",
        "g1 /etc/plain.sh",
        "g1 /etc/script.sh",
        "g2 /etc/hello.sh /etc/nomatch* /etc/*.sh",
        "fn a 2",
        "fr 4",
        "lo1 inner",
        "lo2 outer",
        "tr-exit 3",
        "tr1 3",
        "got-usr1",
        "tr2",
        "tr3 survived",
        "sh: commands nested too deeply",
        "d1 2",
        "sh: commands nested too deeply",
        "d2 2",
        "d3",
        "d4",
        "t1 file.tar.gz /etc/file.tar",
        "h1 hi there",
        "h2 literal $GREETING",
        "p1 piped",
        "p2 b c",
        "p3 0",
        "p4 6",
        "p5 xx",
        "r1 one two",
        "r2 sh: nosuch: not found",
        "r3 to-stderr",
        "sh: cannot open /nodir/file: No such file or directory",
        "r4 1",
        "sh: cannot open /nofile: No such file or directory",
        "r5 1",
        "r6 via3",
        "pf a=007|b  |ff",
        "0027",
        "k1 this is data",
        "k2 from a pipe",
        "b1 7",
        "b2 0",
        "sh: wait: pid 99999 is not a child of this shell",
        "b3 127",
        "/tmp",
        "/tmp",
        "sh: cd: /nope: No such file or directory",
        "c1 1",
        "/",
        "hs /etc/hello.sh 2 arg1 arg 2",
        "x1 9",
        "hs /etc/hello.sh 1 z ",
        "x2 9",
        "x3 12",
        "plain pa",
        "x4 0",
        "x5 2",
        "name first",
        "fine",
        "sh: /tmp/bad.sh: line 2: syntax error: unexpected 'then'",
        "x6 2",
        "/bin/sh",
        "true",
        "greet",
        "cd is a shell builtin",
        "sh: /bin/true: cannot execute binary file",
        "x7 126",
        "sh: /etc/badint.sh: bad interpreter: No such file or directory",
        "x11 126",
        "sh: NOPE: parameter not set",
        "u1 2",
        "go a none",
        "go b val",
        "go c none",
        "sh: illegal option -- x",
        "go ? none",
        "go rest file",
        "sh: NOPE: custom message",
        "u2 2",
        "e1 a",
        "b",
        "x8 126",
        "sh: cannot open /etc: Is a directory",
        "x9 1",
        "sh: cd: /etc/motd: Not a directory",
        "x10 1",
        "l1 10000",
        "l2 0",
        "i1",
        "i2",
        "i4",
        "i9 0",
        "all-done",
    ]
    .iter()
    .map(|l| format!("[sh] {l}"))
    .collect();
    assert_in_order(log, &expect);
    assert!(!log.contains("notreached"), "{log}");
    assert!(!log.contains("never"), "echo -e stops at \\c: {log}");
    assert!(!log.contains("should-not-run"), "{log}");
    assert_in_order(log, &["init: /bin/sh /etc/script.sh: exit 0"]);
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());

    // The files the script wrote, read on the host.
    let cat = |p: &str| String::from_utf8(mfs::cat(&img, p)).expect("utf-8");
    assert_eq!(cat("/tmp/out.txt"), "one\ntwo\n");
    assert_eq!(cat("/tmp/sub.txt"), "sub1\nsub2\n");
    assert_eq!(cat("/tmp/both.txt"), "out\nerr\n");
    assert_eq!(cat("/tmp/err.txt"), "sh: nosuch: not found\n");
    assert_eq!(cat("/tmp/fd3.txt"), "via3\n");
    let long = cat("/tmp/long.txt");
    assert_eq!(long.len(), 10_001);
    assert!(long.trim_end().chars().all(|c| c == 'x'));
    assert_eq!(
        cat("/tmp/longout.txt"),
        long,
        "the 10,000-character line ran"
    );
    assert_eq!(cat("/tmp/longerr.txt"), "# # \n");
    // The -i shell's standard error: root's prompt `# `, the
    // continuation prompt `> ` inside `if`, the errors, a newline at EOF.
    assert_eq!(
        cat("/tmp/prompt.txt"),
        "# # > > # sh: syntax error: unterminated quote\n\
         # sh: cannot open /nofile: No such file or directory\n# # \n"
    );
}

#[test]
fn qemu_sh_script_exit_status_reaches_init() {
    // A failing script fails the run: init sees the shell's status.
    let dir = tempfile::tempdir().expect("temp dir");
    let img = disk(
        dir.path(),
        "/bin/sh /etc/hello.sh\n/etc/hello.sh x\nshutdown\n",
    );
    let Some(r) = boot_with_disks(PROC_MODULES, PROC_APPEND, &[&img], TIMEOUT) else {
        return;
    };
    let log = &r.serial;
    assert_in_order(
        log,
        &[
            "[sh] hs /etc/hello.sh 0",
            "init: /bin/sh /etc/hello.sh: exit 9",
            // init execs the #! script directly through ulib's exec.
            "[sh] hs /etc/hello.sh 1 x",
            "init: /etc/hello.sh x: exit 9",
            "init: all done (2 commands, 2 failed)",
        ],
    );
    assert_ne!(r.status, Some(33), "{}\n{log}", r.describe());
}
