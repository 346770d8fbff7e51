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
        "hang" => loop {
            core::hint::black_box(0u64);
        },
        _ => {
            rt::println!("usage: fault pf|gp|de|ud|panic|hang");
            return 2;
        }
    }
    1
}
