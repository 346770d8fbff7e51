//! Multiboot 1 information structure (MBI) parsing.
//!
//! QEMU's `-kernel` loader passes the physical address of the MBI in EBX.
//! The structures are read through zerocopy little-endian structs from a
//! [`PhysMemory`] (identity-mapped memory in the kernel, a byte vector in the
//! tests), copied into owned [`BootInfo`] values, and every range the boot
//! loader used (MBI, module list, memory map, command lines) is recorded in
//! [`BootInfo::reserved`] so the frame allocator can keep its hands off.

use crate::range::AddrRange;
use alloc::string::String;
use alloc::vec::Vec;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

/// Value of EAX when a multiboot 1 loader enters the kernel.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// Longest command line accepted (kernel or module), in bytes.
pub const MAX_CMDLINE: usize = 4096;
/// Most boot modules accepted.
pub const MAX_MODULES: usize = 64;

const FLAG_MEM: u32 = 1 << 0;
const FLAG_CMDLINE: u32 = 1 << 2;
const FLAG_MODS: u32 = 1 << 3;
const FLAG_MMAP: u32 = 1 << 6;
/// Memory-map entry type for usable RAM.
const MMAP_AVAILABLE: u32 = 1;

/// Read access to physical memory.
pub trait PhysMemory {
    /// The `len` bytes at physical address `addr`, or `None` when any of
    /// them is not readable.
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]>;
}

/// The fixed part of the MBI that we use (the first 52 bytes).
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
struct RawMbi {
    flags: U32,
    mem_lower: U32,
    mem_upper: U32,
    boot_device: U32,
    cmdline: U32,
    mods_count: U32,
    mods_addr: U32,
    syms: [U32; 4],
    mmap_length: U32,
    mmap_addr: U32,
}

/// One entry of the module list.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
struct RawModule {
    mod_start: U32,
    mod_end: U32,
    string: U32,
    reserved: U32,
}

/// One memory-map entry; `size` counts the bytes after itself.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
struct RawMmapEntry {
    size: U32,
    base_addr: U64,
    length: U64,
    kind: U32,
}

/// Why the boot information could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// EAX did not hold [`BOOTLOADER_MAGIC`].
    BadMagic(u32),
    /// A structure or string lies in memory that cannot be read.
    Unreadable(u64),
    /// The loader provided neither a memory map nor basic memory sizes.
    NoMemoryInfo,
    /// A memory-map entry has an impossible size.
    BadMemoryMap,
    /// Too many modules.
    TooManyModules(u32),
    /// A module's end lies before its start.
    BadModule(usize),
    /// A command line is not NUL-terminated within [`MAX_CMDLINE`] bytes.
    CmdlineTooLong(u64),
    /// Two modules, or a module and the kernel image, overlap.
    Overlap(AddrRange, AddrRange),
}

/// A region of physical memory from the loader's memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Where it is.
    pub range: AddrRange,
    /// True for usable RAM.
    pub available: bool,
}

/// A boot module: a file the loader put in memory, and its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootModule {
    /// Physical location of the file contents.
    pub range: AddrRange,
    /// The full command line (`path args...`).
    pub cmdline: String,
}

impl BootModule {
    /// The program name: the last path component of the first word.
    pub fn name(&self) -> &str {
        split_cmdline(&self.cmdline).0
    }

    /// Everything after the first word, with leading blanks removed.
    pub fn args(&self) -> &str {
        split_cmdline(&self.cmdline).1
    }
}

/// Splits a command line into (basename of the first word, rest).
pub fn split_cmdline(cmdline: &str) -> (&str, &str) {
    let trimmed = cmdline.trim_start();
    let (first, rest) = match trimmed.find([' ', '\t']) {
        Some(i) => (&trimmed[..i], trimmed[i..].trim_start()),
        None => (trimmed, ""),
    };
    let name = first.rsplit('/').next().unwrap_or(first);
    (name, rest.trim_end())
}

/// Everything the kernel keeps from the boot loader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// Kernel command line (includes the kernel file name as first word).
    pub cmdline: String,
    /// Boot modules in loader order (the order is the boot-image contract).
    pub modules: Vec<BootModule>,
    /// Physical memory regions.
    pub memory: Vec<MemoryRegion>,
    /// Memory holding the boot information itself (MBI, module list, memory
    /// map, strings), which must not be allocated while it is in use.
    pub reserved: Vec<AddrRange>,
}

impl BootInfo {
    /// Parses the MBI at `mbi_addr`, entered with `magic` in EAX.
    pub fn parse(mem: &impl PhysMemory, magic: u32, mbi_addr: u64) -> Result<Self, BootInfoError> {
        if magic != BOOTLOADER_MAGIC {
            return Err(BootInfoError::BadMagic(magic));
        }
        let raw = read_struct::<RawMbi>(mem, mbi_addr)?;
        let flags = raw.flags.get();
        let mut reserved = Vec::new();
        reserved.push(range_len(mbi_addr, core::mem::size_of::<RawMbi>() as u64)?);

        let cmdline = if flags & FLAG_CMDLINE != 0 {
            let (s, r) = read_cstr(mem, u64::from(raw.cmdline.get()))?;
            reserved.push(r);
            s
        } else {
            String::new()
        };

        let mut modules = Vec::new();
        if flags & FLAG_MODS != 0 {
            let count = raw.mods_count.get();
            if count as usize > MAX_MODULES {
                return Err(BootInfoError::TooManyModules(count));
            }
            let base = u64::from(raw.mods_addr.get());
            let entry = core::mem::size_of::<RawModule>() as u64;
            reserved.push(range_len(base, entry * u64::from(count))?);
            for i in 0..count as usize {
                let m = read_struct::<RawModule>(mem, base + entry * i as u64)?;
                let (start, end) = (u64::from(m.mod_start.get()), u64::from(m.mod_end.get()));
                if end < start {
                    return Err(BootInfoError::BadModule(i));
                }
                let (cmdline, r) = read_cstr(mem, u64::from(m.string.get()))?;
                reserved.push(r);
                modules.push(BootModule {
                    range: AddrRange::new(start, end),
                    cmdline,
                });
            }
        }

        let mut memory = Vec::new();
        if flags & FLAG_MMAP != 0 {
            let base = u64::from(raw.mmap_addr.get());
            let len = u64::from(raw.mmap_length.get());
            reserved.push(range_len(base, len)?);
            let mut off = 0u64;
            while off < len {
                let e = read_struct::<RawMmapEntry>(mem, base + off)?;
                let size = u64::from(e.size.get());
                if size < 20 {
                    return Err(BootInfoError::BadMemoryMap);
                }
                if let Some(range) = AddrRange::from_len(e.base_addr.get(), e.length.get()) {
                    memory.push(MemoryRegion {
                        range,
                        available: e.kind.get() == MMAP_AVAILABLE,
                    });
                }
                off += size + 4;
            }
        } else if flags & FLAG_MEM != 0 {
            // Fallback: conventional memory below 640 KiB and upper memory
            // from 1 MiB, both in KiB.
            memory.push(MemoryRegion {
                range: AddrRange::new(0, u64::from(raw.mem_lower.get()) * 1024),
                available: true,
            });
            memory.push(MemoryRegion {
                range: AddrRange::new(0x10_0000, 0x10_0000 + u64::from(raw.mem_upper.get()) * 1024),
                available: true,
            });
        }
        if memory.is_empty() {
            return Err(BootInfoError::NoMemoryInfo);
        }
        Ok(Self {
            cmdline,
            modules,
            memory,
            reserved,
        })
    }

    /// Checks that no two modules overlap and that none overlaps `kernel`
    /// (MINIX `pre_init` does the same before trusting the image).
    pub fn check_overlaps(&self, kernel: AddrRange) -> Result<(), BootInfoError> {
        for (i, m) in self.modules.iter().enumerate() {
            if m.range.overlaps(&kernel) {
                return Err(BootInfoError::Overlap(m.range, kernel));
            }
            for other in &self.modules[i + 1..] {
                if m.range.overlaps(&other.range) {
                    return Err(BootInfoError::Overlap(m.range, other.range));
                }
            }
        }
        Ok(())
    }

    /// The kernel arguments: the command line without the file name.
    pub fn kernel_args(&self) -> &str {
        split_cmdline(&self.cmdline).1
    }
}

fn range_len(start: u64, len: u64) -> Result<AddrRange, BootInfoError> {
    AddrRange::from_len(start, len).ok_or(BootInfoError::Unreadable(start))
}

fn read_struct<T: FromBytes + KnownLayout + Immutable + Unaligned + Copy>(
    mem: &impl PhysMemory,
    addr: u64,
) -> Result<T, BootInfoError> {
    let bytes = mem
        .read(addr, core::mem::size_of::<T>())
        .ok_or(BootInfoError::Unreadable(addr))?;
    T::read_from_bytes(bytes).map_err(|_| BootInfoError::Unreadable(addr))
}

/// Reads a NUL-terminated string; returns it (lossy UTF-8) and the range it
/// occupies including the NUL.
fn read_cstr(mem: &impl PhysMemory, addr: u64) -> Result<(String, AddrRange), BootInfoError> {
    let mut bytes = Vec::new();
    loop {
        if bytes.len() >= MAX_CMDLINE {
            return Err(BootInfoError::CmdlineTooLong(addr));
        }
        let at = addr + bytes.len() as u64;
        let b = mem.read(at, 1).ok_or(BootInfoError::Unreadable(at))?[0];
        if b == 0 {
            break;
        }
        bytes.push(b);
    }
    let range = AddrRange::new(addr, addr + bytes.len() as u64 + 1);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Fake physical memory: `bytes` mapped at physical address `base`.
    struct FakeMem {
        base: u64,
        bytes: Vec<u8>,
    }

    impl PhysMemory for FakeMem {
        fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
            let off = usize::try_from(addr.checked_sub(self.base)?).ok()?;
            self.bytes.get(off..off.checked_add(len)?)
        }
    }

    impl FakeMem {
        fn put(&mut self, addr: u64, data: &[u8]) {
            let off = (addr - self.base) as usize;
            self.bytes[off..off + data.len()].copy_from_slice(data);
        }
        fn put32(&mut self, addr: u64, v: u32) {
            self.put(addr, &v.to_le_bytes());
        }
    }

    const BASE: u64 = 0x9000;
    const MBI: u64 = 0x9500;

    /// Builds an MBI like QEMU's: cmdline, two modules, a 2-entry mmap.
    fn sample() -> FakeMem {
        let mut m = FakeMem {
            base: BASE,
            bytes: vec![0; 0x1000],
        };
        m.put32(MBI, FLAG_MEM | FLAG_CMDLINE | FLAG_MODS | FLAG_MMAP);
        m.put32(MBI + 4, 639);
        m.put32(MBI + 8, 261_120);
        m.put32(MBI + 16, 0x9800);
        m.put(0x9800, b"target/os/kernel32.elf strict\0");
        m.put32(MBI + 20, 2);
        m.put32(MBI + 24, 0x9900);
        // modules
        m.put32(0x9900, 0x10_a000);
        m.put32(0x9904, 0x11_0000);
        m.put32(0x9908, 0x9a00);
        m.put32(0x9910, 0x11_0000);
        m.put32(0x9914, 0x11_8000);
        m.put32(0x9918, 0x9a40);
        m.put(0x9a00, b"/x/boot/hello\0");
        m.put(0x9a40, b"/x/boot/fault_pf  pf  extra\0");
        // mmap
        m.put32(MBI + 44, 48);
        m.put32(MBI + 48, 0x9c00);
        let mut e = |at: u64, base: u64, len: u64, kind: u32| {
            m.put32(at, 20);
            m.put(at + 4, &base.to_le_bytes());
            m.put(at + 12, &len.to_le_bytes());
            m.put32(at + 20, kind);
        };
        e(0x9c00, 0, 0x9_fc00, 1);
        e(0x9c18, 0x10_0000, 0xfee_0000, 1);
        m
    }

    #[test]
    fn parses_qemu_style_mbi() {
        let mem = sample();
        let info = BootInfo::parse(&mem, BOOTLOADER_MAGIC, MBI).unwrap();
        assert_eq!(info.kernel_args(), "strict");
        assert_eq!(info.modules.len(), 2);
        assert_eq!(info.modules[0].name(), "hello");
        assert_eq!(info.modules[0].args(), "");
        assert_eq!(info.modules[1].name(), "fault_pf");
        assert_eq!(info.modules[1].args(), "pf  extra");
        assert_eq!(info.modules[1].range, AddrRange::new(0x11_0000, 0x11_8000));
        assert_eq!(info.memory.len(), 2);
        assert!(info.memory.iter().all(|r| r.available));
        // MBI, cmdline, module list, two module strings, mmap.
        assert_eq!(info.reserved.len(), 6);
        assert!(info.reserved.contains(&AddrRange::new(0x9a00, 0x9a0e)));
        info.check_overlaps(AddrRange::new(0x10_0000, 0x10_a000))
            .unwrap();
    }

    #[test]
    fn rejects_bad_magic() {
        let mem = sample();
        assert_eq!(
            BootInfo::parse(&mem, 0x1234, MBI),
            Err(BootInfoError::BadMagic(0x1234))
        );
    }

    #[test]
    fn rejects_unreadable_structures() {
        let mut mem = sample();
        mem.put32(MBI + 24, 0xdead_0000);
        assert_eq!(
            BootInfo::parse(&mem, BOOTLOADER_MAGIC, MBI),
            Err(BootInfoError::Unreadable(0xdead_0000))
        );
        let mem = sample();
        assert!(matches!(
            BootInfo::parse(&mem, BOOTLOADER_MAGIC, 0x1_0000),
            Err(BootInfoError::Unreadable(_))
        ));
    }

    #[test]
    fn rejects_unterminated_cmdline_and_bad_mmap() {
        let mut mem = sample();
        let end = BASE + 0x1000;
        mem.put(end - 4, b"abcd");
        mem.put32(MBI + 16, (end - 4) as u32);
        assert!(matches!(
            BootInfo::parse(&mem, BOOTLOADER_MAGIC, MBI),
            Err(BootInfoError::Unreadable(_))
        ));
        let mut mem = sample();
        mem.put32(0x9c00, 4);
        assert_eq!(
            BootInfo::parse(&mem, BOOTLOADER_MAGIC, MBI),
            Err(BootInfoError::BadMemoryMap)
        );
    }

    #[test]
    fn detects_overlapping_modules() {
        let mut mem = sample();
        mem.put32(0x9910, 0x10_f000);
        let info = BootInfo::parse(&mem, BOOTLOADER_MAGIC, MBI).unwrap();
        assert!(matches!(
            info.check_overlaps(AddrRange::new(0x10_0000, 0x10_a000)),
            Err(BootInfoError::Overlap(..))
        ));
        let info = BootInfo::parse(&sample(), BOOTLOADER_MAGIC, MBI).unwrap();
        assert!(matches!(
            info.check_overlaps(AddrRange::new(0x10_0000, 0x10_b000)),
            Err(BootInfoError::Overlap(..))
        ));
    }

    #[test]
    fn splits_command_lines() {
        assert_eq!(split_cmdline("a/b/c x y"), ("c", "x y"));
        assert_eq!(split_cmdline("  prog"), ("prog", ""));
        assert_eq!(split_cmdline(""), ("", ""));
    }
}
