//! Host tests of the lexer, parser, expansion, patterns, `test` and
//! variables.

use crate::ast::*;
use crate::expand::{self, Context};
use crate::parse::{self, ParseError, Parser};
use crate::testexpr::{self, Access, FileInfo, Kind, Probe};
use crate::vars::{Vars, quote};
use crate::{arith, builtins, glob};
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A shell state for expansion: variables, parameters, and command
/// substitution that understands `echo WORDS`.
#[derive(Default)]
struct Ctx {
    vars: BTreeMap<String, String>,
    params: Vec<String>,
    status: i32,
    nounset: bool,
}

impl Ctx {
    fn with(vars: &[(&str, &str)], params: &[&str]) -> Ctx {
        Ctx {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            params: params.iter().map(|s| s.to_string()).collect(),
            status: 0,
            nounset: false,
        }
    }
}

impl Context for Ctx {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.vars.insert(name.to_string(), value.to_string());
        Ok(())
    }
    fn arg0(&self) -> String {
        "sh".to_string()
    }
    fn params(&self) -> &[String] {
        &self.params
    }
    fn special(&self, c: char) -> Option<String> {
        match c {
            '?' => Some(self.status.to_string()),
            '$' => Some("42".to_string()),
            '-' => Some(String::new()),
            _ => None,
        }
    }
    fn nounset(&self) -> bool {
        self.nounset
    }
    fn command_subst(&mut self, list: &List) -> Result<String, String> {
        let mut out = String::new();
        for item in &list.items {
            let Command::Simple(s) = &item.and_or.first.commands[0] else {
                return Err("only simple commands".into());
            };
            let argv = expand::expand_words(self, &s.words).map_err(|e| e.0)?;
            if argv.first().map(String::as_str) == Some("echo") {
                out.push_str(&argv[1..].join(" "));
                out.push('\n');
            }
        }
        Ok(out)
    }
}

fn one(text: &str) -> Command {
    let l = parse::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(l.items.len(), 1, "{text:?}: {l:?}");
    let p = &l.items[0].and_or.first;
    assert_eq!(p.commands.len(), 1, "{text:?}");
    p.commands[0].clone()
}

fn simple(text: &str) -> Simple {
    match one(text) {
        Command::Simple(s) => s,
        c => panic!("{text:?}: not simple: {c:?}"),
    }
}

/// The fields of the first simple command of `text`, expanded in `ctx`.
fn fields_in(ctx: &mut Ctx, text: &str) -> Vec<String> {
    expand::expand_words(ctx, &simple(text).words).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn fields(text: &str) -> Vec<String> {
    fields_in(&mut Ctx::default(), text)
}

fn err(text: &str) -> ParseError {
    match parse::parse(text) {
        Ok(l) => panic!("{text:?} parsed: {l:?}"),
        Err(e) => e,
    }
}

// ---- quoting and words ----

#[test]
fn words_split_on_blanks_and_quotes_keep_them() {
    assert_eq!(fields("echo a  b\tc"), ["echo", "a", "b", "c"]);
    assert_eq!(fields("echo 'a  b' \"c  d\""), ["echo", "a  b", "c  d"]);
    assert_eq!(fields("echo a\\ b"), ["echo", "a b"]);
    assert_eq!(fields("echo 'x'\"y\"z"), ["echo", "xyz"]);
    assert_eq!(fields("echo '' \"\""), ["echo", "", ""]);
}

#[test]
fn single_quotes_are_literal_and_double_quotes_expand() {
    let mut c = Ctx::with(&[("X", "v")], &[]);
    assert_eq!(
        fields_in(&mut c, "echo '$X' \"$X\" $X"),
        ["echo", "$X", "v", "v"]
    );
    assert_eq!(fields_in(&mut c, "echo '\\n'"), ["echo", "\\n"]);
    // In double quotes a backslash escapes only $ ` " \ and newline.
    assert_eq!(
        fields_in(&mut c, r#"echo "\$X \" \\ \a""#),
        ["echo", r#"$X " \ \a"#]
    );
    assert_eq!(
        fields_in(&mut c, "echo \"a'b\" 'a\"b'"),
        ["echo", "a'b", "a\"b"]
    );
}

#[test]
fn backslash_newline_continues_a_line() {
    assert_eq!(fields("echo a\\\nb c"), ["echo", "ab", "c"]);
    assert_eq!(fields("echo a \\\n c"), ["echo", "a", "c"]);
    assert_eq!(fields("echo \"a\\\nb\""), ["echo", "ab"]);
    // A backslash at the very end stays.
    assert_eq!(fields("echo a\\"), ["echo", "a\\"]);
}

#[test]
fn comments_run_to_the_end_of_the_line_only_at_a_word_start() {
    assert_eq!(fields("echo a # b c"), ["echo", "a"]);
    assert_eq!(fields("echo a#b"), ["echo", "a#b"]);
    assert_eq!(fields("echo '#x'"), ["echo", "#x"]);
    let l = parse::parse("# only a comment\n\n   # another\necho hi # tail\n").unwrap();
    assert_eq!(l.items.len(), 1);
}

#[test]
fn reserved_words_count_only_unquoted_in_command_position() {
    assert_eq!(fields("echo if then fi"), ["echo", "if", "then", "fi"]);
    assert_eq!(fields("'if' x"), ["if", "x"]);
    assert_eq!(fields("\\if x"), ["if", "x"]);
    assert!(matches!(one("if true; then :; fi"), Command::Compound(..)));
}

// ---- assignments ----

#[test]
fn assignments_before_the_command_word() {
    let s = simple("A=1 B='x y' cmd C=3");
    assert_eq!(s.assigns.len(), 2);
    assert_eq!(s.assigns[0].0, "A");
    assert_eq!(s.assigns[1].0, "B");
    let mut c = Ctx::default();
    assert_eq!(
        expand::expand_string(&mut c, &s.assigns[1].1).unwrap(),
        "x y"
    );
    assert_eq!(
        expand::expand_words(&mut c, &s.words).unwrap(),
        ["cmd", "C=3"]
    );
    let s = simple("X=");
    assert_eq!(s.assigns, [("X".to_string(), Word::default())]);
    assert!(s.words.is_empty());
    // Not a name: a word.
    assert_eq!(simple("1X=2").words.len(), 1);
    assert_eq!(simple("'A'=2").words.len(), 1);
    // The value is not split.
    let mut c = Ctx::with(&[("V", "a  b")], &[]);
    let s = simple("X=$V");
    assert_eq!(
        expand::expand_string(&mut c, &s.assigns[0].1).unwrap(),
        "a  b"
    );
}

// ---- parameters ----

#[test]
fn parameters_and_specials() {
    let mut c = Ctx::with(&[("HOME", "/root"), ("E", "")], &["one", "two words", "3"]);
    c.status = 7;
    assert_eq!(
        fields_in(&mut c, "echo $0 $1 ${2} $# $? $$"),
        ["echo", "sh", "one", "two", "words", "3", "7", "42"]
    );
    assert_eq!(
        fields_in(&mut c, "echo \"$2\" ${9}x"),
        ["echo", "two words", "x"]
    );
    assert_eq!(fields_in(&mut c, "echo $UNSET $E"), ["echo"]);
    assert_eq!(fields_in(&mut c, "echo \"$UNSET\""), ["echo", ""]);
    assert_eq!(
        fields_in(&mut c, "echo ${HOME}dir $HOME/x"),
        ["echo", "/rootdir", "/root/x"]
    );
    assert_eq!(
        fields_in(&mut c, "echo $ a$ \"$\""),
        ["echo", "$", "a$", "$"]
    );
    assert_eq!(fields_in(&mut c, "echo $1$2"), ["echo", "onetwo", "words"]);
}

#[test]
fn at_and_star() {
    let mut c = Ctx::with(&[], &["a b", "c"]);
    assert_eq!(fields_in(&mut c, "x \"$@\""), ["x", "a b", "c"]);
    assert_eq!(fields_in(&mut c, "x \"<$@>\""), ["x", "<a b", "c>"]);
    assert_eq!(fields_in(&mut c, "x \"$*\""), ["x", "a b c"]);
    assert_eq!(fields_in(&mut c, "x $@"), ["x", "a", "b", "c"]);
    assert_eq!(fields_in(&mut c, "x $*"), ["x", "a", "b", "c"]);
    let mut empty = Ctx::default();
    assert_eq!(fields_in(&mut empty, "x \"$@\""), ["x"]);
    assert_eq!(fields_in(&mut empty, "x \"$*\""), ["x", ""]);
    let mut c = Ctx::with(&[("IFS", ":")], &["a", "b"]);
    assert_eq!(fields_in(&mut c, "x \"$*\""), ["x", "a:b"]);
}

#[test]
fn braced_operators() {
    let mut c = Ctx::with(&[("E", ""), ("S", "set")], &[]);
    assert_eq!(
        fields_in(&mut c, "x ${U-d} ${E-d} ${E:-d} ${S:-d} ${U:-'a b'}"),
        ["x", "d", "d", "set", "a b"]
    );
    assert_eq!(
        fields_in(&mut c, "x ${S+alt} ${U+alt} ${E+alt} ${E:+alt}"),
        ["x", "alt", "alt"]
    );
    assert_eq!(
        fields_in(&mut c, "x ${#S} ${#U} ${#}"),
        ["x", "3", "0", "0"]
    );
    assert_eq!(fields_in(&mut c, "x ${N:=new} $N"), ["x", "new", "new"]);
    assert_eq!(c.vars["N"], "new");
    assert_eq!(
        fields_in(&mut c, "x \"${U:-$S and $S}\""),
        ["x", "set and set"]
    );
    assert_eq!(fields_in(&mut c, "x ${U:-${S}}"), ["x", "set"]);
    assert_eq!(fields_in(&mut c, "x ${U:-}"), ["x"]);
    let e = expand::expand_words(&mut c, &simple("x ${U:?is missing}").words).unwrap_err();
    assert_eq!(e.0, "U: is missing");
    let e = expand::expand_words(&mut c, &simple("x ${E:?}").words).unwrap_err();
    assert_eq!(e.0, "E: parameter null or not set");
    let e = expand::expand_words(&mut c, &simple("x ${1=v}").words).unwrap_err();
    assert!(e.0.contains("cannot assign"), "{e}");
}

#[test]
fn prefix_and_suffix_removal() {
    let mut c = Ctx::with(&[("F", "dir/file.tar.gz"), ("E", "")], &[]);
    assert_eq!(
        fields_in(
            &mut c,
            "x ${F%.*} ${F%%.*} ${F#*/} ${F##*.} ${F%nomatch} ${U%x} ${E#}"
        ),
        [
            "x",
            "dir/file.tar",
            "dir/file",
            "file.tar.gz",
            "gz",
            "dir/file.tar.gz"
        ]
    );
    assert_eq!(
        fields_in(&mut c, "x ${F#dir/} ${F%'.gz'} ${F%\"*\"}"),
        ["x", "file.tar.gz", "dir/file.tar", "dir/file.tar.gz"]
    );
    assert_eq!(
        fields_in(&mut c, "x \"${F##*/}\" \"${F%.*}\" \"${F%'.gz'}\""),
        ["x", "file.tar.gz", "dir/file.tar", "dir/file.tar"]
    );
    assert_eq!(expand::trim("aXbXc", "*X", true, false), "bXc");
    assert_eq!(expand::trim("aXbXc", "*X", true, true), "c");
    assert_eq!(expand::trim("aXbXc", "X*", false, false), "aXb");
    assert_eq!(expand::trim("aXbXc", "X*", false, true), "a");
    assert_eq!(expand::trim("héllo", "?llo", false, false), "h");
    assert_eq!(expand::trim("abc", "", false, false), "abc");
    assert_eq!(expand::trim("abc", "*", false, true), "");
}

#[test]
fn nounset_makes_unset_parameters_errors() {
    let mut c = Ctx::with(&[("S", "")], &[]);
    c.nounset = true;
    assert_eq!(
        fields_in(&mut c, "x $S ${U-d} ${U:+a} \"$@\" $*"),
        ["x", "d"]
    );
    for t in ["x $U", "x ${U}", "x ${#U}", "x \"$1\"", "x ${U%a}"] {
        let e = expand::expand_words(&mut c, &simple(t).words).unwrap_err();
        assert!(e.0.ends_with(": parameter not set"), "{t}: {e}");
    }
}

#[test]
fn bad_substitutions_are_syntax_errors() {
    assert_eq!(err("echo ${"), ParseError::UnterminatedQuote);
    assert_eq!(err("echo ${x"), ParseError::UnterminatedQuote);
    assert_eq!(err("echo ${x:-abc"), ParseError::UnterminatedQuote);
    assert_eq!(err("echo ${ x}"), ParseError::BadSubstitution);
    assert_eq!(err("echo ${x!}"), ParseError::BadSubstitution);
    assert_eq!(err("echo ${#x:-y}"), ParseError::BadSubstitution);
}

#[test]
fn field_splitting_follows_ifs() {
    let mut c = Ctx::with(&[("V", "  a  b  "), ("C", "a:b::c:")], &[]);
    assert_eq!(fields_in(&mut c, "x $V"), ["x", "a", "b"]);
    assert_eq!(fields_in(&mut c, "x \"$V\""), ["x", "  a  b  "]);
    assert_eq!(fields_in(&mut c, "x $V$V"), ["x", "a", "b", "a", "b"]);
    assert_eq!(fields_in(&mut c, "x y${V}z"), ["x", "y", "a", "b", "z"]);
    assert_eq!(fields_in(&mut c, "x $C"), ["x", "a:b::c:"]);
    c.vars.insert("IFS".into(), ":".into());
    assert_eq!(fields_in(&mut c, "x $C"), ["x", "a", "b", "", "c"]);
    c.vars.insert("IFS".into(), String::new());
    assert_eq!(fields_in(&mut c, "x $V"), ["x", "  a  b  "]);
    // Literal text is never split, only expansions.
    c.vars.insert("IFS".into(), "a".into());
    assert_eq!(fields_in(&mut c, "x banana"), ["x", "banana"]);
}

#[test]
fn tilde_expands_to_home_at_a_word_start() {
    let mut c = Ctx::with(&[("HOME", "/home/u")], &[]);
    assert_eq!(
        fields_in(&mut c, "x ~ ~/d a~ '~' ~user"),
        ["x", "/home/u", "/home/u/d", "a~", "~", "~user"]
    );
}

// ---- substitution and arithmetic ----

#[test]
fn command_substitution_parses_its_commands() {
    let mut c = Ctx::with(&[("X", "a  b")], &[]);
    assert_eq!(
        fields_in(&mut c, "x $(echo hi there)"),
        ["x", "hi", "there"]
    );
    assert_eq!(
        fields_in(&mut c, "x \"$(echo hi there)\""),
        ["x", "hi there"]
    );
    assert_eq!(fields_in(&mut c, "x `echo a b`"), ["x", "a", "b"]);
    assert_eq!(fields_in(&mut c, "x $(echo $(echo in))"), ["x", "in"]);
    assert_eq!(fields_in(&mut c, "x $(echo \"$X\")"), ["x", "a", "b"]);
    assert_eq!(fields_in(&mut c, "x \"$(echo \"$X\")\""), ["x", "a  b"]);
    assert_eq!(fields_in(&mut c, "x $(echo a; echo b)"), ["x", "a", "b"]);
    assert_eq!(fields_in(&mut c, "x $(\necho a\n)"), ["x", "a"]);
    // `)` inside quotes does not end it.
    assert_eq!(fields_in(&mut c, "x $(echo ')')"), ["x", ")"]);
    assert!(matches!(
        one("x=$(if true; then echo a; fi)"),
        Command::Simple(_)
    ));
    assert!(err("echo $(echo a").is_incomplete());
    assert_eq!(err("echo `echo a"), ParseError::UnterminatedQuote);
    assert_eq!(err("echo \"$(echo a)"), ParseError::UnterminatedQuote);
}

#[test]
fn arithmetic() {
    let mut c = Ctx::with(&[("X", "5"), ("E", "")], &["7"]);
    let mut ev = |t: &str| arith::eval(t, &mut c);
    assert_eq!(ev("1 + 2 * 3"), Ok(7));
    assert_eq!(ev("(1 + 2) * 3"), Ok(9));
    assert_eq!(ev("X * 2 + $X + ${X} + $1"), Ok(27));
    assert_eq!(ev("E + U"), Ok(0));
    assert_eq!(ev("-3 / 2"), Ok(-1));
    assert_eq!(ev("7 % 3"), Ok(1));
    assert_eq!(ev("0x10 + 010"), Ok(24));
    assert_eq!(ev("1 < 2 && 2 <= 2 && !(3 == 4) && 3 != 4"), Ok(1));
    assert_eq!(ev("1 ? 10 : 20"), Ok(10));
    assert_eq!(ev("1 << 4 | 1"), Ok(17));
    assert_eq!(ev("~0"), Ok(-1));
    assert_eq!(ev(""), Ok(0));
    assert!(ev("1 / 0").unwrap_err().contains("division by zero"));
    assert!(ev("1 +").is_err());
    assert!(ev("(1").is_err());
    assert!(ev("1 2").is_err());
    assert!(ev("a@b").is_err());
    assert!(ev("9223372036854775808").is_err());
    assert_eq!(ev("9223372036854775807 + 1"), Ok(i64::MIN));
    assert_eq!(ev("Y = X + 1"), Ok(6));
    assert_eq!(ev("Y += 4"), Ok(10));
    assert_eq!(c.vars["Y"], "10");
    let mut c = Ctx::with(&[("I", "3")], &[]);
    assert_eq!(
        fields_in(&mut c, "x $((I+1)) \"$(( I * 2 ))\""),
        ["x", "4", "6"]
    );
    assert_eq!(fields_in(&mut c, "x $(( (I+1) * (2) ))"), ["x", "8"]);
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(arith::eval(&deep, &mut c).is_err());
}

// ---- commands ----

#[test]
fn pipelines_and_lists() {
    let l = parse::parse("a | b | c && ! d || e & f; g").unwrap();
    assert_eq!(l.items.len(), 3);
    assert!(l.items[0].background);
    let ao = &l.items[0].and_or;
    assert_eq!(ao.first.commands.len(), 3);
    assert!(!ao.first.bang);
    assert_eq!(ao.rest.len(), 2);
    assert_eq!(ao.rest[0].0, Connector::And);
    assert!(ao.rest[0].1.bang);
    assert_eq!(ao.rest[1].0, Connector::Or);
    assert!(!l.items[1].background && !l.items[2].background);
    // Newlines may follow | && ||.
    let l = parse::parse("a |\n\n b &&\n c ||\n d").unwrap();
    assert_eq!(l.items.len(), 1);
    assert_eq!(l.items[0].and_or.first.commands.len(), 2);
    assert_eq!(l.items[0].and_or.rest.len(), 2);
}

#[test]
fn redirections() {
    let s = simple("cmd <in >out 2>&1 >>app 3<&0 4>&- 2>err <>rw >|clob a");
    let ops: Vec<(Option<u32>, RedirOp)> = s.redirects.iter().map(|r| (r.fd, r.op)).collect();
    assert_eq!(
        ops,
        [
            (None, RedirOp::In),
            (None, RedirOp::Out),
            (Some(2), RedirOp::DupOut),
            (None, RedirOp::Append),
            (Some(3), RedirOp::DupIn),
            (Some(4), RedirOp::DupOut),
            (Some(2), RedirOp::Out),
            (None, RedirOp::ReadWrite),
            (None, RedirOp::Clobber),
        ]
    );
    let targets: Vec<_> = s
        .redirects
        .iter()
        .map(|r| r.target.plain().unwrap())
        .collect();
    assert_eq!(
        targets,
        ["in", "out", "1", "app", "0", "-", "err", "rw", "clob"]
    );
    assert_eq!(s.words.len(), 2);
    // A number glued to the operator is its descriptor; otherwise a word.
    let s = simple("echo a2>x 2 >y");
    assert_eq!(s.words.len(), 3);
    assert_eq!(s.redirects[0].fd, None);
    let s = simple(">only");
    assert!(s.words.is_empty() && s.redirects.len() == 1);
    let s = simple("echo > \"$F\"x");
    assert_eq!(s.redirects[0].target.parts.len(), 2);
    assert_eq!(RedirOp::In.default_fd(), 0);
    assert_eq!(RedirOp::Append.default_fd(), 1);
    assert_eq!(err("echo >"), ParseError::Unexpected("end of file".into()));
    assert_eq!(err("echo >\n"), ParseError::Unexpected("newline".into()));
    assert_eq!(err("echo > | x"), ParseError::Unexpected("'|'".into()));
    // Compound commands take redirections too.
    let Command::Compound(_, r) = one("{ echo a; } >f 2>&1") else {
        panic!()
    };
    assert_eq!(r.len(), 2);
}

/// The text of the here-document of the first command of `text`.
fn heredoc(ctx: &mut Ctx, text: &str) -> String {
    let l = parse::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let Command::Simple(s) = &l.items[0].and_or.first.commands[0] else {
        panic!("{text:?}")
    };
    let r = s
        .redirects
        .iter()
        .find(|r| r.op == RedirOp::HereDoc)
        .expect("a here-document");
    expand::expand_string(ctx, &r.target).unwrap()
}

#[test]
fn here_documents() {
    let mut c = Ctx::with(&[("X", "v")], &[]);
    let t = "cat <<EOF\nhello $X \\$X \"q\" 'q'\n  world $(echo sub)\nEOF\necho after";
    assert_eq!(heredoc(&mut c, t), "hello v $X \"q\" 'q'\n  world sub\n");
    let l = parse::parse(t).unwrap();
    assert_eq!(l.items.len(), 2, "the command after the body: {l:?}");
    // A quoted delimiter: the body is literal.
    assert_eq!(heredoc(&mut c, "cat <<'E'\n$X `x`\\\nE\n"), "$X `x`\\\n");
    assert_eq!(heredoc(&mut c, "cat <<\"E\"\n$X\nE"), "$X\n");
    // <<- removes leading tabs, also before the delimiter.
    assert_eq!(heredoc(&mut c, "cat <<-E\n\t\ta\n\tb\n\tE\n"), "a\nb\n");
    assert_eq!(heredoc(&mut c, "cat <<E\nE\n"), "");
    // Two on a line, and a command after them on the same line.
    let l = parse::parse("cat <<A 3<<B; echo x\none\nA\ntwo\nB\necho y\n").unwrap();
    assert_eq!(l.items.len(), 3);
    let Command::Simple(s) = &l.items[0].and_or.first.commands[0] else {
        panic!()
    };
    assert_eq!(s.redirects.len(), 2);
    assert_eq!(s.redirects[1].fd, Some(3));
    assert_eq!(
        expand::expand_string(&mut c, &s.redirects[0].target).unwrap(),
        "one\n"
    );
    assert_eq!(
        expand::expand_string(&mut c, &s.redirects[1].target).unwrap(),
        "two\n"
    );
    // Inside a compound command.
    let l = parse::parse("if true; then cat <<E\nin\nE\nfi\necho z").unwrap();
    assert_eq!(l.items.len(), 2);
    // Not ended yet: incomplete (an interactive shell reads on).
    assert!(err("cat <<EOF").is_incomplete());
    assert!(err("cat <<EOF\nline\n").is_incomplete());
    assert!(err("cat <<EOF\nline\nEOFX\n").is_incomplete());
    assert!(matches!(err("cat <<"), ParseError::Unexpected(_)));
    assert!(matches!(err("cat << $X\n$X\n"), ParseError::Unexpected(_)));
}

#[test]
fn if_while_for_nest() {
    let text = "for i in 1 2 3; do\n  while test $i -lt 3; do\n    if [ $i = 1 ]; then echo one\n    elif [ $i = 2 ]; then echo two; else echo other; fi\n    i=$((i+1))\n  done\ndone";
    let Command::Compound(Compound::For { var, words, body }, _) = one(text) else {
        panic!()
    };
    assert_eq!(var, "i");
    assert_eq!(words.unwrap().len(), 3);
    let Command::Compound(Compound::While { until, cond, body }, _) =
        &body.items[0].and_or.first.commands[0]
    else {
        panic!()
    };
    assert!(!until);
    assert_eq!(cond.items.len(), 1);
    assert_eq!(body.items.len(), 2);
    let Command::Compound(Compound::If { arms, otherwise }, _) =
        &body.items[0].and_or.first.commands[0]
    else {
        panic!()
    };
    assert_eq!(arms.len(), 2);
    assert!(otherwise.is_some());
    // One line, until, for without in, for with newlines.
    assert!(matches!(
        one("until false; do break; done"),
        Command::Compound(Compound::While { until: true, .. }, _)
    ));
    assert!(matches!(
        one("for a; do echo $a; done"),
        Command::Compound(Compound::For { words: None, .. }, _)
    ));
    assert!(matches!(
        one("for a\ndo echo\ndone"),
        Command::Compound(Compound::For { words: None, .. }, _)
    ));
    assert!(matches!(
        one("for a in\ndo echo\ndone"),
        Command::Compound(Compound::For { words: Some(w), .. }, _) if w.is_empty()
    ));
    assert!(matches!(
        one("if a\nthen\n b\nfi"),
        Command::Compound(Compound::If { .. }, _)
    ));
}

#[test]
fn case_groups_and_functions() {
    let Command::Compound(Compound::Case { arms, .. }, _) =
        one("case $x in\n a|b) echo ab;;\n (c*) echo c ;;\n *) ;;\n d) echo d\nesac")
    else {
        panic!()
    };
    assert_eq!(arms.len(), 4);
    assert_eq!(arms[0].0.len(), 2);
    assert!(arms[2].1.items.is_empty());
    assert!(
        matches!(one("case a in esac"), Command::Compound(Compound::Case { arms, .. }, _) if arms.is_empty())
    );
    assert!(matches!(
        one("{ a; b\n c; }"),
        Command::Compound(Compound::Brace(l), _) if l.items.len() == 3
    ));
    assert!(matches!(
        one("(a; b) >x"),
        Command::Compound(Compound::Subshell(_), r) if r.len() == 1
    ));
    assert!(matches!(one("f() { echo hi; }"), Command::FuncDef(n, _) if n == "f"));
    assert!(matches!(one("f ( )\n{ echo hi; }"), Command::FuncDef(..)));
    assert!(matches!(err("f() echo"), ParseError::Unexpected(_)));
    assert!(matches!(err("'f'() { :; }"), ParseError::Unexpected(_)));
    // `}` not at a command start is an argument.
    assert!(err("{ echo }").is_incomplete());
}

#[test]
fn syntax_errors() {
    assert_eq!(err("echo 'abc"), ParseError::UnterminatedQuote);
    assert_eq!(err("echo \"abc"), ParseError::UnterminatedQuote);
    assert_eq!(err("echo \"a'b"), ParseError::UnterminatedQuote);
    assert_eq!(
        err("echo 'abc").to_string(),
        "syntax error: unterminated quote"
    );
    for t in [
        "fi",
        "then",
        "done",
        "do x",
        "}",
        ";",
        ";;",
        ")",
        "a ; ;",
        "| a",
        "a || || b",
        "a &&& b",
        "if ; then a; fi",
        "if a; then; fi",
        "while a; do; done",
        "for 1 in a; do b; done",
        "for a in b c) ; do x; done",
        "case a in b) x;; c",
        "(a) b",
        "a (",
        "case a b",
        "a;;",
        "a & ; b",
    ] {
        let e = match parse::parse(t) {
            Ok(l) => panic!("{t:?} parsed: {l:?}"),
            Err(e) => e,
        };
        assert!(!e.to_string().is_empty(), "{t:?}");
        assert!(e.to_string().starts_with("syntax error:"), "{t:?}: {e}");
    }
    for t in [
        "if a",
        "if a; then b",
        "if a; then b; else",
        "while a",
        "while a; do b",
        "for a in b",
        "a |",
        "a &&",
        "a ||",
        "{ a",
        "( a",
        "case a in",
        "case a in b) c",
        "! ",
    ] {
        assert!(err(t).is_incomplete(), "{t:?}: {:?}", err(t));
    }
    assert!(err("if a").to_string().contains("expecting 'then'"));
    assert!(
        err("while a; do b")
            .to_string()
            .contains("expecting 'done'")
    );
}

#[test]
fn commands_come_one_at_a_time() {
    let mut p = Parser::new("echo a; echo b\n\n# c\nif x\nthen y\nfi\necho 'unterminated");
    assert_eq!(p.next_command().unwrap().unwrap().items.len(), 2);
    assert!(matches!(
        p.next_command().unwrap().unwrap().items[0]
            .and_or
            .first
            .commands[0],
        Command::Compound(Compound::If { .. }, _)
    ));
    assert_eq!(p.next_command(), Err(ParseError::UnterminatedQuote));
    assert_eq!(p.line(), 7);
    let mut p = Parser::new("\n\n  \n");
    assert_eq!(p.next_command(), Ok(None));
    // An interactive shell sees "incomplete", then the whole.
    assert!(
        Parser::new("if true\n")
            .next_command()
            .unwrap_err()
            .is_incomplete()
    );
    assert!(
        Parser::new("if true\nthen echo\nfi\n")
            .next_command()
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_10000_character_line_parses_and_expands() {
    let big = "x".repeat(10_000);
    assert_eq!(fields(&format!("echo {big}")), ["echo", big.as_str()]);
    let quoted = format!("echo '{big}' \"{big}\"");
    assert_eq!(fields(&quoted)[2].len(), 10_000);
    let many = "ab ".repeat(3_400);
    assert_eq!(fields(&format!("echo {many}")).len(), 3_401);
    // An unterminated quote 10,000 characters long is still just an error.
    assert_eq!(err(&format!("echo '{big}")), ParseError::UnterminatedQuote);
    let pipes = vec!["a"; 2000].join(" | ");
    let l = parse::parse(&pipes).unwrap();
    assert_eq!(l.items[0].and_or.first.commands.len(), 2000);
}

/// Runs `f` on a thread with the OS's user stack size.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    on_small_stack(|| {
        let ok = format!("{}a{}", "(".repeat(30), ")".repeat(30));
        assert!(parse::parse(&ok).is_ok());
        for n in [100, 10_000] {
            let t = format!("{}a{}", "(".repeat(n), ")".repeat(n));
            assert_eq!(parse::parse(&t), Err(ParseError::TooDeep));
            let t = "if a; then ".repeat(n);
            assert_eq!(parse::parse(&t), Err(ParseError::TooDeep));
            let t = "$(".repeat(n);
            assert_eq!(parse::parse(&t), Err(ParseError::TooDeep));
            let t = "${x:-".repeat(n);
            assert_eq!(parse::parse(&t), Err(ParseError::TooDeep));
            let t = format!("{}a{}", "{ ".repeat(n), "; }".repeat(n));
            assert_eq!(parse::parse(&t), Err(ParseError::TooDeep));
        }
        let t = format!("echo {}", "`".repeat(101));
        assert!(parse::parse(&t).is_err());
    });
}

// ---- patterns ----

#[test]
fn case_patterns() {
    for (p, t, m) in [
        ("*", "", true),
        ("*", "anything", true),
        ("a*", "abc", true),
        ("*c", "abc", true),
        ("*b*", "abc", true),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("[a-c]x", "bx", true),
        ("[a-c]x", "dx", false),
        ("[!a-c]x", "dx", true),
        ("[^a]", "a", false),
        ("[]]", "]", true),
        ("[abc", "[abc", true),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("*.txt", "notes.txt", true),
        ("*.txt", "notes.txt.bak", false),
        ("a*b*c*d", "aXbXcXd", true),
    ] {
        assert_eq!(glob::matches(p, t), m, "{p:?} {t:?}");
    }
    // No exponential blow-up.
    let text = "a".repeat(5000);
    assert!(!glob::matches("*a*a*a*a*a*a*a*a*b", &text));
    assert_eq!(glob::escape("a*?[]\\"), "a\\*\\?\\[\\]\\\\");
    // Quoted pattern characters are literal.
    let mut c = Ctx::with(&[("P", "*")], &[]);
    let w = simple("x '*'a \"$P\" $P").words;
    assert_eq!(expand::expand_pattern(&mut c, &w[1]).unwrap(), "\\*a");
    assert_eq!(expand::expand_pattern(&mut c, &w[2]).unwrap(), "\\*");
    assert_eq!(expand::expand_pattern(&mut c, &w[3]).unwrap(), "*");
}

/// A directory tree for pathname expansion.
fn tree(dir: &str) -> Option<Vec<String>> {
    let names: &[&str] = match dir {
        "." => &["a.txt", "b.txt", "c.rs", ".hidden.txt", "sub", "x*y"],
        "sub" | "./sub" => &["one.txt", "two.md", "deep"],
        "sub/deep" => &["z.txt"],
        "/" => &["etc", "bin", "tmp"],
        "/etc" => &["motd", "rc", "passwd"],
        _ => return None,
    };
    Some(names.iter().map(|s| s.to_string()).collect())
}

#[test]
fn pathname_expansion_walks_directories() {
    let g = |p: &str| glob::expand_path(p, &mut tree);
    assert_eq!(g("*.txt"), ["a.txt", "b.txt"]);
    assert_eq!(g(".*.txt"), [".hidden.txt"]);
    assert_eq!(g("?.rs"), ["c.rs"]);
    assert_eq!(g("[ab].*"), ["a.txt", "b.txt"]);
    assert_eq!(g("sub/*.txt"), ["sub/one.txt"]);
    assert_eq!(g("*/*.md"), ["sub/two.md"]);
    assert_eq!(g("sub/*/z.txt"), ["sub/deep/z.txt"]);
    assert_eq!(g("sub/*/nope"), Vec::<String>::new());
    assert_eq!(g("/etc/[mr]*"), ["/etc/motd", "/etc/rc"]);
    assert_eq!(g("/*/motd"), ["/etc/motd"]);
    assert_eq!(g("*.none"), Vec::<String>::new());
    assert_eq!(g("x\\*y"), ["x*y"]);
    assert_eq!(g("nodir/*"), Vec::<String>::new());
    assert!(glob::has_magic("a*") && glob::has_magic("[x]") && !glob::has_magic("a\\*"));
    assert_eq!(glob::unescape("a\\*b\\\\"), "a*b\\");
}

/// [`Ctx`] with pathname expansion over [`tree`].
struct GlobCtx(Ctx);

impl Context for GlobCtx {
    fn var(&self, name: &str) -> Option<String> {
        self.0.var(name)
    }
    fn set_var(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.0.set_var(name, value)
    }
    fn arg0(&self) -> String {
        self.0.arg0()
    }
    fn params(&self) -> &[String] {
        self.0.params()
    }
    fn special(&self, c: char) -> Option<String> {
        self.0.special(c)
    }
    fn command_subst(&mut self, list: &List) -> Result<String, String> {
        self.0.command_subst(list)
    }
    fn glob(&mut self, pattern: &str) -> Vec<String> {
        glob::expand_path(pattern, &mut tree)
    }
}

#[test]
fn words_with_unquoted_pattern_characters_expand_to_paths() {
    let mut c = GlobCtx(Ctx::with(&[("P", "*.txt"), ("HOME", "sub")], &[]));
    let w = |c: &mut GlobCtx, t: &str| expand::expand_words(c, &simple(t).words).unwrap();
    assert_eq!(w(&mut c, "ls *.txt"), ["ls", "a.txt", "b.txt"]);
    assert_eq!(
        w(&mut c, "ls '*.txt' \\*.txt \"*.txt\""),
        ["ls", "*.txt", "*.txt", "*.txt"]
    );
    assert_eq!(w(&mut c, "ls $P \"$P\""), ["ls", "a.txt", "b.txt", "*.txt"]);
    assert_eq!(w(&mut c, "ls *.none"), ["ls", "*.none"]);
    assert_eq!(w(&mut c, "ls ~/*.md"), ["ls", "sub/two.md"]);
    assert_eq!(w(&mut c, "ls sub/\"*\""), ["ls", "sub/*"]);
    // Assignments and case words are not expanded.
    let s = simple("X=*.txt");
    assert_eq!(
        expand::expand_string(&mut c, &s.assigns[0].1).unwrap(),
        "*.txt"
    );
}

// ---- test ----

struct FakeFs;

impl Probe for FakeFs {
    fn stat(&self, path: &str) -> Option<FileInfo> {
        match path {
            "/etc" => Some(FileInfo {
                kind: Kind::Dir,
                size: 64,
            }),
            "/etc/motd" => Some(FileInfo {
                kind: Kind::File,
                size: 10,
            }),
            "/empty" => Some(FileInfo {
                kind: Kind::File,
                size: 0,
            }),
            "/dev/null" => Some(FileInfo {
                kind: Kind::Char,
                size: 0,
            }),
            _ => None,
        }
    }
    fn lstat(&self, path: &str) -> Option<FileInfo> {
        if path == "/link" {
            return Some(FileInfo {
                kind: Kind::Link,
                size: 4,
            });
        }
        self.stat(path)
    }
    fn access(&self, path: &str, a: Access) -> bool {
        path == "/etc/motd" && a != Access::Exec || path == "/etc"
    }
    fn isatty(&self, fd: i32) -> bool {
        fd == 0
    }
}

fn t(args: &str) -> Result<bool, String> {
    let a: Vec<String> = if args.is_empty() {
        vec![]
    } else {
        args.split(' ')
            .map(|s| s.replace('_', " ").replace("EMPTY", ""))
            .collect()
    };
    testexpr::test(&a, &FakeFs)
}

#[test]
fn test_builtin() {
    let yes = [
        "x",
        "-n x",
        "-z EMPTY",
        "a = a",
        "a != b",
        "1 -eq 1",
        "-1 -lt 0",
        "2 -le 2",
        "3 -gt 2",
        "3 -ge 3",
        "1 -ne 2",
        "! EMPTY",
        "! -z x",
        "-e /etc",
        "-d /etc",
        "-f /etc/motd",
        "-s /etc/motd",
        "-r /etc/motd",
        "-w /etc/motd",
        "-x /etc",
        "-c /dev/null",
        "-h /link",
        "-L /link",
        "-t 0",
        "( x )",
        "( -n x )",
        "! ( EMPTY )",
        "x -a y",
        "EMPTY -o y",
        "-n x -a -f /etc/motd",
        "! -e /nope -a ( -d /etc -o -f /nope )",
        "= = =",
        "-n -n",
        "_12_ -eq 12",
    ];
    for a in yes {
        assert_eq!(t(a), Ok(true), "test {a}");
    }
    let no = [
        "",
        "EMPTY",
        "-n EMPTY",
        "-z x",
        "a = b",
        "a != a",
        "1 -eq 2",
        "-e /nope",
        "-f /etc",
        "-d /etc/motd",
        "-s /empty",
        "-x /etc/motd",
        "-r /nope",
        "-t 1",
        "! x",
        "x -a EMPTY",
        "EMPTY -o EMPTY",
        "-h /etc",
        "-f /nope -o -d /nope -o -e /nope",
    ];
    for a in no {
        assert_eq!(t(a), Ok(false), "test {a}");
    }
    for a in [
        "a -eq 1",
        "1 -lt b",
        "-eq x",
        "a b",
        "( x",
        "a b c",
        "x -a y -o",
        "-q x y z w",
    ] {
        assert!(t(a).is_err(), "test {a}: {:?}", t(a));
    }
    assert_eq!(t("a -eq 1").unwrap_err(), "a: bad number");
    assert_eq!(t(&("! ".repeat(9) + "x")), Ok(false));
    assert_eq!(t(&("! ".repeat(10) + "x")), Ok(true));
    assert!(t(&("! ".repeat(1000) + "x")).is_err());
}

// ---- printf ----

fn pf(format: &str, args: &[&str]) -> (String, usize) {
    let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let o = builtins::printf(format, &a);
    (o.text, o.errors.len())
}

#[test]
fn echo_options() {
    let e = |a: &[&str]| builtins::echo(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(e(&["a", "b"]), "a b\n");
    assert_eq!(e(&["-n", "a"]), "a");
    assert_eq!(e(&["-n", "-n", "a"]), "a");
    assert_eq!(e(&["a\\tb"]), "a\\tb\n");
    assert_eq!(e(&["-e", "a\\tb\\n"]), "a\tb\n\n");
    assert_eq!(e(&["-ne", "x\\cy"]), "x");
    assert_eq!(e(&["-eE", "a\\tb"]), "a\\tb\n");
    assert_eq!(e(&["-x", "a"]), "-x a\n");
    assert_eq!(e(&["-", "a"]), "- a\n");
    assert_eq!(e(&["a", "-n"]), "a -n\n");
    assert_eq!(e(&[]), "\n");
}

/// Every `getopts` step over `args`: (name, OPTARG, error?) until the end,
/// and OPTIND after.
fn all_getopts(spec: &str, args: &[&str]) -> (Vec<(char, Option<String>, bool)>, usize) {
    let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut ind, mut pos) = (1, 1);
    let mut out = Vec::new();
    for _ in 0..20 {
        let g = builtins::getopts(spec, &a, &mut ind, &mut pos);
        if g.status != 0 {
            return (out, ind);
        }
        out.push((g.name, g.optarg, g.error.is_some()));
    }
    panic!("getopts does not end: {out:?}");
}

#[test]
fn getopts_steps() {
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        all_getopts("ab:c", &["-a", "-b", "val", "-cb", "glued", "file"]),
        (
            vec![
                ('a', None, false),
                ('b', s("val"), false),
                ('c', None, false),
                ('b', s("glued"), false)
            ],
            6
        )
    );
    assert_eq!(
        all_getopts("ab", &["-ab", "--", "-a"]),
        (vec![('a', None, false), ('b', None, false)], 3)
    );
    assert_eq!(all_getopts("a", &["x", "-a"]), (vec![], 1));
    assert_eq!(all_getopts("a", &["-", "-a"]), (vec![], 1));
    assert_eq!(all_getopts("a", &["-x"]), (vec![('?', None, true)], 2));
    assert_eq!(all_getopts(":a", &["-x"]), (vec![('?', s("x"), false)], 2));
    assert_eq!(all_getopts("b:", &["-b"]), (vec![('?', None, true)], 2));
    assert_eq!(all_getopts(":b:", &["-b"]), (vec![(':', s("b"), false)], 2));
    assert_eq!(all_getopts("a", &[]), (vec![], 1));
    assert_eq!(
        all_getopts("a:", &["-é", "-a", "é"]),
        (vec![('?', None, true), ('a', s("é"), false)], 4)
    );
}

#[test]
fn printf_formats() {
    assert_eq!(pf("%s-%d\\n", &["a", "5"]), ("a-5\n".into(), 0));
    assert_eq!(
        pf(
            "%5s|%-5s|%05d|%x|%o|%X|%c|%%",
            &["ab", "cd", "42", "255", "8", "255", "hello"]
        ),
        ("   ab|cd   |00042|ff|10|FF|h|%".into(), 0)
    );
    assert_eq!(pf("%s\\n", &["a", "b", "c"]).0, "a\nb\nc\n");
    assert_eq!(pf("%s=%s ", &["a", "1", "b"]).0, "a=1 b= ");
    assert_eq!(pf("hello\\n", &[]).0, "hello\n");
    assert_eq!(pf("hello\\n", &["extra"]).0, "hello\n");
    assert_eq!(pf("%s|%d\\n", &[]).0, "|0\n");
    assert_eq!(pf("%d", &["abc"]), ("0".into(), 1));
    assert_eq!(pf("\\101\\t\\\\\\q", &[]).0, "A\t\\\\q");
    assert_eq!(pf("%d %d %d", &["'A", "0x10", "010"]).0, "65 16 8");
    assert_eq!(
        pf("%.2s|%.3d|%+d|%05d|% d", &["abcdef", "7", "5", "-42", "3"]).0,
        "ab|007|+5|-0042| 3"
    );
    assert_eq!(pf("%*d|%-*s|", &["5", "42", "3", "a"]).0, "   42|a  |");
    let o = builtins::printf("%b|%s", &["a\\tb\\c".to_string(), "x".to_string()]);
    assert_eq!(o.text, "a\tb");
    assert!(o.stopped);
    assert_eq!(pf("%b", &["\\0101\\n"]).0, "A\n");
    assert_eq!(pf("%q", &["x"]).1, 1);
    assert_eq!(pf("50%", &[]).0, "50%");
    assert_eq!(pf("%99999999999d", &["1"]).0.len(), 4096);
}

// ---- variables ----

#[test]
fn variables_and_the_environment() {
    let mut v = Vars::from_env([
        ("PATH".to_string(), "/bin".to_string()),
        ("bad-name".to_string(), "x".to_string()),
    ]);
    assert_eq!(v.get("PATH"), Some("/bin"));
    assert_eq!(v.get("bad-name"), None);
    v.set("LOCAL", "1");
    assert!(!v.is_exported("LOCAL"));
    assert_eq!(v.environment(&[]), ["PATH=/bin"]);
    v.export("LOCAL", None);
    v.export("NEW", Some("n"));
    v.export("UNSETX", None);
    assert_eq!(v.environment(&[]), ["LOCAL=1", "NEW=n", "PATH=/bin"]);
    assert_eq!(
        v.environment(&[("PATH".into(), "/x".into()), ("T".into(), "t".into())]),
        ["LOCAL=1", "NEW=n", "PATH=/x", "T=t"]
    );
    v.set("NEW", "m");
    assert!(v.is_exported("NEW"));
    v.unset("NEW");
    assert_eq!(v.get("NEW"), None);
    assert!(!v.is_exported("NEW"));
    assert_eq!(
        v.exported(),
        [
            ("LOCAL", Some("1")),
            ("PATH", Some("/bin")),
            ("UNSETX", None)
        ]
    );
    assert_eq!(v.all(), [("LOCAL", "1"), ("PATH", "/bin")]);
    assert_eq!(quote("plain/path-1.0"), "plain/path-1.0");
    assert_eq!(quote("a b"), "'a b'");
    assert_eq!(quote("it's"), "'it'\\''s'");
    assert_eq!(quote(""), "''");
}

// ---- never panics ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_input_never_panics(
        s in proptest::collection::vec(
            prop_oneof![
                Just("'"), Just("\""), Just("\\"), Just("$"), Just("{"), Just("}"), Just("("),
                Just(")"), Just("`"), Just("|"), Just("&"), Just(";"), Just("<"), Just(">"),
                Just(" "), Just("\n"), Just("#"), Just("="), Just("a"), Just("1"), Just("2"),
                Just(":-"), Just("if "), Just("then "), Just("fi "), Just("while "), Just("do "),
                Just("done "), Just("for "), Just("in "), Just("case "), Just("esac "),
                Just(";;"), Just("$(("), Just("))"), Just("${"), Just("*"), Just("?"),
                Just("["), Just("]"), Just("!"), Just("~"), Just("é"), Just("\t"), Just("x="),
                Just("<<E\n"), Just("<<-'E' "), Just("E\n"), Just("\tE"), Just("%%"), Just("#")
            ],
            0..60,
        )
    ) {
        let text: String = s.concat();
        let mut p = Parser::new(&text);
        let mut ctx = Ctx::with(&[("X", "a b")], &["p1"]);
        for _ in 0..100 {
            match p.next_command() {
                Ok(Some(l)) => {
                    for item in &l.items {
                        for c in &item.and_or.first.commands {
                            if let Command::Simple(s) = c {
                                let _ = expand::expand_words(&mut ctx, &s.words);
                                for w in &s.words {
                                    let _ = expand::expand_pattern(&mut ctx, w);
                                    let _ = expand::expand_string(&mut ctx, w);
                                }
                            }
                        }
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(s in "\\PC{0,200}") {
        let _ = parse::parse(&s);
        let mut ctx = Ctx::default();
        let _ = arith::eval(&s, &mut ctx);
        let _ = glob::matches(&s, "abc");
        let _ = builtins::printf(&s, &[s.clone(), "12".to_string()]);
        let a: Vec<String> = s.split(' ').map(String::from).collect();
        let _ = testexpr::test(&a, &FakeFs);
    }
}
