//! Anchored glob matching for subscription patterns: `*` matches any run of
//! characters (including none), `?` exactly one, everything else itself.

/// Whether `text` matches `pattern` entirely.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: &[u8] = pattern.as_bytes();
    let t: &[u8] = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Position after the last `*` seen and the text position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi + 1, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn cases() {
        assert!(glob_match("drv.blk.*", "drv.blk.sim0"));
        assert!(glob_match("drv.blk.*", "drv.blk."));
        assert!(!glob_match("drv.blk.*", "drv.chr.x"));
        assert!(glob_match("*", ""));
        assert!(glob_match("echo?", "echo2"));
        assert!(!glob_match("echo?", "echo"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("*.st.*", "sef.st.counter"));
        assert!(!glob_match("echo", "echo1"));
        assert!(glob_match("**x", "x"));
    }
}
