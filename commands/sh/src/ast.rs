//! The syntax tree the parser ([`crate::parse`]) builds and the executor
//! walks.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// A sequence of and-or lists (separated by `;`, `&` or newlines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    /// Each and-or list and whether it runs in the background (`&`).
    pub items: Vec<Item>,
}

/// One and-or list of a [`List`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The and-or list.
    pub and_or: AndOr,
    /// Ended by `&`: runs in the background.
    pub background: bool,
}

/// `p1 && p2 || p3 ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// The others, each with the operator before it.
    pub rest: Vec<(Connector, Pipeline)>,
}

/// `&&` or `||`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    /// `&&`: run if the previous succeeded.
    And,
    /// `||`: run if the previous failed.
    Or,
}

/// `[!] c1 | c2 | ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// Led by `!`: the status is negated.
    pub bang: bool,
    /// The commands (at least one).
    pub commands: Vec<Command>,
}

/// One command of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Assignments, words and redirections.
    Simple(Simple),
    /// A compound command with its redirections.
    Compound(Compound, Vec<Redirect>),
    /// `name() compound-command`.
    FuncDef(String, Box<Command>),
}

/// A simple command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Simple {
    /// `NAME=value` prefixes.
    pub assigns: Vec<(String, Word)>,
    /// The command name and arguments (before expansion).
    pub words: Vec<Word>,
    /// Redirections, in order.
    pub redirects: Vec<Redirect>,
}

/// Compound commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compound {
    /// `{ list; }`.
    Brace(List),
    /// `( list )`: runs in a child process.
    Subshell(List),
    /// `if c1; then b1; elif c2; then b2; else b3; fi`.
    If {
        /// (condition, body) pairs: the `if` and each `elif`.
        arms: Vec<(List, List)>,
        /// The `else` body.
        otherwise: Option<List>,
    },
    /// `while c; do b; done` (or `until`).
    While {
        /// `until`: loop while the condition fails.
        until: bool,
        /// The condition.
        cond: List,
        /// The body.
        body: List,
    },
    /// `for var [in words]; do body; done`.
    For {
        /// The loop variable.
        var: String,
        /// The words (`None`: the positional parameters).
        words: Option<Vec<Word>>,
        /// The body.
        body: List,
    },
    /// `case word in pattern) list;; ... esac`.
    Case {
        /// The word matched.
        word: Word,
        /// Each item's patterns and list.
        arms: Vec<(Vec<Word>, List)>,
    },
}

/// A redirection `[n]op target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The descriptor (`None`: the operator's default, 0 or 1).
    pub fd: Option<u32>,
    /// The operator.
    pub op: RedirOp,
    /// The file name, or descriptor number / `-` for the dup forms.
    pub target: Word,
}

/// Redirection operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirOp {
    /// `<`.
    In,
    /// `>`.
    Out,
    /// `>|`.
    Clobber,
    /// `>>`.
    Append,
    /// `<>`.
    ReadWrite,
    /// `<&`.
    DupIn,
    /// `>&`.
    DupOut,
    /// `<<` / `<<-`: the target is the document's text (the tabs of `<<-`
    /// already removed; quoted when the delimiter was).
    HereDoc,
}

impl RedirOp {
    /// The descriptor used when none is given.
    pub fn default_fd(self) -> u32 {
        match self {
            RedirOp::In | RedirOp::ReadWrite | RedirOp::DupIn | RedirOp::HereDoc => 0,
            _ => 1,
        }
    }
}

/// A word before expansion: its pieces in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word {
    /// The pieces.
    pub parts: Vec<Part>,
}

impl Word {
    /// A word that is one unquoted literal.
    pub fn lit(s: &str) -> Word {
        Word {
            parts: alloc::vec![Part::Lit(String::from(s))],
        }
    }

    /// The text of a word made only of unquoted literal characters (what
    /// reserved words and names must be).
    pub fn plain(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }
}

/// A piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Unquoted literal text (a leading `~` is expanded).
    Lit(String),
    /// Quoted literal text (`'...'`, `"..."` or `\c`): never split.
    Quoted(String),
    /// A parameter expansion; `true` inside double quotes.
    Param(Param, bool),
    /// A command substitution `$(...)` or `` `...` ``; `true` inside
    /// double quotes.
    Command(Box<List>, bool),
    /// An arithmetic expansion `$((...))` (its text); `true` inside double
    /// quotes.
    Arith(String, bool),
}

/// A parameter expansion `$name`, `${name}`, `${name op word}`, `${#name}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Which parameter.
    pub name: ParamName,
    /// What to do with it.
    pub op: ParamOp,
}

/// A parameter's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamName {
    /// A variable.
    Var(String),
    /// `$0`, `$1`, ... `${10}`.
    Positional(usize),
    /// `$?`, `$$`, `$#`, `$!`, `$-`, `$@`, `$*`.
    Special(char),
}

/// The operation of a braced expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamOp {
    /// The value.
    Plain,
    /// `${#name}`: the value's length in characters.
    Length,
    /// `${name%word}`, `${name%%word}`, `${name#word}`, `${name##word}`:
    /// the value without the shortest / longest suffix / prefix matching
    /// the pattern `word`.
    Trim {
        /// `#` (prefix) rather than `%` (suffix).
        prefix: bool,
        /// Doubled: the longest match.
        longest: bool,
        /// The pattern.
        word: Word,
    },
    /// `${name-word}` and friends; `colon`: an empty value counts as
    /// unset too.
    With {
        /// Which operator.
        kind: OpKind,
        /// `:` before it.
        colon: bool,
        /// The word after it.
        word: Word,
    },
}

/// `-`, `=`, `?`, `+`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// `-`: the word when unset.
    Default,
    /// `=`: assign the word when unset.
    Assign,
    /// `?`: error when unset.
    Error,
    /// `+`: the word when set.
    Alternate,
}
