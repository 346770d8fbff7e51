//! `/bin/proctest`: the in-guest tests of processes, run from `/etc/rc` by
//! init. Each argument names a case (`forkexec` takes a count: `forkexec
//! 100`); each prints `proctest <case>: ok` or `proctest <case>: FAILED:
//! <reason>`, and the exit code is 0 only if all passed.
//!
//! - `forkexec N`: N children forked at once, each execs `/bin/child`
//!   from the disk with its own arguments and environment and exits with
//!   its own code; every code comes back through wait, no zombie is left
//!   (`ECHILD` afterwards); a child's child, orphaned, is adopted by init.
//! - `cow`: after fork, parent and child write different values to the
//!   same heap and stack pages and each sees its own; a fork of a process
//!   with 64 MiB touched uses almost no frames (VM's memory figures: the
//!   pages are shared, not copied) until the child writes, and then about
//!   one frame per written page.
//! - `signals`: a handler runs and returns (also during sigsuspend, with
//!   registers intact); SIGKILL cannot be caught or ignored and kills;
//!   SIGPIPE on a write to a pipe nobody reads (and EPIPE when ignored); a
//!   null dereference kills only that child (wait reports SIGSEGV); a
//!   select interrupted by a signal returns EINTR.
//! - `badexec`: exec of a non-ELF file, a truncated ELF, an ELF with
//!   overlapping segments and one with a 768 MiB bss (beyond the program
//!   area) fails with ENOEXEC; one whose bss fits the area but not the free
//!   memory (the test takes memory first) with ENOMEM; the caller goes on
//!   with its memory intact, and exec still works afterwards (the files
//!   are made in `/tmp` from `/bin/true`).
//! - `ulib`: the user runtime over VFS, PM and VM: files (create, write,
//!   seek, read back, metadata, rename, link, symlink, read_dir, chmod,
//!   truncate, unlink, umask), the working directory inherited through
//!   fork and exec, a pipe on a child's standard output (dup2 before
//!   exec), FD_CLOEXEC honoured by exec, the environment passed by
//!   `exec_env`, ids and the process table, anonymous mmap.
//! - `ids`: a child's setsid makes it leader of a new session and group;
//!   a child that gives up root (setuid 1000) cannot take it back or
//!   signal init (EPERM); kill of a process group reaches every member
//!   (SIGTERM's default action terminates them); SIGALRM's default action
//!   ends a process that paused after alarm(1).
//! - `forkbomb`: forks until PM or the kernel refuses (EAGAIN), then kills
//!   and reaps every child; fork and exec work again afterwards.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};
use ulib::errno::strerror;
use ulib::fd::{self, FdSets};
use ulib::fs::{self, OpenOptions};
use ulib::process::{self, Pid, Status, WNOHANG};
use ulib::signal::{self, Handler, SIGALRM, SIGKILL, SIGPIPE, SIGSEGV, SIGUSR1};
use ulib::{Errno, mem, println, time};

ulib::main!(main);

type Check = Result<(), String>;

fn e(what: &str, err: Errno) -> String {
    format!("{what}: {}", strerror(err))
}

/// In a forked child: exec `path` or exit 127.
fn exec_or_die(path: &str, argv: &[&str], env: &[&str]) -> ! {
    let err = process::exec(path, argv, env);
    println!("proctest: exec {path}: {}", strerror(err));
    process::exit(127)
}

/// Waits for `pid` (retrying after EINTR).
fn wait_pid(pid: Pid) -> Result<Status, String> {
    loop {
        match process::waitpid(pid, 0) {
            Ok((_, st)) => return Ok(st),
            Err(Errno::EINTR) => {}
            Err(err) => return Err(e("waitpid", err)),
        }
    }
}

// ---- forkexec ------------------------------------------------------------

fn forkexec(n: usize) -> Check {
    let me = process::getpid();
    let mut kids: BTreeMap<Pid, i32> = BTreeMap::new();
    for i in 0..n {
        let code = (i % 250) as i32 + 1;
        let token = format!("token-{i}");
        let code_s = code.to_string();
        let env_token = format!("CHILD_TOKEN={token}");
        match process::fork() {
            Ok(0) => {
                let mut argv = vec!["/bin/child", "check", &code_s, &token];
                if i == 0 {
                    argv.push("show");
                }
                exec_or_die("/bin/child", &argv, &[env_token.as_str(), "PATH=/bin"])
            }
            Ok(pid) => {
                kids.insert(pid, code);
            }
            Err(err) => {
                // Reap what was started before reporting.
                while process::wait().is_ok() {}
                return Err(e(&format!("fork of child {i}"), err));
            }
        }
    }
    let mut first_status = None;
    while !kids.is_empty() {
        let (pid, st) = process::wait().map_err(|err| e("wait", err))?;
        let want = kids
            .remove(&pid)
            .ok_or_else(|| format!("wait returned pid {pid}, not a child"))?;
        if st.code() != Some(want) {
            return Err(format!("child {pid}: {st}, expected exit {want}"));
        }
        first_status.get_or_insert((pid, st));
    }
    match process::waitpid(-1, WNOHANG) {
        Err(Errno::ECHILD) => {}
        other => return Err(format!("after reaping all: waitpid gave {other:?}")),
    }
    if let Ok(table) = process::ps()
        && let Some(z) = table.iter().find(|p| p.ppid == me)
    {
        return Err(format!(
            "process {} ({}) still has parent {me}",
            z.pid, z.name
        ));
    }
    println!(
        "proctest forkexec: {n} children exec'd /bin/child, every exit code came back, no zombie left"
    );
    // An orphan: /bin/child forks a grandchild and exits; init adopts it.
    let file = format!("/tmp/orphan.{me}");
    let _ = fs::unlink(&file);
    let pid = process::spawn(
        "/bin/child",
        &["/bin/child", "orphan", &file],
        &["PATH=/bin"],
    )
    .map_err(|err| e("spawn orphan maker", err))?;
    let st = wait_pid(pid)?;
    if !st.success() {
        return Err(format!("orphan maker: {st}"));
    }
    let start = time::uptime();
    loop {
        if fs::read_to_string(&file).is_ok_and(|t| t.trim() == "adopted by 1") {
            break;
        }
        if time::uptime() - start > 60 * time::HZ {
            return Err("the orphan never reported adoption by init".into());
        }
        let _ = time::sleep_ms(20);
    }
    let _ = fs::unlink(&file);
    println!("proctest forkexec: orphan adopted by init (pid 1)");
    Ok(())
}

// ---- cow -----------------------------------------------------------------

fn read_byte(f: i32) -> Result<u8, String> {
    let mut b = [0u8; 1];
    match fd::read(f, &mut b) {
        Ok(1) => Ok(b[0]),
        Ok(_) => Err("pipe closed".into()),
        Err(err) => Err(e("read", err)),
    }
}

fn cow_small() -> Check {
    let mut heap = vec![1u8; 3 * 4096];
    let mut stack = [1u8; 4096];
    let (r1, w1) = fd::pipe().map_err(|err| e("pipe", err))?;
    let (r2, w2) = fd::pipe().map_err(|err| e("pipe", err))?;
    let pid = process::fork().map_err(|err| e("fork", err))?;
    let (mine, r, w) = if pid == 0 {
        (2u8, r2, w1)
    } else {
        (3u8, r1, w2)
    };
    if pid != 0 {
        // The parent writes after the child has.
        read_byte(r)?;
    }
    heap[0] = mine;
    heap[8191] = mine;
    stack[0] = mine;
    stack[4095] = mine;
    core::hint::black_box(&mut stack);
    let _ = fd::write(w, &[mine]);
    if pid == 0 {
        // The child checks after the parent has written too.
        let ok = read_byte(r).is_ok();
        let heap = core::hint::black_box(&heap);
        let stack = core::hint::black_box(&stack);
        let seen = [heap[0], heap[8191], stack[0], stack[4095], heap[4096]];
        process::exit(if ok && seen == [2, 2, 2, 2, 1] { 0 } else { 1 });
    }
    let st = wait_pid(pid)?;
    for f in [r1, w1, r2, w2] {
        let _ = fd::close(f);
    }
    let heap = core::hint::black_box(&heap);
    let stack = core::hint::black_box(&stack);
    let seen = [heap[0], heap[8191], stack[0], stack[4095], heap[4096]];
    if !st.success() {
        return Err(format!("the child saw the parent's writes ({st})"));
    }
    if seen != [3, 3, 3, 3, 1] {
        return Err(format!("the parent sees {seen:?}, expected its own 3s"));
    }
    println!("proctest cow: parent and child each see their own heap and stack writes");
    Ok(())
}

const BIG: usize = 64 << 20;
const PAGES: usize = BIG / 4096;
const WRITTEN: usize = 256;

fn cow_big() -> Check {
    let mut big = vec![0u8; BIG];
    for (i, page) in big.chunks_mut(4096).enumerate() {
        page[0] = (i as u8) | 1;
    }
    let before = mem::info().map_err(|err| e("vm info", err))?;
    let pid = process::fork().map_err(|err| e("fork", err))?;
    if pid == 0 {
        let after_fork = match mem::info() {
            Ok(i) => i,
            Err(_) => process::exit(2),
        };
        for i in 0..WRITTEN {
            big[i * (PAGES / WRITTEN) * 4096 + 1] = 0xee;
        }
        core::hint::black_box(&mut big);
        let after_write = match mem::info() {
            Ok(i) => i,
            Err(_) => process::exit(2),
        };
        let fork_frames = before.free.saturating_sub(after_fork.free);
        let shared = after_fork.shared.saturating_sub(before.shared);
        let copies = after_write.cow_copies - after_fork.cow_copies;
        let write_frames = after_fork.free.saturating_sub(after_write.free);
        println!(
            "proctest cow: 64 MiB touched ({PAGES} pages): fork used {fork_frames} frames, {shared} more frames shared; \
             {WRITTEN} pages written by the child: {copies} copies, {write_frames} frames"
        );
        let ok = fork_frames < 1024
            && shared >= PAGES as u64
            && copies >= WRITTEN as u64
            && copies < WRITTEN as u64 + 64
            && write_frames >= WRITTEN as u64 - 16;
        process::exit(if ok { 0 } else { 1 });
    }
    let st = wait_pid(pid)?;
    if !st.success() {
        return Err(format!(
            "the 64 MiB fork copied pages before they were written ({st})"
        ));
    }
    let big = core::hint::black_box(&big);
    for (i, page) in big.chunks(4096).enumerate() {
        if page[0] != (i as u8) | 1 || page[1] != 0 {
            return Err(format!("page {i} of the parent changed"));
        }
    }
    println!("proctest cow: no page copied by the fork of a 64 MiB process; one per page written");
    Ok(())
}

fn cow() -> Check {
    cow_small()?;
    cow_big()
}

// ---- signals -------------------------------------------------------------

static GOT: AtomicU32 = AtomicU32::new(0);
static HANDLED: AtomicU32 = AtomicU32::new(0);

fn on_signal(sig: u32) {
    GOT.store(sig, Ordering::SeqCst);
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

fn handler_runs() -> Check {
    signal::sigaction(SIGUSR1, Handler::Catch(on_signal), 0, 0)
        .map_err(|err| e("sigaction SIGUSR1", err))?;
    // Blocked: pending until sigsuspend lets it in.
    let old = signal::sigprocmask(signal::SIG_BLOCK, signal::bit(SIGUSR1))
        .map_err(|err| e("sigprocmask", err))?;
    GOT.store(0, Ordering::SeqCst);
    let me = process::getpid();
    process::kill(me, SIGUSR1).map_err(|err| e("kill self", err))?;
    let pending = signal::sigpending().map_err(|err| e("sigpending", err))?;
    if pending & signal::bit(SIGUSR1) == 0 {
        return Err(format!("SIGUSR1 blocked but not pending ({pending:#x})"));
    }
    if GOT.load(Ordering::SeqCst) != 0 {
        return Err("the handler ran while the signal was blocked".into());
    }
    let live = core::hint::black_box(0x1234_5678_9abc_def0u64);
    let r = signal::sigsuspend(old & !signal::bit(SIGUSR1));
    let live = core::hint::black_box(live);
    if r != Errno::EINTR || GOT.load(Ordering::SeqCst) != SIGUSR1 {
        return Err(format!(
            "sigsuspend gave {r:?}, handler saw {}",
            GOT.load(Ordering::SeqCst)
        ));
    }
    if live != 0x1234_5678_9abc_def0 {
        return Err("a value held across the handler changed".into());
    }
    signal::sigprocmask(signal::SIG_SETMASK, old).map_err(|err| e("sigprocmask", err))?;
    // Unblocked: delivered right away (by the time kill's answer is seen
    // or soon after), and the program goes on.
    let n = HANDLED.load(Ordering::SeqCst);
    process::kill(me, SIGUSR1).map_err(|err| e("kill self", err))?;
    let start = time::uptime();
    while HANDLED.load(Ordering::SeqCst) == n {
        if time::uptime() - start > 10 * time::HZ {
            return Err("an unblocked SIGUSR1 never reached its handler".into());
        }
        let _ = time::sleep_ms(10);
    }
    println!(
        "proctest signals: SIGUSR1 handler ran and returned (blocked -> pending -> sigsuspend EINTR; unblocked -> at once)"
    );
    Ok(())
}

fn sigkill_uncatchable() -> Check {
    for h in [Handler::Catch(on_signal), Handler::Ignore] {
        match signal::sigaction(SIGKILL, h, 0, 0) {
            Err(Errno::EINVAL) => {}
            other => {
                return Err(format!(
                    "sigaction(SIGKILL, {h:?}) gave {other:?}, not EINVAL"
                ));
            }
        }
    }
    let pid = process::spawn("/bin/child", &["/bin/child", "pause"], &["PATH=/bin"])
        .map_err(|err| e("spawn", err))?;
    process::kill(pid, SIGKILL).map_err(|err| e("kill", err))?;
    let st = wait_pid(pid)?;
    if st.signal() != Some(SIGKILL) {
        return Err(format!("a child sent SIGKILL: {st}"));
    }
    println!("proctest signals: sigaction(SIGKILL) -> EINVAL; kill -9 killed the child ({st})");
    Ok(())
}

fn sigpipe() -> Check {
    // Default action: the writer dies of SIGPIPE.
    let (r, w) = fd::pipe().map_err(|err| e("pipe", err))?;
    let pid = process::fork().map_err(|err| e("fork", err))?;
    if pid == 0 {
        let _ = fd::close(r);
        let ws = w.to_string();
        exec_or_die("/bin/child", &["/bin/child", "write", &ws], &["PATH=/bin"]);
    }
    let _ = fd::close(r);
    let _ = fd::close(w);
    let st = wait_pid(pid)?;
    if st.signal() != Some(SIGPIPE) {
        return Err(format!(
            "a writer to a pipe without readers: {st}, not SIGPIPE"
        ));
    }
    // Ignored: the write fails with EPIPE instead.
    let (r, w) = fd::pipe().map_err(|err| e("pipe", err))?;
    let pid = process::fork().map_err(|err| e("fork", err))?;
    if pid == 0 {
        let _ = fd::close(r);
        let _ = signal::signal(SIGPIPE, Handler::Ignore);
        let code = match fd::write(w, b"x") {
            Err(Errno::EPIPE) => 32,
            _ => 1,
        };
        process::exit(code);
    }
    let _ = fd::close(r);
    let _ = fd::close(w);
    let st2 = wait_pid(pid)?;
    if st2.code() != Some(32) {
        return Err(format!(
            "with SIGPIPE ignored the writer ended with {st2}, not EPIPE"
        ));
    }
    println!("proctest signals: broken pipe -> writer {st}; with SIGPIPE ignored -> EPIPE");
    Ok(())
}

fn segv() -> Check {
    let pid = process::fork().map_err(|err| e("fork", err))?;
    if pid == 0 {
        let v = rt::fault::null_pointer_read();
        process::exit(i32::from(v));
    }
    let st = wait_pid(pid)?;
    if st.signal() != Some(SIGSEGV) {
        return Err(format!("a child reading address 0: {st}, not SIGSEGV"));
    }
    let pid = process::spawn("/bin/child", &["/bin/child", "fault"], &["PATH=/bin"])
        .map_err(|err| e("spawn", err))?;
    let st2 = wait_pid(pid)?;
    if st2.signal() != Some(SIGSEGV) {
        return Err(format!("/bin/child fault: {st2}, not SIGSEGV"));
    }
    println!(
        "proctest signals: null dereference -> {st} (forked) and {st2} (exec'd); the parent goes on"
    );
    Ok(())
}

fn select_eintr() -> Check {
    signal::sigaction(SIGALRM, Handler::Catch(on_signal), 0, 0)
        .map_err(|err| e("sigaction SIGALRM", err))?;
    let (r, w) = fd::pipe().map_err(|err| e("pipe", err))?;
    GOT.store(0, Ordering::SeqCst);
    process::alarm(1).map_err(|err| e("alarm", err))?;
    let sets = FdSets {
        read: 1 << r,
        ..FdSets::default()
    };
    let res = fd::select(r + 1, sets, Some((30, 0)));
    let _ = fd::close(r);
    let _ = fd::close(w);
    match res {
        Err(Errno::EINTR) if GOT.load(Ordering::SeqCst) == SIGALRM => {
            println!("proctest signals: select interrupted by SIGALRM -> EINTR");
            Ok(())
        }
        other => Err(format!(
            "select with SIGALRM due after 1 s gave {other:?} (handler saw {})",
            GOT.load(Ordering::SeqCst)
        )),
    }
}

fn signals() -> Check {
    handler_runs()?;
    sigkill_uncatchable()?;
    sigpipe()?;
    segv()?;
    select_eintr()
}

// ---- badexec -------------------------------------------------------------

fn u16_at(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2)
        .map_or(0, |s| usize::from(u16::from_le_bytes([s[0], s[1]])))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    if let Some(s) = b.get_mut(at..at + 8) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// File offsets of the PT_LOAD program headers of an ELF64 image.
fn load_headers(img: &[u8]) -> Vec<usize> {
    let phoff = u64_at(img, 0x20) as usize;
    let size = u16_at(img, 0x36);
    let n = u16_at(img, 0x38);
    (0..n)
        .map(|i| phoff + i * size)
        .filter(|&at| img.get(at..at + 4) == Some(&1u32.to_le_bytes()[..]))
        .collect()
}

fn write_exe(path: &str, data: &[u8]) -> Check {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(path)
        .map_err(|err| e(path, err))?;
    f.write_all(data).map_err(|err| e(path, err))?;
    f.close().map_err(|err| e(path, err))
}

/// A bss that fits the program area (up to `HEAP_BASE`) but not the free
/// memory: anonymous memory is taken first until less is free than the
/// bss needs, so VM must answer ENOMEM (and nothing may change).
fn bss_beyond_memory(img: &[u8], last: usize) -> Check {
    let vaddr = u64_at(img, last + 16);
    let memsz = rt::abi::HEAP_BASE - vaddr;
    let need = memsz / 4096;
    let mut big = img.to_vec();
    put_u64(&mut big, last + 40, memsz);
    let free = mem::info().map_err(|err| e("vm info", err))?.free;
    // Leave 2,048 frames fewer free than the bss needs.
    let take = (free + 2048).saturating_sub(need);
    // Heap memory, every page written (VM maps the break eagerly anyway).
    let mut filler = vec![0u8; (take * 4096) as usize];
    for page in filler.chunks_mut(4096) {
        page[0] = 1;
    }
    core::hint::black_box(&mut filler);
    let free_now = mem::info().map_err(|err| e("vm info", err))?.free;
    let path = "/tmp/bigbss";
    write_exe(path, &big)?;
    let err = process::exec(path, &[path], &["PATH=/bin"]);
    let _ = fs::unlink(path);
    drop(filler);
    if err != Errno::ENOMEM {
        return Err(format!(
            "exec with a {} MiB bss and {free_now} frames free: {err:?}, not ENOMEM",
            memsz >> 20
        ));
    }
    println!(
        "proctest badexec: {} MiB bss with {free_now} frames free -> ENOMEM; the caller goes on",
        memsz >> 20
    );
    Ok(())
}

fn badexec() -> Check {
    let img = fs::read("/bin/true").map_err(|err| e("/bin/true", err))?;
    let loads = load_headers(&img);
    if loads.len() < 2 {
        return Err(format!("/bin/true has {} PT_LOAD headers", loads.len()));
    }
    let mut overlap = img.clone();
    let first_vaddr = u64_at(&img, loads[0] + 16);
    put_u64(&mut overlap, loads[1] + 16, first_vaddr);
    put_u64(&mut overlap, loads[1] + 24, first_vaddr);
    let mut huge = img.clone();
    let last = *loads.last().unwrap_or(&loads[0]);
    put_u64(&mut huge, last + 40, 0x3000_0000);
    let cases: [(&str, &str, Vec<u8>, &[Errno]); 4] = [
        (
            "not an ELF file",
            "/tmp/notelf",
            // Neither ELF nor a `#!` script (exec runs those through their
            // interpreter): plain text.
            b"echo this is not an ELF file\n".to_vec(),
            &[Errno::ENOEXEC],
        ),
        (
            "truncated ELF",
            "/tmp/truncated",
            img[..img.len() / 2].to_vec(),
            &[Errno::ENOEXEC],
        ),
        (
            "overlapping segments",
            "/tmp/overlap",
            overlap,
            &[Errno::ENOEXEC],
        ),
        (
            "768 MiB bss",
            "/tmp/hugebss",
            huge,
            &[Errno::ENOMEM, Errno::ENOEXEC],
        ),
    ];
    // Memory of the caller that must survive every failed exec.
    let guard: Vec<u64> = (0..4096u64).map(|i| i * 0x9e37_79b9).collect();
    let stack_guard = core::hint::black_box([0x5au8; 512]);
    for (what, path, data, want) in &cases {
        write_exe(path, data)?;
        let err = process::exec(path, &[*path], &["PATH=/bin"]);
        if !want.contains(&err) {
            return Err(format!(
                "exec of a {what} ({path}): {err:?}, expected {want:?}"
            ));
        }
        println!("proctest badexec: {what} -> {err:?}; the caller goes on");
        let _ = fs::unlink(path);
    }
    bss_beyond_memory(&img, last)?;
    let guard = core::hint::black_box(&guard);
    if guard
        .iter()
        .enumerate()
        .any(|(i, &v)| v != i as u64 * 0x9e37_79b9)
        || core::hint::black_box(&stack_guard)
            .iter()
            .any(|&b| b != 0x5a)
    {
        return Err("the caller's memory changed after a failed exec".into());
    }
    let st = process::run("/bin/true", &["/bin/true"]).map_err(|err| e("/bin/true", err))?;
    if !st.success() {
        return Err(format!("/bin/true after the bad execs: {st}"));
    }
    println!("proctest badexec: /bin/true still runs ({st})");
    Ok(())
}

// ---- ulib ----------------------------------------------------------------

fn ulib_files() -> Check {
    let dir = "/tmp/ulibtest";
    let _ = fs::mkdir(dir, 0o755);
    let a = format!("{dir}/a");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&a)
        .map_err(|err| e("create", err))?;
    f.write_all(b"hello, world")
        .map_err(|err| e("write", err))?;
    f.seek(fs::SeekFrom::Start(7))
        .map_err(|err| e("seek", err))?;
    let mut buf = [0u8; 16];
    let n = f.read(&mut buf).map_err(|err| e("read", err))?;
    if &buf[..n] != b"world" {
        return Err(format!("read back {:?}", &buf[..n]));
    }
    let len = f.metadata().map_err(|err| e("fstat", err))?.len();
    f.close().map_err(|err| e("close", err))?;
    if len != 12 {
        return Err(format!("size {len}, expected 12"));
    }
    let b = format!("{dir}/b");
    fs::rename(&a, &b).map_err(|err| e("rename", err))?;
    fs::link(&b, &a).map_err(|err| e("link", err))?;
    fs::symlink("b", &format!("{dir}/s")).map_err(|err| e("symlink", err))?;
    let target = fs::readlink(&format!("{dir}/s")).map_err(|err| e("readlink", err))?;
    let via_link = fs::read_to_string(&format!("{dir}/s")).map_err(|err| e("read symlink", err))?;
    if target != "b" || via_link != "hello, world" {
        return Err(format!("symlink -> {target:?}, reads {via_link:?}"));
    }
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|err| e("read_dir", err))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    names.sort();
    if names != [".", "..", "a", "b", "s"] {
        return Err(format!("read_dir: {names:?}"));
    }
    fs::chmod(&b, 0o600).map_err(|err| e("chmod", err))?;
    fs::truncate(&b, 5).map_err(|err| e("truncate", err))?;
    let st = fs::stat(&a).map_err(|err| e("stat", err))?;
    if st.permissions() != 0o600 || st.len() != 5 || st.0.nlinks != 2 {
        return Err(format!("stat after chmod/truncate: {:?}", st.0));
    }
    let lst = fs::lstat(&format!("{dir}/s")).map_err(|err| e("lstat", err))?;
    if !lst.is_symlink() {
        return Err("lstat does not show a symlink".into());
    }
    let old = fs::umask(0o077).map_err(|err| e("umask", err))?;
    let c = format!("{dir}/c");
    fs::write(&c, b"x").map_err(|err| e("write c", err))?;
    fs::umask(old).map_err(|err| e("umask", err))?;
    let perm = fs::stat(&c).map_err(|err| e("stat c", err))?.permissions();
    if perm != 0o600 {
        return Err(format!("a file made under umask 077 has mode {perm:o}"));
    }
    for p in [&a, &b, &c, &format!("{dir}/s")] {
        fs::unlink(p).map_err(|err| e("unlink", err))?;
    }
    fs::rmdir(dir).map_err(|err| e("rmdir", err))?;
    if fs::exists(dir) {
        return Err("the directory is still there".into());
    }
    println!("proctest ulib: files, links, symlinks, directories, chmod, truncate, umask");
    Ok(())
}

fn ulib_processes() -> Check {
    // The working directory is inherited through fork and exec.
    let dir = "/tmp/ulibcwd";
    let _ = fs::mkdir(dir, 0o755);
    fs::chdir(dir).map_err(|err| e("chdir", err))?;
    fs::write("here", b"relative").map_err(|err| e("relative create", err))?;
    let cwd = fs::getcwd();
    let st = process::run("/bin/child", &["/bin/child", "exists", "here"])
        .map_err(|err| e("run", err))?;
    let _ = fs::unlink("here");
    fs::chdir("/").map_err(|err| e("chdir /", err))?;
    let _ = fs::rmdir(dir);
    if cwd != dir || !st.success() {
        return Err(format!("getcwd {cwd:?}; a child looking for ./here: {st}"));
    }
    // FD_CLOEXEC: closed by exec; other descriptors inherited.
    let keep = fs::File::open("/etc/motd").map_err(|err| e("open", err))?;
    let gone = OpenOptions::new()
        .read(true)
        .cloexec(true)
        .open("/etc/motd")
        .map_err(|err| e("open", err))?;
    let (k, g) = (keep.fd().to_string(), gone.fd().to_string());
    let sk = process::run("/bin/child", &["/bin/child", "fd", &k]).map_err(|err| e("run", err))?;
    let sg = process::run("/bin/child", &["/bin/child", "fd", &g]).map_err(|err| e("run", err))?;
    if sk.code() != Some(0) || sg.code() != Some(1) {
        return Err(format!(
            "descriptor {k} in the child: {sk} (want open); close-on-exec {g}: {sg} (want closed)"
        ));
    }
    drop((keep, gone));
    // A pipe on the child's standard output, and the environment of
    // exec_env.
    ulib::env::set_var("CHILD_TOKEN", "piped").map_err(|err| e("set_var", err))?;
    let (r, w) = fd::pipe().map_err(|err| e("pipe", err))?;
    let pid = process::fork().map_err(|err| e("fork", err))?;
    if pid == 0 {
        let _ = fd::close(r);
        // (With no standard descriptors open, the pipe may already be 0
        // and 1.)
        if w != fd::STDOUT {
            if fd::dup2(w, fd::STDOUT).is_err() {
                process::exit(126);
            }
            let _ = fd::close(w);
        }
        let err = process::exec_env("/bin/child", &["/bin/child", "check", "7", "piped", "show"]);
        println!("proctest: exec: {}", strerror(err));
        process::exit(127);
    }
    let _ = fd::close(w);
    let mut out = fs::File::from_fd(r);
    let text = out.read_to_string().map_err(|err| e("read pipe", err))?;
    let st = wait_pid(pid)?;
    ulib::env::remove_var("CHILD_TOKEN");
    if st.code() != Some(7) || !text.contains("child: CHILD_TOKEN=Some(\"piped\")") {
        return Err(format!("child through a pipe: {st}, wrote {text:?}"));
    }
    // Ids, the process table, times.
    let ids = process::ids().map_err(|err| e("ids", err))?;
    let (me, parent) = process::getpids().map_err(|err| e("getpid", err))?;
    let table = process::ps().map_err(|err| e("ps", err))?;
    let mine = table.iter().find(|p| p.pid == me);
    if ids.uid != 0 || ids.euid != 0 || mine.is_none_or(|p| p.ppid != parent) {
        return Err(format!(
            "ids {ids:?}, pid {me}, parent {parent}, ps {table:?}"
        ));
    }
    process::times().map_err(|err| e("times", err))?;
    // Anonymous memory from VM.
    let addr =
        mem::mmap(1 << 20, mem::PROT_READ | mem::PROT_WRITE).map_err(|err| e("mmap", err))?;
    mem::munmap(addr, 1 << 20).map_err(|err| e("munmap", err))?;
    println!(
        "proctest ulib: cwd {dir} inherited by exec; FD_CLOEXEC honoured; a child's stdout through a pipe ({} bytes); pid {me} in ps ({} processes); mmap at {addr:#x}",
        text.len(),
        table.len()
    );
    Ok(())
}

fn ulib() -> Check {
    ulib_files()?;
    ulib_processes()
}

// ---- ids, groups -----------------------------------------------------------

/// Runs `f` in a forked child, which exits 0 if it returns `Ok`, else
/// prints the reason and exits 1; the child's status.
fn in_child(f: fn() -> Check) -> Result<Status, String> {
    let pid = process::fork().map_err(|err| e("fork", err))?;
    if pid == 0 {
        let code = match f() {
            Ok(()) => 0,
            Err(m) => {
                println!("proctest: in a child: {m}");
                1
            }
        };
        process::exit(code);
    }
    wait_pid(pid)
}

fn session_leader() -> Check {
    let me = process::getpid();
    let sid = process::setsid().map_err(|err| e("setsid", err))?;
    let pgrp = process::getpgrp().map_err(|err| e("getpgrp", err))?;
    if sid != me || pgrp != me {
        return Err(format!("setsid {sid}, getpgrp {pgrp}, pid {me}"));
    }
    // A session leader cannot make another session.
    match process::setsid() {
        Err(Errno::EPERM) => Ok(()),
        other => Err(format!("second setsid: {other:?}, not EPERM")),
    }
}

fn drop_root() -> Check {
    process::setuid(1000).map_err(|err| e("setuid 1000", err))?;
    let ids = process::ids().map_err(|err| e("ids", err))?;
    if ids.uid != 1000 || ids.euid != 1000 {
        return Err(format!("after setuid(1000): {ids:?}"));
    }
    match process::setuid(0) {
        Err(Errno::EPERM) => {}
        other => return Err(format!("setuid(0) as uid 1000: {other:?}, not EPERM")),
    }
    match process::kill(1, 0) {
        Err(Errno::EPERM) => {}
        other => return Err(format!("kill(1, 0) as uid 1000: {other:?}, not EPERM")),
    }
    // Files: a root-owned 0644 file cannot be written any more.
    match OpenOptions::new().write(true).open("/etc/motd") {
        Err(Errno::EACCES) => Ok(()),
        other => Err(format!(
            "opening root's /etc/motd for writing as uid 1000: {:?}, not EACCES",
            other.map(|f| f.fd())
        )),
    }
}

fn group_kill() -> Check {
    let (r, w) = fd::pipe().map_err(|err| e("pipe", err))?;
    let leader = process::fork().map_err(|err| e("fork", err))?;
    if leader == 0 {
        let _ = fd::close(r);
        let ok = process::setpgid(0, 0).is_ok();
        let mut n = 0u8;
        for _ in 0..2 {
            if let Ok(0) = process::fork() {
                loop {
                    signal::pause();
                }
            }
            n += 1;
        }
        let _ = fd::write(w, &[if ok { n } else { 0 }]);
        loop {
            signal::pause();
        }
    }
    let _ = fd::close(w);
    let ready = read_byte(r)?;
    let _ = fd::close(r);
    if ready != 2 {
        let _ = process::kill(leader, SIGKILL);
        let _ = wait_pid(leader);
        return Err(format!("the group leader set up {ready} of 2 members"));
    }
    let members: Vec<Pid> = process::ps()
        .map_err(|err| e("ps", err))?
        .iter()
        .filter(|p| p.pgrp == leader)
        .map(|p| p.pid)
        .collect();
    process::kill(-leader, signal::SIGTERM).map_err(|err| e("kill group", err))?;
    let st = wait_pid(leader)?;
    if st.signal() != Some(signal::SIGTERM) || members.len() != 3 {
        return Err(format!("group of {members:?}: leader {st}"));
    }
    // The two members (now init's) die too.
    let start = time::uptime();
    loop {
        let table = process::ps().map_err(|err| e("ps", err))?;
        let alive: Vec<&process::ProcInfo> = table
            .iter()
            .filter(|p| members.contains(&p.pid) && p.state != process::state::ZOMBIE)
            .collect();
        if alive.is_empty() {
            break;
        }
        if time::uptime() - start > 30 * time::HZ {
            return Err(format!(
                "group members still alive after SIGTERM: {alive:?}"
            ));
        }
        let _ = time::sleep_ms(20);
    }
    println!("proctest ids: kill(-{leader}, SIGTERM) ended the group {members:?}");
    Ok(())
}

fn alarm_default() -> Check {
    process::alarm(1).map_err(|err| e("alarm", err))?;
    loop {
        signal::pause();
    }
}

fn ids() -> Check {
    let st = in_child(session_leader)?;
    if !st.success() {
        return Err(format!("setsid in a child: {st}"));
    }
    println!("proctest ids: setsid made a child session and group leader");
    let st = in_child(drop_root)?;
    if !st.success() {
        return Err(format!("uid 1000 in a child: {st}"));
    }
    println!(
        "proctest ids: uid 1000 cannot setuid(0), signal init or write root's file (EPERM, EACCES)"
    );
    group_kill()?;
    let st = in_child(alarm_default)?;
    if st.signal() != Some(SIGALRM) {
        return Err(format!(
            "alarm(1) then pause with SIGALRM's default action: {st}"
        ));
    }
    println!("proctest ids: alarm(1) and pause -> {st}");
    Ok(())
}

// ---- forkbomb ------------------------------------------------------------

fn forkbomb() -> Check {
    let mut kids = Vec::new();
    let limit_err;
    loop {
        match process::fork() {
            Ok(0) => loop {
                signal::pause();
            },
            Ok(pid) => kids.push(pid),
            Err(err) => {
                limit_err = err;
                break;
            }
        }
        if kids.len() >= 5000 {
            limit_err = Errno::EGENERIC;
            break;
        }
    }
    let n = kids.len();
    println!("proctest forkbomb: {n} children, then fork -> {limit_err:?}");
    for &pid in &kids {
        if let Err(err) = process::kill(pid, SIGKILL) {
            println!("proctest forkbomb: kill {pid}: {}", strerror(err));
        }
    }
    let mut bad = None;
    for &pid in &kids {
        match wait_pid(pid) {
            Ok(st) if st.signal() == Some(SIGKILL) => {}
            Ok(st) => bad = Some(format!("child {pid}: {st}")),
            Err(m) => bad = Some(m),
        }
    }
    if limit_err != Errno::EAGAIN {
        return Err(format!(
            "fork stopped with {limit_err:?} after {n} children, not EAGAIN"
        ));
    }
    if let Some(b) = bad {
        return Err(b);
    }
    match process::waitpid(-1, WNOHANG) {
        Err(Errno::ECHILD) => {}
        other => return Err(format!("children left after the bomb: {other:?}")),
    }
    let st = process::run("/bin/true", &["/bin/true"]).map_err(|err| e("/bin/true", err))?;
    if !st.success() {
        return Err(format!("/bin/true after the bomb: {st}"));
    }
    println!("proctest forkbomb: all {n} killed and reaped; fork+exec works again");
    Ok(())
}

// ---- main ----------------------------------------------------------------

fn main(args: &[String]) -> i32 {
    let mut failed = 0;
    let mut i = 1;
    if args.len() < 2 {
        println!(
            "usage: proctest forkexec N | cow | signals | badexec | ulib | ids | forkbomb ..."
        );
        return 2;
    }
    while i < args.len() {
        let case = args[i].as_str();
        i += 1;
        let r = match case {
            "forkexec" => {
                let n = match args.get(i).and_then(|a| a.parse().ok()) {
                    Some(n) => {
                        i += 1;
                        n
                    }
                    None => 100,
                };
                forkexec(n)
            }
            "cow" => cow(),
            "signals" => signals(),
            "badexec" => badexec(),
            "forkbomb" => forkbomb(),
            "ulib" => ulib(),
            "ids" => ids(),
            other => Err(format!("unknown case {other:?}")),
        };
        match r {
            Ok(()) => println!("proctest {case}: ok"),
            Err(m) => {
                println!("proctest {case}: FAILED: {m}");
                failed += 1;
            }
        }
    }
    i32::from(failed > 0)
}
