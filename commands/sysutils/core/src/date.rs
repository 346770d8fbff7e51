//! `date`'s formatting: a `strftime` subset over [`ulib::time::DateTime`]
//! (always UTC, the only zone this system knows).

use alloc::string::String;
use core::fmt::Write;
use ulib::time::{DateTime, MONTHS, WEEKDAYS};

/// `date` without a format: `Sun Sep  9 01:46:40 UTC 2001`.
pub const DEFAULT_FORMAT: &str = "%a %b %e %H:%M:%S UTC %Y";

const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Formats Unix seconds `secs` by `fmt`: `%a %A %b %B %c %C %d %D %e %F
/// %h %H %I %j %k %l %m %M %n %p %r %R %s %S %t %T %u %w %y %Y %z %Z %%`;
/// an unknown conversion is copied as is.
pub fn format(secs: i64, fmt: &str) -> String {
    let t = DateTime::from_unix(secs);
    let mut out = String::new();
    let mut chars = fmt.chars();
    let h12 = if t.hour.is_multiple_of(12) {
        12
    } else {
        t.hour % 12
    };
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(conv) = chars.next() else {
            out.push('%');
            break;
        };
        let _ = match conv {
            'a' => write!(out, "{}", WEEKDAYS[t.weekday as usize]),
            'A' => write!(out, "{}", LONG_DAYS[t.weekday as usize]),
            'b' | 'h' => write!(out, "{}", MONTHS[t.month as usize - 1]),
            'B' => write!(out, "{}", LONG_MONTHS[t.month as usize - 1]),
            'c' => write!(out, "{}", format(secs, "%a %b %e %H:%M:%S %Y")),
            'C' => write!(out, "{:02}", t.year.div_euclid(100)),
            'd' => write!(out, "{:02}", t.day),
            'D' => write!(out, "{}", format(secs, "%m/%d/%y")),
            'e' => write!(out, "{:2}", t.day),
            'F' => write!(out, "{}", format(secs, "%Y-%m-%d")),
            'H' => write!(out, "{:02}", t.hour),
            'I' => write!(out, "{h12:02}"),
            'j' => write!(out, "{:03}", t.yday + 1),
            'k' => write!(out, "{:2}", t.hour),
            'l' => write!(out, "{h12:2}"),
            'm' => write!(out, "{:02}", t.month),
            'M' => write!(out, "{:02}", t.minute),
            'n' => writeln!(out),
            'p' => write!(out, "{}", if t.hour < 12 { "AM" } else { "PM" }),
            'r' => write!(out, "{}", format(secs, "%I:%M:%S %p")),
            'R' => write!(out, "{}", format(secs, "%H:%M")),
            's' => write!(out, "{secs}"),
            'S' => write!(out, "{:02}", t.second),
            't' => write!(out, "\t"),
            'T' => write!(out, "{}", format(secs, "%H:%M:%S")),
            'u' => write!(out, "{}", if t.weekday == 0 { 7 } else { t.weekday }),
            'w' => write!(out, "{}", t.weekday),
            'y' => write!(out, "{:02}", t.year.rem_euclid(100)),
            'Y' => write!(out, "{}", t.year),
            'z' => write!(out, "+0000"),
            'Z' => write!(out, "UTC"),
            '%' => write!(out, "%"),
            other => write!(out, "%{other}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected texts are GNU `date -u -d @SECS +FORMAT`.
    #[test]
    fn formats_like_gnu_date() {
        assert_eq!(format(0, DEFAULT_FORMAT), "Thu Jan  1 00:00:00 UTC 1970");
        assert_eq!(
            format(1_000_000_000, DEFAULT_FORMAT),
            "Sun Sep  9 01:46:40 UTC 2001"
        );
        assert_eq!(format(1_000_000_000, "%c"), "Sun Sep  9 01:46:40 2001");
        assert_eq!(
            format(
                1_000_000_000,
                "%D %T %F %R %r %p %I %l %k %j %u %w %y %C %Z %z %A %B %h %%"
            ),
            "09/09/01 01:46:40 2001-09-09 01:46 01:46:40 AM AM 01  1  1 252 7 0 01 20 UTC +0000 Sunday September Sep %"
        );
        // A leap day.
        assert_eq!(
            format(1_709_208_000, DEFAULT_FORMAT),
            "Thu Feb 29 12:00:00 UTC 2024"
        );
        assert_eq!(
            format(1_709_208_000, "%a %j %u %w %I %p %l"),
            "Thu 060 4 4 12 PM 12"
        );
        assert_eq!(format(1_709_208_000, "%s"), "1709208000");
        assert_eq!(format(5, "%Q and a trailing %"), "%Q and a trailing %");
    }
}
