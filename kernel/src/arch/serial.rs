//! COM1 serial console (16550 UART at 0x3f8), polled.
//!
//! Stateless apart from the one-time `init`, so the panic path can print
//! even when some kernel structure is in use.

use super::cpu::{inb, outb};
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

const COM1: u16 = 0x3f8;

/// Bytes that may be written after one "transmitter empty" status: the
/// FIFO depth of a 16550A (set by `init` when the FIFO came on), else 1.
/// Under QEMU every port access is an exit to the emulator, so polling the
/// status once per 16 bytes instead of before each halves them.
static BURST: AtomicUsize = AtomicUsize::new(1);

/// Programs COM1 for 115200 baud, 8N1, FIFO on.
pub fn init() {
    outb(COM1 + 1, 0x00); // no interrupts
    outb(COM1 + 3, 0x80); // DLAB
    outb(COM1, 0x01); // divisor 1 = 115200
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); // 8N1
    outb(COM1 + 2, 0xC7); // FIFO on, cleared, 14-byte threshold
    outb(COM1 + 4, 0x0B); // DTR, RTS, OUT2
    // IIR bits 7:6 read 11 when the FIFO is on (16550A).
    let burst = if inb(COM1 + 2) & 0xC0 == 0xC0 { 16 } else { 1 };
    BURST.store(burst, Ordering::Relaxed);
}

/// Waits until the transmitter holding register (and FIFO) is empty.
fn wait_empty() {
    while inb(COM1 + 5) & 0x20 == 0 {
        core::hint::spin_loop();
    }
}

/// Sends one byte, waiting for the transmitter.
pub fn write_byte(b: u8) {
    wait_empty();
    outb(COM1, b);
}

/// Sends raw bytes.
pub fn write_bytes(bytes: &[u8]) {
    // An empty FIFO takes `BURST` bytes without further polling.
    for chunk in bytes.chunks(BURST.load(Ordering::Relaxed).max(1)) {
        wait_empty();
        chunk.iter().for_each(|&b| outb(COM1, b));
    }
}

/// `fmt::Write` adapter for COM1.
pub struct Serial;

impl fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Prints a formatted line on the console.
#[macro_export]
macro_rules! kprintln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        // Writing to the serial port cannot fail.
        let _ = writeln!($crate::arch::serial::Serial, $($arg)*);
    }};
}
