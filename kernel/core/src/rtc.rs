//! The CMOS real-time clock's registers as a date, and that date as Unix
//! seconds (for `Syscall::BootTime`). The kernel's arch layer reads the
//! raw registers (ports 0x70/0x71) once at boot; everything here is pure.
//!
//! Register values are BCD unless status register B has bit 2 set
//! (binary), and the hour is 12-hour with bit 7 meaning PM unless bit 1
//! (24-hour) is set. The year register holds two digits; the century comes
//! from the century register (0x32 on PC/QEMU) when it holds 19..=99,
//! else the year is taken as 2000 + yy.

/// CMOS register numbers.
pub mod reg {
    /// Seconds.
    pub const SECONDS: u8 = 0x00;
    /// Minutes.
    pub const MINUTES: u8 = 0x02;
    /// Hours (bit 7 = PM in 12-hour mode).
    pub const HOURS: u8 = 0x04;
    /// Day of the month.
    pub const DAY: u8 = 0x07;
    /// Month.
    pub const MONTH: u8 = 0x08;
    /// Year within the century.
    pub const YEAR: u8 = 0x09;
    /// Status register A (bit 7: update in progress).
    pub const STATUS_A: u8 = 0x0a;
    /// Status register B (bit 1: 24-hour, bit 2: binary).
    pub const STATUS_B: u8 = 0x0b;
    /// Century (ACPI FADT default on PCs and QEMU).
    pub const CENTURY: u8 = 0x32;
}

/// Status A: an update is in progress (the time registers may be torn).
pub const STATUS_A_UIP: u8 = 0x80;
/// Status B: hours in 24-hour format.
pub const STATUS_B_24H: u8 = 0x02;
/// Status B: values are binary, not BCD.
pub const STATUS_B_BINARY: u8 = 0x04;

/// The time registers as read, before decoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawRtc {
    /// Seconds register.
    pub seconds: u8,
    /// Minutes register.
    pub minutes: u8,
    /// Hours register.
    pub hours: u8,
    /// Day-of-month register.
    pub day: u8,
    /// Month register.
    pub month: u8,
    /// Year register (two digits).
    pub year: u8,
    /// Century register (may be 0 or garbage on machines without one).
    pub century: u8,
    /// Status register B.
    pub status_b: u8,
}

/// A calendar date and time of day (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Full year (e.g. 2026).
    pub year: u32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59 (60 tolerated).
    pub second: u32,
}

/// A packed BCD byte as binary (`0x59` -> 59); `None` for a nibble above 9.
pub fn bcd_to_bin(v: u8) -> Option<u8> {
    let (hi, lo) = (v >> 4, v & 0x0f);
    (hi <= 9 && lo <= 9).then_some(hi * 10 + lo)
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Decodes the registers; `None` when a value is not valid BCD or out of
/// range (an absent or broken clock).
pub fn decode(raw: &RawRtc) -> Option<DateTime> {
    let binary = raw.status_b & STATUS_B_BINARY != 0;
    let conv = |v: u8| if binary { Some(v) } else { bcd_to_bin(v) };
    let pm = raw.hours & 0x80 != 0;
    let mut hour = u32::from(conv(raw.hours & 0x7f)?);
    if raw.status_b & STATUS_B_24H == 0 {
        // 12-hour clock: 12 AM is 0, 12 PM is 12.
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour %= 12;
        if pm {
            hour += 12;
        }
    }
    let yy = u32::from(conv(raw.year)?);
    let century = conv(raw.century)
        .map(u32::from)
        .filter(|c| (19..=99).contains(c));
    let year = match century {
        Some(c) => c * 100 + yy,
        None => 2000 + yy,
    };
    let dt = DateTime {
        year,
        month: u32::from(conv(raw.month)?),
        day: u32::from(conv(raw.day)?),
        hour,
        minute: u32::from(conv(raw.minutes)?),
        second: u32::from(conv(raw.seconds)?),
    };
    let valid = yy <= 99
        && (1..=12).contains(&dt.month)
        && dt.day >= 1
        && dt.day <= days_in_month(dt.year, dt.month)
        && dt.hour <= 23
        && dt.minute <= 59
        && dt.second <= 60;
    valid.then_some(dt)
}

/// Days from 1970-01-01 to the given date (proleptic Gregorian; dates
/// before 1970 give 0 through [`to_unix`]).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    // Howard Hinnant's algorithm, with the year starting in March.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since 1970-01-01 00:00:00 UTC (0 for earlier dates).
pub fn to_unix(dt: &DateTime) -> u64 {
    let days = days_from_civil(dt.year, dt.month, dt.day);
    let secs = days * 86_400
        + i64::from(dt.hour) * 3600
        + i64::from(dt.minute) * 60
        + i64::from(dt.second);
    u64::try_from(secs).unwrap_or(0)
}

/// The boot time from the registers: Unix seconds, 0 if unreadable.
pub fn boot_seconds(raw: &RawRtc) -> u64 {
    decode(raw).map_or(0, |dt| to_unix(&dt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bcd(v: u8) -> u8 {
        (v / 10) << 4 | (v % 10)
    }

    fn raw_bcd(y: u32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> RawRtc {
        RawRtc {
            seconds: bcd(s),
            minutes: bcd(mi),
            hours: bcd(h),
            day: bcd(d),
            month: bcd(mo),
            year: bcd((y % 100) as u8),
            century: bcd((y / 100) as u8),
            status_b: STATUS_B_24H,
        }
    }

    #[test]
    fn bcd_conversion() {
        assert_eq!(bcd_to_bin(0x00), Some(0));
        assert_eq!(bcd_to_bin(0x09), Some(9));
        assert_eq!(bcd_to_bin(0x10), Some(10));
        assert_eq!(bcd_to_bin(0x59), Some(59));
        assert_eq!(bcd_to_bin(0x99), Some(99));
        assert_eq!(bcd_to_bin(0x1a), None);
        assert_eq!(bcd_to_bin(0xa0), None);
        assert_eq!(bcd_to_bin(0xff), None);
    }

    #[test]
    fn known_unix_times() {
        let t = |y, mo, d, h, mi, s| {
            to_unix(&DateTime {
                year: y,
                month: mo,
                day: d,
                hour: h,
                minute: mi,
                second: s,
            })
        };
        assert_eq!(t(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(t(1970, 1, 2, 0, 0, 1), 86_401);
        assert_eq!(t(2000, 1, 1, 0, 0, 0), 946_684_800);
        // 2000 is a leap year (divisible by 400): Feb 29 exists.
        assert_eq!(t(2000, 2, 29, 0, 0, 0), 951_782_400);
        assert_eq!(t(2000, 3, 1, 0, 0, 0), 951_868_800);
        assert_eq!(t(2001, 9, 9, 1, 46, 40), 1_000_000_000);
        assert_eq!(t(2024, 2, 29, 12, 0, 0), 1_709_208_000);
        assert_eq!(t(2038, 1, 19, 3, 14, 8), 1 << 31);
        assert_eq!(t(2100, 3, 1, 0, 0, 0), 4_107_542_400);
        // Before the epoch: 0.
        assert_eq!(t(1969, 12, 31, 23, 59, 59), 0);
    }

    #[test]
    fn bcd_registers_decode() {
        let raw = raw_bcd(2026, 12, 5, 14, 37, 31);
        assert_eq!(
            decode(&raw),
            Some(DateTime {
                year: 2026,
                month: 12,
                day: 5,
                hour: 14,
                minute: 37,
                second: 31
            })
        );
        assert_eq!(boot_seconds(&raw), 1_796_481_451);
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let mut raw = RawRtc {
            seconds: 40,
            minutes: 46,
            hours: 1,
            day: 9,
            month: 9,
            year: 1,
            century: 20,
            status_b: STATUS_B_BINARY | STATUS_B_24H,
        };
        assert_eq!(boot_seconds(&raw), 1_000_000_000);
        // 12-hour, binary: 1 AM.
        raw.status_b = STATUS_B_BINARY;
        assert_eq!(boot_seconds(&raw), 1_000_000_000);
        // 12 AM is midnight, 12 PM noon, 1 PM 13:00 (BCD, 12-hour).
        let mut r = raw_bcd(2026, 1, 1, 12, 0, 0);
        r.status_b = 0;
        assert_eq!(decode(&r).map(|d| d.hour), Some(0));
        r.hours = 0x80 | 0x12;
        assert_eq!(decode(&r).map(|d| d.hour), Some(12));
        r.hours = 0x80 | 0x01;
        assert_eq!(decode(&r).map(|d| d.hour), Some(13));
        r.hours = 0x13; // hour 13 in 12-hour mode: invalid
        assert_eq!(decode(&r), None);
    }

    #[test]
    fn century_register_absent_means_2000s() {
        let mut raw = raw_bcd(2026, 6, 1, 0, 0, 0);
        raw.century = 0;
        assert_eq!(decode(&raw).map(|d| d.year), Some(2026));
        raw.century = 0xff;
        assert_eq!(decode(&raw).map(|d| d.year), Some(2026));
        let raw = raw_bcd(1999, 12, 31, 23, 59, 59);
        assert_eq!(boot_seconds(&raw), 946_684_799);
    }

    #[test]
    fn garbage_reads_as_zero() {
        // An absent clock reads 0xff everywhere.
        let raw = RawRtc {
            seconds: 0xff,
            minutes: 0xff,
            hours: 0xff,
            day: 0xff,
            month: 0xff,
            year: 0xff,
            century: 0xff,
            status_b: 0xff,
        };
        assert_eq!(decode(&raw), None);
        assert_eq!(boot_seconds(&raw), 0);
        // Day 0, month 13, Feb 29 of a non-leap year, Feb 30.
        for (mo, d, y) in [(1, 0, 2026), (13, 1, 2026), (2, 29, 2026), (2, 30, 2024)] {
            assert_eq!(boot_seconds(&raw_bcd(y, mo, d, 0, 0, 0)), 0, "{y}-{mo}-{d}");
        }
        assert_ne!(boot_seconds(&raw_bcd(2024, 2, 29, 0, 0, 0)), 0);
        // 2100 is not a leap year.
        assert_eq!(boot_seconds(&raw_bcd(2100, 2, 29, 0, 0, 0)), 0);
    }
}
