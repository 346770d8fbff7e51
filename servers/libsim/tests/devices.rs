//! A simulated block device (libbdev's SimDriver) used in-process by a
//! server and crashed by the simulator's seeded injector: libbdev's client
//! recovers and every write reads back.

use libbdev::{Access, Bdev, SimClock, SimDriver};
use sim::devices::SharedDriver;
use sim::{Sim, SimConfig, seeded};
use std::cell::RefCell;
use std::rc::Rc;
use sys::{Endpoint, Message, Process, Sys};

const BLOCK: usize = 4096;
const BLOCKS: u64 = 64;

/// Writes a block every tick and reads back a random earlier one.
struct Writer {
    bdev: Bdev<SharedDriver>,
    model: Vec<Option<u8>>,
    n: u64,
    pub checked: u64,
    pub errors: Rc<RefCell<Vec<String>>>,
}

impl Process for Writer {
    fn start(&mut self, sys: &mut dyn Sys) {
        if let Err(e) = self.bdev.open(0, Access::RW) {
            self.errors.borrow_mut().push(format!("open: {e}"));
        }
        sys.set_alarm(1);
    }

    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        if msg.source() != Endpoint::CLOCK {
            return;
        }
        self.n += 1;
        let b = (self.n * 7) % BLOCKS;
        let fill = (self.n % 251) as u8;
        match self.bdev.write(0, b * BLOCK as u64, &vec![fill; BLOCK]) {
            Ok(n) if n == BLOCK => self.model[b as usize] = Some(fill),
            r => self.errors.borrow_mut().push(format!("write {b}: {r:?}")),
        }
        let c = (self.n * 13) % BLOCKS;
        let mut buf = vec![0u8; BLOCK];
        match self.bdev.read(0, c * BLOCK as u64, &mut buf) {
            Ok(n) if n == BLOCK => {
                let want = self.model[c as usize].unwrap_or(0);
                if buf.iter().any(|&x| x != want) {
                    self.errors
                        .borrow_mut()
                        .push(format!("block {c} reads back wrong"));
                }
                self.checked += 1;
            }
            r => self.errors.borrow_mut().push(format!("read {c}: {r:?}")),
        }
        sys.set_alarm(1);
    }
}

#[test]
fn device_crashes_are_injected_and_recovered() {
    seeded("devices", 61, |seed| {
        let mut sim = Sim::new(SimConfig::new(seed));
        let drv =
            SharedDriver::new(SimDriver::new(SimClock::new()).with_minor(0, BLOCKS * BLOCK as u64));
        sim.add_device("blk0", drv.handle());
        let errors: Rc<RefCell<Vec<String>>> = Rc::default();
        let w = Writer {
            bdev: Bdev::new(drv.clone()),
            model: vec![None; BLOCKS as usize],
            n: 0,
            checked: 0,
            errors: errors.clone(),
        };
        sim.spawn_user("fs", Box::new(w)).unwrap();
        sim.device_faults_randomly(100_000);
        sim.run_for(2_000);
        assert!(
            sim.device_crashes() > 20,
            "crashes injected: {}",
            sim.device_crashes()
        );
        assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
        let (checked, reconnects) = sim
            .with_process::<Writer, _>("fs", |w| (w.checked, w.bdev.stats().reconnects))
            .unwrap();
        assert!(checked > 1_000);
        assert!(reconnects > 0, "libbdev reconnected after crashes");
        assert!(sim.crash_device_now("blk0") || !drv.0.borrow().is_alive());
    });
}
