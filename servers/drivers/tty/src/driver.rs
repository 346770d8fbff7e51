//! The TTY service: the character-device protocol over the lines.
//!
//! Minors (major 4): 0 the console (a [`Serial`] device), 128..=131 the
//! pty slaves `/dev/ttyp0..3`, 192..=195 the masters `/dev/ptyp0..3`.
//! A slave is a [`Line`]; its master writes the line's input (through the
//! line discipline) and reads its output.
//!
//! Reads and writes that cannot complete are suspended and answered when
//! they can (or with `EINTR` on cancel; a write cancelled part-way answers
//! the bytes it moved); a select with `notify` watches the ops not ready
//! now, and each becoming ready is reported with `SelectReady` (MINIX). ^C and ^\ (and SIGHUP when a master
//! closes, SIGWINCH on a new window size) go to the line's foreground
//! process group through PM's `SigGroup`, sent asynchronously (PM's answer
//! is ignored). After every event whose effect a restart must keep
//! (input, reads, settings, master open/close) the state of all lines is
//! saved through SEF (see [`crate::state`]).

use crate::line::{Line, MAX_INPUT, ReadPoll};
use crate::state::{self, LineState};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use sys::proto::cdev::{CdevReply, CdevRequest, sel};
use sys::proto::kernel::is_notify;
use sys::proto::pm::{PmCall, PmReply, sig};
use sys::proto::rs::InitKind;
use sys::proto::tty::{self, TERMIOS_LEN, Termios, WINSIZE_LEN, Winsize, req};
use sys::{Ctx, Endpoint, Errno, GrantId, InitInfo, Message, Service};

/// Minor of the console.
pub const CONSOLE_MINOR: u32 = 0;
/// Number of pty pairs.
pub const NPTY: usize = 4;
/// Minor of the first pty slave (`/dev/ttyp0`).
pub const PTY_SLAVE_BASE: u32 = 128;
/// Minor of the first pty master (`/dev/ptyp0`).
pub const PTY_MASTER_BASE: u32 = 192;
/// Label of PM in DS (where signals go).
pub const PM_LABEL: &str = "pm";
/// Bytes copied per grant transfer step.
const CHUNK: usize = 1024;
/// Ticks between looks at the console while someone waits on it.
pub const POLL_TICKS: u64 = sys::HZ;

/// The serial device behind the console.
pub trait Serial {
    /// Take the device and enable its receive interrupt.
    fn start(&mut self) -> Result<(), Errno>;
    /// Bytes received since the last call (acknowledges the device).
    fn receive(&mut self) -> Vec<u8>;
    /// Send the start of `bytes`: as many as the transmitter takes now,
    /// returning how many. When it takes fewer, the device interrupts
    /// once it can take more.
    fn transmit(&mut self, bytes: &[u8]) -> usize;
}

/// Which side of which line a minor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dev {
    /// The console.
    Console,
    /// Pty slave `i`.
    Slave(usize),
    /// Pty master `i`.
    Master(usize),
}

impl Dev {
    /// The device of `minor`, `None` if there is none.
    pub fn of(minor: u32) -> Option<Dev> {
        let n = NPTY as u32;
        match minor {
            CONSOLE_MINOR => Some(Dev::Console),
            m if (PTY_SLAVE_BASE..PTY_SLAVE_BASE + n).contains(&m) => {
                Some(Dev::Slave((m - PTY_SLAVE_BASE) as usize))
            }
            m if (PTY_MASTER_BASE..PTY_MASTER_BASE + n).contains(&m) => {
                Some(Dev::Master((m - PTY_MASTER_BASE) as usize))
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Pty {
    line: Line,
    master_open: bool,
    slave_opens: u32,
    /// The slave was closed while the master stayed open (MINIX
    /// `TTY_CLOSED`): master writes fail with `EIO`, master reads see end
    /// of file, until the slave is opened again.
    slave_closed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Read {
    client: Endpoint,
    id: u64,
    minor: u32,
    grant: GrantId,
    size: usize,
    started: u64,
}

#[derive(Debug, Clone, Copy)]
struct Write {
    client: Endpoint,
    id: u64,
    minor: u32,
    grant: GrantId,
    size: usize,
    done: usize,
}

/// Counters (for tests and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtyStats {
    /// Signals sent to PM.
    pub signals: u64,
    /// State saves that failed.
    pub save_failures: u64,
    /// Bytes received from the serial device.
    pub rx_bytes: u64,
    /// Bytes handed to the serial device.
    pub tx_bytes: u64,
    /// Clock polls that found input no interrupt had announced.
    pub polls_found: u64,
}

/// The terminal driver over serial device `S`.
pub struct Tty<S: Serial> {
    serial: S,
    console: Line,
    console_opens: u32,
    ptys: [Pty; NPTY],
    reads: Vec<Read>,
    writes: Vec<Write>,
    /// Select registrations: (client, minor, ops).
    selects: Vec<(Endpoint, u32, u32)>,
    pm: Option<Endpoint>,
    next_sig_id: u64,
    /// State changed since the last save.
    dirty: bool,
    /// Tick the alarm is set for.
    alarm_at: Option<u64>,
    stats: TtyStats,
    /// Signals sent (group, signal), newest last, for tests (bounded).
    sent_signals: Vec<(u32, u32)>,
    /// TIOCSCTTY look-ups at PM: (GetCred id, device, the line's pgrp
    /// settings when asked).
    ctty_asks: Vec<(u64, Dev, u64)>,
    /// Per line (console, then the ptys): TIOCSPGRP count, so a late PM
    /// answer does not undo a later setting.
    pgrp_sets: [u64; 1 + NPTY],
}

impl<S: Serial> Tty<S> {
    /// A driver over `serial`.
    pub fn new(serial: S) -> Self {
        Tty {
            serial,
            console: Line::new(),
            console_opens: 0,
            ptys: Default::default(),
            reads: Vec::new(),
            writes: Vec::new(),
            selects: Vec::new(),
            pm: None,
            next_sig_id: 1,
            dirty: false,
            alarm_at: None,
            stats: TtyStats::default(),
            sent_signals: Vec::new(),
            ctty_asks: Vec::new(),
            pgrp_sets: [0; 1 + NPTY],
        }
    }

    /// Counters.
    pub fn stats(&self) -> TtyStats {
        self.stats
    }

    /// The line of device `d` (a master's is its slave's).
    pub fn line(&self, d: Dev) -> &Line {
        match d {
            Dev::Console => &self.console,
            Dev::Slave(i) | Dev::Master(i) => &self.ptys[i].line,
        }
    }

    fn line_mut(&mut self, d: Dev) -> &mut Line {
        match d {
            Dev::Console => &mut self.console,
            Dev::Slave(i) | Dev::Master(i) => &mut self.ptys[i].line,
        }
    }

    /// The serial device.
    pub fn serial(&self) -> &S {
        &self.serial
    }

    /// The state a restart keeps, encoded, at most `sys::sef::MAX_STATE`
    /// bytes: if every line's unread input does not fit, the ptys' is left
    /// out, then the console's too (settings always fit).
    pub fn save_blob(&self) -> Vec<u8> {
        let full = self.encode_state(false, false);
        if full.len() <= sys::sef::MAX_STATE {
            return full;
        }
        let b = self.encode_state(true, false);
        if b.len() <= sys::sef::MAX_STATE {
            return b;
        }
        self.encode_state(true, true)
    }

    fn encode_state(&self, drop_pty_input: bool, drop_console_input: bool) -> Vec<u8> {
        let drop = |l: &mut LineState| {
            l.ready.clear();
            l.edit.clear();
        };
        let mut c = LineState::of(&self.console, false, self.console_opens);
        if drop_console_input {
            drop(&mut c);
        }
        let mut lines = vec![c];
        for p in &self.ptys {
            let mut l = LineState::of(&p.line, p.master_open, p.slave_opens);
            l.slave_closed = p.slave_closed;
            if drop_pty_input {
                drop(&mut l);
            }
            lines.push(l);
        }
        state::encode(&lines)
    }

    /// Take back a saved state (console first, then the pty pairs).
    pub fn restore(&mut self, blob: &[u8]) -> Result<(), Errno> {
        let lines = state::decode(blob)?;
        if lines.len() != 1 + NPTY {
            return Err(Errno::EINVAL);
        }
        self.console = lines[0].to_line();
        self.console_opens = lines[0].opens;
        for (p, s) in self.ptys.iter_mut().zip(&lines[1..]) {
            p.line = s.to_line();
            p.master_open = s.master_open;
            p.slave_opens = s.opens;
            p.slave_closed = s.slave_closed;
        }
        Ok(())
    }

    // ---- signals ----

    fn signal(&mut self, cx: &mut Ctx<'_>, pgrp: u32, s: u32) {
        if pgrp == 0 || pgrp > i32::MAX as u32 {
            return;
        }
        self.stats.signals += 1;
        if self.sent_signals.len() < 64 {
            self.sent_signals.push((pgrp, s));
        }
        let id = self.pm_id();
        let m = PmCall::SigGroup {
            id,
            pgrp: pgrp as i32,
            sig: s,
        }
        .to_message();
        if !self.send_pm(cx, m) {
            cx.sys.log(&format!(
                "tty: no PM to send signal {} to group {pgrp}",
                sig::name(s)
            ));
        }
    }

    fn pm_id(&mut self) -> u64 {
        let id = self.next_sig_id;
        self.next_sig_id += 1;
        id
    }

    /// Send `m` to PM (asynchronously: PM's answer comes as a message);
    /// false if there is no PM.
    fn send_pm(&mut self, cx: &mut Ctx<'_>, m: Message) -> bool {
        // PM may have restarted at a new endpoint: look it up again once.
        for _ in 0..2 {
            let pm = match self.pm {
                Some(pm) => pm,
                None => match sys::ds::retrieve_label(cx.sys, PM_LABEL) {
                    Ok(pm) => {
                        self.pm = Some(pm);
                        pm
                    }
                    Err(_) => return false,
                },
            };
            if cx.sys.send(pm, m).is_ok() {
                return true;
            }
            self.pm = None;
        }
        false
    }

    fn line_index(d: Dev) -> usize {
        match d {
            Dev::Console => 0,
            Dev::Slave(i) | Dev::Master(i) => 1 + i,
        }
    }

    /// PM's answer to a GetCred asked for TIOCSCTTY: the session leader's
    /// pid (its session's group) becomes the foreground group, unless the
    /// group was set since.
    fn pm_answer(&mut self, r: PmReply) {
        let Some(i) = self.ctty_asks.iter().position(|a| a.0 == r.id) else {
            return;
        };
        let (_, d, sets) = self.ctty_asks.remove(i);
        if let Ok(pid) = r.result
            && pid > 0
            && pid <= i64::from(i32::MAX)
            && self.pgrp_sets[Self::line_index(d)] == sets
        {
            self.line_mut(d).pgrp = pid as u32;
            self.dirty = true;
        }
    }

    /// Signals sent so far: (process group, signal), oldest first (the
    /// first 64).
    pub fn sent_signals(&self) -> &[(u32, u32)] {
        &self.sent_signals
    }

    // ---- the console device ----

    fn serial_in(&mut self, cx: &mut Ctx<'_>) {
        let bytes = self.serial.receive();
        if bytes.is_empty() {
            return;
        }
        self.stats.rx_bytes += bytes.len() as u64;
        let now = cx.sys.now();
        let sigs = self.console.input(&bytes, now);
        let pgrp = self.console.pgrp;
        for s in sigs {
            self.signal(cx, pgrp, s);
        }
        self.dirty = true;
    }

    /// Hand console output to the device; whether any went.
    fn serial_out(&mut self) -> bool {
        let before = self.console.out.len();
        if self.console.stopped {
            return false;
        }
        while !self.console.out.is_empty() {
            let n = {
                let (a, _) = self.console.out.as_slices();
                self.serial.transmit(a)
            };
            if n == 0 {
                break;
            }
            self.stats.tx_bytes += n as u64;
            self.console.out.drain(..n);
        }
        self.console.out.len() != before
    }

    // ---- requests ----

    fn open(&mut self, d: Dev) -> Result<u32, Errno> {
        match d {
            Dev::Console => self.console_opens += 1,
            Dev::Slave(i) => {
                // Old-style pairs: the slave opens with or without its
                // master; what it writes waits for the master.
                let p = &mut self.ptys[i];
                p.slave_opens += 1;
                p.slave_closed = false;
            }
            Dev::Master(i) => {
                let p = &mut self.ptys[i];
                if p.master_open {
                    // One master per pair.
                    return Err(Errno::EIO);
                }
                if p.slave_opens > 0 && !p.line.hungup {
                    // The slave was opened first: its settings and the
                    // output it wrote meanwhile are the master's to read.
                    p.master_open = true;
                } else {
                    *p = Pty {
                        line: Line::new(),
                        master_open: true,
                        slave_opens: p.slave_opens,
                        slave_closed: false,
                    };
                }
                self.dirty = true;
            }
        }
        Ok(0)
    }

    fn close(&mut self, cx: &mut Ctx<'_>, d: Dev) {
        match d {
            Dev::Console => self.console_opens = self.console_opens.saturating_sub(1),
            Dev::Slave(i) => {
                let p = &mut self.ptys[i];
                p.slave_opens = p.slave_opens.saturating_sub(1);
                if p.slave_opens == 0 {
                    if p.master_open {
                        p.slave_closed = true;
                    } else if p.line.hungup {
                        // Both sides gone: the pair is free and fresh.
                        *p = Pty::default();
                    }
                    self.dirty = true;
                }
            }
            Dev::Master(i) => {
                let p = &mut self.ptys[i];
                if !p.master_open {
                    return;
                }
                if p.slave_opens == 0 {
                    // No slave to hang up (MINIX): the pair is fresh again.
                    *p = Pty::default();
                    self.dirty = true;
                    return;
                }
                p.master_open = false;
                p.line.hungup = true;
                p.line.out.clear();
                let pgrp = p.line.pgrp;
                self.dirty = true;
                self.signal(cx, pgrp, sig::SIGHUP);
            }
        }
    }

    fn ioctl(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Endpoint,
        d: Dev,
        r: u32,
        grant: GrantId,
        len: usize,
    ) -> Result<u32, Errno> {
        let need = tty::ioctl_len(r).ok_or(Errno::ENOTTY)?;
        if len < need {
            return Err(Errno::EINVAL);
        }
        let word = |cx: &mut Ctx<'_>| -> Result<u32, Errno> {
            let mut b = [0u8; 4];
            cx.sys.safecopy_from(from, grant, 0, &mut b)?;
            Ok(u32::from_le_bytes(b))
        };
        match r {
            req::TCGETS => {
                let t = self.line(d).termios.to_bytes();
                cx.sys.safecopy_to(from, grant, 0, &t)?;
            }
            req::TCSETS | req::TCSETSW | req::TCSETSF => {
                let mut b = [0u8; TERMIOS_LEN];
                cx.sys.safecopy_from(from, grant, 0, &mut b)?;
                let t = Termios::from_bytes(&b).ok_or(Errno::EINVAL)?;
                // Output is processed when written, so the new settings
                // apply to what is written after them as TCSETSW wants.
                let l = self.line_mut(d);
                if r == req::TCSETSF {
                    l.flush_input();
                }
                l.set_termios(t);
                self.dirty = true;
            }
            req::TIOCGPGRP => {
                let p = self.line(d).pgrp;
                cx.sys.safecopy_to(from, grant, 0, &p.to_le_bytes())?;
            }
            req::TIOCSPGRP => {
                let p = word(cx)?;
                if p > i32::MAX as u32 {
                    return Err(Errno::EINVAL);
                }
                self.line_mut(d).pgrp = p;
                self.pgrp_sets[Self::line_index(d)] += 1;
                self.dirty = true;
            }
            req::TIOCSCTTY => {
                let ep = word(cx)?;
                let id = self.pm_id();
                let sets = self.pgrp_sets[Self::line_index(d)];
                let m = PmCall::GetCred { id, ep }.to_message();
                if self.send_pm(cx, m) {
                    self.ctty_asks.push((id, d, sets));
                    // Bounded: asks PM never answered are forgotten.
                    if self.ctty_asks.len() > 32 {
                        self.ctty_asks.remove(0);
                    }
                }
            }
            req::TIOCGWINSZ => {
                let w = self.line(d).winsize.to_bytes();
                cx.sys.safecopy_to(from, grant, 0, &w)?;
            }
            req::TIOCSWINSZ => {
                let mut b = [0u8; WINSIZE_LEN];
                cx.sys.safecopy_from(from, grant, 0, &mut b)?;
                let w = Winsize::from_bytes(&b).ok_or(Errno::EINVAL)?;
                let l = self.line_mut(d);
                let changed = l.winsize != w;
                l.winsize = w;
                let pgrp = l.pgrp;
                self.dirty = true;
                if changed {
                    self.signal(cx, pgrp, sig::SIGWINCH);
                }
            }
            req::FIONREAD => {
                let n = match d {
                    Dev::Master(i) => self.ptys[i].line.out.len(),
                    _ => self.line(d).available(),
                } as u32;
                cx.sys.safecopy_to(from, grant, 0, &n.to_le_bytes())?;
            }
            req::TCFLSH => {
                let which = word(cx)?;
                self.line_mut(d).flush(which)?;
                self.dirty = true;
            }
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }

    /// Ready [`sel`] bits of device `d`.
    fn ready(&self, d: Dev) -> u32 {
        let mut r = 0;
        match d {
            Dev::Console => {
                if self.console.readable() {
                    r |= sel::READ;
                }
                if self.console.writable() {
                    r |= sel::WRITE;
                }
            }
            Dev::Slave(i) => {
                let l = &self.ptys[i].line;
                if l.readable() {
                    r |= sel::READ;
                }
                // A hung-up slave's write fails at once.
                if l.writable() || l.hungup {
                    r |= sel::WRITE;
                }
            }
            Dev::Master(i) => {
                let p = &self.ptys[i];
                let l = &p.line;
                // With the slave closed, reads see EOF and writes fail.
                if (!l.out.is_empty() && !l.stopped) || p.slave_closed {
                    r |= sel::READ;
                }
                if self.master_room(i) > 0 || p.slave_closed {
                    r |= sel::WRITE;
                }
            }
        }
        r
    }

    /// Bytes a master write may feed to its slave's input now.
    fn master_room(&self, i: usize) -> usize {
        let l = &self.ptys[i].line;
        let room = MAX_INPUT.saturating_sub(l.queued());
        if room == 0 && l.canonical() && !l.readable() {
            // A full line with no end: take (and drop) input rather than
            // wait forever, as a terminal does.
            return CHUNK;
        }
        room
    }

    /// Move what can move: suspended writes, then reads, then console
    /// output, then select notifications; until nothing changes.
    fn progress(&mut self, cx: &mut Ctx<'_>) {
        for _ in 0..8 {
            let mut moved = self.serial_out();
            moved |= self.run_writes(cx);
            moved |= self.run_reads(cx);
            if !moved {
                break;
            }
        }
        self.notify_selects(cx);
        self.arm_alarm(cx);
        if self.dirty {
            self.dirty = false;
            if cx.save_state(&self.save_blob()).is_err() {
                self.stats.save_failures += 1;
            }
        }
    }

    /// Try every suspended write; true if any moved bytes or finished.
    fn run_writes(&mut self, cx: &mut Ctx<'_>) -> bool {
        let mut moved = false;
        let mut i = 0;
        while i < self.writes.len() {
            let w = self.writes[i];
            match self.write_some(cx, w) {
                Ok(done) if done == w.size => {
                    self.writes.remove(i);
                    reply(cx, w.client, w.id, Ok(done as u32));
                    moved = true;
                }
                Ok(done) => {
                    moved |= done != w.done;
                    self.writes[i].done = done;
                    i += 1;
                }
                Err(e) => {
                    self.writes.remove(i);
                    let r = if w.done > 0 {
                        Ok(w.done as u32)
                    } else {
                        Err(e)
                    };
                    reply(cx, w.client, w.id, r);
                    moved = true;
                }
            }
        }
        moved
    }

    /// Move what fits of write `w`; the bytes done so far.
    fn write_some(&mut self, cx: &mut Ctx<'_>, w: Write) -> Result<usize, Errno> {
        let d = Dev::of(w.minor).ok_or(Errno::ENXIO)?;
        let mut done = w.done;
        loop {
            let room = match d {
                Dev::Console => self.console.out_room(),
                Dev::Slave(i) => {
                    let p = &self.ptys[i];
                    if p.line.hungup {
                        return Err(Errno::EIO);
                    }
                    p.line.out_room()
                }
                Dev::Master(i) => {
                    if self.ptys[i].slave_closed {
                        return Err(Errno::EIO);
                    }
                    self.master_room(i)
                }
            };
            let n = (w.size - done).min(room).min(CHUNK);
            if n == 0 {
                return Ok(done);
            }
            let mut buf = vec![0u8; n];
            cx.sys.safecopy_from(w.client, w.grant, done, &mut buf)?;
            match d {
                Dev::Master(i) => {
                    let now = cx.sys.now();
                    let l = &mut self.ptys[i].line;
                    let sigs = l.input(&buf, now);
                    let pgrp = l.pgrp;
                    self.dirty = true;
                    for s in sigs {
                        self.signal(cx, pgrp, s);
                    }
                }
                _ => {
                    self.line_mut(d).write(&buf);
                    if d == Dev::Console {
                        let _ = self.serial_out();
                    }
                }
            }
            done += n;
        }
    }

    /// Try every suspended read; true if any was answered.
    fn run_reads(&mut self, cx: &mut Ctx<'_>) -> bool {
        let now = cx.sys.now();
        let mut moved = false;
        let mut i = 0;
        while i < self.reads.len() {
            let r = self.reads[i];
            // Only the oldest read of a minor may take its input.
            if self.reads[..i].iter().any(|o| o.minor == r.minor) {
                i += 1;
                continue;
            }
            match self.read_some(r, now) {
                ReadPoll::Data(data) => {
                    self.reads.remove(i);
                    let res = cx
                        .sys
                        .safecopy_to(r.client, r.grant, 0, &data)
                        .map(|()| data.len() as u32);
                    reply(cx, r.client, r.id, res);
                    moved = true;
                }
                ReadPoll::Wait(_) => i += 1,
            }
        }
        moved
    }

    fn read_some(&mut self, r: Read, now: u64) -> ReadPoll {
        match Dev::of(r.minor) {
            Some(Dev::Master(i)) => {
                let closed = self.ptys[i].slave_closed;
                let l = &mut self.ptys[i].line;
                if l.out.is_empty() && closed {
                    // The slave went away: end of file.
                    ReadPoll::Data(Vec::new())
                } else if l.out.is_empty() || l.stopped {
                    ReadPoll::Wait(None)
                } else {
                    ReadPoll::Data(l.take_output(r.size))
                }
            }
            Some(d) => {
                let l = self.line_mut(d);
                let before = l.ready.len();
                let p = l.poll_read(r.size, r.started, now);
                if matches!(p, ReadPoll::Data(_)) && before > 0 {
                    self.dirty = true;
                }
                p
            }
            None => ReadPoll::Data(Vec::new()),
        }
    }

    fn notify_selects(&mut self, cx: &mut Ctx<'_>) {
        let mut keep = Vec::new();
        for (client, minor, ops) in core::mem::take(&mut self.selects) {
            let ready = Dev::of(minor).map_or(0, |d| self.ready(d)) & ops;
            if ready != 0 {
                let _ = cx.sys.send(
                    client,
                    CdevReply::SelectReady { minor, ops: ready }.to_message(),
                );
            } else {
                keep.push((client, minor, ops));
            }
        }
        self.selects = keep;
    }

    /// Set the alarm for the earliest VTIME deadline of a suspended read.
    fn arm_alarm(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.sys.now();
        let mut next: Option<u64> = None;
        for r in &self.reads {
            if let Some(d) = Dev::of(r.minor)
                && !matches!(d, Dev::Master(_))
                && let Some(t) = self.line(d).read_deadline(r.size, r.started)
            {
                next = Some(next.map_or(t, |n: u64| n.min(t)));
            }
        }
        // The console is polled now and then while someone waits on it,
        // should an interrupt edge ever be missed (ISA IRQ 4 is
        // edge-triggered).
        let console_waited_on = self.reads.iter().any(|r| r.minor == CONSOLE_MINOR)
            || self.selects.iter().any(|s| s.1 == CONSOLE_MINOR)
            || !self.console.out.is_empty();
        if console_waited_on {
            let t = now + POLL_TICKS;
            next = Some(next.map_or(t, |n: u64| n.min(t)));
        }
        if let Some(t) = next
            && self.alarm_at.is_none_or(|a| a > t || a <= now)
        {
            self.alarm_at = Some(t);
            cx.sys.set_alarm(t.saturating_sub(now).max(1));
        }
    }

    fn request(&mut self, cx: &mut Ctx<'_>, from: Endpoint, r: CdevRequest) -> Option<CdevReply> {
        let done = |id, result| Some(CdevReply::Done { id, result });
        match r {
            CdevRequest::Open { id, minor, .. } => {
                let res = Dev::of(minor)
                    .ok_or(Errno::ENXIO)
                    .and_then(|d| self.open(d));
                done(id, res)
            }
            CdevRequest::Close { id, minor } => match Dev::of(minor) {
                Some(d) => {
                    self.close(cx, d);
                    done(id, Ok(0))
                }
                None => done(id, Err(Errno::ENXIO)),
            },
            CdevRequest::Read {
                id,
                minor,
                grant,
                size,
                nonblock,
            } => {
                if Dev::of(minor).is_none() {
                    return done(id, Err(Errno::ENXIO));
                }
                let rd = Read {
                    client: from,
                    id,
                    minor,
                    grant,
                    size: size as usize,
                    started: cx.sys.now(),
                };
                let first = !self.reads.iter().any(|o| o.minor == minor);
                if first {
                    match self.read_some(rd, rd.started) {
                        ReadPoll::Data(data) => {
                            let res = cx
                                .sys
                                .safecopy_to(from, grant, 0, &data)
                                .map(|()| data.len() as u32);
                            return done(id, res);
                        }
                        ReadPoll::Wait(_) if nonblock => return done(id, Err(Errno::EAGAIN)),
                        ReadPoll::Wait(_) => {}
                    }
                } else if nonblock {
                    return done(id, Err(Errno::EAGAIN));
                }
                self.reads.push(rd);
                None
            }
            CdevRequest::Write {
                id,
                minor,
                grant,
                size,
                nonblock,
            } => {
                if Dev::of(minor).is_none() {
                    return done(id, Err(Errno::ENXIO));
                }
                let w = Write {
                    client: from,
                    id,
                    minor,
                    grant,
                    size: size as usize,
                    done: 0,
                };
                // Behind an earlier suspended write of the same minor.
                if self.writes.iter().any(|o| o.minor == minor) {
                    if nonblock {
                        return done(id, Err(Errno::EAGAIN));
                    }
                    self.writes.push(w);
                    return None;
                }
                match self.write_some(cx, w) {
                    Ok(n) if n == w.size => done(id, Ok(n as u32)),
                    Ok(n) if nonblock => {
                        if n > 0 {
                            done(id, Ok(n as u32))
                        } else {
                            done(id, Err(Errno::EAGAIN))
                        }
                    }
                    Ok(n) => {
                        self.writes.push(Write { done: n, ..w });
                        None
                    }
                    Err(e) => done(id, Err(e)),
                }
            }
            CdevRequest::Cancel { id, .. } => {
                if let Some(i) = self
                    .reads
                    .iter()
                    .position(|r| r.id == id && r.client == from)
                {
                    self.reads.remove(i);
                    return done(id, Err(Errno::EINTR));
                }
                if let Some(i) = self
                    .writes
                    .iter()
                    .position(|w| w.id == id && w.client == from)
                {
                    let w = self.writes.remove(i);
                    let r = if w.done > 0 {
                        Ok(w.done as u32)
                    } else {
                        Err(Errno::EINTR)
                    };
                    return done(id, r);
                }
                // Already answered: nothing to cancel.
                None
            }
            CdevRequest::Select {
                id,
                minor,
                ops,
                notify,
            } => {
                let Some(d) = Dev::of(minor) else {
                    return Some(CdevReply::Select {
                        id,
                        minor,
                        result: Err(Errno::ENXIO),
                    });
                };
                let ops = ops & (sel::READ | sel::WRITE | sel::EXCEPT);
                let ready = self.ready(d) & ops;
                // As MINIX: the ops not ready now are watched.
                let watch = ops & !ready;
                if watch != 0 && notify {
                    match self
                        .selects
                        .iter_mut()
                        .find(|(c, m, _)| *c == from && *m == minor)
                    {
                        Some(s) => s.2 |= watch,
                        None => self.selects.push((from, minor, watch)),
                    }
                }
                Some(CdevReply::Select {
                    id,
                    minor,
                    result: Ok(ready),
                })
            }
            CdevRequest::Ioctl {
                id,
                minor,
                req: r,
                grant,
                len,
            } => {
                let res = Dev::of(minor)
                    .ok_or(Errno::ENXIO)
                    .and_then(|d| self.ioctl(cx, from, d, r, grant, len as usize));
                done(id, res)
            }
        }
    }
}

fn reply(cx: &mut Ctx<'_>, to: Endpoint, id: u64, result: Result<u32, Errno>) {
    // The client may have died meanwhile; nothing to do then.
    let _ = cx.sys.send(to, CdevReply::Done { id, result }.to_message());
}

impl<S: Serial + 'static> Service for Tty<S> {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        let mut restored = false;
        if let Some(st) = info.state.as_deref()
            && info.kind != InitKind::Fresh
        {
            match self.restore(st) {
                Ok(()) => restored = true,
                Err(e) => cx.sys.log(&format!(
                    "tty: saved state unreadable ({e}); starting fresh"
                )),
            }
        }
        self.serial.start()?;
        cx.sys.log(&format!(
            "tty: init {:?} (restart count {}){}",
            info.kind,
            info.restarts,
            if restored {
                ", settings and input restored"
            } else {
                ""
            }
        ));
        // Input that arrived before the interrupt was enabled.
        self.serial_in(cx);
        self.progress(cx);
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if is_notify(&msg) {
            // An interrupt (from SYSTEM), the alarm (CLOCK): look at the
            // device either way; it costs a status read.
            let before = self.stats.rx_bytes;
            self.serial_in(cx);
            if msg.source() == Endpoint::CLOCK {
                self.alarm_at = None;
                if self.stats.rx_bytes != before {
                    self.stats.polls_found += 1;
                    if self.stats.polls_found == 1 {
                        cx.sys
                            .log("tty: a clock poll found console input (interrupt missed?)");
                    }
                }
            }
            self.progress(cx);
            return None;
        }
        if PmReply::is_pm_reply(&msg) {
            // PM's answer to a SigGroup (nothing to do: ESRCH means the
            // group had gone) or to a TIOCSCTTY look-up.
            if let Ok(r) = PmReply::try_from(&msg) {
                self.pm_answer(r);
                self.progress(cx);
            }
            return None;
        }
        let from = msg.source();
        let reply = match CdevRequest::try_from(&msg) {
            Ok(r) => self.request(cx, from, r),
            Err(e) => Some(CdevReply::Done {
                id: msg.request_id(),
                result: Err(e),
            }),
        };
        self.progress(cx);
        reply.map(|r| r.to_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSerial;

    impl Serial for NoSerial {
        fn start(&mut self) -> Result<(), Errno> {
            Ok(())
        }
        fn receive(&mut self) -> Vec<u8> {
            Vec::new()
        }
        fn transmit(&mut self, bytes: &[u8]) -> usize {
            bytes.len()
        }
    }

    #[test]
    fn the_saved_state_always_fits_sefs_limit() {
        let mut t = Tty::new(NoSerial);
        t.console.termios.lflag &= !tty::lflag::ECHO;
        t.console.input(b"console line\n", 0);
        // Every pty full of input: too much for one blob.
        for p in &mut t.ptys {
            p.master_open = true;
            p.line.pgrp = 7;
            p.line.input(&vec![b'p'; MAX_INPUT], 0);
            assert!(p.line.queued() >= MAX_INPUT - 1);
        }
        let blob = t.save_blob();
        assert!(blob.len() <= sys::sef::MAX_STATE, "{}", blob.len());
        let mut back = Tty::new(NoSerial);
        back.restore(&blob).unwrap();
        // The ptys' input went, their settings and the console's input
        // stayed.
        assert_eq!(back.console.available(), 13);
        for p in &back.ptys {
            assert_eq!((p.line.queued(), p.line.pgrp, p.master_open), (0, 7, true));
        }
        // With room, everything is kept.
        t.ptys[1..].iter_mut().for_each(|p| p.line.flush_input());
        let mut back = Tty::new(NoSerial);
        back.restore(&t.save_blob()).unwrap();
        assert_eq!(back.ptys[0].line.queued(), t.ptys[0].line.queued());
    }
}
