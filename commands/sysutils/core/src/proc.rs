//! The pure parts of `kill`, `sleep` and `ps`: signal names and numbers,
//! durations, and process-table lines.

use alloc::string::String;
use ulib::process::{ProcInfo, state};
use ulib::signal::{NSIG, name};

/// The number of a signal given as a number (`9`), a name (`KILL`,
/// `kill`, `SIGKILL`) or, for `kill -l`, an exit status above 128
/// (`137` is `KILL`) when `status` is set. 0 is accepted by number (the
/// existence check of `kill -0`).
pub fn parse_signal(s: &str, status: bool) -> Option<u32> {
    if let Ok(n) = s.parse::<u32>() {
        let n = if status && n > 128 { n - 128 } else { n };
        return (n < NSIG).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    (1..NSIG).find(|&n| &name(n)[3..] == bare)
}

/// `kill -l`: the signal names without `SIG`, one line.
pub fn signal_list() -> String {
    let names: alloc::vec::Vec<&str> = (1..NSIG)
        .map(name)
        .filter(|n| *n != "SIG?")
        .map(|n| &n[3..])
        .collect();
    names.join(" ")
}

/// A duration as `sleep` takes it: a decimal number of seconds with an
/// optional fraction and unit suffix (`s`, `m`, `h`, `d`), in
/// milliseconds (rounded up). `None` for anything else.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b's' => (&s[..s.len() - 1], 1_000u64),
        b'm' => (&s[..s.len() - 1], 60_000),
        b'h' => (&s[..s.len() - 1], 3_600_000),
        b'd' => (&s[..s.len() - 1], 86_400_000),
        _ => (s, 1_000),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = if int.is_empty() {
        0
    } else {
        int.parse::<u64>().ok()?
    };
    let mut ms = whole.checked_mul(mult)?;
    // The fraction, to a microsecond of the unit, rounded up to a ms.
    let mut f: u64 = 0;
    let mut scale: u64 = 1;
    for b in frac.bytes().take(9) {
        f = f * 10 + u64::from(b - b'0');
        scale *= 10;
    }
    ms = ms.checked_add((f * mult).div_ceil(scale))?;
    Some(ms)
}

/// A process state as one letter: R running, W waiting for a child, S in
/// sigsuspend, T stopped, Z zombie, B being forked or exec'd.
pub fn state_letter(s: u32) -> char {
    match s {
        state::RUNNING => 'R',
        state::WAITING => 'W',
        state::SIGSUSPENDED => 'S',
        state::STOPPED => 'T',
        state::ZOMBIE => 'Z',
        state::BUSY => 'B',
        _ => '?',
    }
}

/// The header of `ps`.
pub const PS_HEADER: &str = "  PID  PPID   UID STATE    TIME NAME";

/// One `ps` line: pid, parent, real uid, state, CPU time (user + system,
/// `M:SS`) and name.
pub fn ps_line(p: &ProcInfo, hz: u64) -> String {
    let secs = (p.user_ticks + p.sys_ticks) / hz.max(1);
    alloc::format!(
        "{:>5} {:>5} {:>5} {:<5} {:>4}:{:02} {}",
        p.pid,
        p.ppid,
        p.uid,
        state_letter(p.state),
        secs / 60,
        secs % 60,
        p.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulib::signal::{SIGHUP, SIGKILL, SIGSYS, SIGTERM};

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("9", false), Some(SIGKILL));
        assert_eq!(parse_signal("KILL", false), Some(SIGKILL));
        assert_eq!(parse_signal("kill", false), Some(SIGKILL));
        assert_eq!(parse_signal("SIGTERM", false), Some(SIGTERM));
        assert_eq!(parse_signal("sigterm", false), Some(SIGTERM));
        assert_eq!(parse_signal("0", false), Some(0));
        assert_eq!(parse_signal("32", false), None);
        assert_eq!(parse_signal("NOPE", false), None);
        assert_eq!(parse_signal("", false), None);
        assert_eq!(parse_signal("SIG", false), None);
        // kill -l 137: the signal that ended a process with status 137.
        assert_eq!(parse_signal("137", true), Some(SIGKILL));
        assert_eq!(parse_signal("137", false), None);
        let list = signal_list();
        assert!(list.starts_with("HUP INT QUIT"), "{list}");
        assert!(list.ends_with("SYS"), "{list}");
        assert_eq!(list.split(' ').count(), 30);
        assert_eq!(name(SIGHUP), "SIGHUP");
        assert_eq!(name(SIGSYS), "SIGSYS");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1"), Some(1000));
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("0.5"), Some(500));
        assert_eq!(parse_duration_ms(".25"), Some(250));
        assert_eq!(parse_duration_ms("1.0001"), Some(1001));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1.5m"), Some(90_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("1d"), Some(86_400_000));
        for bad in [
            "",
            ".",
            "x",
            "-1",
            "1.2.3",
            "1x",
            "s",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn ps_lines() {
        let p = ProcInfo {
            pid: 1,
            ppid: 0,
            pgrp: 1,
            uid: 0,
            euid: 0,
            state: state::WAITING,
            user_ticks: 250,
            sys_ticks: 6_000,
            name: "init".into(),
        };
        assert_eq!(ps_line(&p, 100), "    1     0     0 W        1:02 init");
        assert_eq!(PS_HEADER.find("NAME"), ps_line(&p, 100).find("init"));
        assert_eq!(state_letter(state::ZOMBIE), 'Z');
        assert_eq!(state_letter(99), '?');
    }
}
