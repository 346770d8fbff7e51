//! ELF64 executable validation.
//!
//! [`ElfImage::parse`] checks everything about a boot module before a single
//! byte of it is loaded: header identity (magic, class, byte order, version,
//! type, machine), the program-header table lying inside the file, and for
//! every `PT_LOAD` segment: `filesz <= memsz`, file bytes inside the file, no
//! address overflow, addresses inside the allowed user range, no overlap with
//! another segment or a reserved range, and an entry point inside an
//! executable segment. Any problem is an [`ElfError`] value; the kernel then
//! refuses the module and carries on with the others.

use crate::range::AddrRange;
use alloc::vec::Vec;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
/// Most program headers accepted.
pub const MAX_PHDRS: usize = 32;

/// ELF64 file header.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct Elf64Header {
    /// Identification bytes (magic, class, data, version, ...).
    pub e_ident: [u8; 16],
    /// Object file type.
    pub e_type: U16,
    /// Architecture.
    pub e_machine: U16,
    /// Object file version.
    pub e_version: U32,
    /// Entry point virtual address.
    pub e_entry: U64,
    /// Program header table file offset.
    pub e_phoff: U64,
    /// Section header table file offset.
    pub e_shoff: U64,
    /// Processor-specific flags.
    pub e_flags: U32,
    /// ELF header size.
    pub e_ehsize: U16,
    /// Program header entry size.
    pub e_phentsize: U16,
    /// Program header count.
    pub e_phnum: U16,
    /// Section header entry size.
    pub e_shentsize: U16,
    /// Section header count.
    pub e_shnum: U16,
    /// Section name string table index.
    pub e_shstrndx: U16,
}

/// ELF64 program header.
#[derive(FromBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct Elf64Phdr {
    /// Segment type.
    pub p_type: U32,
    /// Segment flags (PF_X, PF_W, PF_R).
    pub p_flags: U32,
    /// File offset.
    pub p_offset: U64,
    /// Virtual address.
    pub p_vaddr: U64,
    /// Physical address (unused).
    pub p_paddr: U64,
    /// Bytes in the file.
    pub p_filesz: U64,
    /// Bytes in memory.
    pub p_memsz: U64,
    /// Alignment.
    pub p_align: U64,
}

/// Why an ELF file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file is shorter than a structure it must contain.
    Truncated,
    /// Not an ELF file.
    BadMagic,
    /// Not ELFCLASS64.
    BadClass,
    /// Not little-endian.
    BadEndian,
    /// Unknown ELF version.
    BadVersion,
    /// Not an executable (ET_EXEC).
    NotExecutable,
    /// Not x86-64.
    BadMachine,
    /// Program header entries have an unexpected size.
    BadPhentsize,
    /// More than [`MAX_PHDRS`] program headers.
    TooManySegments,
    /// No loadable segment.
    NoSegments,
    /// Segment `n` has `filesz > memsz`.
    FileSzExceedsMemSz(usize),
    /// Segment `n`'s file bytes lie outside the file.
    SegmentOutsideFile(usize),
    /// Segment `n`'s addresses wrap around.
    AddressOverflow(usize),
    /// Segment `n` lies outside the allowed address range.
    OutOfRange(usize),
    /// Segments `a` and `b` overlap.
    Overlap(usize, usize),
    /// Segment `n` overlaps a reserved range (kernel, stack, ...).
    OverlapsReserved(usize),
    /// The entry point is not inside an executable segment.
    BadEntry(u64),
}

/// Where segments may be placed.
#[derive(Clone, Copy, Debug)]
pub struct LoadPolicy<'a> {
    /// Every segment must lie inside this range.
    pub allowed: AddrRange,
    /// No segment may touch any of these ranges.
    pub reserved: &'a [AddrRange],
}

/// A loadable segment that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the tail beyond `filesz` is zero-filled).
    pub memsz: u64,
    /// File offset of the bytes to copy.
    pub offset: u64,
    /// Bytes to copy from the file.
    pub filesz: u64,
    /// Mapped writable.
    pub writable: bool,
    /// Contains code.
    pub executable: bool,
}

impl Segment {
    /// The virtual range the segment occupies.
    pub fn range(&self) -> AddrRange {
        AddrRange::new(self.vaddr, self.vaddr + self.memsz)
    }

    /// The file bytes of this segment within `file` (validated at parse
    /// time, so in bounds for the file it was parsed from).
    pub fn file_bytes<'f>(&self, file: &'f [u8]) -> &'f [u8] {
        let start = self.offset as usize;
        file.get(start..start + self.filesz as usize).unwrap_or(&[])
    }
}

/// A validated executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    /// Entry point.
    pub entry: u64,
    /// Loadable segments, in file order.
    pub segments: Vec<Segment>,
}

impl ElfImage {
    /// Validates `file` against `policy`.
    pub fn parse(file: &[u8], policy: &LoadPolicy<'_>) -> Result<Self, ElfError> {
        let (hdr, _) = Elf64Header::read_from_prefix(file).map_err(|_| ElfError::Truncated)?;
        if hdr.e_ident[0..4] != ELF_MAGIC {
            return Err(ElfError::BadMagic);
        }
        if hdr.e_ident[4] != ELFCLASS64 {
            return Err(ElfError::BadClass);
        }
        if hdr.e_ident[5] != ELFDATA2LSB {
            return Err(ElfError::BadEndian);
        }
        if hdr.e_ident[6] != EV_CURRENT || hdr.e_version.get() != u32::from(EV_CURRENT) {
            return Err(ElfError::BadVersion);
        }
        if hdr.e_type.get() != ET_EXEC {
            return Err(ElfError::NotExecutable);
        }
        if hdr.e_machine.get() != EM_X86_64 {
            return Err(ElfError::BadMachine);
        }
        let phnum = usize::from(hdr.e_phnum.get());
        if phnum > MAX_PHDRS {
            return Err(ElfError::TooManySegments);
        }
        let phentsize = usize::from(hdr.e_phentsize.get());
        if phnum > 0 && phentsize != core::mem::size_of::<Elf64Phdr>() {
            return Err(ElfError::BadPhentsize);
        }
        let phoff = usize::try_from(hdr.e_phoff.get()).map_err(|_| ElfError::Truncated)?;
        let table_end = phoff
            .checked_add(phnum * phentsize)
            .ok_or(ElfError::Truncated)?;
        let table = file.get(phoff..table_end).ok_or(ElfError::Truncated)?;

        let file_len = file.len() as u64;
        let mut segments: Vec<Segment> = Vec::new();
        for (i, chunk) in table.chunks_exact(phentsize.max(1)).enumerate() {
            let ph = Elf64Phdr::read_from_bytes(chunk).map_err(|_| ElfError::Truncated)?;
            if ph.p_type.get() != PT_LOAD || ph.p_memsz.get() == 0 {
                continue;
            }
            let seg = Segment {
                vaddr: ph.p_vaddr.get(),
                memsz: ph.p_memsz.get(),
                offset: ph.p_offset.get(),
                filesz: ph.p_filesz.get(),
                writable: ph.p_flags.get() & PF_W != 0,
                executable: ph.p_flags.get() & PF_X != 0,
            };
            if seg.filesz > seg.memsz {
                return Err(ElfError::FileSzExceedsMemSz(i));
            }
            match seg.offset.checked_add(seg.filesz) {
                Some(end) if end <= file_len => {}
                _ => return Err(ElfError::SegmentOutsideFile(i)),
            }
            let range =
                AddrRange::from_len(seg.vaddr, seg.memsz).ok_or(ElfError::AddressOverflow(i))?;
            if !policy.allowed.contains_range(&range) {
                return Err(ElfError::OutOfRange(i));
            }
            if policy.reserved.iter().any(|r| r.overlaps(&range)) {
                return Err(ElfError::OverlapsReserved(i));
            }
            segments.push(seg);
            // Overlap against earlier segments; indices are in file order.
            let idx = segments.len() - 1;
            for (j, other) in segments[..idx].iter().enumerate() {
                if other.range().overlaps(&range) {
                    return Err(ElfError::Overlap(j, i));
                }
            }
        }
        if segments.is_empty() {
            return Err(ElfError::NoSegments);
        }
        let entry = hdr.e_entry.get();
        let entry_ok = segments
            .iter()
            .any(|s| s.executable && s.vaddr <= entry && entry < s.vaddr + s.memsz);
        if !entry_ok {
            return Err(ElfError::BadEntry(entry));
        }
        Ok(Self { entry, segments })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Test-side encoders mirroring the zerocopy structs.
    fn header(entry: u64, phnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[0..4].copy_from_slice(&ELF_MAGIC);
        h[4] = ELFCLASS64;
        h[5] = ELFDATA2LSB;
        h[6] = EV_CURRENT;
        h[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        h[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[24..32].copy_from_slice(&entry.to_le_bytes());
        h[32..40].copy_from_slice(&64u64.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&phnum.to_le_bytes());
        h
    }

    #[derive(Clone, Copy)]
    struct Ph {
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
    }

    fn build(entry: u64, phs: &[Ph], file_len: usize) -> Vec<u8> {
        let mut f = header(entry, phs.len() as u16);
        for p in phs {
            let mut b = vec![0u8; 56];
            b[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[4..8].copy_from_slice(&p.flags.to_le_bytes());
            b[8..16].copy_from_slice(&p.offset.to_le_bytes());
            b[16..24].copy_from_slice(&p.vaddr.to_le_bytes());
            b[32..40].copy_from_slice(&p.filesz.to_le_bytes());
            b[40..48].copy_from_slice(&p.memsz.to_le_bytes());
            f.extend_from_slice(&b);
        }
        f.resize(file_len.max(f.len()), 0xcc);
        f
    }

    const USER: AddrRange = AddrRange::new(0x4000_0000, 0x8000_0000);
    const KERNEL: AddrRange = AddrRange::new(0x10_0000, 0x40_0000);

    const STACK: [AddrRange; 1] = [AddrRange::new(0x7fff_0000, 0x8000_0000)];

    fn policy() -> LoadPolicy<'static> {
        LoadPolicy {
            allowed: USER,
            reserved: &STACK,
        }
    }

    fn text() -> Ph {
        Ph {
            flags: PF_X | 4,
            offset: 0x1000,
            vaddr: 0x4000_0000,
            filesz: 0x800,
            memsz: 0x800,
        }
    }

    fn data() -> Ph {
        Ph {
            flags: PF_W | 4,
            offset: 0x2000,
            vaddr: 0x4000_1000,
            filesz: 0x100,
            memsz: 0x3000,
        }
    }

    fn good() -> Vec<u8> {
        build(0x4000_0010, &[text(), data()], 0x2100)
    }

    #[test]
    fn accepts_valid_executable() {
        let img = ElfImage::parse(&good(), &policy()).unwrap();
        assert_eq!(img.entry, 0x4000_0010);
        assert_eq!(img.segments.len(), 2);
        assert!(img.segments[0].executable && !img.segments[0].writable);
        assert!(img.segments[1].writable);
        assert_eq!(img.segments[1].file_bytes(&good()).len(), 0x100);
    }

    #[test]
    fn refuses_truncated_files() {
        let f = good();
        assert_eq!(
            ElfImage::parse(&f[..10], &policy()),
            Err(ElfError::Truncated)
        );
        // Program header table cut off.
        assert_eq!(
            ElfImage::parse(&f[..100], &policy()),
            Err(ElfError::Truncated)
        );
        // Segment data cut off.
        assert_eq!(
            ElfImage::parse(&f[..0x2080], &policy()),
            Err(ElfError::SegmentOutsideFile(1))
        );
    }

    #[test]
    fn refuses_bad_headers() {
        let cases: [(usize, u8, ElfError); 5] = [
            (0, 0x7e, ElfError::BadMagic),
            (4, 1, ElfError::BadClass),
            (5, 2, ElfError::BadEndian),
            (6, 0, ElfError::BadVersion),
            (18, 3, ElfError::BadMachine),
        ];
        for (at, val, err) in cases {
            let mut f = good();
            f[at] = val;
            assert_eq!(ElfImage::parse(&f, &policy()), Err(err), "byte {at}");
        }
        let mut f = good();
        f[16] = 3; // ET_DYN
        assert_eq!(ElfImage::parse(&f, &policy()), Err(ElfError::NotExecutable));
        let mut f = good();
        f[54] = 32;
        assert_eq!(ElfImage::parse(&f, &policy()), Err(ElfError::BadPhentsize));
    }

    #[test]
    fn refuses_filesz_over_memsz() {
        let mut d = data();
        d.filesz = d.memsz + 1;
        let f = build(0x4000_0010, &[text(), d], 0x6000);
        assert_eq!(
            ElfImage::parse(&f, &policy()),
            Err(ElfError::FileSzExceedsMemSz(1))
        );
    }

    #[test]
    fn refuses_overlapping_segments() {
        let mut d = data();
        d.vaddr = 0x4000_0700; // overlaps text's last 0x100 bytes
        let f = build(0x4000_0010, &[text(), d], 0x2100);
        assert_eq!(ElfImage::parse(&f, &policy()), Err(ElfError::Overlap(0, 1)));
    }

    #[test]
    fn refuses_segments_over_kernel_or_reserved() {
        // A segment placed over the kernel image: outside the user range.
        let mut t = text();
        t.vaddr = KERNEL.start;
        let f = build(KERNEL.start, &[t], 0x2000);
        assert_eq!(ElfImage::parse(&f, &policy()), Err(ElfError::OutOfRange(0)));
        // Same, with a policy that allows everything but reserves the kernel.
        let all = LoadPolicy {
            allowed: AddrRange::new(0, u64::MAX),
            reserved: &[KERNEL],
        };
        assert_eq!(
            ElfImage::parse(&f, &all),
            Err(ElfError::OverlapsReserved(0))
        );
        // Over the user stack.
        let mut d = data();
        d.vaddr = 0x7fff_0000;
        let f = build(0x4000_0010, &[text(), d], 0x2100);
        assert_eq!(
            ElfImage::parse(&f, &policy()),
            Err(ElfError::OverlapsReserved(1))
        );
    }

    #[test]
    fn refuses_address_overflow_and_bad_entry() {
        let mut d = data();
        d.vaddr = u64::MAX - 0x10;
        let f = build(0x4000_0010, &[text(), d], 0x2100);
        assert_eq!(
            ElfImage::parse(&f, &policy()),
            Err(ElfError::AddressOverflow(1))
        );
        // Entry in the data segment.
        let f = build(0x4000_1000, &[text(), data()], 0x2100);
        assert_eq!(
            ElfImage::parse(&f, &policy()),
            Err(ElfError::BadEntry(0x4000_1000))
        );
        // No loadable segments at all.
        let f = build(0x4000_0010, &[], 0x100);
        assert_eq!(ElfImage::parse(&f, &policy()), Err(ElfError::NoSegments));
    }

    #[test]
    fn header_struct_matches_encoder() {
        let f = good();
        let (h, _) = Elf64Header::read_from_prefix(&f[..]).unwrap();
        assert_eq!(h.e_entry.get(), 0x4000_0010);
        assert_eq!(h.as_bytes(), &f[..64]);
    }
}
