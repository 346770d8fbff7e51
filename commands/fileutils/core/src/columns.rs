//! The column layout of `ls` on a terminal (`ls -C`): names down the
//! columns, as many columns as fit the width, two blanks apart.

use alloc::string::String;
use alloc::vec::Vec;

/// The lines showing `names` in columns within `width` characters (one
/// name per line when even two columns do not fit).
pub fn columns<S: AsRef<str>>(names: &[S], width: usize) -> Vec<String> {
    let n = names.len();
    if n == 0 {
        return Vec::new();
    }
    let longest = names
        .iter()
        .map(|s| s.as_ref().chars().count())
        .max()
        .unwrap_or(0);
    let colw = longest + 2;
    let fit = (width.max(1) / colw.max(1)).max(1);
    let rows = n.div_ceil(fit);
    let cols = n.div_ceil(rows);
    let mut out = Vec::with_capacity(rows);
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..cols {
            let Some(name) = names.get(c * rows + r) else {
                break;
            };
            let name = name.as_ref();
            line.push_str(name);
            if names.get((c + 1) * rows + r).is_some() {
                for _ in name.chars().count()..colw {
                    line.push(' ');
                }
            }
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_down_the_columns() {
        let names = ["a", "bb", "ccc", "d", "e"];
        // Column width 5: three fit in 16 characters -> 2 rows, 3 columns.
        assert_eq!(columns(&names, 16), ["a    ccc  e", "bb   d"]);
        // Everything on one line when it fits.
        assert_eq!(columns(&names, 80), ["a    bb   ccc  d    e"]);
        // Too narrow for two columns: one per line.
        assert_eq!(columns(&names, 4), ["a", "bb", "ccc", "d", "e"]);
        assert!(columns::<&str>(&[], 80).is_empty());
        assert_eq!(columns(&["only"], 0), ["only"]);
    }

    #[test]
    fn rows_are_balanced() {
        let names: Vec<String> = (0..10).map(|i| alloc::format!("f{i}")).collect();
        // Width 4 per column, 3 fit in 12: 4 rows, 3 columns.
        let lines = columns(&names, 12);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "f0  f4  f8");
        assert_eq!(lines[3], "f3  f7");
    }
}
