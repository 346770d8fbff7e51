//! The `test` / `[` builtin's expression evaluation (POSIX): the one- to
//! four-argument rules, then `!`, `(` `)`, `-a`, `-o` for longer ones.
//! Unary: `-e -f -d -b -c -p -h -L -S -r -w -x -s -z -n -t`; binary: `=`
//! `!=` `-eq -ne -lt -le -gt -ge`. Files are asked about through
//! [`Probe`] so that the rules are host-tested.

use alloc::string::{String, ToString};

/// What kind of file a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Character device.
    Char,
    /// Block device.
    Block,
    /// FIFO.
    Fifo,
    /// Symbolic link (from `lstat`).
    Link,
    /// Anything else.
    Other,
}

/// What `test` needs to know of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Its kind.
    pub kind: Kind,
    /// Its size in bytes.
    pub size: u64,
}

/// Access checked by `-r`, `-w`, `-x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Readable.
    Read,
    /// Writable.
    Write,
    /// Executable (searchable for a directory).
    Exec,
}

/// The file system as `test` sees it.
pub trait Probe {
    /// `stat` (following links); `None` if it does not exist.
    fn stat(&self, path: &str) -> Option<FileInfo>;
    /// `lstat`.
    fn lstat(&self, path: &str) -> Option<FileInfo>;
    /// Whether the caller has `a` access to `path`.
    fn access(&self, path: &str, a: Access) -> bool;
    /// Whether descriptor `fd` is a terminal.
    fn isatty(&self, fd: i32) -> bool;
}

type R = Result<bool, String>;

fn is_unary(op: &str) -> bool {
    matches!(
        op,
        "-e" | "-f"
            | "-d"
            | "-b"
            | "-c"
            | "-p"
            | "-h"
            | "-L"
            | "-S"
            | "-r"
            | "-w"
            | "-x"
            | "-s"
            | "-z"
            | "-n"
            | "-t"
    )
}

fn is_binary(op: &str) -> bool {
    matches!(
        op,
        "=" | "!=" | "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge"
    )
}

fn int(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .map_err(|_| alloc::format!("{s}: bad number"))
}

fn unary(op: &str, arg: &str, p: &dyn Probe) -> R {
    Ok(match op {
        "-z" => arg.is_empty(),
        "-n" => !arg.is_empty(),
        "-e" => p.stat(arg).is_some(),
        "-f" => p.stat(arg).is_some_and(|i| i.kind == Kind::File),
        "-d" => p.stat(arg).is_some_and(|i| i.kind == Kind::Dir),
        "-b" => p.stat(arg).is_some_and(|i| i.kind == Kind::Block),
        "-c" => p.stat(arg).is_some_and(|i| i.kind == Kind::Char),
        "-p" => p.stat(arg).is_some_and(|i| i.kind == Kind::Fifo),
        "-h" | "-L" => p.lstat(arg).is_some_and(|i| i.kind == Kind::Link),
        "-S" => false,
        "-s" => p.stat(arg).is_some_and(|i| i.size > 0),
        "-r" => p.access(arg, Access::Read),
        "-w" => p.access(arg, Access::Write),
        "-x" => p.access(arg, Access::Exec),
        "-t" => {
            let fd = int(arg)?;
            i32::try_from(fd).is_ok_and(|fd| p.isatty(fd))
        }
        _ => return Err(alloc::format!("{op}: unknown operator")),
    })
}

fn binary(a: &str, op: &str, b: &str) -> R {
    Ok(match op {
        "=" => a == b,
        "!=" => a != b,
        _ => {
            let (x, y) = (int(a)?, int(b)?);
            match op {
                "-eq" => x == y,
                "-ne" => x != y,
                "-lt" => x < y,
                "-le" => x <= y,
                "-gt" => x > y,
                "-ge" => x >= y,
                _ => return Err(alloc::format!("{op}: unknown operator")),
            }
        }
    })
}

/// Evaluates `test ARGS...` (for `[`, without the closing `]`): the
/// result, or the error message (exit status 2).
pub fn test(args: &[String], p: &dyn Probe) -> R {
    let a: alloc::vec::Vec<&str> = args.iter().map(String::as_str).collect();
    eval(&a, p)
}

fn eval(a: &[&str], p: &dyn Probe) -> R {
    match a.len() {
        0 => Ok(false),
        1 => Ok(!a[0].is_empty()),
        2 => {
            if a[0] == "!" {
                Ok(a[1].is_empty())
            } else if is_unary(a[0]) {
                unary(a[0], a[1], p)
            } else {
                Err(alloc::format!("{}: unary operator expected", a[0]))
            }
        }
        3 => {
            if is_binary(a[1]) {
                binary(a[0], a[1], a[2])
            } else if a[1] == "-a" || a[1] == "-o" {
                let (x, y) = (!a[0].is_empty(), !a[2].is_empty());
                Ok(if a[1] == "-a" { x && y } else { x || y })
            } else if a[0] == "!" {
                eval(&a[1..], p).map(|v| !v)
            } else if a[0] == "(" && a[2] == ")" {
                Ok(!a[1].is_empty())
            } else {
                Err(alloc::format!("{}: binary operator expected", a[1]))
            }
        }
        4 if a[0] == "!" => eval(&a[1..], p).map(|v| !v),
        4 if a[0] == "(" && a[3] == ")" => eval(&a[1..3], p),
        _ => {
            let mut g = General {
                a,
                i: 0,
                p,
                depth: 0,
            };
            let v = g.or()?;
            if g.i < a.len() {
                return Err(alloc::format!("{}: unexpected argument", a[g.i]));
            }
            Ok(v)
        }
    }
}

struct General<'a> {
    a: &'a [&'a str],
    i: usize,
    p: &'a dyn Probe,
    depth: usize,
}

impl<'a> General<'a> {
    fn next(&self) -> Option<&'a str> {
        self.a.get(self.i).copied()
    }

    fn or(&mut self) -> R {
        let mut v = self.and()?;
        while self.next() == Some("-o") {
            self.i += 1;
            let w = self.and()?;
            v = v || w;
        }
        Ok(v)
    }

    fn and(&mut self) -> R {
        let mut v = self.not()?;
        while self.next() == Some("-a") {
            self.i += 1;
            let w = self.not()?;
            v = v && w;
        }
        Ok(v)
    }

    fn not(&mut self) -> R {
        self.depth += 1;
        if self.depth > 200 {
            return Err("expression nested too deeply".to_string());
        }
        let r = if self.next() == Some("!") {
            self.i += 1;
            self.not().map(|v| !v)
        } else {
            self.primary()
        };
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> R {
        let Some(x) = self.next() else {
            return Err("argument expected".to_string());
        };
        if x == "(" {
            self.i += 1;
            let v = self.or()?;
            if self.next() != Some(")") {
                return Err("')' expected".to_string());
            }
            self.i += 1;
            return Ok(v);
        }
        if let Some(op) = self.a.get(self.i + 1)
            && is_binary(op)
            && let Some(b) = self.a.get(self.i + 2)
        {
            self.i += 3;
            return binary(x, op, b);
        }
        if is_unary(x)
            && let Some(arg) = self.a.get(self.i + 1)
        {
            self.i += 2;
            return unary(x, arg, self.p);
        }
        self.i += 1;
        Ok(!x.is_empty())
    }
}
