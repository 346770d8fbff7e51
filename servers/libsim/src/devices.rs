//! Simulated devices under the fault injector.
//!
//! A file server in the simulator links its block device in-process (libbdev's
//! [`SimDriver`] behind libbdev's client, which models the driver's crash,
//! restart and the client's reconnect/reopen itself). The simulator shares a
//! handle to the device so that its seeded fault injector can crash it at
//! message boundaries, like it crashes processes: the same seed replays the
//! same device crashes.

use libbdev::SimDriver;
use std::cell::RefCell;
use std::rc::Rc;

/// A device the simulator may crash.
pub trait SimDevice {
    /// Crash the device now (`variant` is a random number the device may
    /// use to pick how: at once, at its next request, mid-transfer, ...).
    fn inject_crash(&mut self, variant: u64);
    /// Whether the current instance is alive.
    fn alive(&self) -> bool;
}

impl SimDevice for SimDriver {
    fn inject_crash(&mut self, variant: u64) {
        match variant % 3 {
            0 => self.crash_now(),
            1 => self.crash_at_request(1),
            // Die in the middle of the next transfer, after some bytes.
            _ => self.crash_mid_transfer(1, ((variant >> 8) % 4096) as usize),
        }
    }

    fn alive(&self) -> bool {
        self.is_alive()
    }
}

/// A shared device handle (the file server holds a clone).
pub type DeviceHandle = Rc<RefCell<dyn SimDevice>>;

/// Registered devices and their fault rate.
#[derive(Default)]
pub(crate) struct Devices {
    pub(crate) list: Vec<(String, DeviceHandle)>,
    pub(crate) crash_ppm: u32,
    pub(crate) crashes: u64,
}

/// A [`SimDriver`] shared between a file server (which drives it through
/// libbdev as a [`libbdev::Driver`]) and the simulator (which crashes it).
#[derive(Clone)]
pub struct SharedDriver(pub Rc<RefCell<SimDriver>>);

impl SharedDriver {
    /// Wrap a driver.
    pub fn new(d: SimDriver) -> Self {
        SharedDriver(Rc::new(RefCell::new(d)))
    }

    /// The handle to register with [`crate::Sim::add_device`].
    pub fn handle(&self) -> DeviceHandle {
        self.0.clone()
    }
}

impl libbdev::Driver for SharedDriver {
    fn open(&mut self, minor: libbdev::Minor, access: libbdev::Access) -> libbdev::Result<()> {
        self.0.borrow_mut().open(minor, access)
    }
    fn close(&mut self, minor: libbdev::Minor) -> libbdev::Result<()> {
        self.0.borrow_mut().close(minor)
    }
    fn gather(
        &mut self,
        minor: libbdev::Minor,
        pos: u64,
        bufs: &mut [&mut [u8]],
    ) -> libbdev::Result<usize> {
        self.0.borrow_mut().gather(minor, pos, bufs)
    }
    fn scatter(
        &mut self,
        minor: libbdev::Minor,
        pos: u64,
        bufs: &[&[u8]],
    ) -> libbdev::Result<usize> {
        self.0.borrow_mut().scatter(minor, pos, bufs)
    }
    fn size(&mut self, minor: libbdev::Minor) -> libbdev::Result<u64> {
        self.0.borrow_mut().size(minor)
    }
    fn flush(&mut self, minor: libbdev::Minor) -> libbdev::Result<()> {
        self.0.borrow_mut().flush(minor)
    }
    fn reconnect(&mut self) -> libbdev::Result<()> {
        self.0.borrow_mut().reconnect()
    }
    fn instance_id(&self) -> Option<u64> {
        self.0.borrow().instance_id()
    }
    fn backoff(&mut self) {
        self.0.borrow_mut().backoff()
    }
}
