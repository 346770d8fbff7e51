//! PCI configuration space through the legacy mechanism #1 ports
//! (0xCF8 address, 0xCFC data).

use rt::abi::{DEVIO_LONG, Errno};
use rt::sys::{port_in, port_out};

/// First configuration port.
pub const CONFIG_PORT: u16 = 0xcf8;
/// Ports used (0xCF8-0xCFF).
pub const CONFIG_PORTS: u32 = 8;

/// A PCI function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bdf {
    /// Bus.
    pub bus: u8,
    /// Device (0-31).
    pub dev: u8,
    /// Function (0-7).
    pub func: u8,
}

fn address(f: Bdf, offset: u8) -> u32 {
    0x8000_0000
        | (u32::from(f.bus) << 16)
        | (u32::from(f.dev & 31) << 11)
        | (u32::from(f.func & 7) << 8)
        | u32::from(offset & 0xfc)
}

/// Reads the configuration dword at `offset` (rounded down to 4).
pub fn read32(f: Bdf, offset: u8) -> Result<u32, Errno> {
    port_out(CONFIG_PORT, DEVIO_LONG, address(f, offset))?;
    port_in(CONFIG_PORT + 4, DEVIO_LONG)
}

/// Writes the configuration dword at `offset` (rounded down to 4).
pub fn write32(f: Bdf, offset: u8, v: u32) -> Result<(), Errno> {
    port_out(CONFIG_PORT, DEVIO_LONG, address(f, offset))?;
    port_out(CONFIG_PORT + 4, DEVIO_LONG, v)
}

/// A function found by [`scan`].
#[derive(Debug, Clone, Copy)]
pub struct Function {
    /// Where it is.
    pub bdf: Bdf,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
}

/// Every function on bus 0 (QEMU's i440fx puts all devices there), in
/// slot order.
pub fn scan() -> Result<alloc::vec::Vec<Function>, Errno> {
    let mut out = alloc::vec::Vec::new();
    for dev in 0..32u8 {
        for func in 0..8u8 {
            let bdf = Bdf { bus: 0, dev, func };
            let id = read32(bdf, 0)?;
            if id & 0xffff == 0xffff {
                if func == 0 {
                    break;
                }
                continue;
            }
            out.push(Function {
                bdf,
                vendor: id as u16,
                device: (id >> 16) as u16,
            });
            // Header type bit 7: multi-function device.
            if func == 0 && (read32(bdf, 0x0c)? >> 16) & 0x80 == 0 {
                break;
            }
        }
    }
    Ok(out)
}

/// The I/O port base and size of BAR `n` (0-5), if it is an I/O BAR.
pub fn io_bar(f: Bdf, n: u8) -> Result<Option<(u16, u32)>, Errno> {
    let off = 0x10 + 4 * n;
    let orig = read32(f, off)?;
    if orig & 1 == 0 {
        return Ok(None);
    }
    write32(f, off, 0xffff_ffff)?;
    let probe = read32(f, off)?;
    write32(f, off, orig)?;
    let mask = probe & 0xffff_fffc;
    let size = (!mask).wrapping_add(1) & 0xffff;
    let base = orig & 0xffff_fffc;
    if size == 0 || base == 0 || base > 0xffff {
        return Ok(None);
    }
    Ok(Some((base as u16, size)))
}

/// The interrupt line the firmware routed the function to (0x3C), if any.
pub fn irq_line(f: Bdf) -> Result<Option<u8>, Errno> {
    let line = read32(f, 0x3c)? as u8;
    Ok((1..16).contains(&line).then_some(line))
}

/// Enables I/O space decoding and bus mastering (DMA).
pub fn enable_io_and_dma(f: Bdf) -> Result<(), Errno> {
    let cmd = read32(f, 0x04)? & 0xffff;
    // The upper half (status) is write-one-to-clear: write zeros there.
    write32(f, 0x04, cmd | 0x1 | 0x4)
}
