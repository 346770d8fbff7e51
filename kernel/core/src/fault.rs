//! CPU exceptions as fault reports: which vector means what, and how a fault
//! is described when the kernel stops a process or panics.

use core::fmt;

/// The kind of CPU exception, decoded from its vector number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// #DE, vector 0.
    DivideError,
    /// #DB, vector 1.
    Debug,
    /// NMI, vector 2.
    Nmi,
    /// #BP, vector 3 (`int3`).
    Breakpoint,
    /// #OF, vector 4.
    Overflow,
    /// #BR, vector 5.
    BoundRange,
    /// #UD, vector 6.
    InvalidOpcode,
    /// #NM, vector 7.
    DeviceNotAvailable,
    /// #DF, vector 8.
    DoubleFault,
    /// #TS, vector 10.
    InvalidTss,
    /// #NP, vector 11.
    SegmentNotPresent,
    /// #SS, vector 12.
    StackSegment,
    /// #GP, vector 13.
    GeneralProtection,
    /// #PF, vector 14.
    PageFault,
    /// #MF, vector 16.
    X87Float,
    /// #AC, vector 17.
    AlignmentCheck,
    /// #MC, vector 18.
    MachineCheck,
    /// #XM, vector 19.
    SimdFloat,
    /// #VE, vector 20.
    Virtualization,
    /// #CP, vector 21.
    ControlProtection,
    /// Any other vector below 32 (reserved by Intel).
    Reserved(u8),
    /// Not a CPU exception: stopped by another process's `Kill` call.
    Killed,
}

impl FaultKind {
    /// The signal a signal manager sees for this stop.
    pub const fn signal(self) -> u64 {
        match self {
            Self::PageFault | Self::GeneralProtection => abi::SIGSEGV,
            Self::DivideError | Self::Overflow | Self::X87Float | Self::SimdFloat => abi::SIGFPE,
            Self::InvalidOpcode => abi::SIGILL,
            Self::Debug | Self::Breakpoint => abi::SIGTRAP,
            Self::Killed => abi::SIGKILL,
            _ => abi::SIGBUS,
        }
    }

    /// Decodes an exception vector (0..32). Returns `None` for vectors that
    /// are not CPU exceptions.
    pub fn from_vector(vector: u64) -> Option<Self> {
        Some(match vector {
            0 => Self::DivideError,
            1 => Self::Debug,
            2 => Self::Nmi,
            3 => Self::Breakpoint,
            4 => Self::Overflow,
            5 => Self::BoundRange,
            6 => Self::InvalidOpcode,
            7 => Self::DeviceNotAvailable,
            8 => Self::DoubleFault,
            10 => Self::InvalidTss,
            11 => Self::SegmentNotPresent,
            12 => Self::StackSegment,
            13 => Self::GeneralProtection,
            14 => Self::PageFault,
            16 => Self::X87Float,
            17 => Self::AlignmentCheck,
            18 => Self::MachineCheck,
            19 => Self::SimdFloat,
            20 => Self::Virtualization,
            21 => Self::ControlProtection,
            v @ (9 | 15 | 22..=31) => Self::Reserved(v as u8),
            _ => return None,
        })
    }

    /// True for the vectors that push an error code on the stack.
    pub const fn has_error_code(vector: u64) -> bool {
        matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
    }

    /// Human-readable name used in reports (tests match on these).
    pub const fn name(self) -> &'static str {
        match self {
            Self::DivideError => "divide error",
            Self::Debug => "debug exception",
            Self::Nmi => "non-maskable interrupt",
            Self::Breakpoint => "breakpoint",
            Self::Overflow => "overflow",
            Self::BoundRange => "bound range exceeded",
            Self::InvalidOpcode => "invalid opcode",
            Self::DeviceNotAvailable => "device not available",
            Self::DoubleFault => "double fault",
            Self::InvalidTss => "invalid TSS",
            Self::SegmentNotPresent => "segment not present",
            Self::StackSegment => "stack-segment fault",
            Self::GeneralProtection => "general protection fault",
            Self::PageFault => "page fault",
            Self::X87Float => "x87 floating-point exception",
            Self::AlignmentCheck => "alignment check",
            Self::MachineCheck => "machine check",
            Self::SimdFloat => "SIMD floating-point exception",
            Self::Virtualization => "virtualization exception",
            Self::ControlProtection => "control-protection exception",
            Self::Reserved(_) => "reserved exception",
            Self::Killed => "kill request",
        }
    }
}

/// A fault taken by a process (or by the kernel), with the state needed to
/// report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What happened.
    pub kind: FaultKind,
    /// Error code pushed by the CPU (0 when the vector has none).
    pub error_code: u64,
    /// Instruction pointer at the fault.
    pub rip: u64,
    /// Faulting address (CR2) for page faults.
    pub addr: Option<u64>,
}

impl fmt::Display for Fault {
    /// `page fault at 0x1234 (rip 0x40001000, error 0x4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        if let Some(addr) = self.addr {
            write!(f, " at {addr:#x}")?;
        }
        write!(f, " (rip {:#x}", self.rip)?;
        if FaultKind::has_error_code(self.kind_vector()) {
            write!(f, ", error {:#x}", self.error_code)?;
        }
        f.write_str(")")
    }
}

impl Fault {
    fn kind_vector(&self) -> u64 {
        match self.kind {
            FaultKind::DoubleFault => 8,
            FaultKind::InvalidTss => 10,
            FaultKind::SegmentNotPresent => 11,
            FaultKind::StackSegment => 12,
            FaultKind::GeneralProtection => 13,
            FaultKind::PageFault => 14,
            FaultKind::AlignmentCheck => 17,
            FaultKind::ControlProtection => 21,
            FaultKind::Reserved(v) => u64::from(v),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_map_to_signals() {
        assert_eq!(FaultKind::PageFault.signal(), abi::SIGSEGV);
        assert_eq!(FaultKind::GeneralProtection.signal(), abi::SIGSEGV);
        assert_eq!(FaultKind::DivideError.signal(), abi::SIGFPE);
        assert_eq!(FaultKind::InvalidOpcode.signal(), abi::SIGILL);
        assert_eq!(FaultKind::Killed.signal(), abi::SIGKILL);
        assert_eq!(FaultKind::AlignmentCheck.signal(), abi::SIGBUS);
    }
    use alloc::format;

    #[test]
    fn decodes_vectors() {
        assert_eq!(FaultKind::from_vector(0), Some(FaultKind::DivideError));
        assert_eq!(
            FaultKind::from_vector(13),
            Some(FaultKind::GeneralProtection)
        );
        assert_eq!(FaultKind::from_vector(14), Some(FaultKind::PageFault));
        assert_eq!(FaultKind::from_vector(15), Some(FaultKind::Reserved(15)));
        assert_eq!(FaultKind::from_vector(32), None);
        assert_eq!(FaultKind::from_vector(0x80), None);
        assert!(FaultKind::has_error_code(14));
        assert!(!FaultKind::has_error_code(0));
    }

    #[test]
    fn formats_reports() {
        let pf = Fault {
            kind: FaultKind::PageFault,
            error_code: 4,
            rip: 0x4000_1000,
            addr: Some(0xdead_0000),
        };
        assert_eq!(
            format!("{pf}"),
            "page fault at 0xdead0000 (rip 0x40001000, error 0x4)"
        );
        let de = Fault {
            kind: FaultKind::DivideError,
            error_code: 0,
            rip: 0x4000_0010,
            addr: None,
        };
        assert_eq!(format!("{de}"), "divide error (rip 0x40000010)");
    }
}
