//! Path names for `cp`, `mv`, `ln` and `rm`: last components, joining,
//! where a source lands in a target directory, and the "into itself"
//! check of a recursive copy or a move.

use alloc::string::String;
use alloc::vec::Vec;

/// The last component of `path`, trailing slashes ignored (`/` for the
/// root, `""` for an empty path).
pub fn basename(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        return if path.is_empty() { "" } else { "/" };
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// The directory part of `path` (`.` when there is none, `/` for the
/// root's children).
pub fn dirname(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        None => {
            if path.starts_with('/') {
                "/"
            } else {
                "."
            }
        }
        Some(i) => {
            let d = t[..i].trim_end_matches('/');
            if d.is_empty() { "/" } else { d }
        }
    }
}

/// `dir` and `name` joined with one slash.
pub fn join(dir: &str, name: &str) -> String {
    let mut s = String::from(dir);
    if !s.ends_with('/') && !s.is_empty() {
        s.push('/');
    }
    s.push_str(name.trim_start_matches('/'));
    s
}

/// Where `src` goes for `cp src dst` / `mv` / `ln`: inside `dst` under
/// its own name when `dst` is a directory, else `dst` itself.
pub fn target(src: &str, dst: &str, dst_is_dir: bool) -> String {
    if dst_is_dir {
        join(dst, basename(src))
    } else {
        String::from(dst)
    }
}

/// `path` made absolute against `cwd` and normalised (`.`, `..`, repeated
/// slashes), without looking at the file system.
pub fn normalize(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let base = if path.starts_with('/') { "" } else { cwd };
    for c in base.split('/').chain(path.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether normalised absolute path `inner` is `outer` or lies below it
/// (copying or moving `outer` to `inner` would never end).
pub fn is_within(outer: &str, inner: &str) -> bool {
    if outer == "/" {
        return true;
    }
    inner == outer
        || inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Skips `.` and `..` in directory listings.
pub fn is_dot(name: &str) -> bool {
    name == "." || name == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames_and_dirnames() {
        assert_eq!(basename("/a/b/c"), "c");
        assert_eq!(basename("a/b/"), "b");
        assert_eq!(basename("c"), "c");
        assert_eq!(basename("/"), "/");
        assert_eq!(basename("//"), "/");
        assert_eq!(basename(""), "");
        assert_eq!(dirname("/a/b/c"), "/a/b");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("a"), ".");
        assert_eq!(dirname("a/b/"), "a");
        assert_eq!(dirname("/"), "/");
        assert_eq!(dirname("a//b"), "a");
    }

    #[test]
    fn joining_and_targets() {
        assert_eq!(join("/tmp", "x"), "/tmp/x");
        assert_eq!(join("/tmp/", "x"), "/tmp/x");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("d", "/x"), "d/x");
        assert_eq!(target("/etc/motd", "/tmp", true), "/tmp/motd");
        assert_eq!(target("/etc/motd", "/tmp/m", false), "/tmp/m");
        assert_eq!(target("src/", "dst", true), "dst/src");
        // The paths of a recursive copy: each child joins its parent's.
        let top = target("/home/user", "/tmp/copy", false);
        assert_eq!(join(&join(&top, "sub"), "f.txt"), "/tmp/copy/sub/f.txt");
    }

    #[test]
    fn normalising_and_containment() {
        assert_eq!(normalize("/home", "user/../x/./y"), "/home/x/y");
        assert_eq!(normalize("/home", "/a//b/"), "/a/b");
        assert_eq!(normalize("/", ".."), "/");
        assert!(is_within("/a", "/a"));
        assert!(is_within("/a", "/a/b"));
        assert!(!is_within("/a", "/ab"));
        assert!(!is_within("/a/b", "/a"));
        assert!(is_within("/", "/x"));
        assert!(is_dot(".") && is_dot("..") && !is_dot("...") && !is_dot(".x"));
    }
}
