//! The executor: runs the syntax tree on `ulib`. Simple commands are
//! builtins, functions, or programs found through `PATH` and started with
//! fork + exec; pipelines fork one child per stage joined by pipes;
//! redirections are done with open + dup2 in the child (or, for builtins
//! and compound commands, in the shell with the old descriptors saved
//! above 10 and put back after); background commands are children with
//! SIGINT and SIGQUIT ignored and standard input from `/dev/null`.
//!
//! No job control: everything stays in the shell's process group. An
//! interactive shell catches SIGINT (a read interrupted by ^C gives a
//! fresh prompt, a command line being run is abandoned) and waits for its
//! foreground children through `EINTR`.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use sh::ast::*;
use sh::expand::{self, Context};
use sh::parse::{ParseError, Parser, is_name};
use sh::testexpr::{self, Access, FileInfo, Kind, Probe};
use sh::vars::{Vars, quote};
use ulib::errno::strerror;
use ulib::fd::{self, Fd};
use ulib::process::{self, Pid, Status};
use ulib::signal::{self, Handler, SIGINT, SIGKILL, SIGQUIT, SIGSTOP, SIGTERM};
use ulib::{Errno, eprint, eprintln, fs, io, print, println};

mod builtins;

/// Set by the SIGINT handler of an interactive shell.
static GOT_INT: AtomicBool = AtomicBool::new(false);

fn on_sigint(_: u32) {
    GOT_INT.store(true, Ordering::SeqCst);
}

/// Signals caught for a `trap`, not yet acted on (bit n = signal n).
static PENDING: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn on_trap(sig: u32) {
    PENDING.fetch_or(1 << (sig & 63), Ordering::SeqCst);
    if sig == SIGINT {
        GOT_INT.store(true, Ordering::SeqCst);
    }
}

/// A signal named as `trap` and `kill` take it: `INT`, `SIGINT`, `2`;
/// `EXIT` / `0` is 0.
fn signal_number(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return (n < 32).then_some(n);
    }
    let up = name.to_ascii_uppercase();
    if up == "EXIT" {
        return Some(0);
    }
    let full = if up.starts_with("SIG") {
        up
    } else {
        alloc::format!("SIG{up}")
    };
    (1..32).find(|&s| signal::name(s) == full)
}

/// Deepest nesting of commands being run (compound commands, function
/// calls, `eval`, `.`), so that no script exhausts the stack.
const MAX_RUN_DEPTH: usize = 60;

/// How a list stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Normal,
    Break(usize),
    Continue(usize),
    Return,
    /// ^C at an interactive shell: abandon the command line.
    Interrupted,
}

/// A descriptor changed by a redirection, to put back.
struct Saved {
    fd: Fd,
    /// Its copy (`None`: it was closed).
    copy: Option<Fd>,
}

/// The shell.
struct Shell {
    vars: Vars,
    arg0: String,
    params: Vec<String>,
    status: i32,
    pid: Pid,
    last_bg: Option<Pid>,
    opt_e: bool,
    opt_u: bool,
    opt_x: bool,
    interactive: bool,
    funcs: BTreeMap<String, Rc<Command>>,
    /// Background children not yet waited for.
    jobs: Vec<Pid>,
    /// Background children reaped early (by the prompt), with status.
    done: Vec<(Pid, i32)>,
    flow: Flow,
    depth: usize,
    /// Nesting of conditions (`if`/`while` tests, `&&`/`||` left sides,
    /// `!`), where `set -e` does not apply.
    cond: usize,
    /// Loops being run (for `break`/`continue`).
    loops: usize,
    /// Function calls being run (for `return`).
    calls: usize,
    /// Status of the last command substitution of the command being
    /// expanded (the status of a command made only of assignments).
    subst_status: Option<i32>,
    /// `trap` actions by signal (0: EXIT).
    traps: BTreeMap<u32, String>,
    /// Per function call being run, the variables `local` saved: name
    /// and value before.
    locals: Vec<Vec<(String, Option<String>)>>,
    /// `getopts`: the `OPTIND` it last set and the character position in
    /// that word (a script that sets `OPTIND` itself starts over).
    getopts_ind: usize,
    getopts_pos: usize,
}

fn status_code(st: Status) -> i32 {
    if let Some(c) = st.code() {
        c
    } else if let Some(s) = st.signal() {
        128 + s as i32
    } else {
        128 + ((st.0 >> 8) & 0x7f)
    }
}

fn signal_text(sig: u32) -> Option<&'static str> {
    use ulib::signal::*;
    Some(match sig {
        SIGINT | SIGPIPE => return None,
        SIGHUP => "Hangup",
        SIGQUIT => "Quit",
        SIGILL => "Illegal instruction",
        SIGTRAP => "Trace/breakpoint trap",
        SIGABRT => "Aborted",
        SIGBUS => "Bus error",
        SIGFPE => "Floating point exception",
        SIGKILL => "Killed",
        SIGUSR1 => "User defined signal 1",
        SIGSEGV => "Segmentation fault",
        SIGUSR2 => "User defined signal 2",
        SIGALRM => "Alarm clock",
        SIGTERM => "Terminated",
        _ => "Killed by a signal",
    })
}

/// Whether `fd` is a terminal (its driver answers TCGETS).
fn isatty(fd: Fd) -> bool {
    ulib::term::isatty(fd)
}

/// A pipe whose two descriptors are 10 or above, so that moving them onto
/// 0 and 1 in a child never overwrites one with the other (a shell started
/// without descriptors would get 0 and 1 from pipe(2)).
fn pipe() -> Result<(Fd, Fd), Errno> {
    let (r, w) = fd::pipe()?;
    let high = |f: Fd| -> Result<Fd, Errno> {
        if f >= 10 {
            return Ok(f);
        }
        let h = fd::fcntl(f, fd::F_DUPFD, 10);
        let _ = fd::close(f);
        h.map(|h| h as Fd)
    };
    match (high(r), high(w)) {
        (Ok(r), Ok(w)) => Ok((r, w)),
        (Ok(x), Err(e)) | (Err(e), Ok(x)) => {
            let _ = fd::close(x);
            Err(e)
        }
        (Err(e), Err(_)) => Err(e),
    }
}

/// A here-document's text in an unnamed file (made in /tmp and unlinked
/// at once), open for reading at its start.
fn here_file(text: &str) -> Result<Fd, Errno> {
    static SEQ: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
    let mut tries = 0;
    let f = loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = alloc::format!("/tmp/.sh-here-{}-{n}", process::getpid());
        match fs::open_fd(&path, fs::O_RDWR | fs::O_CREAT | fs::O_EXCL, 0o600) {
            Ok(f) => {
                let _ = fs::unlink(&path);
                break f;
            }
            Err(Errno::EEXIST) if tries < 100 => tries += 1,
            Err(e) => return Err(e),
        }
    };
    let r = fd::write_all(f, text.as_bytes()).and_then(|()| fd::lseek(f, 0, fd::SEEK_SET));
    if let Err(e) = r {
        let _ = fd::close(f);
        return Err(e);
    }
    Ok(f)
}

/// Reads lines from a descriptor (any length: the buffer grows).
///
/// What follows the commands the shell has run stays for the programs
/// they start (`sh < script` where the script runs `read`): a regular file
/// is read in chunks and the offset put back before commands run
/// ([`Input::give_back`]); a pipe is read a byte at a time; a terminal
/// gives one line per read anyway.
struct Input {
    fd: Fd,
    buf: Vec<u8>,
    eof: bool,
    seekable: bool,
    chunk: usize,
}

impl Input {
    fn new(fd: Fd, tty: bool) -> Input {
        let seekable = !tty && fd::lseek(fd, 0, fd::SEEK_CUR).is_ok();
        Input {
            fd,
            buf: Vec::new(),
            eof: false,
            seekable,
            chunk: if tty || seekable { 1024 } else { 1 },
        }
    }

    /// Moves the file offset back over what was read but not used.
    fn give_back(&mut self) {
        if self.seekable && !self.buf.is_empty() {
            let back = -(self.buf.len() as i64);
            if fd::lseek(self.fd, back, fd::SEEK_CUR).is_ok() {
                self.buf.clear();
                self.eof = false;
            }
        }
    }

    /// The next line with its newline (without one at the end of the
    /// input); `Ok(None)` at the end.
    fn line(&mut self) -> Result<Option<String>, Errno> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let rest = self.buf.split_off(i + 1);
                let line = core::mem::replace(&mut self.buf, rest);
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = core::mem::take(&mut self.buf);
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            let mut chunk = [0u8; 1024];
            let n = fd::read(self.fd, &mut chunk[..self.chunk])?;
            if n == 0 {
                self.eof = true;
            } else {
                self.buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

struct FsProbe;

fn info(m: &fs::Metadata) -> FileInfo {
    let kind = match m.mode() & fs::S_IFMT {
        fs::S_IFREG => Kind::File,
        fs::S_IFDIR => Kind::Dir,
        fs::S_IFCHR => Kind::Char,
        fs::S_IFBLK => Kind::Block,
        fs::S_IFIFO => Kind::Fifo,
        fs::S_IFLNK => Kind::Link,
        _ => Kind::Other,
    };
    FileInfo {
        kind,
        size: m.len(),
    }
}

impl Probe for FsProbe {
    fn stat(&self, path: &str) -> Option<FileInfo> {
        fs::stat(path).ok().map(|m| info(&m))
    }

    fn lstat(&self, path: &str) -> Option<FileInfo> {
        fs::lstat(path).ok().map(|m| info(&m))
    }

    fn access(&self, path: &str, a: Access) -> bool {
        let Ok(m) = fs::stat(path) else {
            return false;
        };
        let Ok(ids) = process::ids() else {
            return false;
        };
        let perm = m.permissions();
        let bit = match a {
            Access::Read => 4,
            Access::Write => 2,
            Access::Exec => 1,
        };
        if ids.euid == 0 {
            // Root reads and writes anything; executes what has an x bit
            // (or searches a directory).
            return a != Access::Exec || m.is_dir() || perm & 0o111 != 0;
        }
        let shift = if u32::from(m.uid()) == ids.euid {
            6
        } else if u32::from(m.gid()) == ids.egid {
            3
        } else {
            0
        };
        (perm >> shift) & bit != 0
    }

    fn isatty(&self, fd: i32) -> bool {
        isatty(fd)
    }
}

const BUILTINS: &[&str] = &[
    ":", ".", "[", "break", "cd", "command", "continue", "echo", "eval", "exec", "exit", "export",
    "false", "getopts", "local", "trap", "type", "printf", "pwd", "read", "return", "set", "shift",
    "test", "true", "umask", "unset", "wait",
];

impl Context for Shell {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).map(String::from)
    }

    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.vars.set(name, value);
        Ok(())
    }

    fn arg0(&self) -> String {
        self.arg0.clone()
    }

    fn params(&self) -> &[String] {
        &self.params
    }

    fn special(&self, c: char) -> Option<String> {
        match c {
            '?' => Some(self.status.to_string()),
            '$' => Some(self.pid.to_string()),
            '!' => self.last_bg.map(|p| p.to_string()),
            '-' => {
                let mut s = String::new();
                if self.opt_e {
                    s.push('e');
                }
                if self.interactive {
                    s.push('i');
                }
                if self.opt_u {
                    s.push('u');
                }
                if self.opt_x {
                    s.push('x');
                }
                Some(s)
            }
            _ => None,
        }
    }

    fn nounset(&self) -> bool {
        self.opt_u
    }

    fn glob(&mut self, pattern: &str) -> Vec<String> {
        sh::glob::expand_path(pattern, &mut |dir| {
            fs::read_dir(dir)
                .ok()
                .map(|es| es.into_iter().map(|e| e.name).collect())
        })
    }

    fn command_subst(&mut self, list: &List) -> Result<String, String> {
        let (r, w) = pipe().map_err(|e| alloc::format!("pipe: {}", strerror(e)))?;
        let pid = match process::fork() {
            Ok(0) => {
                let _ = fd::close(r);
                self.child_signals(false);
                let _ = fd::dup2(w, 1);
                let _ = fd::close(w);
                let st = self.run_list(list);
                self.exit(st)
            }
            Ok(pid) => pid,
            Err(e) => {
                let _ = fd::close(r);
                let _ = fd::close(w);
                return Err(alloc::format!("fork: {}", strerror(e)));
            }
        };
        let _ = fd::close(w);
        let mut out = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match fd::read(r, &mut chunk) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        let _ = fd::close(r);
        self.subst_status = Some(self.wait_fg(pid));
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

impl Shell {
    fn new(arg0: String) -> Shell {
        let mut vars = Vars::from_env(ulib::env::vars());
        if vars.get("PATH").is_none() {
            vars.set("PATH", "/bin:/sbin");
        }
        if vars.get("IFS").is_none() {
            vars.set("IFS", " \t\n");
        }
        vars.set("PWD", &fs::getcwd());
        vars.set("PPID", &process::getppid().to_string());
        vars.set("OPTIND", "1");
        Shell {
            vars,
            arg0,
            params: Vec::new(),
            status: 0,
            pid: process::getpid(),
            last_bg: None,
            opt_e: false,
            opt_u: false,
            opt_x: false,
            interactive: false,
            funcs: BTreeMap::new(),
            jobs: Vec::new(),
            done: Vec::new(),
            flow: Flow::Normal,
            depth: 0,
            cond: 0,
            loops: 0,
            calls: 0,
            subst_status: None,
            traps: BTreeMap::new(),
            locals: Vec::new(),
            getopts_ind: 1,
            getopts_pos: 1,
        }
    }

    /// Ends the shell: runs the EXIT trap first (once).
    fn exit(&mut self, code: i32) -> ! {
        if let Some(t) = self.traps.remove(&0) {
            let saved = self.status;
            self.status = code;
            self.run_text(&t, "trap");
            self.status = saved;
        }
        io::flush();
        process::exit(code)
    }

    /// Runs the actions of trapped signals that arrived; `$?` is kept.
    /// The last such signal, if any.
    fn run_traps(&mut self) -> Option<u32> {
        let bits = PENDING.swap(0, Ordering::SeqCst);
        if bits == 0 {
            return None;
        }
        let mut last = None;
        for sig in 1..64u32 {
            if bits & (1 << sig) == 0 {
                continue;
            }
            last = Some(sig);
            if let Some(t) = self.traps.get(&sig).cloned() {
                let saved = self.status;
                let flow = core::mem::replace(&mut self.flow, Flow::Normal);
                self.run_text(&t, "trap");
                self.flow = flow;
                self.status = saved;
            }
        }
        if last == Some(SIGINT) && self.traps.contains_key(&SIGINT) {
            // Handled by its trap: the command line goes on.
            GOT_INT.store(false, Ordering::SeqCst);
        }
        last
    }

    /// Signal dispositions of a forked child: a background one ignores
    /// SIGINT and SIGQUIT; a foreground child of an interactive shell gets
    /// the defaults back.
    fn child_signals(&mut self, background: bool) {
        if background {
            let _ = signal::signal(SIGINT, Handler::Ignore);
            let _ = signal::signal(SIGQUIT, Handler::Ignore);
        } else if self.interactive {
            for s in [SIGINT, SIGQUIT, SIGTERM] {
                let _ = signal::signal(s, Handler::Default);
            }
        }
        // Traps are not inherited: caught signals go back to the default.
        for (&sig, action) in &self.traps {
            if sig != 0 && !action.is_empty() && !(background && (sig == SIGINT || sig == SIGQUIT))
            {
                let _ = signal::signal(sig, Handler::Default);
            }
        }
        self.traps.retain(|_, a| a.is_empty());
        self.interactive = false;
        self.jobs.clear();
        self.done.clear();
    }

    /// Waits for a foreground child (through `EINTR`); its status.
    fn wait_fg(&mut self, pid: Pid) -> i32 {
        loop {
            match process::waitpid(pid, 0) {
                Ok((_, st)) => {
                    if let Some(sig) = st.signal() {
                        if sig == SIGINT {
                            if self.interactive {
                                eprintln!();
                                GOT_INT.store(true, Ordering::SeqCst);
                            }
                        } else if let Some(t) = signal_text(sig) {
                            eprintln!("{t}");
                        }
                    }
                    return status_code(st);
                }
                Err(Errno::EINTR) => {}
                Err(e) => {
                    eprintln!("sh: wait: {}", strerror(e));
                    return 127;
                }
            }
        }
    }

    /// Reports an expansion error (`${x?}`, `set -u`, arithmetic); a
    /// non-interactive shell exits (POSIX), an interactive one goes on
    /// with status 1.
    fn expansion_failed(&mut self, e: &expand::ExpandError) -> i32 {
        eprintln!("sh: {e}");
        if !self.interactive {
            self.exit(2);
        }
        1
    }

    fn interrupted(&self) -> bool {
        self.interactive && GOT_INT.load(Ordering::SeqCst)
    }

    // ---- lists ----

    fn run_list(&mut self, list: &List) -> i32 {
        for item in &list.items {
            self.run_traps();
            if self.flow != Flow::Normal {
                break;
            }
            if self.interrupted() {
                self.flow = Flow::Interrupted;
                break;
            }
            let st = if item.background {
                self.run_background(&item.and_or)
            } else {
                self.run_and_or(&item.and_or)
            };
            self.status = st;
        }
        self.run_traps();
        self.status
    }

    fn run_background(&mut self, and_or: &AndOr) -> i32 {
        match process::fork() {
            Ok(0) => {
                self.child_signals(true);
                if let Ok(null) = fs::open_fd("/dev/null", fs::O_RDONLY, 0)
                    && null != 0
                {
                    let _ = fd::dup2(null, 0);
                    let _ = fd::close(null);
                }
                let st = self.run_and_or(and_or);
                self.exit(st)
            }
            Ok(pid) => {
                self.last_bg = Some(pid);
                self.jobs.push(pid);
                if self.interactive {
                    eprintln!("[{}] {pid}", self.jobs.len());
                }
                0
            }
            Err(e) => {
                eprintln!("sh: fork: {}", strerror(e));
                2
            }
        }
    }

    fn run_and_or(&mut self, a: &AndOr) -> i32 {
        let last = a.rest.is_empty();
        if !last {
            self.cond += 1;
        }
        let mut st = self.run_pipeline(&a.first);
        if !last {
            self.cond -= 1;
        }
        for (i, (c, p)) in a.rest.iter().enumerate() {
            if self.flow != Flow::Normal {
                break;
            }
            let run = match c {
                Connector::And => st == 0,
                Connector::Or => st != 0,
            };
            if run {
                let last = i + 1 == a.rest.len();
                if !last {
                    self.cond += 1;
                }
                st = self.run_pipeline(p);
                if !last {
                    self.cond -= 1;
                }
            }
        }
        st
    }

    fn run_pipeline(&mut self, p: &Pipeline) -> i32 {
        if p.bang {
            self.cond += 1;
        }
        let st = if p.commands.len() == 1 {
            self.run_command(&p.commands[0], false)
        } else {
            self.run_stages(&p.commands)
        };
        if p.bang {
            self.cond -= 1;
        }
        let st = if p.bang { i32::from(st == 0) } else { st };
        self.status = st;
        if st != 0 && self.opt_e && self.cond == 0 && !p.bang && self.flow == Flow::Normal {
            self.exit(st);
        }
        st
    }

    /// A pipeline of several commands: one child each.
    fn run_stages(&mut self, cmds: &[Command]) -> i32 {
        let mut pids = Vec::new();
        let mut prev: Option<Fd> = None;
        let mut failed = false;
        for (i, cmd) in cmds.iter().enumerate() {
            let last = i + 1 == cmds.len();
            let pipe = if last {
                None
            } else {
                match pipe() {
                    Ok(p) => Some(p),
                    Err(e) => {
                        eprintln!("sh: pipe: {}", strerror(e));
                        failed = true;
                        break;
                    }
                }
            };
            match process::fork() {
                Ok(0) => {
                    self.child_signals(false);
                    if let Some(r) = prev {
                        let _ = fd::dup2(r, 0);
                        let _ = fd::close(r);
                    }
                    if let Some((r, w)) = pipe {
                        let _ = fd::close(r);
                        let _ = fd::dup2(w, 1);
                        let _ = fd::close(w);
                    }
                    let st = self.run_command(cmd, true);
                    self.exit(st)
                }
                Ok(pid) => pids.push(pid),
                Err(e) => {
                    eprintln!("sh: fork: {}", strerror(e));
                    failed = true;
                }
            }
            if let Some(r) = prev.take() {
                let _ = fd::close(r);
            }
            if let Some((r, w)) = pipe {
                let _ = fd::close(w);
                if failed {
                    let _ = fd::close(r);
                } else {
                    prev = Some(r);
                }
            }
            if failed {
                break;
            }
        }
        if let Some(r) = prev {
            let _ = fd::close(r);
        }
        let mut st = 0;
        for pid in pids {
            st = self.wait_fg(pid);
        }
        if failed { 2 } else { st }
    }

    // ---- commands ----

    /// Runs one command; `forked`: this process is a child made for it
    /// (a pipeline stage), so a program is exec'd without another fork.
    fn run_command(&mut self, cmd: &Command, forked: bool) -> i32 {
        if self.depth >= MAX_RUN_DEPTH {
            eprintln!("sh: commands nested too deeply");
            return 2;
        }
        self.depth += 1;
        let st = match cmd {
            Command::Simple(s) => self.run_simple(s, forked),
            Command::Compound(c, redirs) => {
                let mut saved = Vec::new();
                if self.redirect(redirs, Some(&mut saved)).is_err() {
                    self.restore(saved);
                    self.depth -= 1;
                    return 1;
                }
                let st = self.run_compound(c);
                self.restore(saved);
                st
            }
            Command::FuncDef(name, body) => {
                self.funcs.insert(name.clone(), Rc::new((**body).clone()));
                0
            }
        };
        self.depth -= 1;
        st
    }

    fn run_compound(&mut self, c: &Compound) -> i32 {
        match c {
            Compound::Brace(l) => self.run_list(l),
            Compound::Subshell(l) => match process::fork() {
                Ok(0) => {
                    self.child_signals(false);
                    let st = self.run_list(l);
                    self.exit(st)
                }
                Ok(pid) => self.wait_fg(pid),
                Err(e) => {
                    eprintln!("sh: fork: {}", strerror(e));
                    2
                }
            },
            Compound::If { arms, otherwise } => {
                for (cond, body) in arms {
                    self.cond += 1;
                    let st = self.run_list(cond);
                    self.cond -= 1;
                    if self.flow != Flow::Normal {
                        return st;
                    }
                    if st == 0 {
                        return self.run_list(body);
                    }
                }
                match otherwise {
                    Some(l) => self.run_list(l),
                    None => 0,
                }
            }
            Compound::While { until, cond, body } => {
                let mut st = 0;
                self.loops += 1;
                loop {
                    self.cond += 1;
                    let c = self.run_list(cond);
                    self.cond -= 1;
                    if self.flow != Flow::Normal || (c == 0) == *until {
                        break;
                    }
                    st = self.run_list(body);
                    if self.loop_flow() {
                        break;
                    }
                }
                self.loops -= 1;
                if self.flow == Flow::Normal {
                    self.status = st;
                }
                st
            }
            Compound::For { var, words, body } => {
                let items = match words {
                    Some(ws) => match expand::expand_words(self, ws) {
                        Ok(i) => i,
                        Err(e) => {
                            return self.expansion_failed(&e);
                        }
                    },
                    None => self.params.clone(),
                };
                let mut st = 0;
                self.loops += 1;
                for it in items {
                    self.vars.set(var, &it);
                    st = self.run_list(body);
                    if self.loop_flow() {
                        break;
                    }
                }
                self.loops -= 1;
                st
            }
            Compound::Case { word, arms } => {
                let w = match expand::expand_string(self, word) {
                    Ok(w) => w,
                    Err(e) => {
                        return self.expansion_failed(&e);
                    }
                };
                for (pats, body) in arms {
                    for p in pats {
                        let pat = match expand::expand_pattern(self, p) {
                            Ok(p) => p,
                            Err(e) => {
                                return self.expansion_failed(&e);
                            }
                        };
                        if sh::glob::matches(&pat, &w) {
                            return if body.items.is_empty() {
                                0
                            } else {
                                self.run_list(body)
                            };
                        }
                    }
                }
                0
            }
        }
    }

    /// After a loop body: handles `break`/`continue`; true to leave the
    /// loop.
    fn loop_flow(&mut self) -> bool {
        match self.flow {
            Flow::Normal => false,
            Flow::Break(n) => {
                self.flow = if n > 1 {
                    Flow::Break(n - 1)
                } else {
                    Flow::Normal
                };
                true
            }
            Flow::Continue(n) => {
                if n > 1 {
                    self.flow = Flow::Continue(n - 1);
                    true
                } else {
                    self.flow = Flow::Normal;
                    false
                }
            }
            Flow::Return | Flow::Interrupted => true,
        }
    }

    fn run_simple(&mut self, s: &Simple, forked: bool) -> i32 {
        self.subst_status = None;
        let argv = match expand::expand_words(self, &s.words) {
            Ok(a) => a,
            Err(e) => {
                return self.expansion_failed(&e);
            }
        };
        let mut assigns = Vec::new();
        for (name, w) in &s.assigns {
            match expand::expand_string(self, w) {
                Ok(v) => assigns.push((name.clone(), v)),
                Err(e) => {
                    return self.expansion_failed(&e);
                }
            }
        }
        if self.opt_x {
            let mut line = String::from("+");
            for (k, v) in &assigns {
                line.push(' ');
                line.push_str(k);
                line.push('=');
                line.push_str(&quote(v));
            }
            for a in &argv {
                line.push(' ');
                line.push_str(&quote(a));
            }
            eprintln!("{line}");
        }
        let Some(name) = argv.first().cloned() else {
            // A command of assignments only: the status of its last
            // command substitution, else 0.
            let st = self.subst_status.unwrap_or(0);
            for (k, v) in &assigns {
                self.vars.set(k, v);
            }
            let mut saved = Vec::new();
            let r = self.redirect(&s.redirects, Some(&mut saved));
            self.restore(saved);
            return if r.is_err() { 1 } else { st };
        };
        if let Some(f) = self.funcs.get(&name).cloned() {
            return self.with_temp_vars(&assigns, |sh| {
                let mut saved = Vec::new();
                if sh.redirect(&s.redirects, Some(&mut saved)).is_err() {
                    sh.restore(saved);
                    return 1;
                }
                let old = core::mem::replace(&mut sh.params, argv[1..].to_vec());
                sh.calls += 1;
                sh.locals.push(Vec::new());
                let st = sh.run_command(&f, false);
                for (k, v) in sh.locals.pop().unwrap_or_default().into_iter().rev() {
                    match v {
                        Some(v) => sh.vars.set(&k, &v),
                        None => sh.vars.unset(&k),
                    }
                }
                sh.calls -= 1;
                sh.params = old;
                if sh.flow == Flow::Return {
                    sh.flow = Flow::Normal;
                }
                sh.restore(saved);
                st
            });
        }
        if name == "exec" {
            return self.builtin_exec(&argv[1..], &assigns, &s.redirects);
        }
        if BUILTINS.contains(&name.as_str()) {
            // `export`, `set` and the like keep their prefix assignments
            // (special builtins); the others see them for the command only.
            let special = matches!(
                name.as_str(),
                ":" | "."
                    | "break"
                    | "continue"
                    | "eval"
                    | "exit"
                    | "export"
                    | "return"
                    | "set"
                    | "shift"
                    | "unset"
            );
            if special {
                for (k, v) in &assigns {
                    self.vars.set(k, v);
                }
            }
            let run = |sh: &mut Shell| {
                let mut saved = Vec::new();
                if sh.redirect(&s.redirects, Some(&mut saved)).is_err() {
                    sh.restore(saved);
                    return 1;
                }
                let st = sh.builtin(&name, &argv[1..]);
                io::flush();
                sh.restore(saved);
                st
            };
            return if special {
                run(self)
            } else {
                self.with_temp_vars(&assigns, run)
            };
        }
        if forked {
            if self.redirect(&s.redirects, None).is_err() {
                return 1;
            }
            let env = self.vars.environment(&assigns);
            self.exec_program(&argv, &env)
        }
        match process::fork() {
            Ok(0) => {
                self.child_signals(false);
                if self.redirect(&s.redirects, None).is_err() {
                    self.exit(1);
                }
                let env = self.vars.environment(&assigns);
                self.exec_program(&argv, &env)
            }
            Ok(pid) => self.wait_fg(pid),
            Err(e) => {
                eprintln!("sh: fork: {}", strerror(e));
                2
            }
        }
    }

    fn with_temp_vars(
        &mut self,
        assigns: &[(String, String)],
        f: impl FnOnce(&mut Shell) -> i32,
    ) -> i32 {
        let old: Vec<(String, Option<String>)> = assigns
            .iter()
            .map(|(k, _)| (k.clone(), self.vars.get(k).map(String::from)))
            .collect();
        for (k, v) in assigns {
            self.vars.set(k, v);
        }
        let st = f(self);
        for (k, v) in old.into_iter().rev() {
            match v {
                Some(v) => self.vars.set(&k, &v),
                None => self.vars.unset(&k),
            }
        }
        st
    }

    /// Execs `argv` (found through `PATH`); never returns: on failure it
    /// says why and exits 127 (not found) or 126 (found, not runnable).
    fn exec_program(&mut self, argv: &[String], env: &[String]) -> ! {
        let name = &argv[0];
        if name.is_empty() {
            eprintln!("sh: : not found");
            self.exit(127);
        }
        let path = self.vars.get("PATH").map(String::from);
        let cands = ulib::path::search(name, Some(path.as_deref().unwrap_or("/bin:/sbin")));
        let mut err = Errno::ENOENT;
        let mut found = None;
        for c in &cands {
            match process::exec(c, argv, env) {
                Errno::ENOENT if found.is_none() && fs::stat(c).is_ok_and(|m| m.is_file()) => {
                    // There, but its `#!` interpreter is not.
                    err = Errno::ENOENT;
                    found = Some(c.clone());
                }
                Errno::ENOENT | Errno::ENOTDIR => {}
                Errno::ENOEXEC => {
                    // A text file without `#!`: a script for this shell.
                    self.run_as_script(c, argv, env);
                }
                e => {
                    err = e;
                    found = Some(c.clone());
                }
            }
        }
        match found {
            None => {
                eprintln!("sh: {name}: not found");
                self.exit(127)
            }
            Some(c) if err == Errno::ENOENT => {
                eprintln!("sh: {c}: bad interpreter: {}", strerror(err));
                self.exit(126)
            }
            Some(c) => {
                eprintln!("sh: {c}: {}", strerror(err));
                self.exit(126)
            }
        }
    }

    /// Runs the file `path` as a shell script in this (child) process.
    fn run_as_script(&mut self, path: &str, argv: &[String], env: &[String]) -> ! {
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("sh: {path}: {}", strerror(e));
                self.exit(126)
            }
        };
        if is_binary(&text) {
            eprintln!("sh: {path}: cannot execute binary file");
            self.exit(126);
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        self.vars = Vars::from_env(env.iter().map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        }));
        self.funcs.clear();
        self.arg0 = path.to_string();
        self.params = argv[1..].to_vec();
        self.status = 0;
        let st = self.run_text(&text, path);
        self.exit(st)
    }

    // ---- redirections ----

    /// Applies `redirs` in order. With `save`, each descriptor changed is
    /// first copied there (for [`Shell::restore`]). An error is reported
    /// and stops the rest.
    fn redirect(
        &mut self,
        redirs: &[Redirect],
        mut save: Option<&mut Vec<Saved>>,
    ) -> Result<(), ()> {
        if redirs.is_empty() {
            return Ok(());
        }
        io::flush();
        for r in redirs {
            let target = match expand::expand_string(self, &r.target) {
                Ok(t) => t,
                Err(e) => {
                    self.expansion_failed(&e);
                    return Err(());
                }
            };
            let n = r.fd.unwrap_or(r.op.default_fd()) as Fd;
            if n >= 64 {
                eprintln!("sh: {n}: bad file descriptor");
                return Err(());
            }
            if let Some(save) = save.as_deref_mut()
                && !save.iter().any(|s| s.fd == n)
            {
                let copy = match fd::fcntl(n, fd::F_DUPFD, 10) {
                    Ok(c) => {
                        let _ = fd::set_cloexec(c as Fd, true);
                        Some(c as Fd)
                    }
                    Err(_) => None,
                };
                save.push(Saved { fd: n, copy });
            }
            if r.op == RedirOp::HereDoc {
                match here_file(&target) {
                    Ok(f) => {
                        if f != n {
                            let r = fd::dup2(f, n);
                            let _ = fd::close(f);
                            if let Err(e) = r {
                                eprintln!("sh: {n}: {}", strerror(e));
                                return Err(());
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("sh: cannot make a here-document in /tmp: {}", strerror(e));
                        return Err(());
                    }
                }
                continue;
            }
            let flags = match r.op {
                RedirOp::In => fs::O_RDONLY,
                RedirOp::Out | RedirOp::Clobber => fs::O_WRONLY | fs::O_CREAT | fs::O_TRUNC,
                RedirOp::Append => fs::O_WRONLY | fs::O_CREAT | fs::O_APPEND,
                RedirOp::ReadWrite => fs::O_RDWR | fs::O_CREAT,
                RedirOp::HereDoc | RedirOp::DupIn | RedirOp::DupOut => {
                    if target == "-" {
                        let _ = fd::close(n);
                        continue;
                    }
                    let Some(m) = target.parse::<Fd>().ok().filter(|m| (0..64).contains(m)) else {
                        eprintln!("sh: {target}: bad file descriptor");
                        return Err(());
                    };
                    if m != n
                        && let Err(e) = fd::dup2(m, n)
                    {
                        eprintln!("sh: {m}: {}", strerror(e));
                        return Err(());
                    }
                    continue;
                }
            };
            match fs::open_fd(&target, flags, 0o666) {
                Ok(f) => {
                    if f != n {
                        let r = fd::dup2(f, n);
                        let _ = fd::close(f);
                        if let Err(e) = r {
                            eprintln!("sh: {n}: {}", strerror(e));
                            return Err(());
                        }
                    }
                }
                Err(e) => {
                    eprintln!("sh: cannot open {target}: {}", strerror(e));
                    return Err(());
                }
            }
        }
        Ok(())
    }

    /// Puts back descriptors saved by [`Shell::redirect`].
    fn restore(&mut self, saved: Vec<Saved>) {
        if saved.is_empty() {
            return;
        }
        io::flush();
        for s in saved.into_iter().rev() {
            match s.copy {
                Some(c) => {
                    let _ = fd::dup2(c, s.fd);
                    let _ = fd::close(c);
                }
                None => {
                    let _ = fd::close(s.fd);
                }
            }
        }
    }

    // ---- input ----

    /// Runs every command of `text` (a script, `-c`, `eval`, `.`),
    /// command by command; a syntax error stops it (status 2).
    fn run_text(&mut self, text: &str, what: &str) -> i32 {
        let mut p = Parser::new(text);
        let mut st = 0;
        loop {
            match p.next_command() {
                Ok(Some(l)) => {
                    st = self.run_list(&l);
                    if self.flow != Flow::Normal {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if what == "eval" || what == "-c" {
                        eprintln!("sh: {e}");
                    } else {
                        eprintln!("sh: {what}: line {}: {e}", p.line());
                    }
                    self.status = 2;
                    return 2;
                }
            }
        }
        st
    }

    fn prompt(&self, more: bool) {
        if more {
            eprint!("{}", self.vars.get("PS2").unwrap_or("> "));
            return;
        }
        match self.vars.get("PS1") {
            Some(p) => eprint!("{p}"),
            None => {
                let root = process::ids().is_ok_and(|i| i.euid == 0);
                eprint!("{}", if root { "# " } else { "$ " });
            }
        }
    }

    /// Reaps background children that have ended (before a prompt).
    fn reap(&mut self) {
        while !self.jobs.is_empty() {
            match process::waitpid(-1, process::WNOHANG) {
                Ok((pid, st)) if pid > 0 => {
                    self.jobs.retain(|&p| p != pid);
                    self.done.push((pid, status_code(st)));
                    if self.done.len() > 64 {
                        self.done.remove(0);
                    }
                }
                _ => break,
            }
        }
    }

    /// Reads commands from `fd` (standard input) until its end: with
    /// prompts when interactive.
    fn run_input(&mut self, fd: Fd) -> i32 {
        let mut input = Input::new(fd, isatty(fd));
        let mut text = String::new();
        loop {
            if self.interactive {
                self.reap();
                GOT_INT.store(false, Ordering::SeqCst);
                self.prompt(!text.is_empty());
            }
            let line = match input.line() {
                Ok(Some(l)) => l,
                Ok(None) => {
                    if !text.is_empty() {
                        // What is left cannot be completed.
                        if let Err(e) = Parser::new(&text).next_command() {
                            eprintln!("sh: {e}");
                            self.status = 2;
                        }
                    }
                    if self.interactive {
                        eprintln!();
                    }
                    return self.status;
                }
                Err(Errno::EINTR) => {
                    if self.interactive {
                        eprintln!();
                        text.clear();
                        input.buf.clear();
                    }
                    continue;
                }
                Err(e) => {
                    eprintln!("sh: read: {}", strerror(e));
                    return self.status;
                }
            };
            text.push_str(&line);
            if !text.ends_with('\n') {
                text.push('\n');
            }
            // Parse everything read so far; run it only once it is whole.
            let mut p = Parser::new(&text);
            let mut cmds = Vec::new();
            let mut complete = true;
            loop {
                match p.next_command() {
                    Ok(Some(l)) => cmds.push(l),
                    Ok(None) => break,
                    Err(ParseError::UnterminatedQuote) if !self.interactive => {
                        complete = false;
                        break;
                    }
                    Err(e) if e.is_incomplete() => {
                        complete = false;
                        break;
                    }
                    Err(e) => {
                        eprintln!("sh: {e}");
                        self.status = 2;
                        cmds.clear();
                        break;
                    }
                }
            }
            if !complete {
                continue;
            }
            text.clear();
            input.give_back();
            for l in &cmds {
                self.run_list(l);
                if self.flow == Flow::Interrupted {
                    // As if the command line had been killed by SIGINT.
                    self.status = 128 + SIGINT as i32;
                    break;
                }
            }
            self.flow = Flow::Normal;
            io::flush();
        }
    }
}

/// A NUL in the first 512 bytes: not a script.
fn is_binary(text: &[u8]) -> bool {
    text[..text.len().min(512)].contains(&0)
}

fn usage() -> i32 {
    eprintln!("usage: sh [-eix] [-c command [name [args...]] | file [args...]]");
    2
}

/// The program: `sh [-eix] [-c CMD [NAME [ARGS...]]]`, `sh [-eix] FILE
/// [ARGS...]`, or `sh [-eix]` reading standard input (interactive with
/// `-i` or on a terminal).
pub fn main(args: &[String]) -> i32 {
    let arg0 = args.first().cloned().unwrap_or_else(|| "sh".to_string());
    let mut sh = Shell::new(arg0);
    let mut command: Option<bool> = None;
    let mut force_interactive = false;
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if a == "-" || !(a.starts_with('-') || a.starts_with('+')) {
            break;
        }
        let on = a.starts_with('-');
        for c in a.chars().skip(1) {
            match c {
                'c' => command = Some(true),
                'i' => force_interactive = on,
                'e' => sh.opt_e = on,
                'u' => sh.opt_u = on,
                'x' => sh.opt_x = on,
                's' => {}
                _ => {
                    eprintln!("sh: -{c}: unknown option");
                    return usage();
                }
            }
        }
        i += 1;
    }
    let rest = &args[i.min(args.len())..];
    if command == Some(true) {
        let Some(cmd) = rest.first() else {
            eprintln!("sh: -c: option requires an argument");
            return usage();
        };
        if let Some(name) = rest.get(1) {
            sh.arg0 = name.clone();
        }
        sh.params = rest.get(2..).map(<[String]>::to_vec).unwrap_or_default();
        let st = sh.run_text(cmd, "-c");
        sh.exit(st);
    }
    if let Some(file) = rest.first() {
        let text = match fs::read(file) {
            Ok(t) if is_binary(&t) => {
                eprintln!("sh: {file}: cannot execute binary file");
                return 126;
            }
            Ok(t) => String::from_utf8_lossy(&t).into_owned(),
            Err(e) => {
                eprintln!("sh: cannot open {file}: {}", strerror(e));
                return 127;
            }
        };
        sh.arg0 = file.clone();
        sh.params = rest[1..].to_vec();
        let st = sh.run_text(&text, file);
        sh.exit(st);
    }
    sh.interactive = force_interactive || (isatty(0) && isatty(2));
    if sh.interactive {
        let _ = signal::signal(SIGINT, Handler::Catch(on_sigint));
        let _ = signal::signal(SIGQUIT, Handler::Ignore);
        let _ = signal::signal(SIGTERM, Handler::Ignore);
    }
    let st = sh.run_input(0);
    sh.exit(st)
}
