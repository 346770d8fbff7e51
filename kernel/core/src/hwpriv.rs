//! The hardware part of a privilege record: the IRQ lines a process may
//! hook and the physical memory ranges it may have mapped, plus the
//! per-process time accounting behind the `Times` call.
//!
//! The kernel keeps one [`HwPrivileges`] per process and checks `IrqHook`
//! and `MapPhys` against it; the record is changed by the `SetIrqPriv` and
//! `SetMemPriv` kernel calls (made by RS / PM, who hold those call bits).

use crate::range::AddrRange;
use alloc::vec::Vec;

/// Number of legacy IRQ lines.
pub const IRQ_LINES: u32 = 16;
/// Page size the memory ranges are aligned to.
const PAGE: u64 = 4096;

/// Why a hardware-privilege change or check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwPrivError {
    /// A malformed argument: a line above 15, an unaligned, empty or
    /// wrapping range, or too many ranges.
    Invalid,
    /// Not in the record.
    Denied,
}

impl HwPrivError {
    /// The error code user space sees.
    pub fn errno(self) -> abi::Errno {
        match self {
            Self::Invalid => abi::Errno::Inval,
            Self::Denied => abi::Errno::Perm,
        }
    }
}

/// IRQ lines and physical memory ranges of one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HwPrivileges {
    /// Bit `n` set: the process may hook IRQ line `n`.
    irq_lines: u16,
    /// Physical ranges it may have mapped, page-aligned.
    mem: Vec<AddrRange>,
}

impl HwPrivileges {
    /// No IRQ lines, no memory: plain user processes.
    pub const fn none() -> Self {
        Self {
            irq_lines: 0,
            mem: Vec::new(),
        }
    }

    /// Every IRQ line, no memory ranges: trusted boot programs until their
    /// manager narrows it.
    pub const fn boot() -> Self {
        Self {
            irq_lines: u16::MAX,
            mem: Vec::new(),
        }
    }

    /// Replaces the IRQ line set with `mask` (bit `n` = line `n`).
    pub fn set_irq_lines(&mut self, mask: u64) -> Result<(), HwPrivError> {
        self.irq_lines = u16::try_from(mask).map_err(|_| HwPrivError::Invalid)?;
        Ok(())
    }

    /// The IRQ line set.
    pub const fn irq_lines(&self) -> u16 {
        self.irq_lines
    }

    /// Checks that `line` may be hooked.
    pub fn may_hook(&self, line: u64) -> Result<u8, HwPrivError> {
        let line = u8::try_from(line)
            .ok()
            .filter(|&l| u32::from(l) < IRQ_LINES)
            .ok_or(HwPrivError::Invalid)?;
        if self.irq_lines & (1 << line) == 0 {
            return Err(HwPrivError::Denied);
        }
        Ok(line)
    }

    /// Adds the physical range `start .. start + len` (page-aligned,
    /// nonempty); at most `max` ranges.
    pub fn add_mem(&mut self, start: u64, len: u64, max: usize) -> Result<(), HwPrivError> {
        if !start.is_multiple_of(PAGE)
            || !len.is_multiple_of(PAGE)
            || len == 0
            || self.mem.len() >= max
        {
            return Err(HwPrivError::Invalid);
        }
        let r = AddrRange::from_len(start, len).ok_or(HwPrivError::Invalid)?;
        self.mem.push(r);
        Ok(())
    }

    /// Forgets every memory range.
    pub fn clear_mem(&mut self) {
        self.mem.clear();
    }

    /// Checks that all of `range` lies inside one recorded memory range.
    pub fn may_map(&self, range: &AddrRange) -> Result<(), HwPrivError> {
        if range.is_empty() {
            return Err(HwPrivError::Invalid);
        }
        if self.mem.iter().any(|m| m.contains_range(range)) {
            Ok(())
        } else {
            Err(HwPrivError::Denied)
        }
    }
}

/// User and system time of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Clock ticks that interrupted the process in user mode.
    pub user_ticks: u64,
    /// TSC cycles the kernel spent handling the process's traps.
    pub sys_cycles: u64,
}

impl CpuTimes {
    /// System time in clock ticks, given the measured TSC cycles per tick
    /// (0 = not measured yet, which reports 0).
    pub fn sys_ticks(&self, cycles_per_tick: u64) -> u64 {
        self.sys_cycles.checked_div(cycles_per_tick).unwrap_or(0)
    }
}

/// Running estimate of TSC cycles per clock tick, from the TSC value at
/// each tick (exponential average, 1/8 weight for the new sample).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TscRate {
    last: Option<u64>,
    per_tick: u64,
}

impl TscRate {
    /// Records the TSC at a clock tick.
    pub fn tick(&mut self, tsc: u64) {
        if let Some(last) = self.last {
            let delta = tsc.wrapping_sub(last);
            self.per_tick = if self.per_tick == 0 {
                delta
            } else {
                (self.per_tick * 7 + delta) / 8
            };
        }
        self.last = Some(tsc);
    }

    /// Cycles per tick (0 until two ticks were seen).
    pub const fn per_tick(&self) -> u64 {
        self.per_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irq_lines_are_checked() {
        let mut p = HwPrivileges::none();
        assert_eq!(p.may_hook(4), Err(HwPrivError::Denied));
        p.set_irq_lines(1 << 4).unwrap();
        assert_eq!(p.may_hook(4), Ok(4));
        assert_eq!(p.may_hook(3), Err(HwPrivError::Denied));
        assert_eq!(p.may_hook(16), Err(HwPrivError::Invalid));
        assert_eq!(p.may_hook(u64::MAX), Err(HwPrivError::Invalid));
        assert_eq!(p.set_irq_lines(1 << 16), Err(HwPrivError::Invalid));
        assert_eq!(p.irq_lines(), 1 << 4);
        assert_eq!(HwPrivileges::boot().may_hook(15), Ok(15));
    }

    #[test]
    fn memory_ranges_are_checked() {
        let mut p = HwPrivileges::boot();
        let page = |a: u64, n: u64| AddrRange::from_len(a, n * PAGE).unwrap();
        assert_eq!(p.may_map(&page(0xb8000, 1)), Err(HwPrivError::Denied));
        p.add_mem(0xb8000, 2 * PAGE, 8).unwrap();
        assert_eq!(p.may_map(&page(0xb8000, 2)), Ok(()));
        assert_eq!(p.may_map(&page(0xb9000, 1)), Ok(()));
        assert_eq!(p.may_map(&page(0xb9000, 2)), Err(HwPrivError::Denied));
        assert_eq!(p.may_map(&page(0xb7000, 1)), Err(HwPrivError::Denied));
        assert_eq!(p.may_map(&page(0xb8000, 0)), Err(HwPrivError::Invalid));
        assert_eq!(p.add_mem(0xb8001, PAGE, 8), Err(HwPrivError::Invalid));
        assert_eq!(p.add_mem(0xb8000, 0, 8), Err(HwPrivError::Invalid));
        assert_eq!(
            p.add_mem(u64::MAX - 4095, PAGE * 2, 8),
            Err(HwPrivError::Invalid)
        );
        assert_eq!(p.add_mem(0, PAGE, 1), Err(HwPrivError::Invalid));
        p.clear_mem();
        assert_eq!(p.may_map(&page(0xb8000, 1)), Err(HwPrivError::Denied));
    }

    #[test]
    fn times_convert_with_the_measured_rate() {
        let mut rate = TscRate::default();
        rate.tick(1_000);
        assert_eq!(rate.per_tick(), 0);
        rate.tick(11_000);
        assert_eq!(rate.per_tick(), 10_000);
        rate.tick(21_800);
        assert_eq!(rate.per_tick(), 10_100);
        let t = CpuTimes {
            user_ticks: 3,
            sys_cycles: 25_000,
        };
        assert_eq!(t.sys_ticks(0), 0);
        assert_eq!(t.sys_ticks(10_000), 2);
    }
}
