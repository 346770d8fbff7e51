//! Owners for `chown`: `user[:group]` (also `user.group`, `:group`), each
//! a number or a name looked up in `/etc/passwd` / `/etc/group` text
//! (`name:password:id:...` lines).

/// The id of `name` in a passwd or group file's text.
pub fn lookup_id(db: &str, name: &str) -> Option<u16> {
    db.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.next()?;
        f.next()?.trim().parse().ok()
    })
}

/// The name of `id` in a passwd or group file's text.
pub fn lookup_name(db: &str, id: u16) -> Option<&str> {
    db.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        f.next()?;
        (f.next()?.trim().parse::<u16>().ok()? == id).then_some(name)
    })
}

/// Splits an owner spec into its user and group parts (either may be
/// missing: `u`, `u:g`, `:g`, `u:`; `.` also separates when there is no
/// `:`).
pub fn split(spec: &str) -> (Option<&str>, Option<&str>) {
    let (u, g) = match spec.split_once(':').or_else(|| spec.split_once('.')) {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    (
        Some(u).filter(|s| !s.is_empty()),
        g.filter(|s| !s.is_empty()),
    )
}

/// A user or group: a decimal number, else a name in `db`.
pub fn resolve(part: &str, db: Option<&str>) -> Option<u16> {
    if part.bytes().all(|b| b.is_ascii_digit()) {
        return part.parse().ok();
    }
    lookup_id(db?, part)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/:/bin/sh\nbin:*:2:2::/bin:\nast:x:8:3:Andy:/home/ast:/bin/sh\nuser::1000:1000::/home/user:/bin/sh\n";

    #[test]
    fn lookups() {
        assert_eq!(lookup_id(PASSWD, "ast"), Some(8));
        assert_eq!(lookup_id(PASSWD, "user"), Some(1000));
        assert_eq!(lookup_id(PASSWD, "nobody"), None);
        assert_eq!(lookup_id("broken\nast:x\n", "ast"), None);
        assert_eq!(lookup_name(PASSWD, 0), Some("root"));
        assert_eq!(lookup_name(PASSWD, 2), Some("bin"));
        assert_eq!(lookup_name(PASSWD, 7), None);
    }

    #[test]
    fn owner_specs() {
        assert_eq!(split("10"), (Some("10"), None));
        assert_eq!(split("10:20"), (Some("10"), Some("20")));
        assert_eq!(split(":20"), (None, Some("20")));
        assert_eq!(split("ast:"), (Some("ast"), None));
        assert_eq!(split("ast.staff"), (Some("ast"), Some("staff")));
        assert_eq!(resolve("42", None), Some(42));
        assert_eq!(resolve("70000", None), None);
        assert_eq!(resolve("ast", Some(PASSWD)), Some(8));
        assert_eq!(resolve("ast", None), None);
        assert_eq!(resolve("ghost", Some(PASSWD)), None);
    }
}
