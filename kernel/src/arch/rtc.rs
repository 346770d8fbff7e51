//! The CMOS real-time clock, read once at boot for `Syscall::BootTime`.
//! Only the port I/O is here; decoding (BCD, 12-hour, century) and the
//! conversion to Unix seconds are `kernel_core::rtc`, tested on the host.

use super::cpu::{inb, outb};
use kernel_core::rtc::{RawRtc, STATUS_A_UIP, reg};

const CMOS_INDEX: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;

fn read(r: u8) -> u8 {
    outb(CMOS_INDEX, r);
    inb(CMOS_DATA)
}

fn update_in_progress() -> bool {
    read(reg::STATUS_A) & STATUS_A_UIP != 0
}

fn snapshot() -> RawRtc {
    RawRtc {
        seconds: read(reg::SECONDS),
        minutes: read(reg::MINUTES),
        hours: read(reg::HOURS),
        day: read(reg::DAY),
        month: read(reg::MONTH),
        year: read(reg::YEAR),
        century: read(reg::CENTURY),
        status_b: read(reg::STATUS_B),
    }
}

/// Unix seconds now according to the RTC, 0 if it cannot be read (no
/// clock, garbage, or it never settles).
pub fn boot_seconds() -> u64 {
    // Wait out an update (it lasts under 2 ms; bounded so a clock whose
    // UIP bit is stuck cannot hang the boot), then read until two reads in
    // a row agree, so no value is torn by an update between registers.
    let mut last: Option<RawRtc> = None;
    for _ in 0..1_000_000 {
        if update_in_progress() {
            continue;
        }
        let now = snapshot();
        if last == Some(now) {
            return kernel_core::rtc::boot_seconds(&now);
        }
        last = Some(now);
    }
    0
}
