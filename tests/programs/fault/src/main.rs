//! `fault`: a boot program that faults on purpose, so tests can check the
//! kernel stops it and reports it by name and fault kind. The first
//! argument chooses the fault:
//!
//! * `pf`: read through a bad pointer (page fault)
//! * `gp`: privileged instruction `hlt` (general protection fault)
//! * `de`: integer division by zero (divide error)
//! * `ud`: `ud2` (invalid opcode)
//! * `panic`: a Rust panic (the runtime prints it and exits with 101)
//! * `hang`: spin forever (for harness timeout tests)
//! * `syscalls`: make bad system calls (kernel pointer, unmapped pointer,
//!   over-long buffer, unknown number) and check each returns the right
//!   error instead of crashing; exits 0 when all did, 1 otherwise
//!
//! Anything else prints a usage line and exits with 2.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

rt::entry!(main);

fn main(args: &str) -> i32 {
    let which = args.split_ascii_whitespace().next().unwrap_or("");
    rt::println!("about to fault: {which}");
    match which {
        "pf" => {
            let v = rt::fault::bad_pointer_read();
            rt::println!("read {v} from a bad pointer: the kernel did not stop us");
        }
        "gp" => {
            rt::fault::privileged_instruction();
            rt::println!("hlt did not fault");
        }
        "de" => {
            let q = rt::fault::divide_by_zero();
            rt::println!("1 / 0 = {q}: no divide error");
        }
        "ud" => {
            rt::fault::invalid_opcode();
            rt::println!("ud2 did not fault");
        }
        "panic" => panic!("deliberate panic"),
        "syscalls" => return bad_syscalls(),
        "hang" => loop {
            core::hint::black_box(0u64);
        },
        _ => {
            rt::println!("usage: fault pf|gp|de|ud|panic|hang|syscalls");
            return 2;
        }
    }
    1
}

/// Bad system calls must come back as error values.
fn bad_syscalls() -> i32 {
    use rt::abi::Errno;
    let kernel_ptr = core::hint::black_box(0x10_0000u64); // kernel image
    let unmapped = core::hint::black_box(rt::fault::BAD_ADDRESS);
    let mapped = b"ok";
    let via_gate = b"printed through int 0x80";
    let cases: [(&str, u64, Result<u64, Errno>); 6] = [
        (
            "int 0x80 gate",
            rt::sys::raw_int80(1, via_gate.as_ptr() as u64, via_gate.len() as u64),
            Ok(via_gate.len() as u64),
        ),
        (
            "kernel pointer",
            rt::sys::raw_syscall(1, kernel_ptr, 16),
            Err(Errno::Fault),
        ),
        (
            "unmapped pointer",
            rt::sys::raw_syscall(1, unmapped, 16),
            Err(Errno::Fault),
        ),
        (
            "buffer too long",
            rt::sys::raw_syscall(1, mapped.as_ptr() as u64, abi_max() + 1),
            Err(Errno::Inval),
        ),
        (
            "wrapping range",
            rt::sys::raw_syscall(1, u64::MAX - 4, 16),
            Err(Errno::Fault),
        ),
        (
            "unknown call",
            rt::sys::raw_syscall(999, 0, 0),
            Err(Errno::NoSys),
        ),
    ];
    let mut bad = 0;
    for (what, ret, want) in cases {
        let got = Errno::from_return(ret);
        let verdict = if got == want { "ok" } else { "WRONG" };
        if got != want {
            bad += 1;
        }
        rt::println!("{what}: {got:?} ({verdict})");
    }
    rt::println!("bad system calls: {bad} wrong");
    i32::from(bad != 0)
}

fn abi_max() -> u64 {
    rt::abi::MAX_DEBUG_PRINT as u64
}
