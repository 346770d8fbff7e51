//! Arithmetic expansion `$((...))`: signed 64-bit integers (wrapping),
//! decimal, octal (`0NN`) and hex (`0xNN`) constants, variables by name or
//! as `$x` / `${x}` / `$1` (unset or empty: 0), the C operators `()`
//! unary `+ - ! ~`, `* / %`, `+ -`, `<< >>`, `< <= > >=`, `== !=`, `&`,
//! `^`, `|`, `&&`, `||`, `?:`, and assignment `= += -= *= /= %=`.
//! Division by zero is an error.

use crate::ast::ParamName;
use crate::expand::{Context, lookup};
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Clone, Debug, PartialEq, Eq)]
enum T {
    Num(i64),
    Name(String),
    /// `$1`, `$#`, ...: a value already looked up.
    Value(i64),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "<<=", ">>=", "&&", "||", "<<", ">>", "<=", ">=", "==", "!=", "+=", "-=", "*=", "/=", "%=",
    "&=", "|=", "^=", "(", ")", "+", "-", "*", "/", "%", "<", ">", "!", "~", "&", "^", "|", "?",
    ":", "=",
];

fn number(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(0);
    }
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        i64::from_str_radix(&t[1..], 8)
    } else {
        t.parse::<i64>()
    }
    .map_err(|_| alloc::format!("arithmetic: bad number '{s}'"))?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

fn tokens(text: &str, ctx: &dyn Context) -> Result<Vec<T>, String> {
    let c: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_digit() {
            let start = i;
            while i < c.len() && c[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let s: String = c[start..i].iter().collect();
            out.push(T::Num(number(&s)?));
        } else if ch == '_' || ch.is_ascii_alphabetic() {
            let start = i;
            while i < c.len() && (c[i] == '_' || c[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push(T::Name(c[start..i].iter().collect()));
        } else if ch == '$' {
            i += 1;
            let braced = c.get(i) == Some(&'{');
            if braced {
                i += 1;
            }
            let start = i;
            let name = match c.get(i) {
                Some(&d) if d.is_ascii_digit() => {
                    i += 1;
                    while braced && i < c.len() && c[i].is_ascii_digit() {
                        i += 1;
                    }
                    let n: String = c[start..i].iter().collect();
                    ParamName::Positional(n.parse().unwrap_or(usize::MAX))
                }
                Some(&s @ ('?' | '$' | '#' | '!' | '-')) => {
                    i += 1;
                    ParamName::Special(s)
                }
                Some(&a) if a == '_' || a.is_ascii_alphabetic() => {
                    while i < c.len() && (c[i] == '_' || c[i].is_ascii_alphanumeric()) {
                        i += 1;
                    }
                    ParamName::Var(c[start..i].iter().collect())
                }
                _ => return Err("arithmetic: bad '$'".to_string()),
            };
            if braced {
                if c.get(i) != Some(&'}') {
                    return Err("arithmetic: bad substitution".to_string());
                }
                i += 1;
            }
            let v = lookup(ctx, &name).unwrap_or_default();
            out.push(T::Value(number(&v)?));
        } else {
            let rest: String = c[i..c.len().min(i + 3)].iter().collect();
            let Some(op) = OPS.iter().find(|o| rest.starts_with(**o)) else {
                return Err(alloc::format!("arithmetic: unexpected '{ch}'"));
            };
            i += op.chars().count();
            out.push(T::Op(op));
        }
    }
    Ok(out)
}

struct P<'a> {
    t: Vec<T>,
    i: usize,
    ctx: &'a mut dyn Context,
    depth: usize,
}

fn binary_prec(op: &str) -> Option<u8> {
    Some(match op {
        "||" => 1,
        "&&" => 2,
        "|" => 3,
        "^" => 4,
        "&" => 5,
        "==" | "!=" => 6,
        "<" | "<=" | ">" | ">=" => 7,
        "<<" | ">>" => 8,
        "+" | "-" => 9,
        "*" | "/" | "%" => 10,
        _ => return None,
    })
}

fn apply(op: &str, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        "||" => i64::from(a != 0 || b != 0),
        "&&" => i64::from(a != 0 && b != 0),
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<" => i64::from(a < b),
        "<=" => i64::from(a <= b),
        ">" => i64::from(a > b),
        ">=" => i64::from(a >= b),
        "<<" => a.wrapping_shl(b as u32),
        ">>" => a.wrapping_shr(b as u32),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" if b == 0 => return Err("arithmetic: division by zero".to_string()),
        "/" => a.wrapping_div(b),
        "%" => a.wrapping_rem(b),
        _ => return Err(alloc::format!("arithmetic: bad operator '{op}'")),
    })
}

impl P<'_> {
    fn peek_op(&self) -> Option<&'static str> {
        match self.t.get(self.i) {
            Some(T::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn var(&self, n: &str) -> Result<i64, String> {
        number(&self.ctx.var(n).unwrap_or_default())
    }

    fn expr(&mut self) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("arithmetic: nested too deeply".to_string());
        }
        let r = self.assign();
        self.depth -= 1;
        r
    }

    fn assign(&mut self) -> Result<i64, String> {
        if let (Some(T::Name(n)), Some(T::Op(op))) = (self.t.get(self.i), self.t.get(self.i + 1))
            && op.ends_with('=')
            && !matches!(*op, "==" | "!=" | "<=" | ">=")
        {
            let (n, op) = (n.clone(), *op);
            self.i += 2;
            let rhs = self.assign()?;
            let v = if op == "=" {
                rhs
            } else {
                apply(&op[..op.len() - 1], self.var(&n)?, rhs)?
            };
            self.ctx.set_var(&n, &v.to_string())?;
            return Ok(v);
        }
        self.ternary()
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let c = self.binary(1)?;
        if self.peek_op() == Some("?") {
            self.i += 1;
            let a = self.expr()?;
            if self.peek_op() != Some(":") {
                return Err("arithmetic: expecting ':'".to_string());
            }
            self.i += 1;
            let b = self.ternary()?;
            return Ok(if c != 0 { a } else { b });
        }
        Ok(c)
    }

    fn binary(&mut self, min: u8) -> Result<i64, String> {
        let mut lhs = self.unary()?;
        while let Some(op) = self.peek_op() {
            let Some(p) = binary_prec(op) else { break };
            if p < min {
                break;
            }
            self.i += 1;
            let rhs = self.binary(p + 1)?;
            lhs = apply(op, lhs, rhs)?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("arithmetic: nested too deeply".to_string());
        }
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> Result<i64, String> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        match t {
            Some(T::Num(n) | T::Value(n)) => Ok(n),
            Some(T::Name(n)) => self.var(&n),
            Some(T::Op("(")) => {
                let v = self.expr()?;
                if self.peek_op() != Some(")") {
                    return Err("arithmetic: expecting ')'".to_string());
                }
                self.i += 1;
                Ok(v)
            }
            Some(T::Op("-")) => Ok(self.unary()?.wrapping_neg()),
            Some(T::Op("+")) => self.unary(),
            Some(T::Op("!")) => Ok(i64::from(self.unary()? == 0)),
            Some(T::Op("~")) => Ok(!self.unary()?),
            Some(T::Op(o)) => Err(alloc::format!("arithmetic: unexpected '{o}'")),
            None => Err("arithmetic: expression expected".to_string()),
        }
    }
}

/// Evaluates `text` (the inside of `$((...))`).
pub fn eval(text: &str, ctx: &mut dyn Context) -> Result<i64, String> {
    let t = tokens(text, ctx)?;
    if t.is_empty() {
        return Ok(0);
    }
    let mut p = P {
        t,
        i: 0,
        ctx,
        depth: 0,
    };
    let v = p.expr()?;
    if p.i < p.t.len() {
        return Err("arithmetic: syntax error".to_string());
    }
    Ok(v)
}
