//! Block counts for `du` and `df`, and calendar dates for `stat`.

use alloc::format;
use alloc::string::String;

/// Units of `unit` bytes needed for `bytes` (rounded up).
pub fn units(bytes: u64, unit: u64) -> u64 {
    if unit == 0 {
        return 0;
    }
    bytes.div_ceil(unit)
}

/// The space a file of `size` bytes takes in blocks of `blksize` bytes
/// (a file holds whole blocks), in bytes.
pub fn allocated(size: u64, blksize: u32) -> u64 {
    let b = u64::from(blksize.max(1));
    units(size, b).saturating_mul(b)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for Unix seconds `secs`.
pub fn date_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// (year, month, day) of day `days` since 1970-01-01 (Howard Hinnant's
/// algorithm).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_counts() {
        assert_eq!(units(0, 1024), 0);
        assert_eq!(units(1, 1024), 1);
        assert_eq!(units(1024, 1024), 1);
        assert_eq!(units(1025, 512), 3);
        assert_eq!(units(5, 0), 0);
        assert_eq!(allocated(1, 4096), 4096);
        assert_eq!(allocated(8192, 4096), 8192);
        assert_eq!(allocated(0, 4096), 0);
        assert_eq!(allocated(3, 0), 3);
    }

    #[test]
    fn dates() {
        assert_eq!(date_time(0), "1970-01-01 00:00:00");
        assert_eq!(date_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(date_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(date_time(4_102_444_799), "2099-12-31 23:59:59");
    }
}
