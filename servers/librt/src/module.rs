//! Data modules (`abi::DATA_MODULE_ARG`): boot-image files such as a
//! RAM-disk image, mapped into the data-module window by their physical
//! pages (`ModuleMap`). The bytes outlive the process: a restarted memory
//! driver maps the same RAM disk again.

use abi::Errno;

/// Maps the data module `name` at `abi::DATA_MODULE_BASE` and returns its
/// bytes. Only one module can be mapped per process (the window's start is
/// fixed); a second call fails with `Fault` (already mapped).
pub fn map(name: &str) -> Result<&'static mut [u8], Errno> {
    let size = crate::sys::module_map(name, abi::DATA_MODULE_BASE)?;
    if size > abi::DATA_MODULE_END - abi::DATA_MODULE_BASE {
        return Err(Errno::Inval);
    }
    // SAFETY: the kernel just mapped `size` bytes (rounded up to whole
    // pages) writable at DATA_MODULE_BASE in this process; nothing else in
    // the program uses that window, the mapping is never removed while the
    // process lives, and the failing second call above means no other
    // slice over it can be made.
    Ok(unsafe { core::slice::from_raw_parts_mut(abi::DATA_MODULE_BASE as *mut u8, size as usize) })
}
