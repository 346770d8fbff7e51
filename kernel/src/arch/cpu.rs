//! CPU primitives: port I/O, control registers, GDT with user segments and
//! TSS, IDT, SYSCALL MSRs, the legacy PIC and PIT clock, and the QEMU exit
//! port.
//!
//! GDT layout (fixed, SYSRET-compatible for later use):
//! `0x08` kernel code, `0x10` kernel data, `0x18` user data (`0x1b` with
//! RPL 3), `0x20` user code (`0x23`), `0x28` TSS (two slots).

use super::trap;
use core::cell::UnsafeCell;
use spin::Lazy;
use x86_64::instructions::port::Port;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::{lidt, load_tss};
use x86_64::instructions::{hlt, interrupts, tlb};
use x86_64::registers::control::{Cr2, Cr3, Cr3Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::{Entry, HandlerFunc};
use x86_64::structures::paging::PhysFrame;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PhysAddr, PrivilegeLevel, VirtAddr};

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data selector.
pub const KERNEL_DS: u16 = 0x10;
/// User data selector with RPL 3.
pub const USER_DS: u64 = 0x18 | 3;
/// User code selector with RPL 3.
pub const USER_CS: u64 = 0x20 | 3;
const TSS_SEL: u16 = 0x28;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, value: u8) {
    // SAFETY: port I/O has no memory effects; the kernel only touches the
    // serial port, the PIC, the PIT, the CMOS clock and the QEMU exit
    // device, and user requests reach here only for ports in the caller's
    // privilege record.
    unsafe { Port::new(port).write(value) }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    // SAFETY: as for `outb`.
    unsafe { Port::new(port).read() }
}

/// Writes a 16-bit value to an I/O port.
pub fn outw(port: u16, value: u16) {
    // SAFETY: as for `outb`.
    unsafe { Port::new(port).write(value) }
}

/// Reads a 16-bit value from an I/O port.
pub fn inw(port: u16) -> u16 {
    // SAFETY: as for `outb`.
    unsafe { Port::new(port).read() }
}

/// Reads a 32-bit value from an I/O port.
pub fn inl(port: u16) -> u32 {
    // SAFETY: as for `outb`.
    unsafe { Port::new(port).read() }
}

/// Writes a 32-bit value to an I/O port.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe { Port::new(port).write(value) }
}

/// Faulting address of the last page fault.
pub fn read_cr2() -> u64 {
    Cr2::read_raw()
}

/// The time-stamp counter (for per-process system time).
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter; no memory access.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Switches to the address space rooted at `pml4` (physical address).
///
/// Every address space maps the kernel's identity region identically, so the
/// kernel keeps running across the switch.
pub fn write_cr3(pml4: u64) {
    let frame = PhysFrame::containing_address(PhysAddr::new(pml4));
    // SAFETY: callers pass the root of a page table built by `paging`, which
    // always contains the kernel's identity mapping.
    unsafe { Cr3::write(frame, Cr3Flags::empty()) }
}

/// The physical address of the loaded page-table root.
pub fn read_cr3() -> u64 {
    Cr3::read().0.start_address().as_u64()
}

/// Drops the TLB entry of virtual address `va` in the loaded address
/// space (after its page-table entry changed).
pub fn invlpg(va: u64) {
    tlb::flush(VirtAddr::new(va));
}

/// An address no page table maps (PDPT entry 4 is never present).
pub const UNMAPPED_KERNEL_ADDRESS: u64 = 0x1_0000_0000;

/// Reads [`UNMAPPED_KERNEL_ADDRESS`] in ring 0, which raises a page fault;
/// used by the `fault_test` option to exercise the kernel-fault path.
pub fn provoke_kernel_page_fault() -> u8 {
    // SAFETY: the address is unmapped, so the read traps into the kernel's
    // page-fault handler, which reports a kernel panic and exits QEMU; no
    // value is ever produced and no memory is touched.
    unsafe { core::ptr::read_volatile(UNMAPPED_KERNEL_ADDRESS as *const u8) }
}

/// Stops the CPU forever.
pub fn halt_forever() -> ! {
    loop {
        interrupts::disable();
        hlt();
    }
}

/// Exits QEMU through `isa-debug-exit` with status `(code << 1) | 1`.
pub fn qemu_exit(code: u32) -> ! {
    outl(abi::QEMU_EXIT_PORT, code);
    // Not under QEMU (or no exit device): park.
    halt_forever()
}

/// A stack the CPU switches to (TSS.RSP0, IST1); Rust code only takes its
/// address.
#[repr(C, align(16))]
struct Stack<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: Rust code never reads or writes the stacks; only the CPU (and
// the trap stubs) push frames on them, on the only CPU.
unsafe impl<const N: usize> Sync for Stack<N> {}

impl<const N: usize> Stack<N> {
    fn top(&self) -> u64 {
        self.0.get() as u64 + N as u64
    }
}

static TRAP_STACK: Stack<{ 64 * 1024 }> = Stack(UnsafeCell::new([0; 64 * 1024]));
static DF_STACK: Stack<{ 16 * 1024 }> = Stack(UnsafeCell::new([0; 16 * 1024]));

/// The TSS: RSP0 = the trap stack, IST1 = the double-fault stack; no I/O
/// bitmap (`iomap_base` past the end), so with IOPL 0 every port is closed
/// to ring 3.
static TSS: Lazy<TaskStateSegment> = Lazy::new(|| {
    let mut tss = TaskStateSegment::new();
    tss.privilege_stack_table[0] = VirtAddr::new(TRAP_STACK.top());
    tss.interrupt_stack_table[0] = VirtAddr::new(DF_STACK.top());
    tss
});

/// The GDT (order fixed, SYSRET-compatible): kernel code, kernel data,
/// user data, user code, TSS.
static GDT: Lazy<GlobalDescriptorTable> = Lazy::new(|| {
    let mut gdt = GlobalDescriptorTable::new();
    let selectors = [
        gdt.append(Descriptor::kernel_code_segment()),
        gdt.append(Descriptor::kernel_data_segment()),
        gdt.append(Descriptor::user_data_segment()),
        gdt.append(Descriptor::user_code_segment()),
        gdt.append(Descriptor::tss_segment(&TSS)),
    ];
    let expected = [
        KERNEL_CS,
        KERNEL_DS,
        USER_DS as u16,
        USER_CS as u16,
        TSS_SEL,
    ];
    assert!(selectors.iter().map(|s| s.0).eq(expected));
    gdt
});

/// The IDT: a gate for each stub in `trap` (exceptions 0-31, IRQs 32-47,
/// `int 0x80`); the rest not present. An array of the crate's entry type
/// rather than its `InterruptDescriptorTable`, whose typed fields leave
/// no way to set the reserved vectors 15, 22-27 and 31, which get stubs
/// here like every other exception.
static IDT: Lazy<[Entry<HandlerFunc>; 256]> = Lazy::new(|| {
    let mut idt = [const { Entry::missing() }; 256];
    let stubs = trap::exception_stubs().into_iter().enumerate().chain(
        trap::irq_stubs()
            .into_iter()
            .enumerate()
            .map(|(i, h)| (usize::from(IRQ_BASE) + i, h)),
    );
    for (vector, handler) in stubs {
        // SAFETY: `handler` is a stub from `trap`, which builds the frame
        // for any vector (with or without a CPU error code).
        let gate = unsafe { idt[vector].set_handler_addr(VirtAddr::new(handler)) };
        if vector == 8 {
            // SAFETY: IST1 (index 0) is the double-fault stack, used by
            // no other vector.
            unsafe { gate.set_stack_index(0) };
        }
    }
    let syscall = &mut idt[usize::from(abi::SYSCALL_VECTOR)];
    // SAFETY: the system-call stub of `trap`.
    unsafe { syscall.set_handler_addr(VirtAddr::new(trap::syscall_stub())) }
        .set_privilege_level(PrivilegeLevel::Ring3);
    idt
});

/// Sets up GDT, TSS, IDT, the SYSCALL MSRs, the legacy PIC and the clock.
/// Call once, first thing.
pub fn init() {
    GDT.load();
    // SAFETY: the code and data selectors match the boot GDT's, and the
    // TSS selector points at a valid, unused TSS descriptor.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CS));
        DS::set_reg(SegmentSelector(KERNEL_DS));
        ES::set_reg(SegmentSelector(KERNEL_DS));
        SS::set_reg(SegmentSelector(KERNEL_DS));
        load_tss(SegmentSelector(TSS_SEL));
    }

    let idt_ptr = DescriptorTablePointer {
        limit: (core::mem::size_of::<[Entry<HandlerFunc>; 256]>() - 1) as u16,
        base: VirtAddr::from_ptr(IDT.as_ptr()),
    };
    // SAFETY: the IDT is a static that lives for the kernel's lifetime and
    // holds only valid gates to the stubs in `trap`.
    unsafe { lidt(&idt_ptr) }

    // SYSCALL enters at `syscall_entry` with kernel CS 0x08 / SS 0x10 and
    // interrupts off. The return path is the shared `iretq`, so SYSRET's
    // selector base (STAR[63:48]) is set only for completeness.
    trap::set_syscall_stack(TRAP_STACK.top());
    Star::write(
        SegmentSelector(USER_CS as u16),
        SegmentSelector(USER_DS as u16),
        SegmentSelector(KERNEL_CS),
        SegmentSelector(KERNEL_DS),
    )
    .expect("GDT order fits SYSCALL/SYSRET");
    LStar::write(VirtAddr::new(trap::syscall_entry_addr()));
    // RFLAGS bits cleared on SYSCALL.
    SFMask::write(
        RFlags::TRAP_FLAG
            | RFlags::INTERRUPT_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK,
    );
    // SAFETY: setting SCE only enables the SYSCALL instruction, whose
    // entry (LSTAR, STAR, FMASK) is set up above.
    unsafe { Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };

    init_pic_and_timer();
}

/// First vector of the remapped legacy PIC (IRQ 0 = timer).
pub const IRQ_BASE: u8 = 32;
/// Clock interrupt frequency.
pub const TIMER_HZ: u32 = 100;
const PIT_HZ: u32 = 1_193_182;

/// Remaps the PICs to vectors 32-47 (away from the CPU exceptions), masks
/// every line but the timer, and starts PIT channel 0 at [`TIMER_HZ`]. The
/// kernel itself always runs with IF = 0; user processes run with IF = 1,
/// so the clock can preempt them.
fn init_pic_and_timer() {
    outb(0x20, 0x11); // ICW1: init, expect ICW4
    outb(0xa0, 0x11);
    outb(0x21, IRQ_BASE); // ICW2: vector offsets
    outb(0xa1, IRQ_BASE + 8);
    outb(0x21, 4); // ICW3: slave on IRQ2
    outb(0xa1, 2);
    outb(0x21, 1); // ICW4: 8086 mode
    outb(0xa1, 1);
    outb(0x21, !1u8); // only IRQ 0 (timer)
    outb(0xa1, 0xff);
    let divisor = PIT_HZ / TIMER_HZ;
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, rate generator
    outb(0x40, divisor as u8);
    outb(0x40, (divisor >> 8) as u8);
}

/// Unmasks IRQ line `irq` (0-15) at the PIC (and the cascade for 8-15).
pub fn unmask_irq(irq: u8) {
    if irq < 8 {
        outb(0x21, inb(0x21) & !(1 << irq));
    } else if irq < 16 {
        outb(0xa1, inb(0xa1) & !(1 << (irq - 8)));
        outb(0x21, inb(0x21) & !(1 << 2));
    }
}

/// Masks IRQ line `irq` (1-15; the clock stays on).
pub fn mask_irq(irq: u8) {
    if irq == 0 {
        return;
    }
    if irq < 8 {
        outb(0x21, inb(0x21) | (1 << irq));
    } else if irq < 16 {
        outb(0xa1, inb(0xa1) | (1 << (irq - 8)));
    }
}

/// Switches IRQ line `irq` (3-15, never the clock or the cascade) to
/// level-triggered mode in the PIIX edge/level control registers (ports
/// 0x4d0/0x4d1). SeaBIOS already sets them for the PCI interrupt lines it
/// routes; doing it again at hook time makes the kernel independent of the
/// firmware.
pub fn set_level_triggered(irq: u8) {
    if !(3..16).contains(&irq) || irq == 8 || irq == 13 {
        return;
    }
    let (port, bit) = if irq < 8 {
        (0x4d0, irq)
    } else {
        (0x4d1, irq - 8)
    };
    outb(port, inb(port) | (1 << bit));
}

/// Acknowledges IRQ `irq` (0-15) at the PIC. Returns false for a spurious
/// IRQ 7/15, which must not be acknowledged (except the cascade line).
pub fn ack_irq(irq: u8) -> bool {
    if irq == 7 || irq == 15 {
        let (cmd, bit) = if irq == 7 { (0x20, 0x80) } else { (0xa0, 0x80) };
        outb(cmd, 0x0b); // OCW3: read in-service register
        if inb(cmd) & bit == 0 {
            if irq == 15 {
                outb(0x20, 0x20);
            }
            return false;
        }
    }
    if irq >= 8 {
        outb(0xa0, 0x20);
    }
    outb(0x20, 0x20);
    true
}
