//! Word expansion: tilde, parameters (`$x`, `${x:-w}`, `$@`, ...), command
//! substitution and arithmetic, then field splitting on `IFS` and
//! pathname expansion of unquoted `*`, `?`, `[` (through
//! [`Context::glob`]). Quote removal is implicit (the parser kept quoted
//! text apart).
//!
//! The shell's state is reached through [`Context`], so expansion is pure
//! and host-tested; the executor implements it (command substitution runs
//! a child there).

use crate::ast::*;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// What expansion needs from the shell.
pub trait Context {
    /// A variable's value (`None`: unset).
    fn var(&self, name: &str) -> Option<String>;
    /// Assigns a variable (`${x=w}`, arithmetic `x=1`); the error text
    /// when it cannot be.
    fn set_var(&mut self, name: &str, value: &str) -> core::result::Result<(), String>;
    /// `$0`.
    fn arg0(&self) -> String;
    /// `$1`, `$2`, ...
    fn params(&self) -> &[String];
    /// `$?`, `$$`, `$!`, `$-` (`None`: unset, as `$!` before any
    /// background command).
    fn special(&self, c: char) -> Option<String>;
    /// The output of running `list` (trailing newlines are removed by the
    /// caller).
    fn command_subst(&mut self, list: &List) -> core::result::Result<String, String>;
    /// Pathname expansion of `pattern` (see [`crate::glob::expand_path`]):
    /// the matching paths, sorted; empty keeps the word as it is (the
    /// default: no expansion).
    fn glob(&mut self, pattern: &str) -> Vec<String> {
        let _ = pattern;
        Vec::new()
    }
    /// `set -u`: expanding an unset parameter is an error.
    fn nounset(&self) -> bool {
        false
    }
}

/// Why an expansion failed (the message after `sh: `).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpandError(pub String);

impl core::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = core::result::Result<T, ExpandError>;

/// Fields being built.
struct Fields {
    /// Finished fields, each with its pattern when it needs pathname
    /// expansion.
    out: Vec<(String, Option<String>)>,
    cur: String,
    /// `cur` as a pattern: quoted characters escaped.
    pat: String,
    /// `pat` has an unquoted `*`, `?` or `[`.
    magic: bool,
    /// The current field exists (even if empty: `""`).
    have: bool,
    /// Field splitting applies (off for assignments, redirections, case).
    split: bool,
    ifs: String,
}

impl Fields {
    fn new(split: bool, ifs: String) -> Fields {
        Fields {
            out: Vec::new(),
            cur: String::new(),
            pat: String::new(),
            magic: false,
            have: false,
            split,
            ifs,
        }
    }

    /// Quoted text.
    fn push_str(&mut self, s: &str) {
        self.cur.push_str(s);
        self.pat.push_str(&crate::glob::escape(s));
        self.have = true;
    }

    /// One unquoted character (pattern characters stay active).
    fn push_char(&mut self, c: char) {
        self.cur.push(c);
        if c == '\\' {
            self.pat.push('\\');
        }
        self.pat.push(c);
        self.magic |= matches!(c, '*' | '?' | '[');
        self.have = true;
    }

    /// Unquoted literal text.
    fn push_lit(&mut self, s: &str) {
        s.chars().for_each(|c| self.push_char(c));
        self.have = true;
    }

    fn take(&mut self) -> (String, Option<String>) {
        let pat = core::mem::take(&mut self.pat);
        let magic = core::mem::replace(&mut self.magic, false);
        (core::mem::take(&mut self.cur), magic.then_some(pat))
    }

    fn end_field(&mut self) {
        if self.have {
            let f = self.take();
            self.out.push(f);
            self.have = false;
        }
    }

    fn texts(self) -> Vec<String> {
        self.out.into_iter().map(|(t, _)| t).collect()
    }

    /// An unquoted expansion's result: split on IFS.
    fn push_split(&mut self, value: &str) {
        if !self.split || self.ifs.is_empty() {
            if !value.is_empty() {
                self.push_lit(value);
            }
            return;
        }
        let mut ws_break = false;
        for c in value.chars() {
            if self.ifs.contains(c) {
                if c == ' ' || c == '\t' || c == '\n' {
                    ws_break = true;
                } else {
                    let f = self.take();
                    self.out.push(f);
                    self.have = false;
                    ws_break = false;
                }
            } else {
                if ws_break {
                    self.end_field();
                    ws_break = false;
                }
                self.push_char(c);
            }
        }
        if ws_break {
            self.end_field();
        }
    }

    /// A forced field boundary (between the words of `"$@"`).
    fn force_break(&mut self) {
        let f = self.take();
        self.out.push(f);
        self.have = false;
    }
}

fn ifs(ctx: &dyn Context) -> String {
    ctx.var("IFS").unwrap_or_else(|| " \t\n".to_string())
}

/// Expands `words` into fields (with field splitting and pathname
/// expansion): the argv of a command, or the items of `for`.
pub fn expand_words(ctx: &mut dyn Context, words: &[Word]) -> Result<Vec<String>> {
    let mut f = Fields::new(true, ifs(ctx));
    for w in words {
        expand_parts(ctx, &w.parts, &mut f, true, 0)?;
        f.end_field();
    }
    let mut out = Vec::with_capacity(f.out.len());
    for (text, pat) in f.out {
        match pat {
            Some(p) => {
                let found = ctx.glob(&p);
                if found.is_empty() {
                    out.push(text);
                } else {
                    out.extend(found);
                }
            }
            None => out.push(text),
        }
    }
    Ok(out)
}

/// Expands `word` into one string without field splitting (assignment
/// values, redirection targets, the `case` word).
pub fn expand_string(ctx: &mut dyn Context, word: &Word) -> Result<String> {
    let mut f = Fields::new(false, String::new());
    expand_parts(ctx, &word.parts, &mut f, true, 0)?;
    f.end_field();
    // `"$@"` still makes fields: joined with blanks here.
    Ok(f.texts().join(" "))
}

/// Expands a `case` pattern: quoted characters come out escaped with `\`
/// so that [`crate::glob::matches`] takes them literally.
pub fn expand_pattern(ctx: &mut dyn Context, word: &Word) -> Result<String> {
    let mut out = String::new();
    for (i, p) in word.parts.iter().enumerate() {
        match p {
            Part::Lit(s) if i == 0 && s.starts_with('~') => {
                out.push_str(&tilde(ctx, s));
            }
            Part::Lit(s) => out.push_str(s),
            Part::Quoted(s) => out.push_str(&crate::glob::escape(s)),
            p => {
                let quoted = matches!(
                    p,
                    Part::Param(_, true) | Part::Command(_, true) | Part::Arith(_, true)
                );
                let s = expand_string(
                    ctx,
                    &Word {
                        parts: alloc::vec![p.clone()],
                    },
                )?;
                if quoted {
                    out.push_str(&crate::glob::escape(&s));
                } else {
                    out.push_str(&s);
                }
            }
        }
    }
    Ok(out)
}

fn tilde(ctx: &dyn Context, s: &str) -> String {
    let rest = &s[1..];
    if (rest.is_empty() || rest.starts_with('/'))
        && let Some(home) = ctx.var("HOME")
    {
        let mut out = home;
        out.push_str(rest);
        return out;
    }
    s.to_string()
}

const MAX_EXPAND_DEPTH: usize = 40;

fn expand_parts(
    ctx: &mut dyn Context,
    parts: &[Part],
    f: &mut Fields,
    word_start: bool,
    depth: usize,
) -> Result<()> {
    if depth > MAX_EXPAND_DEPTH {
        return Err(ExpandError("expansion nested too deeply".to_string()));
    }
    for (i, p) in parts.iter().enumerate() {
        match p {
            Part::Lit(s) if i == 0 && word_start && s.starts_with('~') => {
                let t = tilde(ctx, s);
                // The home directory is not a pattern; what follows it is.
                match t.strip_suffix(&s[1..]).filter(|_| t != *s) {
                    Some(home) => {
                        f.push_str(home);
                        f.push_lit(&s[1..]);
                    }
                    None => f.push_lit(&t),
                }
            }
            Part::Lit(s) => f.push_lit(s),
            Part::Quoted(s) => f.push_str(s),
            Part::Param(param, quoted) => expand_param(ctx, param, *quoted, f, depth)?,
            Part::Command(list, quoted) => {
                let mut out = ctx.command_subst(list).map_err(ExpandError)?;
                while out.ends_with('\n') {
                    out.pop();
                }
                if *quoted {
                    f.push_str(&out);
                } else {
                    f.push_split(&out);
                }
            }
            Part::Arith(text, quoted) => {
                let v = crate::arith::eval(text, ctx).map_err(ExpandError)?;
                let s = v.to_string();
                if *quoted {
                    f.push_str(&s);
                } else {
                    f.push_split(&s);
                }
            }
        }
    }
    Ok(())
}

/// The value of a parameter (`None`: unset).
pub fn lookup(ctx: &dyn Context, name: &ParamName) -> Option<String> {
    match name {
        ParamName::Var(n) => ctx.var(n),
        ParamName::Positional(0) => Some(ctx.arg0()),
        ParamName::Positional(k) => ctx.params().get(k - 1).cloned(),
        ParamName::Special('#') => Some(ctx.params().len().to_string()),
        ParamName::Special('@' | '*') => {
            let p = ctx.params();
            (!p.is_empty()).then(|| p.join(" "))
        }
        ParamName::Special(c) => ctx.special(*c),
    }
}

/// `v` without its shortest or longest prefix or suffix matching `pat`.
pub fn trim<'a>(v: &'a str, pat: &str, prefix: bool, longest: bool) -> &'a str {
    let mut cuts: Vec<usize> = v.char_indices().map(|(i, _)| i).collect();
    cuts.push(v.len());
    // Candidate cut points, the shortest piece first.
    if prefix == longest {
        cuts.reverse();
    }
    for i in cuts {
        let (piece, rest) = if prefix {
            (&v[..i], &v[i..])
        } else {
            (&v[i..], &v[..i])
        };
        if crate::glob::matches(pat, piece) {
            return rest;
        }
    }
    v
}

fn name_text(name: &ParamName) -> String {
    match name {
        ParamName::Var(n) => n.clone(),
        ParamName::Positional(k) => k.to_string(),
        ParamName::Special(c) => c.to_string(),
    }
}

fn expand_param(
    ctx: &mut dyn Context,
    param: &Param,
    quoted: bool,
    f: &mut Fields,
    depth: usize,
) -> Result<()> {
    let value = lookup(ctx, &param.name);
    if value.is_none()
        && ctx.nounset()
        && matches!(
            param.op,
            ParamOp::Plain | ParamOp::Length | ParamOp::Trim { .. }
        )
        && !matches!(param.name, ParamName::Special('@' | '*'))
    {
        return Err(ExpandError(alloc::format!(
            "{}: parameter not set",
            name_text(&param.name)
        )));
    }
    match &param.op {
        ParamOp::Plain => {
            if let ParamName::Special(c @ ('@' | '*')) = param.name {
                let params: Vec<String> = ctx.params().to_vec();
                if quoted && c == '@' {
                    for (i, p) in params.iter().enumerate() {
                        if i > 0 {
                            f.force_break();
                        }
                        f.push_str(p);
                    }
                } else if quoted {
                    let sep = match ctx.var("IFS") {
                        None => " ".to_string(),
                        Some(s) => s.chars().next().map(|c| c.to_string()).unwrap_or_default(),
                    };
                    f.push_str(&params.join(&sep));
                } else {
                    for (i, p) in params.iter().enumerate() {
                        if i > 0 {
                            f.end_field();
                        }
                        f.push_split(p);
                    }
                }
                return Ok(());
            }
            let v = value.unwrap_or_default();
            if quoted {
                f.push_str(&v);
            } else {
                f.push_split(&v);
            }
        }
        ParamOp::Trim {
            prefix,
            longest,
            word,
        } => {
            let v = value.unwrap_or_default();
            let pat = expand_pattern(ctx, word)?;
            let t = trim(&v, &pat, *prefix, *longest);
            if quoted {
                f.push_str(t);
            } else {
                f.push_split(t);
            }
        }
        ParamOp::Length => {
            let n = match param.name {
                ParamName::Special('@' | '*') => ctx.params().len(),
                _ => value.map_or(0, |v| v.chars().count()),
            };
            f.push_str(&n.to_string());
        }
        ParamOp::With { kind, colon, word } => {
            let set = value.as_ref().is_some_and(|v| !(*colon && v.is_empty()));
            match kind {
                OpKind::Default if !set => expand_parts(ctx, &word.parts, f, false, depth + 1)?,
                OpKind::Alternate if set => expand_parts(ctx, &word.parts, f, false, depth + 1)?,
                OpKind::Alternate => {
                    if quoted {
                        f.have = true;
                    }
                }
                OpKind::Assign if !set => {
                    let ParamName::Var(n) = &param.name else {
                        return Err(ExpandError(alloc::format!(
                            "{}: cannot assign in this way",
                            name_text(&param.name)
                        )));
                    };
                    let mut sub = Fields::new(false, String::new());
                    expand_parts(ctx, &word.parts, &mut sub, false, depth + 1)?;
                    sub.end_field();
                    let v = sub.texts().join(" ");
                    ctx.set_var(n, &v).map_err(ExpandError)?;
                    if quoted {
                        f.push_str(&v);
                    } else {
                        f.push_split(&v);
                    }
                }
                OpKind::Error if !set => {
                    let mut sub = Fields::new(false, String::new());
                    expand_parts(ctx, &word.parts, &mut sub, false, depth + 1)?;
                    sub.end_field();
                    let msg = sub.texts().join(" ");
                    let msg = if msg.is_empty() {
                        if *colon {
                            "parameter null or not set".to_string()
                        } else {
                            "parameter not set".to_string()
                        }
                    } else {
                        msg
                    };
                    return Err(ExpandError(alloc::format!(
                        "{}: {msg}",
                        name_text(&param.name)
                    )));
                }
                _ => {
                    let v = value.unwrap_or_default();
                    if quoted {
                        f.push_str(&v);
                    } else {
                        f.push_split(&v);
                    }
                }
            }
        }
    }
    Ok(())
}
