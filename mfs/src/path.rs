//! Path-based helpers over the inode-number API, for host tools and tests.
//!
//! Paths are byte strings; absolute and relative paths both start at the
//! root (the helpers have no current directory). Symbolic links are
//! followed (at most [`SYMLOOP_MAX`] of them) by splicing the target into
//! the rest of the path, as VFS does with the FS's hand-backs. Mount points
//! are ignored: a lone file system has none.

use alloc::vec::Vec;

use crate::blockio::BlockAccess;
use crate::errno::{Errno, Result};
use crate::format::ROOT_INO;
use crate::fs::{FileSystem, SYMLOOP_MAX, Walk, WalkFlags};

impl<B: BlockAccess> FileSystem<B> {
    /// Resolves `path` to an inode number, following symlinks in the middle
    /// and, if `follow_last`, at the end.
    pub fn resolve(&mut self, path: &[u8], follow_last: bool) -> Result<u32> {
        Ok(self.resolve_full(path, follow_last)?.0)
    }

    /// Like [`FileSystem::resolve`], also returning the directory that holds
    /// the final component.
    pub fn resolve_full(&mut self, path: &[u8], follow_last: bool) -> Result<(u32, u32)> {
        let mut start = ROOT_INO;
        let mut cur: Vec<u8> = path.to_vec();
        let mut links = 0usize;
        let flags = WalkFlags {
            follow_last,
            leave_at_root: false,
        };
        loop {
            match self.walk(start, &cur, flags)? {
                Walk::Found { ino, parent } => return Ok((ino, parent)),
                Walk::Symlink { ino, dir, rest, .. } => {
                    links += 1;
                    if links > SYMLOOP_MAX {
                        return Err(Errno::ELOOP);
                    }
                    let target = self.readlink(ino)?;
                    start = if target.first() == Some(&b'/') {
                        ROOT_INO
                    } else {
                        dir
                    };
                    let mut next = target;
                    if !rest.is_empty() {
                        next.push(b'/');
                        next.extend_from_slice(&rest);
                    } else if cur.last() == Some(&b'/') {
                        next.push(b'/');
                    }
                    cur = next;
                }
                Walk::MountPoint { ino, rest, .. } => {
                    // No file system is mounted on us here: carry on inside.
                    start = ino;
                    cur = rest;
                }
                Walk::LeaveRoot { .. } => return Err(Errno::EINVAL),
            }
        }
    }

    /// Splits `path` into (directory inode, last component), resolving the
    /// directory part. The last component is not looked up.
    pub fn resolve_parent<'p>(&mut self, path: &'p [u8]) -> Result<(u32, &'p [u8])> {
        let trimmed = trim_trailing_slashes(path);
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        if name.is_empty() {
            return Err(Errno::EINVAL);
        }
        let dino = self.resolve(dir, true)?;
        if self.stat(dino)?.mode & crate::format::mode::S_IFMT != crate::format::mode::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        Ok((dino, name))
    }

    /// Attributes of the inode `path` names (the last symlink followed if
    /// `follow_last`).
    pub fn stat_path(&mut self, path: &[u8], follow_last: bool) -> Result<crate::fs::Stat> {
        let ino = self.resolve(path, follow_last)?;
        self.stat(ino)
    }

    /// Target of the symlink at `path`.
    pub fn readlink_path(&mut self, path: &[u8]) -> Result<Vec<u8>> {
        let ino = self.resolve(path, false)?;
        self.readlink(ino)
    }

    /// Whole contents of the file at `path`.
    pub fn read_path(&mut self, path: &[u8]) -> Result<Vec<u8>> {
        let ino = self.resolve(path, true)?;
        self.read_all(ino)
    }

    /// Whole contents of a file, directory or symlink by inode.
    pub fn read_all(&mut self, ino: u32) -> Result<Vec<u8>> {
        let size = self.stat(ino)?.size as usize;
        let mut buf = alloc::vec![0u8; size];
        let n = self.read(ino, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Creates (or truncates) the regular file at `path` and writes `data`.
    pub fn write_path(&mut self, path: &[u8], data: &[u8], perm: u16, now: u32) -> Result<u32> {
        let (dir, name) = self.resolve_parent(path)?;
        let ino = match self.lookup(dir, name) {
            Ok(ino) => {
                self.truncate(ino, 0, now)?;
                ino
            }
            Err(Errno::ENOENT) => self.create(dir, name, perm, 0, 0, now)?,
            Err(e) => return Err(e),
        };
        let n = self.write(ino, 0, data, now)?;
        if n != data.len() {
            return Err(Errno::ENOSPC);
        }
        Ok(ino)
    }

    /// Creates directory `path` (parent must exist).
    pub fn mkdir_path(&mut self, path: &[u8], perm: u16, now: u32) -> Result<u32> {
        let (dir, name) = self.resolve_parent(path)?;
        self.mkdir(dir, name, perm, 0, 0, now)
    }

    /// Removes `path`: a file or symlink, or (if `recursive`) a directory
    /// tree; an empty directory is removed without `recursive`.
    pub fn remove_path(&mut self, path: &[u8], recursive: bool, now: u32) -> Result<()> {
        let (dir, name) = self.resolve_parent(path)?;
        let ino = self.lookup(dir, name)?;
        self.remove_entry(dir, name, ino, recursive, now, 0)
    }

    fn remove_entry(
        &mut self,
        dir: u32,
        name: &[u8],
        ino: u32,
        recursive: bool,
        now: u32,
        depth: usize,
    ) -> Result<()> {
        let st = self.stat(ino)?;
        if st.mode & crate::format::mode::S_IFMT != crate::format::mode::S_IFDIR {
            return self.unlink(dir, name, now);
        }
        if recursive {
            // A directory loop (corrupt image) must not recurse forever.
            if depth >= MAX_REMOVE_DEPTH {
                return Err(Errno::EIO);
            }
            for e in self.read_dir(ino)? {
                if e.name != b"." && e.name != b".." {
                    self.remove_entry(ino, &e.name, e.ino, true, now, depth + 1)?;
                }
            }
        }
        self.rmdir(dir, name, now)
    }

    /// Renames `from` to `to` (both paths; the last components are not followed).
    pub fn rename_path(&mut self, from: &[u8], to: &[u8], now: u32) -> Result<()> {
        let (odir, oname) = self.resolve_parent(from)?;
        let (ndir, nname) = self.resolve_parent(to)?;
        self.rename(odir, oname, ndir, nname, now)
    }

    /// Creates symlink `path` -> `target`.
    pub fn symlink_path(&mut self, target: &[u8], path: &[u8], now: u32) -> Result<u32> {
        let (dir, name) = self.resolve_parent(path)?;
        self.symlink(dir, name, target, 0, 0, now)
    }

    /// Creates hard link `path` to the file at `existing`.
    pub fn link_path(&mut self, existing: &[u8], path: &[u8], now: u32) -> Result<()> {
        let ino = self.resolve(existing, false)?;
        let (dir, name) = self.resolve_parent(path)?;
        self.link(dir, name, ino, now)
    }
}

/// Deepest directory nesting `remove_path` descends into.
pub const MAX_REMOVE_DEPTH: usize = 256;

fn trim_trailing_slashes(p: &[u8]) -> &[u8] {
    let n = p.iter().rev().take_while(|&&b| b == b'/').count();
    &p[..p.len() - n]
}
