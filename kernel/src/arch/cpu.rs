//! CPU primitives: port I/O, control registers, GDT with user segments and
//! TSS, IDT, SYSCALL MSRs, the legacy PIC and PIT clock, and the QEMU exit
//! port.
//!
//! GDT layout (fixed, SYSRET-compatible for later use):
//! `0x08` kernel code, `0x10` kernel data, `0x18` user data (`0x1b` with
//! RPL 3), `0x20` user code (`0x23`), `0x28` TSS (two slots).

use super::trap;
use core::arch::asm;
use core::cell::UnsafeCell;

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
    // device.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Writes a 16-bit value to an I/O port.
pub fn outw(port: u16, value: u16) {
    // SAFETY: port I/O has no memory effects; user requests reach here only
    // for ports in the caller's privilege record.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a 16-bit value from an I/O port.
pub fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: as for `outw`.
    unsafe {
        asm!("in ax, dx", in("dx") port, out("ax") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Reads a 32-bit value from an I/O port.
pub fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: as for `outw`.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Writes a 32-bit value to an I/O port.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Writes a model-specific register.
fn wrmsr(msr: u32, value: u64) {
    // SAFETY: only called by `init` for the SYSCALL MSRs (EFER, STAR,
    // LSTAR, FMASK) with values that keep long mode and paging enabled.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nomem, nostack, preserves_flags))
    }
}

/// Reads a model-specific register.
fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading EFER has no side effects.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi,
             options(nomem, nostack, preserves_flags))
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

const MSR_EFER: u32 = 0xC000_0080;
const MSR_STAR: u32 = 0xC000_0081;
const MSR_LSTAR: u32 = 0xC000_0082;
const MSR_FMASK: u32 = 0xC000_0084;
const EFER_SCE: u64 = 1;
/// RFLAGS bits cleared on SYSCALL: TF, IF, DF, AC.
const FMASK: u64 = 0x100 | 0x200 | 0x400 | 0x4_0000;

/// Faulting address of the last page fault.
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// The time-stamp counter (for per-process system time).
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the time-stamp counter; no memory access.
    unsafe { asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Switches to the address space rooted at `pml4` (physical address).
///
/// Every address space maps the kernel's identity region identically, so the
/// kernel keeps running across the switch.
pub fn write_cr3(pml4: u64) {
    // SAFETY: callers pass the root of a page table built by `paging`, which
    // always contains the kernel's identity mapping.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) }
}

/// The physical address of the loaded page-table root.
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v & 0x000F_FFFF_FFFF_F000
}

/// Drops the TLB entry of virtual address `va` in the loaded address
/// space (after its page-table entry changed).
pub fn invlpg(va: u64) {
    // SAFETY: `invlpg` only invalidates a cached translation; the next
    // access walks the (valid) page tables again. `nomem` does not hold
    // because later accesses depend on it, so no options allow reordering
    // memory accesses across it.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) }
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
        // SAFETY: interrupts are off; `hlt` just parks the CPU.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) }
    }
}

/// Exits QEMU through `isa-debug-exit` with status `(code << 1) | 1`.
pub fn qemu_exit(code: u32) -> ! {
    outl(abi::QEMU_EXIT_PORT, code);
    // Not under QEMU (or no exit device): park.
    halt_forever()
}

/// A cell for CPU tables that are written once during single-threaded
/// start-up and afterwards only read by the hardware.
struct CpuTable<T>(UnsafeCell<T>);

// SAFETY: written only by `init` before interrupts or processes exist, on
// the only CPU.
unsafe impl<T> Sync for CpuTable<T> {}

/// 64-bit Task State Segment.
#[repr(C, packed)]
struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

#[repr(C, align(16))]
struct Stack<const N: usize>([u8; N]);

const TRAP_STACK_SIZE: usize = 64 * 1024;
const DF_STACK_SIZE: usize = 16 * 1024;

static TRAP_STACK: CpuTable<Stack<TRAP_STACK_SIZE>> =
    CpuTable(UnsafeCell::new(Stack([0; TRAP_STACK_SIZE])));
static DF_STACK: CpuTable<Stack<DF_STACK_SIZE>> =
    CpuTable(UnsafeCell::new(Stack([0; DF_STACK_SIZE])));

static TSS: CpuTable<Tss> = CpuTable(UnsafeCell::new(Tss {
    reserved0: 0,
    rsp: [0; 3],
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    // No I/O bitmap: with IOPL 0 every port is closed to ring 3.
    iomap_base: core::mem::size_of::<Tss>() as u16,
}));

static GDT: CpuTable<[u64; 7]> = CpuTable(UnsafeCell::new([
    0,
    0x00AF_9A00_0000_FFFF, // kernel code, 64-bit
    0x00CF_9200_0000_FFFF, // kernel data
    0x00CF_F200_0000_FFFF, // user data, DPL 3
    0x00AF_FA00_0000_FFFF, // user code, 64-bit, DPL 3
    0,                     // TSS low (filled by init)
    0,                     // TSS high
]));

#[derive(Clone, Copy)]
#[repr(C)]
struct IdtEntry {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const MISSING: IdtEntry = IdtEntry {
    offset_low: 0,
    selector: 0,
    ist: 0,
    type_attr: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

static IDT: CpuTable<[IdtEntry; 256]> = CpuTable(UnsafeCell::new([MISSING; 256]));

#[repr(C, packed)]
struct DescriptorPtr {
    limit: u16,
    base: u64,
}

fn gate(handler: u64, dpl: u8, ist: u8) -> IdtEntry {
    IdtEntry {
        offset_low: handler as u16,
        selector: KERNEL_CS,
        ist,
        // Present, interrupt gate (IF cleared on entry).
        type_attr: 0x80 | (dpl << 5) | 0xE,
        offset_mid: (handler >> 16) as u16,
        offset_high: (handler >> 32) as u32,
        reserved: 0,
    }
}

/// Sets up GDT, TSS, IDT and masks the legacy PIC. Call once, first thing.
pub fn init() {
    let trap_top = TRAP_STACK.0.get() as u64 + TRAP_STACK_SIZE as u64;
    let df_top = DF_STACK.0.get() as u64 + DF_STACK_SIZE as u64;
    // SAFETY: single-threaded start-up; nothing else references the TSS yet.
    let tss = unsafe { &mut *TSS.0.get() };
    tss.rsp[0] = trap_top;
    tss.ist[0] = df_top; // IST1

    let base = TSS.0.get() as u64;
    let limit = (core::mem::size_of::<Tss>() - 1) as u64;
    // SAFETY: as above, the GDT is not loaded yet.
    let gdt = unsafe { &mut *GDT.0.get() };
    gdt[5] = (limit & 0xFFFF)
        | ((base & 0xFF_FFFF) << 16)
        | (0x89 << 40) // present, 64-bit TSS (available)
        | (((limit >> 16) & 0xF) << 48)
        | (((base >> 24) & 0xFF) << 56);
    gdt[6] = base >> 32;

    let gdt_ptr = DescriptorPtr {
        limit: (core::mem::size_of::<[u64; 7]>() - 1) as u16,
        base: GDT.0.get() as u64,
    };
    // SAFETY: the GDT is a static with valid descriptors; the code and data
    // selectors match the boot GDT, so reloading them keeps execution going.
    unsafe {
        asm!(
            "lgdt [{ptr}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "mov ss, {ds:x}",
            "ltr {tss:x}",
            ptr = in(reg) &gdt_ptr,
            cs = in(reg) u64::from(KERNEL_CS),
            tmp = out(reg) _,
            ds = in(reg) u64::from(KERNEL_DS),
            tss = in(reg) u64::from(TSS_SEL),
        );
    }

    // SAFETY: the IDT is not loaded yet; nothing else references it.
    let idt = unsafe { &mut *IDT.0.get() };
    for (vector, handler) in trap::exception_stubs().iter().enumerate() {
        let ist = if vector == 8 { 1 } else { 0 };
        idt[vector] = gate(*handler, 0, ist);
    }
    idt[usize::from(abi::SYSCALL_VECTOR)] = gate(trap::syscall_stub(), 3, 0);
    let idt_ptr = DescriptorPtr {
        limit: (core::mem::size_of::<[IdtEntry; 256]>() - 1) as u16,
        base: IDT.0.get() as u64,
    };
    // SAFETY: the IDT holds valid gates to the stubs in `trap`.
    unsafe { asm!("lidt [{}]", in(reg) &idt_ptr, options(nostack)) }

    // SYSCALL enters at `syscall_entry` with kernel CS 0x08 / SS 0x10 and
    // interrupts off. The return path is the shared `iretq`, so SYSRET's
    // selector base (STAR[63:48]) is set only for completeness.
    trap::set_syscall_stack(trap_top);
    wrmsr(
        MSR_STAR,
        (u64::from(KERNEL_DS) << 48) | (u64::from(KERNEL_CS) << 32),
    );
    wrmsr(MSR_LSTAR, trap::syscall_entry_addr());
    wrmsr(MSR_FMASK, FMASK);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);

    for (i, handler) in trap::irq_stubs().iter().enumerate() {
        idt[IRQ_BASE as usize + i] = gate(*handler, 0, 0);
    }
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
