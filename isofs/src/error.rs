//! Error values. Every error maps to a MINIX errno ([`IsoError::errno`]);
//! a corrupt image is always [`IsoError::Corrupt`] with what was wrong
//! and where, never a panic.

/// What was wrong with an image, and where (block numbers are 2 KiB
/// sectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// Sector 16 holds no ISO 9660 volume descriptor ("CD001").
    #[error("no ISO 9660 volume descriptor at sector 16")]
    NoVolumeDescriptor,
    /// A later volume descriptor lacks the standard identifier.
    #[error("bad volume descriptor at sector {0}")]
    BadDescriptor(u64),
    /// No primary volume descriptor before the terminator.
    #[error("no primary volume descriptor")]
    NoPrimary,
    /// No set terminator among the first descriptors.
    #[error("no volume descriptor set terminator")]
    NoTerminator,
    /// The volume descriptor's root directory record is malformed.
    #[error("bad root directory record")]
    BadRoot,
    /// The volume is larger than the device: the image was cut short.
    #[error("truncated image: the volume has {volume_blocks} blocks, the device {device_blocks}")]
    Truncated {
        /// Blocks the volume descriptor claims.
        volume_blocks: u64,
        /// Whole blocks on the device.
        device_blocks: u64,
    },
    /// A directory record runs past the end of its sector.
    #[error("directory record at block {block} offset {offset} runs past the sector")]
    RecordPastSector {
        /// Block.
        block: u32,
        /// Offset in the block.
        offset: u16,
    },
    /// A directory record is shorter than its own fields.
    #[error("directory record at block {block} offset {offset} is too short")]
    RecordTooShort {
        /// Block.
        block: u32,
        /// Offset in the block.
        offset: u16,
    },
    /// A file or directory extent lies (partly) beyond the volume.
    #[error("extent at block {0} lies beyond the end of the volume")]
    ExtentPastEnd(u32),
    /// A directory's extent does not start with its "." record.
    #[error("directory at block {0} does not start with a \".\" record")]
    NotADirectory(u32),
    /// A SUSP entry is longer than its system use area.
    #[error("system use entry in block {0} runs past its area")]
    SuspEntry(u32),
    /// A Rock Ridge continuation area is out of range.
    #[error("continuation area at block {0} is out of range")]
    CeArea(u32),
    /// Too many continuation areas for one record: a loop.
    #[error("continuation areas of the record in block {0} loop (more than 32)")]
    CeLoop(u32),
    /// A Rock Ridge name or link target is absurdly long.
    #[error("Rock Ridge name or link target in block {0} is too long")]
    RrTooLong(u32),
    /// The path table is malformed or does not list a directory.
    #[error("path table at block {0} is malformed")]
    PathTable(u32),
    /// A multi-extent file's records do not continue as they must.
    #[error("multi-extent file at block {0}: the extent chain is broken")]
    MultiExtent(u32),
}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IsoError {
    /// The block device or cache failed (the MINIX errno).
    #[error("device error (errno {0})")]
    Device(i32),
    /// The image is corrupt.
    #[error("corrupt image: {0}")]
    Corrupt(Corruption),
    /// A valid image using something this reader does not support.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// No such file or directory.
    #[error("no such file or directory")]
    NotFound,
    /// Not a directory.
    #[error("not a directory")]
    NotDir,
    /// Is a directory.
    #[error("is a directory")]
    IsDir,
    /// Invalid argument: not a symlink, not a regular file, an inode
    /// number that names no file.
    #[error("invalid argument")]
    Invalid,
    /// A path or name too long.
    #[error("name too long")]
    NameTooLong,
    /// Too many symbolic links while resolving a path.
    #[error("too many levels of symbolic links")]
    Loop,
    /// Any change: the file system is read-only.
    #[error("read-only file system")]
    ReadOnly,
}

impl From<Corruption> for IsoError {
    fn from(c: Corruption) -> Self {
        IsoError::Corrupt(c)
    }
}

impl From<libminixfs::CacheError> for IsoError {
    fn from(e: libminixfs::CacheError) -> Self {
        IsoError::Device(e.errno())
    }
}

impl IsoError {
    /// The MINIX errno value (positive).
    pub const fn errno(self) -> i32 {
        match self {
            IsoError::Device(e) => e,
            IsoError::Corrupt(_) => 5,
            IsoError::Unsupported(_) | IsoError::Invalid => 22,
            IsoError::NotFound => 2,
            IsoError::NotDir => 20,
            IsoError::IsDir => 21,
            IsoError::NameTooLong => 63,
            IsoError::Loop => 62,
            IsoError::ReadOnly => 30,
        }
    }
}

/// Result of an ISOFS operation.
pub type Result<T> = core::result::Result<T, IsoError>;
