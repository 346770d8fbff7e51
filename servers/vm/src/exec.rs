//! Exec planning: validates an ELF executable (with the kernel's own
//! checks, `kernel_core::elf`) and lays out the new image — regions,
//! stack, exec block, frames needed — before anything of the target is
//! touched. Plain Rust, host-tested.

use crate::regions::{PAGE, Region, Space, page_down, page_up};
use alloc::vec::Vec;
use kernel_core::elf::{ElfImage, LoadPolicy, Segment};
use kernel_core::range::AddrRange;
use sys::Errno;
use sys::proto::vm::prot;

/// Largest executable VM copies (bytes).
pub const MAX_IMAGE: u64 = 16 << 20;
/// Largest exec block (argument and environment strings): half the exec
/// stack, so the program keeps room to run.
pub const MAX_BLOCK: u64 = abi::EXEC_STACK_SIZE / 2;
/// Frames that must stay free after an exec's pages are taken (page
/// tables the estimate misses, other processes' next requests).
pub const RESERVE_FRAMES: u64 = 64;

/// The new image, ready to be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlan {
    /// Entry point.
    pub entry: u64,
    /// The loadable segments (file bytes to copy at their addresses).
    pub segments: Vec<Segment>,
    /// The new space: image regions (segments' pages, merged where they
    /// share a page) and the stack reservation; break at `HEAP_BASE`.
    pub space: Space,
    /// Where the exec block goes (16-byte aligned, under `USER_STACK_TOP`).
    pub block_addr: u64,
    /// Its length.
    pub block_len: u64,
    /// Initial stack pointer (8 below the block, as after a `call`).
    pub rsp: u64,
    /// Frames the image, the eager stack and their page tables take.
    pub frames: u64,
}

/// Checks the sizes PM passes before anything is copied: `ENOEXEC` for an
/// empty image, `ENOMEM` above [`MAX_IMAGE`], `E2BIG` for a block above
/// [`MAX_BLOCK`].
pub fn check_sizes(image_len: u64, block_len: u64) -> Result<(), Errno> {
    if image_len == 0 {
        return Err(Errno::ENOEXEC);
    }
    if image_len > MAX_IMAGE {
        return Err(Errno::ENOMEM);
    }
    if block_len > MAX_BLOCK {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

/// Whether `frames` fit in `free` frames with [`RESERVE_FRAMES`] to spare
/// (`ENOMEM` otherwise).
pub fn check_memory(frames: u64, free: u64) -> Result<(), Errno> {
    match frames.checked_add(RESERVE_FRAMES) {
        Some(need) if need <= free => Ok(()),
        _ => Err(Errno::ENOMEM),
    }
}

/// Frames an estimate must keep spare beyond a request and
/// [`RESERVE_FRAMES`] to answer without asking the kernel (64 MiB).
pub const ESTIMATE_SLACK: u64 = 16384;
/// Requests answered from one reading of the kernel's free count at most.
pub const ESTIMATE_USES: u32 = 32;

/// VM's estimate of the free frames between readings of the kernel's
/// count (`MemStats`, which costs a scan of memory and page tables): each
/// request VM checks is taken from it, nothing is ever given back, and it
/// is read again after [`ESTIMATE_USES`] requests or once fewer than
/// [`ESTIMATE_SLACK`] frames would stay spare. So a request is checked
/// against the real count whenever memory may be short; in between, what
/// others take without VM (page tables, copy-on-write copies) is covered
/// by the slack.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FreeEstimate {
    free: u64,
    uses: u32,
    valid: bool,
}

impl FreeEstimate {
    /// Whether `need` frames surely fit without asking the kernel; if so
    /// they are taken from the estimate.
    pub fn take(&mut self, need: u64) -> bool {
        if !self.valid || self.uses >= ESTIMATE_USES {
            return false;
        }
        match need.checked_add(RESERVE_FRAMES + ESTIMATE_SLACK) {
            Some(n) if n <= self.free => {
                self.free -= need;
                self.uses += 1;
                true
            }
            _ => false,
        }
    }

    /// A fresh reading: `free` frames, of which `need` are being taken.
    pub fn reset(&mut self, free: u64, need: u64) {
        *self = FreeEstimate {
            free: free.saturating_sub(need),
            uses: 0,
            valid: true,
        };
    }
}

/// Validates `image` and lays out the new address space with a block of
/// `block_len` bytes. `ENOEXEC` for anything the kernel's ELF checks
/// refuse (bad magic, class, type, machine, truncated headers or segment
/// bytes, overlapping segments, segments outside `USER_BASE..HEAP_BASE`,
/// an entry outside the code); `E2BIG` for a block above [`MAX_BLOCK`].
pub fn plan(image: &[u8], block_len: u64) -> Result<ExecPlan, Errno> {
    check_sizes(image.len() as u64, block_len)?;
    let policy = LoadPolicy {
        allowed: AddrRange::new(abi::USER_BASE, abi::HEAP_BASE),
        reserved: &[],
    };
    let elf = ElfImage::parse(image, &policy).map_err(|_| Errno::ENOEXEC)?;
    let mut pieces: Vec<Region> = elf
        .segments
        .iter()
        .map(|s| Region {
            start: page_down(s.vaddr),
            end: page_up(s.vaddr + s.memsz),
            kind: crate::regions::Kind::Image,
            prot: prot::READ
                | if s.writable { prot::WRITE } else { 0 }
                | if s.executable { prot::EXEC } else { 0 },
        })
        .collect();
    pieces.sort_by_key(|r| r.start);
    // Segments may share a page at their ends (the bytes do not overlap:
    // the ELF check refused that): one region with both protections.
    let mut regions: Vec<Region> = Vec::with_capacity(pieces.len() + 1);
    for r in pieces {
        match regions.last_mut() {
            Some(last) if r.start < last.end => {
                last.end = last.end.max(r.end);
                last.prot |= r.prot;
            }
            _ => regions.push(r),
        }
    }
    let image_pages: u64 = regions.iter().map(|r| r.pages()).sum();
    // Page tables: one per 2 MiB touched (at most), for the image and the
    // stack, plus the directories.
    let tables: u64 = regions
        .iter()
        .map(|r| (r.end - 1) / (2 << 20) - r.start / (2 << 20) + 1)
        .sum::<u64>()
        + 2;
    regions.push(Space::stack_region());
    let space = Space::with_regions(regions)?;
    let block_addr = (abi::USER_STACK_TOP - block_len) & !15;
    Ok(ExecPlan {
        entry: elf.entry,
        segments: elf.segments,
        space,
        block_addr,
        block_len,
        rsp: block_addr - 8,
        frames: image_pages + abi::EXEC_STACK_SIZE / PAGE + tables,
    })
}

/// The bytes region `r` of a new image starts with: zeros, with the file
/// bytes of every segment starting inside it at their places (what
/// fresh pages hold once those segments are copied in).
pub fn region_bytes(r: &Region, segments: &[Segment], file: &[u8]) -> Vec<u8> {
    let mut out = alloc::vec![0u8; (r.end - r.start) as usize];
    for s in segments.iter().filter(|s| r.contains(s.vaddr)) {
        let at = (s.vaddr - r.start) as usize;
        let src = s.file_bytes(file);
        let n = src.len().min(out.len() - at);
        out[at..at + n].copy_from_slice(&src[..n]);
    }
    out
}

/// Test ELF builder (shared by this crate's tests).
#[cfg(test)]
pub(crate) mod testelf {
    use alloc::vec;
    use alloc::vec::Vec;

    /// One program header.
    #[derive(Clone, Copy)]
    pub struct Ph {
        pub flags: u32,
        pub offset: u64,
        pub vaddr: u64,
        pub filesz: u64,
        pub memsz: u64,
    }

    pub const R: u32 = 4;
    pub const W: u32 = 2;
    pub const X: u32 = 1;

    /// An ELF64 x86-64 executable with `phs` as PT_LOAD headers, padded
    /// to `file_len` bytes, each byte of the file after the headers
    /// holding its offset's low byte.
    pub fn build(entry: u64, phs: &[Ph], file_len: usize) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[0..4].copy_from_slice(&[0x7f, b'E', b'L', b'F']);
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
        for p in phs {
            let mut b = vec![0u8; 56];
            b[0..4].copy_from_slice(&1u32.to_le_bytes());
            b[4..8].copy_from_slice(&p.flags.to_le_bytes());
            b[8..16].copy_from_slice(&p.offset.to_le_bytes());
            b[16..24].copy_from_slice(&p.vaddr.to_le_bytes());
            b[24..32].copy_from_slice(&p.vaddr.to_le_bytes());
            b[32..40].copy_from_slice(&p.filesz.to_le_bytes());
            b[40..48].copy_from_slice(&p.memsz.to_le_bytes());
            b[48..56].copy_from_slice(&4096u64.to_le_bytes());
            f.extend_from_slice(&b);
        }
        let start = f.len();
        f.extend((start..file_len.max(start)).map(|i| i as u8));
        f
    }

    /// A small valid program: 2 pages of code, one page of data plus
    /// 3 pages of bss.
    pub fn small() -> Vec<u8> {
        let base = abi::USER_BASE;
        build(
            base + 16,
            &[
                Ph {
                    flags: R | X,
                    offset: 0x1000,
                    vaddr: base,
                    filesz: 0x1800,
                    memsz: 0x1800,
                },
                Ph {
                    flags: R | W,
                    offset: 0x3000,
                    vaddr: base + 0x2000,
                    filesz: 0x800,
                    memsz: 0x4000,
                },
            ],
            0x3800,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testelf::*;
    use super::*;
    use crate::regions::Kind;

    #[test]
    fn a_valid_program_is_laid_out() {
        let p = plan(&small(), 30).unwrap();
        assert_eq!(p.entry, abi::USER_BASE + 16);
        let image: Vec<_> = p
            .space
            .regions()
            .iter()
            .filter(|r| r.kind == Kind::Image)
            .map(|r| (r.start, r.end, r.prot))
            .collect();
        assert_eq!(
            image,
            [
                (
                    abi::USER_BASE,
                    abi::USER_BASE + 0x2000,
                    prot::READ | prot::EXEC
                ),
                (
                    abi::USER_BASE + 0x2000,
                    abi::USER_BASE + 0x6000,
                    prot::READ | prot::WRITE
                )
            ]
        );
        assert_eq!(p.space.brk(), abi::HEAP_BASE);
        assert_eq!(p.block_addr % 16, 0);
        assert!(p.block_addr + 30 <= abi::USER_STACK_TOP);
        assert!(abi::USER_STACK_TOP - p.block_addr < 30 + 16);
        assert_eq!(p.rsp, p.block_addr - 8);
        // 6 image pages, 64 stack pages, page tables.
        assert!(p.frames >= 6 + 64 && p.frames < 6 + 64 + 8, "{}", p.frames);
        // An empty block sits at the very top.
        assert_eq!(plan(&small(), 0).unwrap().block_addr, abi::USER_STACK_TOP);
    }

    #[test]
    fn region_bytes_are_the_segments_bytes_in_zeroed_pages() {
        let f = small();
        let p = plan(&f, 0).unwrap();
        let image: Vec<Region> = p
            .space
            .regions()
            .iter()
            .filter(|r| r.kind == Kind::Image)
            .copied()
            .collect();
        let code = region_bytes(&image[0], &p.segments, &f);
        assert_eq!(code.len(), 0x2000);
        assert_eq!(code[..0x1800], f[0x1000..0x2800]);
        assert!(code[0x1800..].iter().all(|&b| b == 0));
        let data = region_bytes(&image[1], &p.segments, &f);
        assert_eq!(data.len(), 0x4000);
        assert_eq!(data[..0x800], f[0x3000..0x3800]);
        assert!(data[0x800..].iter().all(|&b| b == 0));
    }

    #[test]
    fn segments_sharing_a_page_become_one_region() {
        let base = abi::USER_BASE;
        let f = build(
            base,
            &[
                Ph {
                    flags: R | X,
                    offset: 0x1000,
                    vaddr: base,
                    filesz: 0x1100,
                    memsz: 0x1100,
                },
                Ph {
                    flags: R | W,
                    offset: 0x2100,
                    vaddr: base + 0x1100,
                    filesz: 0x100,
                    memsz: 0x2000,
                },
            ],
            0x2200,
        );
        let p = plan(&f, 0).unwrap();
        let image: Vec<_> = p
            .space
            .regions()
            .iter()
            .filter(|r| r.kind == Kind::Image)
            .map(|r| (r.start, r.end, r.prot))
            .collect();
        assert_eq!(image, [(base, base + 0x4000, prot::ALL)]);
    }

    #[test]
    fn bad_executables_are_refused_with_enoexec() {
        let good = small();
        let mut bad_magic = good.clone();
        bad_magic[1] = b'X';
        assert_eq!(plan(&bad_magic, 0), Err(Errno::ENOEXEC));
        // Truncated: header only, and segment bytes cut off.
        assert_eq!(plan(&good[..40], 0), Err(Errno::ENOEXEC));
        assert_eq!(plan(&good[..0x3000], 0), Err(Errno::ENOEXEC));
        assert_eq!(plan(b"#!/bin/sh\n", 0), Err(Errno::ENOEXEC));
        assert_eq!(plan(&[], 0), Err(Errno::ENOEXEC));
        let base = abi::USER_BASE;
        let seg = |vaddr: u64, memsz: u64| Ph {
            flags: R | W | X,
            offset: 0x1000,
            vaddr,
            filesz: 0x10,
            memsz,
        };
        // Overlapping segments.
        let f = build(
            base,
            &[seg(base, 0x2000), seg(base + 0x1000, 0x2000)],
            0x2000,
        );
        assert_eq!(plan(&f, 0), Err(Errno::ENOEXEC));
        // Outside the image area: in the heap, the stack, the kernel half,
        // below the user area, and wrapping around.
        for vaddr in [abi::HEAP_BASE, abi::USER_STACK_TOP - 0x1000, 0x1000, 0] {
            let f = build(vaddr, &[seg(vaddr, 0x1000)], 0x2000);
            assert_eq!(plan(&f, 0), Err(Errno::ENOEXEC), "{vaddr:#x}");
        }
        let f = build(
            base,
            &[seg(base, 0x1000), seg(u64::MAX - 0xfff, 0x2000)],
            0x2000,
        );
        assert_eq!(plan(&f, 0), Err(Errno::ENOEXEC));
        // A segment reaching into the heap through its bss.
        let f = build(base, &[seg(base, abi::HEAP_BASE - base + 1)], 0x2000);
        assert_eq!(plan(&f, 0), Err(Errno::ENOEXEC));
        // Entry outside the code.
        let f = build(abi::HEAP_BASE, &[seg(base, 0x1000)], 0x2000);
        assert_eq!(plan(&f, 0), Err(Errno::ENOEXEC));
        // filesz > memsz.
        let f = build(
            base,
            &[Ph {
                flags: R | X,
                offset: 0x1000,
                vaddr: base,
                filesz: 0x100,
                memsz: 0x10,
            }],
            0x2000,
        );
        assert_eq!(plan(&f, 0), Err(Errno::ENOEXEC));
    }

    #[test]
    fn huge_bss_needs_more_memory_than_there_is() {
        let base = abi::USER_BASE;
        // The whole image area as bss: a valid layout, 32,768 pages.
        let f = build(
            base,
            &[Ph {
                flags: R | W | X,
                offset: 0x1000,
                vaddr: base,
                filesz: 0x10,
                memsz: abi::HEAP_BASE - base,
            }],
            0x2000,
        );
        let p = plan(&f, 0).unwrap();
        assert!(p.frames > (abi::HEAP_BASE - base) / PAGE);
        assert_eq!(check_memory(p.frames, 20_000), Err(Errno::ENOMEM));
        assert_eq!(check_memory(p.frames, p.frames + RESERVE_FRAMES), Ok(()));
        assert_eq!(check_memory(u64::MAX, u64::MAX), Err(Errno::ENOMEM));
    }

    #[test]
    fn the_free_estimate_answers_only_with_room_to_spare() {
        let mut e = FreeEstimate::default();
        // Nothing read yet.
        assert!(!e.take(1));
        let plenty = RESERVE_FRAMES + ESTIMATE_SLACK + 1000;
        e.reset(plenty, 0);
        assert!(e.take(600));
        assert!(e.take(400));
        // Taken down to the slack: the next request asks the kernel.
        assert!(!e.take(1));
        // Too little memory for the slack: always asked.
        e.reset(ESTIMATE_SLACK, 0);
        assert!(!e.take(1));
        // At most ESTIMATE_USES answers per reading.
        e.reset(u64::MAX / 2, 10);
        for _ in 0..ESTIMATE_USES {
            assert!(e.take(1));
        }
        assert!(!e.take(1));
        e.reset(u64::MAX / 2, 0);
        assert!(!e.take(u64::MAX));
    }

    #[test]
    fn sizes_are_checked_before_copying() {
        assert_eq!(check_sizes(0, 0), Err(Errno::ENOEXEC));
        assert_eq!(check_sizes(MAX_IMAGE + 1, 0), Err(Errno::ENOMEM));
        assert_eq!(check_sizes(MAX_IMAGE, MAX_BLOCK + 1), Err(Errno::E2BIG));
        assert_eq!(check_sizes(MAX_IMAGE, MAX_BLOCK), Ok(()));
        assert_eq!(plan(&small(), MAX_BLOCK + 1), Err(Errno::E2BIG));
    }
}
