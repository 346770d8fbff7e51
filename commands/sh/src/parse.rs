//! The lexer and parser: shell text to [`crate::ast`].
//!
//! Lexing is driven by the parser (a token is read when the parser asks
//! for it) because it depends on context: reserved words count only where
//! a command starts, and `$(...)` holds a whole command list, parsed in
//! place. [`Parser::next_command`] returns one complete command (a line's
//! worth, or more when a compound command spans lines) at a time, so a
//! script runs command by command and an interactive shell can ask for
//! more input when [`ParseError::is_incomplete`].
//!
//! Here-documents: the bodies of a line's `<<` redirections are read when
//! the redirection is parsed (from after the line's newline), and the
//! lexer skips them when it reaches that newline. Nesting is limited to [`MAX_DEPTH`] levels so
//! that no input can exhaust the stack.

use crate::ast::*;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Deepest nesting of compound commands, substitutions and braced
/// expansions.
pub const MAX_DEPTH: usize = 40;

/// Why text does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A `'` or `"` (or `` ` ``) without its closing partner.
    UnterminatedQuote,
    /// The text ends inside a command (`if` without `fi`, a trailing
    /// `|`): more input could complete it. The string says what was
    /// expected.
    Incomplete(String),
    /// A token where it cannot be.
    Unexpected(String),
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A malformed `${...}`.
    BadSubstitution,
}

impl ParseError {
    /// More input could complete the command (an interactive shell reads
    /// another line).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, ParseError::Incomplete(_))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnterminatedQuote => write!(f, "syntax error: unterminated quote"),
            ParseError::Incomplete(what) => {
                write!(f, "syntax error: unexpected end of file (expecting {what})")
            }
            ParseError::Unexpected(t) => write!(f, "syntax error: unexpected {t}"),
            ParseError::TooDeep => write!(f, "syntax error: nested too deeply"),
            ParseError::BadSubstitution => write!(f, "syntax error: bad substitution"),
        }
    }
}

type Result<T> = core::result::Result<T, ParseError>;

/// Operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `&&`
    AndIf,
    /// `||`
    OrIf,
    /// `;;`
    DSemi,
    /// `;`
    Semi,
    /// `&`
    Amp,
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// A redirection operator.
    Redir(RedirOp),
    /// `<<` / `<<-` (`true`: leading tabs removed)
    HereDoc(bool),
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::AndIf => "&&",
            Op::OrIf => "||",
            Op::DSemi => ";;",
            Op::Semi => ";",
            Op::Amp => "&",
            Op::Pipe => "|",
            Op::LParen => "(",
            Op::RParen => ")",
            Op::HereDoc(false) => "<<",
            Op::HereDoc(true) => "<<-",
            Op::Redir(r) => match r {
                RedirOp::In => "<",
                RedirOp::Out => ">",
                RedirOp::Clobber => ">|",
                RedirOp::Append => ">>",
                RedirOp::ReadWrite => "<>",
                RedirOp::DupIn => "<&",
                RedirOp::DupOut => ">&",
                RedirOp::HereDoc => "<<",
            },
        }
    }
}

/// Tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(Word),
    IoNumber(u32),
    Op(Op),
    Newline,
    Eof,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => match w.plain() {
            Some(s) => alloc::format!("'{s}'"),
            None => "word".to_string(),
        },
        Tok::IoNumber(n) => alloc::format!("'{n}'"),
        Tok::Op(o) => alloc::format!("'{}'", o.text()),
        Tok::Newline => "newline".to_string(),
        Tok::Eof => "end of file".to_string(),
    }
}

const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "{",
    "}", "!", "in",
];

/// A valid variable name: a letter or `_`, then letters, digits, `_`.
pub fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
    )
}

/// The parser over one text.
#[derive(Debug)]
pub struct Parser {
    src: Vec<char>,
    pos: usize,
    peeked: Option<Tok>,
    depth: usize,
    /// Where the text goes on after the here-documents of the current
    /// line (their bodies follow its newline).
    heredoc_end: Option<usize>,
}

/// Parses all of `text` into one list (for `sh -c` and tests).
pub fn parse(text: &str) -> Result<List> {
    let mut p = Parser::new(text);
    let mut all = List::default();
    while let Some(l) = p.next_command()? {
        all.items.extend(l.items);
    }
    Ok(all)
}

impl Parser {
    /// A parser over `text`.
    pub fn new(text: &str) -> Parser {
        Parser {
            src: text.chars().collect(),
            pos: 0,
            peeked: None,
            depth: 0,
            heredoc_end: None,
        }
    }

    /// The line (from 1) the parser has reached: where an error was found.
    pub fn line(&self) -> usize {
        let end = self.pos.min(self.src.len());
        1 + self.src[..end].iter().filter(|&&c| c == '\n').count()
    }

    /// The next complete command (one line's list, or more lines when a
    /// compound command spans them); `None` at the end of the text.
    pub fn next_command(&mut self) -> Result<Option<List>> {
        loop {
            match self.peek()? {
                Tok::Newline => {
                    self.take()?;
                }
                Tok::Eof => return Ok(None),
                _ => break,
            }
        }
        let mut list = List::default();
        loop {
            let and_or = self.and_or()?;
            let background = match self.peek()? {
                Tok::Op(Op::Amp) => {
                    self.take()?;
                    true
                }
                Tok::Op(Op::Semi) => {
                    self.take()?;
                    false
                }
                Tok::Newline => {
                    self.take()?;
                    list.items.push(Item {
                        and_or,
                        background: false,
                    });
                    return Ok(Some(list));
                }
                Tok::Eof => {
                    list.items.push(Item {
                        and_or,
                        background: false,
                    });
                    return Ok(Some(list));
                }
                t => return Err(ParseError::Unexpected(describe(t))),
            };
            list.items.push(Item { and_or, background });
            match self.peek()? {
                Tok::Newline => {
                    self.take()?;
                    return Ok(Some(list));
                }
                Tok::Eof => return Ok(Some(list)),
                _ => {}
            }
        }
    }

    // ---- tokens ----

    fn peek(&mut self) -> Result<&Tok> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().unwrap_or(&Tok::Eof))
    }

    fn take(&mut self) -> Result<Tok> {
        self.peek()?;
        Ok(self.peeked.take().unwrap_or(Tok::Eof))
    }

    /// The peeked token is the reserved word `w` (unquoted).
    fn at_reserved(&mut self, w: &str) -> Result<bool> {
        Ok(matches!(self.peek()?, Tok::Word(x) if x.plain() == Some(w)))
    }

    fn expect_reserved(&mut self, w: &str) -> Result<()> {
        if self.at_reserved(w)? {
            self.take()?;
            return Ok(());
        }
        Err(self.unexpected(&alloc::format!("'{w}'")))
    }

    /// The error for the peeked token when `wanted` was expected.
    fn unexpected(&mut self, wanted: &str) -> ParseError {
        match self.peek() {
            Ok(Tok::Eof) => ParseError::Incomplete(wanted.to_string()),
            Ok(t) => ParseError::Unexpected(describe(t)),
            Err(e) => e,
        }
    }

    fn skip_newlines(&mut self) -> Result<()> {
        while *self.peek()? == Tok::Newline {
            self.take()?;
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ---- grammar ----

    /// A list inside a compound command: and-or lists separated by `;`,
    /// `&` and newlines, up to (not including) one of the reserved words
    /// `ends` or a `)` / `;;`. Must not be empty.
    fn compound_list(&mut self, ends: &[&str], wanted: &str) -> Result<List> {
        let mut list = List::default();
        loop {
            self.skip_newlines()?;
            let stop = match self.peek()? {
                Tok::Word(w) => w.plain().is_some_and(|p| ends.contains(&p)),
                Tok::Op(Op::RParen | Op::DSemi) | Tok::Eof => true,
                _ => false,
            };
            if stop {
                break;
            }
            let and_or = self.and_or()?;
            let (background, separated) = match self.peek()? {
                Tok::Op(Op::Amp) => (true, true),
                Tok::Op(Op::Semi) | Tok::Newline => (false, true),
                _ => (false, false),
            };
            if separated {
                self.take()?;
            }
            list.items.push(Item { and_or, background });
            if !separated {
                // Without a separator only the end may follow.
                let end = match self.peek()? {
                    Tok::Word(w) => w.plain().is_some_and(|p| ends.contains(&p)),
                    Tok::Op(Op::RParen | Op::DSemi) | Tok::Eof => true,
                    _ => false,
                };
                if !end {
                    return Err(self.unexpected(wanted));
                }
                break;
            }
        }
        if list.items.is_empty() {
            return Err(self.unexpected(wanted));
        }
        Ok(list)
    }

    fn and_or(&mut self) -> Result<AndOr> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let c = match self.peek()? {
                Tok::Op(Op::AndIf) => Connector::And,
                Tok::Op(Op::OrIf) => Connector::Or,
                _ => break,
            };
            self.take()?;
            self.skip_newlines()?;
            rest.push((c, self.pipeline()?));
        }
        Ok(AndOr { first, rest })
    }

    fn pipeline(&mut self) -> Result<Pipeline> {
        let mut bang = false;
        if self.at_reserved("!")? {
            self.take()?;
            bang = true;
        }
        let mut commands = alloc::vec![self.command()?];
        while *self.peek()? == Tok::Op(Op::Pipe) {
            self.take()?;
            self.skip_newlines()?;
            commands.push(self.command()?);
        }
        Ok(Pipeline { bang, commands })
    }

    fn command(&mut self) -> Result<Command> {
        self.enter()?;
        let r = self.command_inner();
        self.leave();
        r
    }

    fn command_inner(&mut self) -> Result<Command> {
        let compound = match self.peek()? {
            Tok::Word(w) => match w.plain() {
                Some("if") => Some(self.if_clause()?),
                Some("while") => Some(self.while_clause(false)?),
                Some("until") => Some(self.while_clause(true)?),
                Some("for") => Some(self.for_clause()?),
                Some("case") => Some(self.case_clause()?),
                Some("{") => {
                    self.take()?;
                    let l = self.compound_list(&["}"], "'}'")?;
                    self.expect_reserved("}")?;
                    Some(Compound::Brace(l))
                }
                Some(r) if RESERVED.contains(&r) && r != "in" => {
                    return Err(ParseError::Unexpected(alloc::format!("'{r}'")));
                }
                _ => None,
            },
            Tok::Op(Op::LParen) => {
                self.take()?;
                let l = self.compound_list(&[], "')'")?;
                if self.take()? != Tok::Op(Op::RParen) {
                    return Err(ParseError::Incomplete("')'".to_string()));
                }
                Some(Compound::Subshell(l))
            }
            Tok::Eof => return Err(ParseError::Incomplete("a command".to_string())),
            Tok::IoNumber(_) | Tok::Op(Op::Redir(_) | Op::HereDoc(_)) => None,
            t => return Err(ParseError::Unexpected(describe(t))),
        };
        if let Some(c) = compound {
            let mut redirects = Vec::new();
            while let Some(r) = self.redirect()? {
                redirects.push(r);
            }
            return Ok(Command::Compound(c, redirects));
        }
        self.simple()
    }

    /// The body of a here-document whose delimiter is `delim`: the lines
    /// after the current line's newline (and after the bodies already read
    /// for it) up to a line that is the delimiter.
    fn here_document(&mut self, delim: &Word, strip: bool) -> Result<Word> {
        let mut end_text = String::new();
        let mut quoted = false;
        for p in &delim.parts {
            match p {
                Part::Lit(s) => end_text.push_str(s),
                Part::Quoted(s) => {
                    quoted = true;
                    end_text.push_str(s);
                }
                _ => {
                    return Err(ParseError::Unexpected(
                        "here-document delimiter".to_string(),
                    ));
                }
            }
        }
        let mut start = match self.heredoc_end {
            Some(e) => e,
            None => match self.src[self.pos..].iter().position(|&c| c == '\n') {
                Some(i) => self.pos + i + 1,
                None => {
                    return Err(ParseError::Incomplete(alloc::format!(
                        "here-document ending with '{end_text}'"
                    )));
                }
            },
        };
        let mut body = String::new();
        loop {
            if start >= self.src.len() {
                return Err(ParseError::Incomplete(alloc::format!(
                    "here-document ending with '{end_text}'"
                )));
            }
            let line_end = self.src[start..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(self.src.len(), |i| start + i);
            let mut line = &self.src[start..line_end];
            if strip {
                while line.first() == Some(&'\t') {
                    line = &line[1..];
                }
            }
            let next = (line_end + 1).min(self.src.len());
            if line.iter().copied().eq(end_text.chars()) {
                self.heredoc_end = Some(next);
                break;
            }
            body.extend(line.iter());
            body.push('\n');
            start = next;
            if line_end >= self.src.len() {
                return Err(ParseError::Incomplete(alloc::format!(
                    "here-document ending with '{end_text}'"
                )));
            }
        }
        if quoted {
            return Ok(Word {
                parts: alloc::vec![Part::Quoted(body)],
            });
        }
        self.enter()?;
        let mut sub = Parser::new(&body);
        sub.depth = self.depth;
        let r = sub.here_parts();
        self.leave();
        Ok(Word { parts: r? })
    }

    /// A here-document's text as parts: `$` and `` ` `` expand, `\`
    /// escapes only `$`, `` ` ``, `\` and newline; nothing is split.
    fn here_parts(&mut self) -> Result<Vec<Part>> {
        let mut parts = Vec::new();
        while let Some(c) = self.cur() {
            self.pos += 1;
            match c {
                '\\' => match self.cur() {
                    Some('\n') => self.pos += 1,
                    Some(n @ ('$' | '`' | '\\')) => {
                        self.pos += 1;
                        push_quoted(&mut parts, n);
                    }
                    _ => push_quoted(&mut parts, '\\'),
                },
                '$' => match self.dollar(true)? {
                    Part::Lit(s) => s.chars().for_each(|ch| push_quoted(&mut parts, ch)),
                    p => parts.push(p),
                },
                '`' => {
                    let l = self.backquote()?;
                    parts.push(Part::Command(Box::new(l), true));
                }
                c => push_quoted(&mut parts, c),
            }
        }
        if parts.is_empty() {
            parts.push(Part::Quoted(String::new()));
        }
        Ok(parts)
    }

    /// A redirection if one is next.
    fn redirect(&mut self) -> Result<Option<Redirect>> {
        let fd = match self.peek()? {
            Tok::IoNumber(n) => Some(*n),
            Tok::Op(Op::Redir(_) | Op::HereDoc(_)) => None,
            _ => return Ok(None),
        };
        if fd.is_some() {
            self.take()?;
        }
        let op = match self.take()? {
            Tok::Op(Op::Redir(op)) => op,
            Tok::Op(Op::HereDoc(strip)) => {
                let delim = match self.take()? {
                    Tok::Word(w) => w,
                    t => return Err(ParseError::Unexpected(describe(&t))),
                };
                let target = self.here_document(&delim, strip)?;
                return Ok(Some(Redirect {
                    fd,
                    op: RedirOp::HereDoc,
                    target,
                }));
            }
            t => return Err(ParseError::Unexpected(describe(&t))),
        };
        match self.take()? {
            Tok::Word(target) => Ok(Some(Redirect { fd, op, target })),
            t => Err(ParseError::Unexpected(describe(&t))),
        }
    }

    fn simple(&mut self) -> Result<Command> {
        let mut s = Simple::default();
        loop {
            if let Some(r) = self.redirect()? {
                s.redirects.push(r);
                continue;
            }
            let Tok::Word(w) = self.peek()? else {
                break;
            };
            let w = w.clone();
            self.take()?;
            if s.words.is_empty() {
                if let Some(a) = split_assignment(&w) {
                    s.assigns.push(a);
                    continue;
                }
                // `name()`: a function definition.
                if s.assigns.is_empty()
                    && s.redirects.is_empty()
                    && *self.peek()? == Tok::Op(Op::LParen)
                {
                    let Some(name) = w.plain().filter(|n| is_name(n)) else {
                        return Err(ParseError::Unexpected("'('".to_string()));
                    };
                    let name = name.to_string();
                    self.take()?;
                    if self.take()? != Tok::Op(Op::RParen) {
                        return Err(ParseError::Unexpected("'(' (expecting ')')".to_string()));
                    }
                    self.skip_newlines()?;
                    let body = self.command()?;
                    if !matches!(body, Command::Compound(..)) {
                        return Err(ParseError::Unexpected(
                            "function body (expecting a compound command)".to_string(),
                        ));
                    }
                    return Ok(Command::FuncDef(name, Box::new(body)));
                }
            }
            s.words.push(w);
        }
        if s.words.is_empty() && s.assigns.is_empty() && s.redirects.is_empty() {
            let t = self.peek()?.clone();
            return Err(match t {
                Tok::Eof => ParseError::Incomplete("a command".to_string()),
                t => ParseError::Unexpected(describe(&t)),
            });
        }
        Ok(Command::Simple(s))
    }

    fn if_clause(&mut self) -> Result<Compound> {
        self.take()?; // if
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.compound_list(&["then"], "'then'")?;
            self.expect_reserved("then")?;
            let body = self.compound_list(&["elif", "else", "fi"], "'fi'")?;
            arms.push((cond, body));
            if self.at_reserved("elif")? {
                self.take()?;
                continue;
            }
            if self.at_reserved("else")? {
                self.take()?;
                otherwise = Some(self.compound_list(&["fi"], "'fi'")?);
            }
            self.expect_reserved("fi")?;
            return Ok(Compound::If { arms, otherwise });
        }
    }

    fn while_clause(&mut self, until: bool) -> Result<Compound> {
        self.take()?;
        let cond = self.compound_list(&["do"], "'do'")?;
        let body = self.do_group()?;
        Ok(Compound::While { until, cond, body })
    }

    fn do_group(&mut self) -> Result<List> {
        self.expect_reserved("do")?;
        let body = self.compound_list(&["done"], "'done'")?;
        self.expect_reserved("done")?;
        Ok(body)
    }

    fn for_clause(&mut self) -> Result<Compound> {
        self.take()?; // for
        let var = match self.take()? {
            Tok::Word(w) => match w.plain().filter(|n| is_name(n)) {
                Some(n) => n.to_string(),
                None => return Err(ParseError::Unexpected("'for' variable name".to_string())),
            },
            Tok::Eof => return Err(ParseError::Incomplete("a name".to_string())),
            t => return Err(ParseError::Unexpected(describe(&t))),
        };
        self.skip_newlines()?;
        let mut words = None;
        if self.at_reserved("in")? {
            self.take()?;
            let mut ws = Vec::new();
            loop {
                match self.take()? {
                    Tok::Word(w) => ws.push(w),
                    Tok::Op(Op::Semi) | Tok::Newline => break,
                    Tok::Eof => return Err(ParseError::Incomplete("'do'".to_string())),
                    t => return Err(ParseError::Unexpected(describe(&t))),
                }
            }
            words = Some(ws);
        } else if *self.peek()? == Tok::Op(Op::Semi) {
            self.take()?;
        }
        self.skip_newlines()?;
        let body = self.do_group()?;
        Ok(Compound::For { var, words, body })
    }

    fn case_clause(&mut self) -> Result<Compound> {
        self.take()?; // case
        let word = match self.take()? {
            Tok::Word(w) => w,
            Tok::Eof => return Err(ParseError::Incomplete("a word".to_string())),
            t => return Err(ParseError::Unexpected(describe(&t))),
        };
        self.skip_newlines()?;
        self.expect_reserved("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines()?;
            if self.at_reserved("esac")? {
                self.take()?;
                return Ok(Compound::Case { word, arms });
            }
            if *self.peek()? == Tok::Op(Op::LParen) {
                self.take()?;
            }
            let mut pats = Vec::new();
            loop {
                match self.take()? {
                    Tok::Word(w) => pats.push(w),
                    Tok::Eof => return Err(ParseError::Incomplete("')'".to_string())),
                    t => return Err(ParseError::Unexpected(describe(&t))),
                }
                match self.take()? {
                    Tok::Op(Op::Pipe) => continue,
                    Tok::Op(Op::RParen) => break,
                    Tok::Eof => return Err(ParseError::Incomplete("')'".to_string())),
                    t => return Err(ParseError::Unexpected(describe(&t))),
                }
            }
            self.skip_newlines()?;
            let body = if *self.peek()? == Tok::Op(Op::DSemi) || self.at_reserved("esac")? {
                List::default()
            } else {
                self.compound_list(&["esac"], "'esac'")?
            };
            arms.push((pats, body));
            self.skip_newlines()?;
            match self.peek()? {
                Tok::Op(Op::DSemi) => {
                    self.take()?;
                }
                Tok::Word(w) if w.plain() == Some("esac") => {}
                _ => return Err(self.unexpected("'esac'")),
            }
        }
    }

    // ---- lexing ----

    fn cur(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn at(&self, off: usize) -> Option<char> {
        self.src.get(self.pos + off).copied()
    }

    fn lex(&mut self) -> Result<Tok> {
        loop {
            match self.cur() {
                Some(' ' | '\t' | '\r') => self.pos += 1,
                Some('\\') if self.at(1) == Some('\n') => self.pos += 2,
                Some('#') => {
                    while self.cur().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.cur() else {
            return Ok(Tok::Eof);
        };
        let two = |p: &Parser, s: &str| {
            let mut it = s.chars();
            it.next() == p.cur() && it.next() == p.at(1)
        };
        let op = |p: &mut Parser, n: usize, op: Op| {
            p.pos += n;
            Ok(Tok::Op(op))
        };
        match c {
            '\n' => {
                // The here-documents of this line follow it.
                self.pos = match self.heredoc_end.take() {
                    Some(e) if e > self.pos => e,
                    _ => self.pos + 1,
                };
                Ok(Tok::Newline)
            }
            '&' if two(self, "&&") => op(self, 2, Op::AndIf),
            '&' => op(self, 1, Op::Amp),
            '|' if two(self, "||") => op(self, 2, Op::OrIf),
            '|' => op(self, 1, Op::Pipe),
            ';' if two(self, ";;") => op(self, 2, Op::DSemi),
            ';' => op(self, 1, Op::Semi),
            '(' => op(self, 1, Op::LParen),
            ')' => op(self, 1, Op::RParen),
            '<' if two(self, "<<") && self.at(2) == Some('-') => op(self, 3, Op::HereDoc(true)),
            '<' if two(self, "<<") => op(self, 2, Op::HereDoc(false)),
            '<' if two(self, "<&") => op(self, 2, Op::Redir(RedirOp::DupIn)),
            '<' if two(self, "<>") => op(self, 2, Op::Redir(RedirOp::ReadWrite)),
            '<' => op(self, 1, Op::Redir(RedirOp::In)),
            '>' if two(self, ">>") => op(self, 2, Op::Redir(RedirOp::Append)),
            '>' if two(self, ">&") => op(self, 2, Op::Redir(RedirOp::DupOut)),
            '>' if two(self, ">|") => op(self, 2, Op::Redir(RedirOp::Clobber)),
            '>' => op(self, 1, Op::Redir(RedirOp::Out)),
            _ => {
                let w = self.word()?;
                if let Some(p) = w.plain()
                    && !p.is_empty()
                    && p.len() <= 4
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && matches!(self.cur(), Some('<' | '>'))
                    && let Ok(n) = p.parse::<u32>()
                {
                    return Ok(Tok::IoNumber(n));
                }
                Ok(Tok::Word(w))
            }
        }
    }

    /// A word, from the current (non-blank, non-operator) character.
    fn word(&mut self) -> Result<Word> {
        let mut parts = Vec::new();
        while let Some(c) = self.cur() {
            if is_meta(c) {
                break;
            }
            self.pos += 1;
            match c {
                '\\' => match self.cur() {
                    Some('\n') => self.pos += 1,
                    Some(n) => {
                        self.pos += 1;
                        push_quoted(&mut parts, n);
                    }
                    None => push_lit(&mut parts, '\\'),
                },
                '\'' => {
                    let mut s = String::new();
                    loop {
                        match self.cur() {
                            None => return Err(ParseError::UnterminatedQuote),
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(ch) => {
                                s.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                    parts.push(Part::Quoted(s));
                }
                '"' => {
                    let inner = self.double_quoted()?;
                    if inner.is_empty() {
                        parts.push(Part::Quoted(String::new()));
                    }
                    parts.extend(inner);
                }
                '$' => {
                    let p = self.dollar(false)?;
                    match p {
                        Part::Lit(s) => s.chars().for_each(|ch| push_lit(&mut parts, ch)),
                        p => parts.push(p),
                    }
                }
                '`' => {
                    let l = self.backquote()?;
                    parts.push(Part::Command(Box::new(l), false));
                }
                c => push_lit(&mut parts, c),
            }
        }
        Ok(Word { parts })
    }

    /// The inside of `"..."` (the opening quote read).
    fn double_quoted(&mut self) -> Result<Vec<Part>> {
        let mut parts = Vec::new();
        loop {
            let Some(c) = self.cur() else {
                return Err(ParseError::UnterminatedQuote);
            };
            self.pos += 1;
            match c {
                '"' => return Ok(parts),
                '\\' => match self.cur() {
                    Some('\n') => self.pos += 1,
                    Some(n @ ('$' | '`' | '"' | '\\')) => {
                        self.pos += 1;
                        push_quoted(&mut parts, n);
                    }
                    _ => push_quoted(&mut parts, '\\'),
                },
                '$' => match self.dollar(true)? {
                    Part::Lit(s) => s.chars().for_each(|ch| push_quoted(&mut parts, ch)),
                    p => parts.push(p),
                },
                '`' => {
                    let l = self.backquote()?;
                    parts.push(Part::Command(Box::new(l), true));
                }
                c => push_quoted(&mut parts, c),
            }
        }
    }

    /// `` `...` ``: the text up to the closing backquote (`\` escapes `` ` ``,
    /// `\` and `$`), parsed on its own.
    fn backquote(&mut self) -> Result<List> {
        let mut text = String::new();
        loop {
            let Some(c) = self.cur() else {
                return Err(ParseError::UnterminatedQuote);
            };
            self.pos += 1;
            match c {
                '`' => break,
                '\\' => match self.cur() {
                    Some(n @ ('`' | '\\' | '$')) => {
                        self.pos += 1;
                        text.push(n);
                    }
                    _ => text.push('\\'),
                },
                c => text.push(c),
            }
        }
        self.enter()?;
        let mut sub = Parser::new(&text);
        sub.depth = self.depth;
        let r = sub.list_to_end();
        self.leave();
        r
    }

    /// Every command of the text as one list.
    fn list_to_end(&mut self) -> Result<List> {
        let mut all = List::default();
        while let Some(l) = self.next_command()? {
            all.items.extend(l.items);
        }
        Ok(all)
    }

    /// After a `$`: a parameter, substitution or arithmetic expansion, or
    /// a literal `$` (as `Part::Lit("$")`).
    fn dollar(&mut self, quoted: bool) -> Result<Part> {
        let Some(c) = self.cur() else {
            return Ok(Part::Lit("$".to_string()));
        };
        match c {
            '{' => {
                self.pos += 1;
                self.enter()?;
                let r = self.braced(quoted);
                self.leave();
                r
            }
            '(' if self.at(1) == Some('(') => {
                self.pos += 2;
                self.arith(quoted)
            }
            '(' => {
                self.pos += 1;
                self.enter()?;
                let saved = self.peeked.take();
                let r = self.compound_list(&[], "')'");
                let l = match r {
                    Ok(l) => l,
                    Err(e) => {
                        self.leave();
                        return Err(e);
                    }
                };
                let close = self.take();
                self.peeked = saved;
                self.leave();
                match close? {
                    Tok::Op(Op::RParen) => Ok(Part::Command(Box::new(l), quoted)),
                    Tok::Eof => Err(ParseError::Incomplete("')'".to_string())),
                    t => Err(ParseError::Unexpected(describe(&t))),
                }
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some(ch) = self
                    .cur()
                    .filter(|ch| *ch == '_' || ch.is_ascii_alphanumeric())
                {
                    name.push(ch);
                    self.pos += 1;
                }
                Ok(Part::Param(
                    Param {
                        name: ParamName::Var(name),
                        op: ParamOp::Plain,
                    },
                    quoted,
                ))
            }
            c if c.is_ascii_digit() => {
                self.pos += 1;
                Ok(Part::Param(
                    Param {
                        name: ParamName::Positional(c as usize - '0' as usize),
                        op: ParamOp::Plain,
                    },
                    quoted,
                ))
            }
            '?' | '$' | '#' | '!' | '-' | '@' | '*' => {
                self.pos += 1;
                Ok(Part::Param(
                    Param {
                        name: ParamName::Special(c),
                        op: ParamOp::Plain,
                    },
                    quoted,
                ))
            }
            _ => Ok(Part::Lit("$".to_string())),
        }
    }

    /// `$((...))`: the text up to the matching `))`.
    fn arith(&mut self, quoted: bool) -> Result<Part> {
        let mut depth = 0usize;
        let mut text = String::new();
        loop {
            match self.cur() {
                None => return Err(ParseError::Incomplete("'))'".to_string())),
                Some(')') if depth == 0 => {
                    if self.at(1) != Some(')') {
                        return Err(ParseError::Unexpected("')' in arithmetic".to_string()));
                    }
                    self.pos += 2;
                    return Ok(Part::Arith(text, quoted));
                }
                Some(c) => {
                    if c == '(' {
                        depth += 1;
                    } else if c == ')' {
                        depth -= 1;
                    }
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `${...}` (the `{` read).
    fn braced(&mut self, quoted: bool) -> Result<Part> {
        let mut length = false;
        if self.cur() == Some('#') && !matches!(self.at(1), Some('}') | None) {
            length = true;
            self.pos += 1;
        }
        let name = match self.cur() {
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let mut n = String::new();
                while let Some(ch) = self
                    .cur()
                    .filter(|ch| *ch == '_' || ch.is_ascii_alphanumeric())
                {
                    n.push(ch);
                    self.pos += 1;
                }
                ParamName::Var(n)
            }
            Some(c) if c.is_ascii_digit() => {
                let mut n: usize = 0;
                while let Some(d) = self.cur().and_then(|ch| ch.to_digit(10)) {
                    n = n.saturating_mul(10).saturating_add(d as usize);
                    self.pos += 1;
                }
                ParamName::Positional(n)
            }
            Some(c @ ('?' | '$' | '#' | '!' | '-' | '@' | '*')) => {
                self.pos += 1;
                ParamName::Special(c)
            }
            None => return Err(ParseError::UnterminatedQuote),
            _ => return Err(ParseError::BadSubstitution),
        };
        if length {
            return match self.cur() {
                Some('}') => {
                    self.pos += 1;
                    Ok(Part::Param(
                        Param {
                            name,
                            op: ParamOp::Length,
                        },
                        quoted,
                    ))
                }
                None => Err(ParseError::UnterminatedQuote),
                _ => Err(ParseError::BadSubstitution),
            };
        }
        let colon = self.cur() == Some(':');
        if colon {
            self.pos += 1;
        }
        let kind = match self.cur() {
            Some('}') if !colon => {
                self.pos += 1;
                return Ok(Part::Param(
                    Param {
                        name,
                        op: ParamOp::Plain,
                    },
                    quoted,
                ));
            }
            Some('-') => OpKind::Default,
            Some('=') => OpKind::Assign,
            Some('?') => OpKind::Error,
            Some('+') => OpKind::Alternate,
            Some(c @ ('%' | '#')) if !colon => {
                self.pos += 1;
                let longest = self.cur() == Some(c);
                if longest {
                    self.pos += 1;
                }
                // The pattern is a pattern even inside double quotes.
                let word = self.brace_word(false)?;
                return Ok(Part::Param(
                    Param {
                        name,
                        op: ParamOp::Trim {
                            prefix: c == '#',
                            longest,
                            word,
                        },
                    },
                    quoted,
                ));
            }
            None => return Err(ParseError::UnterminatedQuote),
            _ => return Err(ParseError::BadSubstitution),
        };
        self.pos += 1;
        let word = self.brace_word(quoted)?;
        Ok(Part::Param(
            Param {
                name,
                op: ParamOp::With { kind, colon, word },
            },
            quoted,
        ))
    }

    /// The word of `${name op word}` up to the closing `}` (read). Inside
    /// double quotes its text is quoted too.
    fn brace_word(&mut self, quoted: bool) -> Result<Word> {
        let mut parts = Vec::new();
        let push = |parts: &mut Vec<Part>, c: char| {
            if quoted {
                push_quoted(parts, c)
            } else {
                push_lit(parts, c)
            }
        };
        loop {
            let Some(c) = self.cur() else {
                return Err(ParseError::UnterminatedQuote);
            };
            self.pos += 1;
            match c {
                '}' => return Ok(Word { parts }),
                '\\' => match self.cur() {
                    Some('\n') => self.pos += 1,
                    Some(n) if !quoted || matches!(n, '$' | '`' | '"' | '\\' | '}') => {
                        self.pos += 1;
                        push_quoted(&mut parts, n);
                    }
                    _ => push_quoted(&mut parts, '\\'),
                },
                '\'' if !quoted => {
                    let mut s = String::new();
                    loop {
                        match self.cur() {
                            None => return Err(ParseError::UnterminatedQuote),
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(ch) => {
                                s.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                    parts.push(Part::Quoted(s));
                }
                '"' if !quoted => {
                    let inner = self.double_quoted()?;
                    if inner.is_empty() {
                        parts.push(Part::Quoted(String::new()));
                    }
                    parts.extend(inner);
                }
                '$' => match self.dollar(quoted)? {
                    Part::Lit(s) => s.chars().for_each(|ch| push(&mut parts, ch)),
                    p => parts.push(p),
                },
                '`' => {
                    let l = self.backquote()?;
                    parts.push(Part::Command(Box::new(l), quoted));
                }
                c => push(&mut parts, c),
            }
        }
    }
}

fn push_lit(parts: &mut Vec<Part>, c: char) {
    if let Some(Part::Lit(s)) = parts.last_mut() {
        s.push(c);
    } else {
        parts.push(Part::Lit(c.to_string()));
    }
}

fn push_quoted(parts: &mut Vec<Part>, c: char) {
    if let Some(Part::Quoted(s)) = parts.last_mut() {
        s.push(c);
    } else {
        parts.push(Part::Quoted(c.to_string()));
    }
}

/// `NAME=value` as (name, value word), if `w` is an assignment.
fn split_assignment(w: &Word) -> Option<(String, Word)> {
    let Some(Part::Lit(first)) = w.parts.first() else {
        return None;
    };
    let (name, rest) = first.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    let mut parts = Vec::new();
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    parts.extend(w.parts[1..].iter().cloned());
    Some((name.to_string(), Word { parts }))
}
