//! test77 a, b, c: opening, closing and half-open pairs.

use crate::{close_or, get, get_pty, make_raw, open_noctty, open_or, put, test_comm};
use alloc::format;
use minixtest::Subtest;
use ulib::Errno;
use ulib::fd;
use ulib::fs::O_NOCTTY;
use ulib::signal::{self, Handler, SIGHUP};
use ulib::term;

/// SIGHUP ignored: these subtests do not want it.
fn ignore_sighup(s: &mut Subtest) {
    if let Err(err) = signal::signal(SIGHUP, Handler::Ignore) {
        s.fail(1, "signal(SIGHUP, SIG_IGN)", err);
    }
}

/// Orders of opening and closing the two sides.
pub fn test77a(s: &mut Subtest) {
    ignore_sighup(s);
    let (m, names) = get_pty(s, 10);
    // Close the master and reopen it.
    close_or(s, 30, m);
    let Some(m) = open_or(s, 31, &names.master, O_NOCTTY) else {
        return;
    };
    let Some(sl) = open_or(s, 32, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 40, m, sl);
    // Order A: the slave first.
    close_or(s, 50, sl);
    close_or(s, 51, m);

    // The pair again.
    let Some(m) = open_or(s, 52, &names.master, O_NOCTTY) else {
        return;
    };
    let Some(sl) = open_or(s, 53, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 60, m, sl);
    close_or(s, 70, sl);
    // Reopening the slave after closing it.
    let Some(sl) = open_or(s, 71, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 80, m, sl);
    // Order B: the master first.
    close_or(s, 90, m);
    close_or(s, 91, sl);

    // The normal open procedure.
    let Some(m) = open_or(s, 92, &names.master, O_NOCTTY) else {
        return;
    };
    let Some(sl) = open_or(s, 93, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 100, m, sl);
    close_or(s, 110, sl);
    close_or(s, 111, m);

    // The slave alone, without a master: works on old-style ptys.
    match open_noctty(&names.slave) {
        Ok(sl) => close_or(s, 112, sl),
        Err(err) => s.fail(113, "slave opened without its master", err),
    }

    // Again the normal procedure.
    let Some(m) = open_or(s, 114, &names.master, O_NOCTTY) else {
        return;
    };
    let Some(sl) = open_or(s, 115, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 120, m, sl);
    close_or(s, 130, sl);
    close_or(s, 131, m);

    // Finally the slave first, then the master.
    let Some(sl) = open_or(s, 132, &names.slave, O_NOCTTY) else {
        return;
    };
    let Some(m) = open_or(s, 133, &names.master, O_NOCTTY) else {
        return;
    };
    test_comm(s, 140, m, sl);
    close_or(s, 150, sl);
    close_or(s, 151, m);
}

/// Opening one side more than once.
pub fn test77b(s: &mut Subtest) {
    let (m, names) = get_pty(s, 10);
    let Some(sl) = open_or(s, 30, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 40, m, sl);
    // A second master: EIO.
    let r = open_noctty(&names.master);
    s.check(r == Err(Errno::EIO), 50, || {
        format!("second open of {}: {r:?}, expected EIO", names.master)
    });
    if let Ok(extra) = r {
        let _ = fd::close(extra);
    }
    test_comm(s, 60, m, sl);
    close_or(s, 70, sl);
    close_or(s, 71, m);

    // The slave twice: both work.
    let (m, names) = get_pty(s, 80);
    let Some(sl) = open_or(s, 100, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 110, m, sl);
    let Some(extra) = open_or(s, 120, &names.slave, O_NOCTTY) else {
        return;
    };
    test_comm(s, 130, m, extra);
    test_comm(s, 140, m, sl);
    close_or(s, 150, sl);
    close_or(s, 151, extra);
    close_or(s, 152, m);
}

/// Communication on half-open pairs.
pub fn test77c(s: &mut Subtest) {
    ignore_sighup(s);
    let (m, names) = get_pty(s, 10);
    // get_pty opened and closed the slave: start afresh.
    close_or(s, 30, m);
    let Some(m) = open_or(s, 31, &names.master, O_NOCTTY) else {
        return;
    };

    // Master writes wait for a slave.
    put(s, 32, m, b'E');
    let Some(sl) = open_or(s, 33, &names.slave, O_NOCTTY) else {
        return;
    };
    make_raw(s, 34, sl);
    get(s, 35, sl, b'E');
    // Discard the echo on the master.
    if let Err(err) = term::tcflush(sl, term::TCOFLUSH) {
        s.fail(36, "tcflush(TCOFLUSH)", err);
    }
    test_comm(s, 40, m, sl);
    close_or(s, 50, sl);

    // With the slave closed, a master write fails.
    let r = fd::write(m, b"E");
    s.check(r == Err(Errno::EIO), 51, || {
        format!("master write after the slave's close: {r:?}, expected EIO")
    });
    close_or(s, 52, m);

    // Slave writes wait for a master (old-style only).
    let Some(sl) = open_or(s, 53, &names.slave, O_NOCTTY) else {
        return;
    };
    make_raw(s, 54, sl);
    put(s, 55, sl, b'F');
    let Some(m) = open_or(s, 56, &names.master, O_NOCTTY) else {
        return;
    };
    get(s, 57, m, b'F');
    test_comm(s, 60, m, sl);
    close_or(s, 70, m);

    // With the master closed, a slave write fails and a read is EOF.
    let r = fd::write(sl, b"F");
    s.check(r == Err(Errno::EIO), 71, || {
        format!("slave write after the master's close: {r:?}, expected EIO")
    });
    let mut b = [0u8; 1];
    let r = fd::read(sl, &mut b);
    s.check(r == Ok(0), 72, || {
        format!("slave read after the master's close: {r:?}, expected EOF")
    });
    close_or(s, 73, sl);
}
