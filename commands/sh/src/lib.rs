//! `sh`: the shell's pure half, host-tested. [`parse`] turns text into the
//! syntax tree of [`ast`]; [`expand`] expands words against the shell's
//! state (through a trait), with [`arith`] for `$((...))`; [`glob`]
//! matches `case` patterns and expands pathnames; [`testexpr`] evaluates `test` / `[`;
//! [`builtins`] has the pure parts of `printf`, `echo` and `getopts`; [`vars`]
//! keeps variables and builds the environment of programs.
//!
//! The executor (`src/exec.rs`, built only for the OS) runs the tree on
//! `ulib`: fork, exec, pipes, redirections, waiting, signals. See
//! `README.md` for the supported language.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod arith;
pub mod ast;
pub mod builtins;
pub mod expand;
pub mod glob;
pub mod parse;
pub mod testexpr;
pub mod vars;

#[cfg(test)]
mod tests;
