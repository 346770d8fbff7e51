//! `tty`: the terminal driver (see the crate README) as a SEF service RS
//! starts from its table (label `tty`, a hardware driver, restarted with
//! its state). The console is the 16550 UART at COM1 (ports 0x3f8-0x3ff,
//! IRQ 4): the kernel has programmed it (115200 8N1, FIFO on) and keeps
//! printing its own lines on it polled; this driver turns on the receive
//! interrupt (IER bit 0), drains the receiver on every interrupt, and
//! writes output while the transmitter is empty, 16 bytes (the FIFO) per
//! empty status, asking for the transmitter-empty interrupt (IER bit 1)
//! when it is busy.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod os {
    extern crate alloc;

    use alloc::vec::Vec;
    use rt::sys::{inb, outb};
    use sys::Errno;

    /// COM1's first port.
    const COM1: u16 = 0x3f8;
    /// Its IRQ line (ISA, edge-triggered).
    const IRQ: u8 = 4;
    const RBR: u16 = 0;
    const THR: u16 = 0;
    const IER: u16 = 1;
    const IIR: u16 = 2;
    const LSR: u16 = 5;
    const MSR: u16 = 6;
    const IER_RX: u8 = 0x01;
    const IER_THRE: u8 = 0x02;
    const LSR_DR: u8 = 0x01;
    const LSR_THRE: u8 = 0x20;
    /// Transmit FIFO depth (16550A).
    const FIFO: usize = 16;
    /// Bound on the bytes drained per interrupt (a stuck status cannot
    /// hold the driver).
    const RX_MAX: usize = 4096;

    struct Uart {
        ier: u8,
    }

    impl Uart {
        fn set_ier(&mut self, v: u8) {
            if v != self.ier {
                self.ier = v;
                let _ = outb(COM1 + IER, v);
            }
        }
    }

    impl tty::Serial for Uart {
        fn start(&mut self) -> Result<(), Errno> {
            let e = native::errno;
            let me = rt::ipc::whois("").map_err(e)?;
            rt::sys::set_io_priv(me, COM1, 8).map_err(e)?;
            rt::sys::irq_hook(IRQ).map_err(e)?;
            // Whatever interrupt was pending, and stale input.
            let _ = inb(COM1 + IIR);
            let _ = inb(COM1 + MSR);
            self.ier = 0xff;
            self.set_ier(IER_RX);
            Ok(())
        }

        fn receive(&mut self) -> Vec<u8> {
            let mut got = Vec::new();
            // Reading IIR acknowledges a transmitter-empty interrupt; LSR
            // and the data register clear the others.
            let _ = inb(COM1 + IIR);
            while got.len() < RX_MAX {
                match inb(COM1 + LSR) {
                    Ok(lsr) if lsr & LSR_DR != 0 => match inb(COM1 + RBR) {
                        Ok(b) => got.push(b),
                        Err(_) => break,
                    },
                    _ => break,
                }
            }
            got
        }

        fn transmit(&mut self, bytes: &[u8]) -> usize {
            let mut sent = 0;
            while sent < bytes.len() {
                match inb(COM1 + LSR) {
                    Ok(lsr) if lsr & LSR_THRE != 0 => {
                        let n = (bytes.len() - sent).min(FIFO);
                        for &b in &bytes[sent..sent + n] {
                            if outb(COM1 + THR, b).is_err() {
                                return sent;
                            }
                            sent += 1;
                        }
                    }
                    Ok(_) => {
                        // Busy: continue at the transmitter-empty interrupt.
                        self.set_ier(IER_RX | IER_THRE);
                        return sent;
                    }
                    Err(_) => return sent,
                }
            }
            self.set_ier(IER_RX);
            sent
        }
    }

    rt::entry!(main);

    fn main(args: &str) -> i32 {
        if native::is_image_only(args) {
            rt::println!("boot image only; RS starts the service");
            return 0;
        }
        native::run(sys::Sef::new(
            tty::Tty::new(Uart { ier: 0 }),
            sys::StateStore::Ds,
        ))
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
