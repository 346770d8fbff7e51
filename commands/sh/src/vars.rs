//! Shell variables: values and the export flag; the environment given to
//! the programs the shell runs.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Var {
    /// `None`: exported but not set (`export NAME` before any value).
    value: Option<String>,
    exported: bool,
}

/// The shell's variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vars {
    map: BTreeMap<String, Var>,
}

impl Vars {
    /// Variables from the environment the shell started with (exported).
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(env: I) -> Vars {
        let mut v = Vars::default();
        for (k, val) in env {
            if crate::parse::is_name(&k) {
                v.map.insert(
                    k,
                    Var {
                        value: Some(val),
                        exported: true,
                    },
                );
            }
        }
        v
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).and_then(|v| v.value.as_deref())
    }

    /// Sets `name` (keeping its export flag).
    pub fn set(&mut self, name: &str, value: &str) {
        self.map.entry(name.to_string()).or_default().value = Some(value.to_string());
    }

    /// Marks `name` exported, setting it first when `value` is given.
    pub fn export(&mut self, name: &str, value: Option<&str>) {
        let v = self.map.entry(name.to_string()).or_default();
        v.exported = true;
        if let Some(value) = value {
            v.value = Some(value.to_string());
        }
    }

    /// Removes `name`.
    pub fn unset(&mut self, name: &str) {
        self.map.remove(name);
    }

    /// Whether `name` is exported.
    pub fn is_exported(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| v.exported)
    }

    /// The environment of a program: the exported variables that are set,
    /// with `extra` (a command's `NAME=value` prefixes) on top, as `K=V`.
    pub fn environment(&self, extra: &[(String, String)]) -> Vec<String> {
        let mut out: Vec<String> = self
            .map
            .iter()
            .filter(|(k, v)| v.exported && !extra.iter().any(|(e, _)| e == *k))
            .filter_map(|(k, v)| v.value.as_ref().map(|val| alloc::format!("{k}={val}")))
            .collect();
        out.extend(extra.iter().map(|(k, v)| alloc::format!("{k}={v}")));
        out
    }

    /// Every set variable (for `set` without arguments), sorted by name.
    pub fn all(&self) -> Vec<(&str, &str)> {
        self.map
            .iter()
            .filter_map(|(k, v)| v.value.as_deref().map(|val| (k.as_str(), val)))
            .collect()
    }

    /// The exported variables (for `export` without arguments): name and
    /// value if set.
    pub fn exported(&self) -> Vec<(&str, Option<&str>)> {
        self.map
            .iter()
            .filter(|(_, v)| v.exported)
            .map(|(k, v)| (k.as_str(), v.value.as_deref()))
            .collect()
    }
}

/// `s` quoted for the shell (single quotes) when it needs it, as `set`
/// and `export -p` print values.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,+=@%".contains(c))
    {
        return s.to_string();
    }
    let mut out = String::from("'");
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}
