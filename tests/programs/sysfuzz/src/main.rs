//! `sysfuzz`: a system-call fuzzer run as a boot program. From the seed in
//! its arguments (`SEED CALLS`) it makes CALLS system calls with random
//! numbers and arguments biased toward hostile values (null, -1, kernel
//! addresses, unmapped and non-canonical addresses, pointers straddling
//! into unmapped pages, huge lengths, own / partner / stale / kernel-task /
//! `ANY` endpoints, random grant ids), to show the kernel answers every one
//! with a result or an errno and never panics or hangs. Calls that would
//! legitimately end or stall the run are left out (see README.md). It talks
//! only to the kernel and to a forked partner that echoes messages back.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use rt::abi::{self, Syscall};
use rt::ipc;
use rt::sys::raw_syscall6;

rt::entry!(main);

/// Start of the pages the fuzzer maps for itself: the kernel may write
/// anywhere in them, and `Unmap` of its own space is confined to this area.
const REGION: u64 = 0x6000_0000;
/// Pages mapped at `REGION` at start (the page after them stays unmapped,
/// so pointers near the end straddle into a hole).
const REGION_PAGES: u64 = 4;
/// Size of the area `Unmap`/`MapPages` of itself may touch.
const REGION_SPAN: u64 = 0x10_0000;
const PAGE: u64 = 0x1000;
/// Message type that tells the partner to exit.
const QUIT: u32 = 0x5157_4954;
/// Progress line interval.
const PROGRESS: u64 = 2000;
/// Highest system-call number tried besides the few huge ones.
const MAX_NR: u64 = 64;

fn main(args: &str) -> i32 {
    let mut words = args.split_ascii_whitespace();
    let first = words.next().unwrap_or("1");
    if first == "exit" {
        return 0;
    }
    if first == "edges" {
        return edges();
    }
    let seed: u64 = first.parse().unwrap_or(1);
    let calls: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(20_000);
    // `trace` prints every call before making it (to find a hang).
    let trace = words.next() == Some("trace");
    let me = u64::from(rt::ipc::whois("").unwrap_or(0));
    // The partner: receives anything and echoes it back without blocking,
    // so Send/SendRec to it always complete.
    let partner = match rt::sys::fork() {
        Ok(None) => partner_loop(me),
        Ok(Some(ep)) => u64::from(ep),
        Err(e) => {
            rt::println!("sysfuzz: fork of the partner failed: {e:?}");
            u64::from(u32::MAX - 7)
        }
    };
    let mapped = rt::sys::map_pages(me as u32, REGION, REGION_PAGES, true);
    rt::println!(
        "sysfuzz: seed {seed}, {calls} calls, me {me:#x}, partner {partner:#x}, region {mapped:?}"
    );
    // Heap buffer the kernel reads from (as message, name or copy source).
    let heap = vec![0x5au8; 3 * PAGE as usize];
    let heap_ptr = heap.as_ptr() as u64;
    let text = b"sysfuzz text\n";
    let mut f = Fuzz {
        rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        me,
        partner,
        stale: Vec::new(),
        spawned: Vec::new(),
        grants: Vec::new(),
        heap: heap_ptr,
        heap_len: heap.len() as u64,
        text: text.as_ptr() as u64,
        text_len: text.len() as u64,
        ok: 0,
        err: 0,
        trace,
        cycles: [0; MAX_NR as usize + 1],
    };
    for i in 0..calls {
        f.one();
        if (i + 1) % PROGRESS == 0 {
            rt::println!("sysfuzz: {} calls ({} ok, {} errors)", i + 1, f.ok, f.err);
        }
    }
    core::hint::black_box(&heap);
    // The costliest calls, so a slow run shows where its time went.
    let mut order: Vec<usize> = (0..f.cycles.len()).collect();
    order.sort_unstable_by_key(|&n| core::cmp::Reverse(f.cycles[n]));
    for &n in order.iter().take(5) {
        rt::println!("sysfuzz: call {n}: {} Mcycles", f.cycles[n] / 1_000_000);
    }
    let quit = ipc::message(QUIT);
    let q = ipc::send(partner as u32, &quit);
    rt::println!(
        "sysfuzz: partner quit: {q:?}; {} ok, {} errors",
        f.ok,
        f.err
    );
    rt::println!("sysfuzz: {calls} calls, seed {seed}, done");
    0
}

/// Fixed calls with buffers at the very top of the address space (the
/// last page, which page rounding cannot represent): each must fail.
/// Prints `sysfuzz: edge NAME: RESULT` per call and `sysfuzz: edges done`.
fn edges() -> i32 {
    let me = u64::from(rt::ipc::whois("").unwrap_or(0));
    let top = u64::MAX - 7;
    let last = 0xffff_ffff_ffff_f000;
    let stack = abi::USER_STACK_TOP - 64;
    let cases: [(&str, Syscall, [u64; 6]); 8] = [
        ("print top", Syscall::DebugPrint, [top, 7, 0, 0, 0, 0]),
        (
            "print last page",
            Syscall::DebugPrint,
            [last, 16, 0, 0, 0, 0],
        ),
        (
            "print wrapping",
            Syscall::DebugPrint,
            [u64::MAX, 1, 0, 0, 0, 0],
        ),
        ("whois top", Syscall::WhoIs, [top, 7, 0, 0, 0, 0]),
        (
            "vircopy from top",
            Syscall::VirCopy,
            [me, top, me, stack, 0, 7],
        ),
        (
            "vircopy to top",
            Syscall::VirCopy,
            [me, stack, me, top, 0, 7],
        ),
        ("modules to top", Syscall::BootModules, [top, 7, 0, 0, 0, 0]),
        ("memmap to top", Syscall::MemMap, [top, 7, 0, 0, 0, 0]),
    ];
    for (name, call, a) in cases {
        let r = raw_syscall6(call as u64, a) as i64;
        rt::println!("sysfuzz: edge {name}: {r}");
    }
    // Physical page 0 mapped into its space: the kernel leaves that page
    // out of its own map, so copies through it must fail too.
    let page0 = REGION + REGION_SPAN;
    let setup: [(&str, Syscall, [u64; 6]); 2] = [
        (
            "mem priv page 0",
            Syscall::SetMemPriv,
            [me, 0, PAGE, 0, 0, 0],
        ),
        ("map page 0", Syscall::MapPhys, [me, page0, 0, 1, 1, 0]),
    ];
    for (name, call, a) in setup {
        let r = raw_syscall6(call as u64, a) as i64;
        rt::println!("sysfuzz: setup {name}: {r}");
    }
    let cases: [(&str, Syscall, [u64; 6]); 3] = [
        (
            "modules to page 0",
            Syscall::BootModules,
            [page0 + 16, 8, 0, 0, 0, 0],
        ),
        ("print page 0", Syscall::DebugPrint, [page0, 4, 0, 0, 0, 0]),
        (
            "vircopy from page 0",
            Syscall::VirCopy,
            [me, page0, me, stack, 0, 8],
        ),
    ];
    for (name, call, a) in cases {
        let r = raw_syscall6(call as u64, a) as i64;
        rt::println!("sysfuzz: edge {name}: {r}");
    }
    rt::println!("sysfuzz: edges done");
    0
}

/// The partner's life: echo every message to its sender with `SendNb`
/// (so a `SendRec` caller gets its reply), exit on `QUIT` from the fuzzer.
fn partner_loop(parent: u64) -> ! {
    let mut failures = 0u32;
    loop {
        match ipc::receive(ipc::ANY) {
            Ok(m) => {
                failures = 0;
                if ipc::mtype(&m) == QUIT && u64::from(ipc::source(&m)) == parent {
                    rt::sys::exit(0);
                }
                let _ = ipc::sendnb(ipc::source(&m), &m);
            }
            // Only a fuzzed change to this process makes receive fail
            // repeatedly; leave rather than spin forever.
            Err(_) => {
                failures += 1;
                if failures > 1000 {
                    rt::sys::exit(3);
                }
            }
        }
    }
}

struct Fuzz {
    rng: u64,
    me: u64,
    partner: u64,
    /// Endpoints of processes that have (or soon will have) exited.
    stale: Vec<u64>,
    /// Endpoints of processes spawned as `sysfuzz exit`.
    spawned: Vec<u64>,
    /// Grant ids returned by `GrantCreate`.
    grants: Vec<u64>,
    heap: u64,
    heap_len: u64,
    text: u64,
    text_len: u64,
    ok: u64,
    err: u64,
    trace: bool,
    /// TSC cycles spent per call number (the last entry: huge numbers).
    cycles: [u64; MAX_NR as usize + 1],
}

impl Fuzz {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick(&mut self, v: &[u64]) -> u64 {
        v[self.below(v.len() as u64) as usize]
    }

    /// Any number, biased toward boundaries.
    fn num(&mut self) -> u64 {
        match self.below(10) {
            0 => 0,
            1 => u64::MAX,
            2 => self.below(16),
            3 => self.pick(&[
                1 << 31,
                1 << 32,
                u64::from(u32::MAX),
                i64::MAX as u64,
                1 << 63,
                PAGE,
                PAGE - 1,
                abi::MAX_SAFECOPY,
                abi::MAX_SAFECOPY + 1,
                abi::MAX_MAP_PAGES,
                abi::MAX_MAP_PAGES + 1,
            ]),
            4 => self.len(),
            5 => self.bad_addr(),
            6 => self.below(1 << 20),
            _ => self.next(),
        }
    }

    /// A length: small, page-sized, just over limits, or huge.
    fn len(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => self.below(64) + 1,
            2 => PAGE,
            3 => PAGE + 1,
            4 => self.pick(&[
                abi::MAX_DEBUG_PRINT as u64 + 1,
                abi::MAX_SAFECOPY + 1,
                u64::MAX,
                u64::MAX - PAGE + 1,
                1 << 32,
                1 << 40,
            ]),
            5 => self.below(3 * PAGE),
            6 => self.below(1 << 30),
            _ => self.next(),
        }
    }

    /// An address the process may not touch: null, kernel, unmapped user,
    /// non-canonical, wrapping.
    fn bad_addr(&mut self) -> u64 {
        self.pick(&[
            0,
            8,
            u64::MAX,
            u64::MAX - 7,
            0x10_0000,
            0xb8000,
            0x3fff_f000,
            0x3fff_fff8,
            abi::USER_BASE - 1,
            abi::USER_END,
            abi::USER_END - 8,
            abi::USER_STACK_BOTTOM - 8,
            abi::USER_STACK_BOTTOM - PAGE,
            0x7000_0000,
            REGION + REGION_PAGES * PAGE,
            REGION + REGION_SPAN,
            0x0000_8000_0000_0000,
            0x0000_7fff_ffff_f000,
            0xffff_8000_0000_0000,
            0xffff_ffff_8000_0000,
            0xfee0_0000,
            1 << 32,
        ])
    }

    /// A pointer the kernel may write through: inside (or straddling the
    /// end of) the scratch region, or a bad address.
    fn wptr(&mut self) -> u64 {
        let end = REGION + REGION_PAGES * PAGE;
        match self.below(8) {
            0 | 1 => self.bad_addr(),
            2 => end - self.below(128),
            3 => REGION + self.below(REGION_PAGES) * PAGE + PAGE - self.below(16) - 1,
            4 => REGION + REGION_PAGES * PAGE - PAGE + self.below(PAGE),
            5 => REGION + self.below(REGION_PAGES * PAGE),
            6 => REGION + self.below(REGION_SPAN),
            _ => REGION + self.below(REGION_PAGES) * PAGE,
        }
    }

    /// A pointer the kernel only reads: as [`Self::wptr`] or into the
    /// program's own stack, heap and image. (Never written: the kernel may
    /// write a whole length past the pointer, which in the heap would
    /// corrupt the allocator.)
    fn rptr(&mut self) -> u64 {
        match self.below(6) {
            0 => self.text,
            3 => self.heap + self.below(self.heap_len),
            1 => abi::USER_STACK_TOP - self.below(abi::USER_STACK_SIZE) - 1,
            2 => abi::USER_STACK_BOTTOM - self.below(64),
            _ => self.wptr(),
        }
    }

    /// True if `ep` names the fuzzer (the kernel may look at the low 32
    /// bits only).
    fn is_me(&self, ep: u64) -> bool {
        let low = ep as u32;
        low == self.me as u32 || low == abi::ENDPOINT_SELF
    }

    fn is_partner(&self, ep: u64) -> bool {
        ep as u32 == self.partner as u32
    }

    /// An endpoint naming no process.
    fn bad_ep(&mut self) -> u64 {
        self.pick(&[
            self.me ^ (1 << 16),
            u64::from(abi::ENDPOINT_ANY),
            u64::from(abi::SYSTEM_ENDPOINT),
            u64::from(abi::CLOCK_ENDPOINT),
            0x7777,
            u64::MAX,
        ])
    }

    /// An endpoint other than the fuzzer itself.
    fn other_ep(&mut self) -> u64 {
        let ep = self.any_other_ep();
        if self.is_me(ep) {
            self.me ^ (1 << 16)
        } else {
            ep
        }
    }

    fn any_other_ep(&mut self) -> u64 {
        match self.below(10) {
            0 => self.partner,
            1 => u64::from(abi::SYSTEM_ENDPOINT),
            2 => u64::from(abi::CLOCK_ENDPOINT),
            3 => u64::from(abi::ENDPOINT_ANY),
            4 => match self.stale.len() {
                0 => self.partner ^ (1 << 16),
                n => {
                    let i = self.below(n as u64) as usize;
                    self.stale[i]
                }
            },
            5 => self.below(64),
            6 => (self.below(8) << 16) | self.below(64),
            7 => self.me ^ (1 << 16),
            8 => self.num(),
            _ => u64::from(self.next() as u32),
        }
    }

    /// Any endpoint, the fuzzer's own included.
    fn ep(&mut self) -> u64 {
        match self.below(6) {
            0 => self.me,
            1 => u64::from(abi::ENDPOINT_SELF),
            _ => self.other_ep(),
        }
    }

    /// An endpoint that answers or fails at once, for blocking IPC.
    fn ipc_ep(&mut self) -> u64 {
        let ep = self.other_ep();
        if self.is_live_unknown(ep) {
            self.partner
        } else {
            ep
        }
    }

    /// True for an endpoint that might name a live process other than the
    /// partner (a spawned or forked process not yet gone), which might
    /// never receive: blocking IPC avoids those.
    fn is_live_unknown(&self, ep: u64) -> bool {
        let known = [
            self.partner,
            self.me,
            u64::from(abi::SYSTEM_ENDPOINT),
            u64::from(abi::CLOCK_ENDPOINT),
            u64::from(abi::ENDPOINT_ANY),
            u64::from(abi::ENDPOINT_SELF),
        ];
        !known.contains(&ep)
    }

    fn grant_id(&mut self) -> u64 {
        match (self.below(3), self.grants.len()) {
            (0, n) if n > 0 => {
                let i = self.below(n as u64) as usize;
                self.grants[i]
            }
            (1, _) => self.below(64),
            _ => self.num(),
        }
    }

    fn record(&mut self, r: u64) -> u64 {
        if (r as i64) < 0 && (r as i64) > -4096 {
            self.err += 1;
        } else {
            self.ok += 1;
        }
        r
    }

    fn call(&mut self, nr: u64, a: [u64; 6]) -> u64 {
        if self.trace {
            rt::println!("call {nr} {a:x?}");
        }
        let t = ipc::rdtsc();
        let r = raw_syscall6(nr, a);
        self.cycles[nr.min(MAX_NR) as usize] += ipc::rdtsc().wrapping_sub(t);
        self.record(r)
    }

    /// One fuzzed call (sometimes two: alarm then receive).
    fn one(&mut self) {
        let nr = match self.below(40) {
            0 => self.pick(&[
                u64::MAX,
                1 << 32,
                1 << 63,
                0x100,
                u64::from(u32::MAX),
                65,
                64,
            ]),
            _ => self.below(MAX_NR),
        };
        let mut a = [0u64; 6];
        for v in &mut a {
            *v = self.num();
        }
        let Ok(call) = Syscall::try_from(nr) else {
            self.call(nr, a);
            return;
        };
        match call {
            // Would end the run or this program.
            Syscall::Exit | Syscall::Shutdown => {}
            Syscall::DebugPrint => {
                a[0] = self.rptr();
                a[1] = self.len();
                // Never print memory past the text (binary junk in the log).
                if a[0] != self.text && a[1] <= abi::MAX_DEBUG_PRINT as u64 {
                    a[0] = self.bad_addr();
                }
                a[1] = if a[0] == self.text && a[1] <= abi::MAX_DEBUG_PRINT as u64 {
                    a[1].min(self.text_len)
                } else {
                    a[1]
                };
                self.call(nr, a);
            }
            Syscall::Send | Syscall::SendRec => {
                a[0] = self.ipc_ep();
                a[1] = if call == Syscall::SendRec {
                    self.wptr()
                } else {
                    self.rptr()
                };
                self.call(nr, a);
            }
            Syscall::Receive => {
                a[1] = self.wptr();
                if self.below(2) == 0 {
                    // An alarm due soon makes receiving from ANY or CLOCK
                    // return; another pending notification only earlier.
                    let ticks = 1 + self.below(2);
                    self.call(Syscall::SetAlarm as u64, [ticks, 0, 0, 0, 0, 0]);
                    a[0] =
                        self.pick(&[u64::from(abi::ENDPOINT_ANY), u64::from(abi::CLOCK_ENDPOINT)]);
                } else {
                    // Invalid or dead sources fail at once. (The kernel
                    // reads only the low 32 bits: 1 << 32 would be SYSTEM
                    // and u64::MAX ANY, which can block for good; a stale
                    // endpoint of the partner may name a reused slot.)
                    a[0] = self.pick(&[
                        u64::from(abi::ENDPOINT_SELF),
                        self.me ^ (1 << 16),
                        0xffff,
                        0x7777,
                        200,
                    ]);
                }
                self.call(nr, a);
            }
            Syscall::Notify | Syscall::SendNb | Syscall::SendA => {
                a[0] = self.ep();
                a[1] = self.rptr();
                self.call(nr, a);
            }
            Syscall::WhoIs | Syscall::BootModules | Syscall::MemMap => {
                a[0] = if call == Syscall::WhoIs {
                    self.rptr()
                } else {
                    self.wptr()
                };
                a[1] = self.len();
                self.call(nr, a);
            }
            Syscall::GrantCreate => {
                a[0] = self.pick(&[abi::GRANT_DIRECT, abi::GRANT_INDIRECT, 2, u64::MAX]);
                a[1] = self.ep();
                a[2] = self.pick(&[0, 1, 2, 3, 4, u64::MAX]);
                a[3] = if self.below(2) == 0 {
                    self.wptr()
                } else {
                    self.num()
                };
                a[4] = self.len();
                a[5] = (self.ep() << 32) | (self.grant_id() & 0xffff_ffff);
                let r = self.call(nr, a);
                if (r as i64) >= 0 && self.grants.len() < 64 {
                    self.grants.push(r);
                }
            }
            Syscall::GrantRevoke => {
                a[0] = self.grant_id();
                self.call(nr, a);
            }
            Syscall::SafeCopyFrom | Syscall::SafeCopyTo => {
                a[0] = self.ep();
                a[1] = self.grant_id();
                a[2] = if self.below(2) == 0 {
                    self.below(2 * PAGE)
                } else {
                    self.num()
                };
                a[3] = self.wptr();
                a[4] = self.len();
                self.call(nr, a);
            }
            Syscall::SetAlarm => {
                a[0] = self.pick(&[0, 1, 5, 1000, u64::MAX, 1 << 40]);
                self.call(nr, a);
            }
            Syscall::SetPriv => {
                // Not itself (it would lose its calls) nor the partner
                // (it could no longer reply, stalling a SendRec).
                a[0] = self.other_ep();
                if self.is_partner(a[0]) {
                    a[0] = self.partner ^ (1 << 16);
                }
                self.call(nr, a);
            }
            Syscall::Spawn => {
                let (name, args): (&[u8], &[u8]) = (b"sysfuzz", b"exit");
                if self.below(2) == 0 {
                    a = [
                        name.as_ptr() as u64,
                        name.len() as u64,
                        args.as_ptr() as u64,
                        args.len() as u64,
                        self.pick(&[0, abi::SPAWN_STOPPED, u64::MAX]),
                        0,
                    ];
                } else {
                    a[0] = self.rptr();
                    a[1] = self.len();
                    a[2] = self.rptr();
                    a[3] = self.len();
                }
                let r = self.call(nr, a);
                if (r as i64) >= 0 && self.stale.len() < 64 {
                    self.stale.push(r);
                    self.spawned.push(r);
                }
            }
            Syscall::CloneSpace => {
                // Only copies of `sysfuzz exit` processes or of nothing: a
                // copy of the fuzzer or partner started at its entry would
                // be a second fuzzer (its arguments sit on the copied stack).
                a[0] = match (self.below(2), self.spawned.len()) {
                    (0, n) if n > 0 => {
                        let i = self.below(n as u64) as usize;
                        self.spawned[i]
                    }
                    _ => self.bad_ep(),
                };
                a[1] = self.other_ep();
                if self.is_partner(a[1]) {
                    a[1] = self.bad_ep();
                }
                self.call(nr, a);
            }
            Syscall::SetSigMgr | Syscall::Update => {
                a[0] = self.ep();
                a[1] = self.ep();
                // CloneSpace into itself or the partner would replace
                // running code.
                // Update into itself would change its endpoint.
                if call == Syscall::Update && (self.is_me(a[1]) || self.is_partner(a[1])) {
                    a[1] = self.me ^ (1 << 16);
                }
                self.call(nr, a);
            }
            Syscall::SetPriority => {
                a[0] = self.ep();
                a[1] = self.pick(&[0, 7, 15, 16, u64::MAX]);
                a[2] = self.pick(&[0, 1, 5, u64::MAX]);
                self.call(nr, a);
            }
            Syscall::SetIoPriv => {
                // Ports for itself would let DevIo write to QEMU's exit
                // or reset ports.
                a[0] = self.other_ep();
                a[1] = self.pick(&[0, 0x80, 0xf4, 0x3f8, 0xffff, u64::MAX]);
                a[2] = self.pick(&[0, 1, 8, 0x10000, u64::MAX]);
                self.call(nr, a);
            }
            Syscall::DevIo => {
                a[0] = self.pick(&[0, 0x20, 0x40, 0x80, 0xf4, 0x3f8, 0x501, 0x604, 0xcf8]);
                a[2] &= !abi::DEVIO_WRITE;
                self.call(nr, a);
            }
            Syscall::DevIoRep => {
                a[0] = self.pick(&[0, 0x20, 0x40, 0x80, 0xf4, 0x3f8, 0x501, 0x604, 0xcf8]);
                a[1] = self.wptr();
                a[2] &= !abi::DEVIO_WRITE;
                a[3] = self.pick(&[
                    0,
                    1,
                    2,
                    3,
                    4,
                    512,
                    abi::DEVIO_REP_MAX,
                    abi::DEVIO_REP_MAX + 4,
                ]);
                self.call(nr, a);
            }
            Syscall::Kill | Syscall::SigSend | Syscall::ClearSpace => {
                a[0] = self.other_ep();
                if call == Syscall::SigSend {
                    a[1] = self.pick(&[0, 1, 9, 11, 63, 64, u64::MAX]);
                }
                self.call(nr, a);
            }
            Syscall::Protect => {
                a[0] = self.ep();
                a[1] = match self.below(3) {
                    0 => self.bad_addr(),
                    1 => REGION + self.below(REGION_SPAN / PAGE) * PAGE,
                    _ => self.num(),
                };
                a[2] = self.pick(&[0, 1, 2, 16, abi::MAX_MAP_PAGES + 1, u64::MAX]);
                a[3] = self.below(2);
                // Only its own region may lose write permission (its data
                // and stack, and the partner's, keep it).
                if a[3] == 0 {
                    a[0] = self.me;
                    a[1] = REGION + self.below(REGION_SPAN / PAGE) * PAGE;
                    a[2] = a[2].min((REGION + REGION_SPAN - a[1]) / PAGE);
                }
                self.call(nr, a);
            }
            Syscall::SharePages => {
                // Adds read-only mappings at unmapped pages only; a shared
                // source page becomes copy-on-write. Addresses in the
                // fuzz region (or bad ones), any endpoints.
                let addr = |f: &mut Self| match f.below(3) {
                    0 => f.bad_addr(),
                    1 => REGION + f.below(REGION_SPAN / PAGE) * PAGE,
                    _ => f.num(),
                };
                a[0] = self.ep();
                a[1] = addr(self);
                a[2] = self.ep();
                a[3] = addr(self);
                a[4] = self.pick(&[0, 1, 2, 16, abi::MAX_MAP_PAGES + 1, u64::MAX]);
                self.call(nr, a);
            }
            Syscall::MapPages | Syscall::MapPhys | Syscall::Unmap => {
                a[0] = self.ep();
                a[1] = match self.below(3) {
                    0 => self.bad_addr(),
                    1 => REGION + self.below(REGION_SPAN / PAGE) * PAGE,
                    _ => self.num(),
                };
                let last = if call == Syscall::Unmap { 2 } else { 3 };
                a[last] = self.pick(&[0, 1, 2, 16, abi::MAX_MAP_PAGES + 1, u64::MAX]);
                if call == Syscall::MapPhys {
                    a[2] = self.pick(&[0, 0xb8000, 0x10_0000, 0xfee0_0000, 1 << 40, u64::MAX]);
                }
                // Its own image, stack and heap stay mapped.
                if call == Syscall::Unmap && self.is_me(a[0]) {
                    a[1] = REGION + self.below(REGION_SPAN / PAGE) * PAGE;
                    a[2] = a[2].min((REGION + REGION_SPAN - a[1]) / PAGE);
                }
                self.call(nr, a);
            }
            Syscall::Fork => {
                let r = raw_syscall6(nr, a);
                if r == 0 {
                    rt::sys::exit(0);
                }
                self.record(r);
                if (r as i64) >= 0 && self.stale.len() < 64 {
                    self.stale.push(r);
                }
            }
            Syscall::SetEntry => {
                a[0] = self.other_ep();
                a[1] = self.bad_addr();
                a[2] = self.pick(&[0, abi::USER_STACK_TOP, u64::MAX, 0x7000_0000]);
                self.call(nr, a);
            }
            Syscall::VirCopy => {
                a[0] = self.ep();
                a[1] = self.rptr();
                a[2] = self.ep();
                // Copies into itself land only in the scratch areas.
                a[3] = if self.is_me(a[2]) {
                    self.wptr()
                } else if self.is_partner(a[2]) {
                    self.bad_addr()
                } else {
                    self.num()
                };
                a[5] = self.len();
                self.call(nr, a);
            }
            Syscall::Times
            | Syscall::ProcInfo
            | Syscall::SigPending
            | Syscall::SlotOwner
            | Syscall::Release
            | Syscall::SetIrqPriv
            | Syscall::SetMemPriv => {
                a[0] = self.ep();
                a[1] = if call == Syscall::SetMemPriv {
                    self.num()
                } else {
                    self.wptr()
                };
                if call == Syscall::SigPending {
                    a[0] = self.wptr();
                }
                self.call(nr, a);
            }
            Syscall::IrqHook | Syscall::IrqUnhook | Syscall::IrqCtl => {
                a[0] = if self.below(4) == 0 {
                    self.num()
                } else {
                    self.below(17)
                };
                a[1] = self.below(3);
                self.call(nr, a);
            }
            Syscall::DmaAlloc => {
                a[0] = match self.below(3) {
                    0 => self.bad_addr(),
                    1 => REGION + self.below(REGION_SPAN / PAGE) * PAGE,
                    _ => self.num(),
                };
                a[1] = self.pick(&[0, 1, 2, 16, abi::MAX_DMA_PAGES + 1, u64::MAX]);
                self.call(nr, a);
            }
            Syscall::UMap | Syscall::UMapGrant => {
                if call == Syscall::UMap {
                    a[0] = self.rptr();
                    a[1] = self.len();
                    a[2] = self.below(5);
                } else {
                    a[0] = self.ep();
                    a[3] = self.len();
                    a[4] = self.below(5);
                }
                self.call(nr, a);
            }
            Syscall::Uptime | Syscall::BootTime => {
                self.call(nr, a);
            }
            Syscall::ProcFork => {
                a[0] = self.ep();
                let r = raw_syscall6(nr, a);
                self.record(r);
                // A stopped child would never run: stop it for good.
                if (r as i64) >= 0 {
                    let k = [r, 0, 0, 0, 0, 0];
                    self.record(raw_syscall6(Syscall::Kill as u64, k));
                }
            }
            Syscall::Stop | Syscall::Resume => {
                // Always resumed at once: a stopped partner would stall
                // the IPC calls to it.
                a[0] = self.ep();
                self.call(nr, a);
                let r = [a[0], 0, 0, 0, 0, 0];
                self.call(Syscall::Resume as u64, r);
            }
            Syscall::GetRegs | Syscall::SetRegs => {
                a[0] = self.ep();
                a[1] = if call == Syscall::GetRegs {
                    self.wptr()
                } else {
                    self.rptr()
                };
                self.call(nr, a);
            }
            Syscall::SetPager => {
                // Undone at once, so no later fault can wait for a pager
                // that never answers.
                a[0] = self.ep();
                a[1] = self.ep();
                self.call(nr, a);
                let r = [a[0], u64::from(abi::ENDPOINT_NONE), 0, 0, 0, 0];
                self.call(nr, r);
            }
            Syscall::PageFaults | Syscall::MemStats => {
                a[0] = self.wptr();
                self.call(nr, a);
            }
            Syscall::PageFix => {
                a[0] = self.ep();
                a[1] = self.rptr();
                a[2] = self.below(4);
                self.call(nr, a);
            }
            Syscall::SetName => {
                // Renames: its own lines must keep the prefix `[sysfuzz]`
                // (the test finds them by it), so itself only gets its own
                // name or a name the kernel refuses; other targets (the
                // partner, spawned children, stale and kernel-task
                // endpoints) get any bytes.
                const NAMES: &[u8] = b"sysfuzz\0\n bad name, far too long";
                a[0] = self.ep();
                let names = NAMES.as_ptr() as u64;
                if self.is_me(a[0]) {
                    a[1] = names;
                    a[2] = self.pick(&[0, 7, 8, 15, 16, 64, u64::MAX]);
                } else {
                    a[1] = match self.below(3) {
                        0 => names,
                        1 => self.bad_addr(),
                        _ => self.rptr(),
                    };
                    a[2] = match self.below(2) {
                        0 => self.pick(&[0, 1, 7, 15, 16]),
                        _ => self.len(),
                    };
                }
                self.call(nr, a);
            }
            Syscall::ModuleMap => {
                // Names of real modules (programs, not data: refused) and
                // garbage, at good and bad addresses.
                a[0] = self.rptr();
                a[1] = self.pick(&[0, 3, 8, 64, 65, u64::MAX]);
                a[2] = match self.below(3) {
                    0 => self.bad_addr(),
                    1 => REGION + self.below(REGION_SPAN / PAGE) * PAGE,
                    _ => self.num(),
                };
                self.call(nr, a);
            }
        }
    }
}
