//! Time: clock ticks since boot, the wall-clock time (the kernel's
//! `BootTime`, read from the CMOS clock at boot, plus the uptime), calendar
//! dates from Unix seconds ([`DateTime`], UTC), and sleeping (a `select`
//! with no descriptors and a timeout, answered by VFS).

use crate::errno::Result;

/// Clock ticks per second.
pub const HZ: u64 = rt::abi::CLOCK_HZ;

/// Clock ticks since boot.
pub fn uptime() -> u64 {
    rt::sys::uptime()
}

/// Milliseconds since boot (at tick resolution).
pub fn uptime_ms() -> u64 {
    uptime() * 1000 / HZ
}

/// Sleeps `ms` milliseconds (at least one tick). `EINTR` when a signal
/// handler ran meanwhile.
pub fn sleep_ms(ms: u64) -> Result<()> {
    let us = ms.saturating_mul(1000);
    let secs = (us / 1_000_000) as i64;
    let rest = (us % 1_000_000) as i64;
    crate::fd::select(0, crate::fd::FdSets::default(), Some((secs, rest))).map(drop)
}

/// Sleeps `secs` seconds.
pub fn sleep(secs: u64) -> Result<()> {
    sleep_ms(secs.saturating_mul(1000))
}

/// Wall-clock time: Unix seconds (UTC) now, the kernel's boot time plus
/// the uptime. 0-based (1970) when the kernel could not read its clock.
pub fn now() -> u64 {
    rt::sys::boot_time() + uptime() / HZ
}

/// A calendar date and time of day (UTC) from Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Full year.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59.
    pub second: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
    /// Day of the year, 0-based.
    pub yday: u32,
}

/// Abbreviated day names, Sunday first (`date`, `ls -l`).
pub const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// Abbreviated month names, January first.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

impl DateTime {
    /// The UTC date and time `secs` seconds after 1970-01-01 00:00:00.
    pub fn from_unix(secs: i64) -> DateTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's civil_from_days (years starting in March).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = CUM[month as usize - 1] + day - 1 + u32::from(month > 2 && is_leap(year));
        DateTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
            yday,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymdhms(d: &DateTime) -> (i64, u32, u32, u32, u32, u32) {
        (d.year, d.month, d.day, d.hour, d.minute, d.second)
    }

    #[test]
    fn dates_from_unix_seconds() {
        let d = DateTime::from_unix(0);
        assert_eq!(ymdhms(&d), (1970, 1, 1, 0, 0, 0));
        assert_eq!((d.weekday, d.yday), (4, 0));
        let d = DateTime::from_unix(1_000_000_000);
        assert_eq!(ymdhms(&d), (2001, 9, 9, 1, 46, 40));
        assert_eq!(WEEKDAYS[d.weekday as usize], "Sun");
        // Leap days: 2000 (divisible by 400) and 2024 have Feb 29; 2100 not.
        assert_eq!(
            ymdhms(&DateTime::from_unix(951_782_400)),
            (2000, 2, 29, 0, 0, 0)
        );
        assert_eq!(
            ymdhms(&DateTime::from_unix(951_868_800)),
            (2000, 3, 1, 0, 0, 0)
        );
        let d = DateTime::from_unix(1_709_208_000);
        assert_eq!(ymdhms(&d), (2024, 2, 29, 12, 0, 0));
        assert_eq!((WEEKDAYS[d.weekday as usize], d.yday), ("Thu", 59));
        let d = DateTime::from_unix(4_107_542_400);
        assert_eq!(ymdhms(&d), (2100, 3, 1, 0, 0, 0));
        assert_eq!(d.yday, 59);
        // Last second of a leap year: day 366.
        let d = DateTime::from_unix(1_735_689_599);
        assert_eq!(ymdhms(&d), (2024, 12, 31, 23, 59, 59));
        assert_eq!(d.yday, 365);
        assert_eq!(
            ymdhms(&DateTime::from_unix(1 << 31)),
            (2038, 1, 19, 3, 14, 8)
        );
        // Before the epoch.
        assert_eq!(ymdhms(&DateTime::from_unix(-1)), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn every_day_round_trips_through_the_kernel_conversion() {
        // 1970..2200 day by day: the kernel's date -> seconds and this
        // seconds -> date agree.
        for day in 0..(230 * 366) {
            let secs = day * 86_400 + 3_723;
            let d = DateTime::from_unix(secs);
            let k = counted_days_to_unix(d.year, d.month, d.day) + 3_723;
            assert_eq!(k, secs, "{d:?}");
        }
    }

    /// Days-before-month counting, independent of the algorithm above.
    fn counted_days_to_unix(y: i64, m: u32, d: u32) -> i64 {
        let mut days = 0i64;
        for yy in 1970..y {
            days += if is_leap(yy) { 366 } else { 365 };
        }
        let ml = [
            31,
            if is_leap(y) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        for len in &ml[..m as usize - 1] {
            days += len;
        }
        (days + i64::from(d) - 1) * 86_400
    }
}
