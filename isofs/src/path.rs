//! Path helpers over the inode-number operations (the host tool and tests;
//! the server leaves path walking across mounts and links to VFS).

use alloc::vec::Vec;

use crate::block::BlockAccess;
use crate::error::{IsoError, Result};
use crate::format::mode;
use crate::fs::IsoFs;

/// Most symbolic links followed while resolving one path (MINIX SYMLOOP).
pub const MAX_SYMLINKS: usize = 16;

impl<B: BlockAccess> IsoFs<B> {
    /// Resolves `path` from the root (a relative path too), following
    /// symbolic links on the way, and in the last component if
    /// `follow_last`.
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> Result<u32> {
        let mut links = 0usize;
        // Components still to walk, last first.
        let mut todo: Vec<Vec<u8>> = split(path);
        let mut cur = self.root();
        while let Some(comp) = todo.pop() {
            let next = self.lookup(cur, &comp)?;
            let st = self.stat(next)?;
            let is_link = u32::from(st.mode) & mode::S_IFMT == mode::S_IFLNK;
            if is_link && (!todo.is_empty() || follow_last) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(IsoError::Loop);
                }
                let target = self.readlink(next)?;
                if target.first() == Some(&b'/') {
                    cur = self.root();
                }
                todo.extend(split(&target));
                continue;
            }
            cur = next;
        }
        Ok(cur)
    }
}

/// The components of `path`, last first.
fn split(path: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = path
        .split(|&c| c == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    v.reverse();
    v
}
