//! Path names: joining and normalising (`.`, `..`, repeated slashes), as
//! the working-directory bookkeeping of [`crate::fs::chdir`] needs.

use alloc::string::String;
use alloc::vec::Vec;

/// `path` made absolute against `base` (an absolute path) and normalised:
/// no `.` or empty components, `..` removes the previous component (and
/// stays at `/` at the top).
pub fn resolve(base: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let full = if path.starts_with('/') {
        [path, ""]
    } else {
        [base, path]
    };
    for piece in full {
        for c in piece.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
    }
    let mut out = String::new();
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The last component of `path` (`""` for `/`).
pub fn file_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// `dir` and `name` joined with one slash.
pub fn join(dir: &str, name: &str) -> String {
    let mut s = String::from(dir);
    if !s.ends_with('/') {
        s.push('/');
    }
    s.push_str(name.trim_start_matches('/'));
    s
}

/// The places [`crate::process::execvp`] tries for program `name`: the
/// name itself if it contains a `/`, else each directory of `path_var`
/// (`:`-separated; an empty entry is the working directory) joined with
/// it; `/bin:/sbin` when there is no `PATH`.
pub fn search(name: &str, path_var: Option<&str>) -> Vec<String> {
    if name.contains('/') {
        return alloc::vec![String::from(name)];
    }
    path_var
        .unwrap_or("/bin:/sbin")
        .split(':')
        .map(|d| {
            if d.is_empty() {
                String::from(name)
            } else {
                join(d, name)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_dotdot() {
        assert_eq!(resolve("/", "tmp"), "/tmp");
        assert_eq!(resolve("/home/user", "../x/./y//"), "/home/x/y");
        assert_eq!(resolve("/a", "/b/../c"), "/c");
        assert_eq!(resolve("/", "../.."), "/");
        assert_eq!(resolve("/a/b", "."), "/a/b");
    }

    #[test]
    fn program_search() {
        assert_eq!(search("/bin/x", Some("/a")), ["/bin/x"]);
        assert_eq!(search("./x", None), ["./x"]);
        assert_eq!(search("true", None), ["/bin/true", "/sbin/true"]);
        assert_eq!(
            search("ls", Some("/usr/bin::/bin")),
            ["/usr/bin/ls", "ls", "/bin/ls"]
        );
    }

    #[test]
    fn names_and_joins() {
        assert_eq!(file_name("/bin/child"), "child");
        assert_eq!(file_name("/tmp/"), "tmp");
        assert_eq!(file_name("/"), "");
        assert_eq!(join("/bin", "true"), "/bin/true");
        assert_eq!(join("/", "/etc"), "/etc");
    }
}
