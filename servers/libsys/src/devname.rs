//! Disk names as in `/dev` (MINIX's `cCdD`), in one place: which block
//! driver and minor a name means, the device number of its node, and which
//! disk a file-server instance serves.
//!
//! * `c0dN`: the virtio-blk driver's minor N (major 3, `/dev/c0dN`);
//! * `c1dN`: the IDE driver `at_wini`'s drive N (major 8, `/dev/c1dN`):
//!   0 primary master, 1 primary slave, 2 secondary master (QEMU's
//!   `-cdrom`), 3 secondary slave;
//! * `cCdDpP`: primary partition P (0..4) of that disk, from its MBR: the
//!   driver's minor `128 + D*4 + P` (`libbdev::mbr`).
//!
//! A file-server instance (MFS, ISOFS) finds its disk with
//! [`instance_disk`]: a `dev=NAME` word among its arguments, else a label
//! `FS-NAME` (`isofs-c1d2`: what `mount` starts for a disk that has no
//! old-style label), else the old labels `FS` / `FSN` (virtio-blk minor
//! 0 / N-1). Extend [`DiskName`] here (partitions, more controllers) and
//! every user follows.

use core::fmt;

/// One row per disk controller: the `c` number, the block major of its
/// nodes and its driver's label.
pub const CONTROLLERS: &[(u8, u32, &str)] = &[(0, 3, "virtio-blk"), (1, 8, "at_wini")];

/// Drives (minors) per controller that have nodes in `/dev`.
pub const DRIVES: u8 = 4;

/// Partitions per disk, and the first partition minor (the drivers'
/// `libbdev::mbr::ENTRIES` and `PARTITION_BASE`).
pub const PARTITIONS: u8 = 4;
const PARTITION_BASE: u32 = 128;

/// A disk name: controller, drive and maybe a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskName {
    /// The `c` number (a row of [`CONTROLLERS`]).
    pub controller: u8,
    /// The `d` number: the driver's minor of the whole disk.
    pub drive: u8,
    /// The `p` number: a primary partition of the disk.
    pub partition: Option<u8>,
}

impl DiskName {
    /// A whole disk.
    pub const fn disk(controller: u8, drive: u8) -> DiskName {
        DiskName {
            controller,
            drive,
            partition: None,
        }
    }

    /// Parses `cCdD[pP]` or `/dev/cCdD[pP]` (C a known controller, D below
    /// [`DRIVES`], P below [`PARTITIONS`]).
    pub fn parse(s: &str) -> Option<DiskName> {
        let s = s.strip_prefix("/dev/").unwrap_or(s);
        let (c, d) = s.strip_prefix('c')?.split_once('d')?;
        let controller = small_number(c)?;
        let (d, partition) = match d.split_once('p') {
            Some((d, p)) => (d, Some(small_number(p).filter(|&p| p < PARTITIONS)?)),
            None => (d, None),
        };
        let drive = small_number(d)?;
        let n = DiskName {
            controller,
            drive,
            partition,
        };
        (drive < DRIVES && n.row().is_some()).then_some(n)
    }

    /// The name of block device `major`, `minor`, if it is a disk or a
    /// partition of one.
    pub fn from_device(major: u32, minor: u32) -> Option<DiskName> {
        let &(controller, _, _) = CONTROLLERS.iter().find(|r| r.1 == major)?;
        let (drive, partition) = match minor.checked_sub(PARTITION_BASE) {
            None => (minor, None),
            Some(n) => (
                n / u32::from(PARTITIONS),
                Some((n % u32::from(PARTITIONS)) as u8),
            ),
        };
        let drive = u8::try_from(drive).ok().filter(|&d| d < DRIVES)?;
        Some(DiskName {
            controller,
            drive,
            partition,
        })
    }

    /// The same name with partition `p` (`c0d0` → `c0d0p0`).
    pub fn with_partition(self, p: u8) -> Option<DiskName> {
        (p < PARTITIONS).then_some(DiskName {
            partition: Some(p),
            ..self
        })
    }

    fn row(&self) -> Option<&'static (u8, u32, &'static str)> {
        CONTROLLERS.iter().find(|r| r.0 == self.controller)
    }

    /// The block driver's label.
    pub fn driver(&self) -> &'static str {
        self.row().map_or("", |r| r.2)
    }

    /// The major of the node.
    pub fn major(&self) -> u32 {
        self.row().map_or(0, |r| r.1)
    }

    /// The driver's minor: the drive, or `128 + drive*4 + p` for
    /// partition p.
    pub fn minor(&self) -> u32 {
        match self.partition {
            None => u32::from(self.drive),
            Some(p) => {
                PARTITION_BASE + u32::from(self.drive) * u32::from(PARTITIONS) + u32::from(p)
            }
        }
    }

    /// The node's device number (`major << 8 | minor`).
    pub fn rdev(&self) -> u32 {
        self.major() << 8 | self.minor()
    }
}

impl fmt::Display for DiskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}d{}", self.controller, self.drive)?;
        match self.partition {
            Some(p) => write!(f, "p{p}"),
            None => Ok(()),
        }
    }
}

/// A decimal number without sign or leading zeros (`d01` is no name).
fn small_number(s: &str) -> Option<u8> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// The disk the instance labelled `label` of file server `fs` (`mfs`,
/// `isofs`) serves, given its argument words `args`: `dev=NAME` wins, then
/// a label `FS-NAME`, then the old labels `FS` (c0d0) and `FSN` (c0d(N-1)).
pub fn instance_disk(fs: &str, label: &str, args: &str) -> Option<DiskName> {
    if let Some(v) = args
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("dev="))
    {
        return DiskName::parse(v);
    }
    let rest = label.strip_prefix(fs)?;
    if let Some(name) = rest.strip_prefix('-') {
        return DiskName::parse(name);
    }
    let drive = if rest.is_empty() {
        0
    } else {
        small_number(rest).filter(|&n| n >= 1)? - 1
    };
    // Old labels may name any virtio-blk minor, not only those with nodes.
    Some(DiskName::disk(0, drive))
}

/// The label `mount` gives the instance of `fs` serving `disk`: the old
/// `FS` / `FSN` for virtio-blk disks (`mfs2` is `/dev/c0d1`), `FS-NAME`
/// for the others (`isofs-c1d2`); [`instance_disk`] reads both back.
pub fn instance_label(fs: &str, disk: DiskName) -> alloc::string::String {
    match (disk.controller, disk.drive, disk.partition) {
        (0, 0, None) => alloc::string::String::from(fs),
        (0, d, None) => alloc::format!("{fs}{}", u32::from(d) + 1),
        _ => alloc::format!("{fs}-{disk}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn n(controller: u8, drive: u8) -> DiskName {
        DiskName::disk(controller, drive)
    }

    #[test]
    fn partitions_have_names_minors_and_labels() {
        let p = DiskName::parse("/dev/c0d1p2").unwrap();
        assert_eq!(p, n(0, 1).with_partition(2).unwrap());
        assert_eq!((p.driver(), p.minor()), ("virtio-blk", 128 + 4 + 2));
        assert_eq!(p.rdev(), 3 << 8 | 134);
        assert_eq!(p.to_string(), "c0d1p2");
        assert_eq!(DiskName::from_device(3, 134), Some(p));
        assert_eq!(DiskName::from_device(3, 128 + 4 * 4), None);
        assert_eq!(DiskName::parse("c1d2p0").map(|d| d.minor()), Some(128 + 8));
        for bad in ["c0d0p4", "c0d0p", "c0dp0", "c0d0p01", "c0d4p0"] {
            assert_eq!(DiskName::parse(bad), None, "{bad:?}");
        }
        assert_eq!(instance_label("mfs", p), "mfs-c0d1p2");
        assert_eq!(instance_disk("mfs", "mfs-c0d1p2", ""), Some(p));
        assert_eq!(
            instance_disk("mfs", "mfs", "image dev=c0d0p0"),
            DiskName::parse("c0d0p0")
        );
        assert!(n(0, 0).with_partition(4).is_none());
    }

    #[test]
    fn names_parse_to_driver_and_minor() {
        let d = DiskName::parse("/dev/c1d2").unwrap();
        assert_eq!(d, n(1, 2));
        assert_eq!((d.driver(), d.major(), d.minor()), ("at_wini", 8, 2));
        assert_eq!(d.rdev(), 8 << 8 | 2);
        assert_eq!(d.to_string(), "c1d2");
        let v = DiskName::parse("c0d3").unwrap();
        assert_eq!((v.driver(), v.major(), v.minor()), ("virtio-blk", 3, 3));
        for bad in [
            "", "c1", "c1d", "d2", "c2d0", "c1d4", "c01d1", "c1d01", "c1d+1", "c1d2x", "/dev/",
        ] {
            assert_eq!(DiskName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn device_numbers_map_back_to_names() {
        assert_eq!(DiskName::from_device(8, 2), Some(n(1, 2)));
        assert_eq!(DiskName::from_device(3, 0), Some(n(0, 0)));
        assert_eq!(DiskName::from_device(8, 4), None);
        assert_eq!(DiskName::from_device(1, 0), None);
    }

    #[test]
    fn instances_find_their_disk() {
        assert_eq!(instance_disk("mfs", "mfs", ""), Some(n(0, 0)));
        assert_eq!(instance_disk("mfs", "mfs2", ""), Some(n(0, 1)));
        assert_eq!(instance_disk("isofs", "isofs2", ""), Some(n(0, 1)));
        assert_eq!(instance_disk("isofs", "isofs-c1d2", ""), Some(n(1, 2)));
        assert_eq!(instance_disk("mfs", "mfs-c1d0", ""), Some(n(1, 0)));
        // `dev=` wins over the label.
        assert_eq!(
            instance_disk("isofs", "isofs", "image dev=c1d2"),
            Some(n(1, 2))
        );
        assert_eq!(instance_disk("isofs", "isofs", "dev=c9d9"), None);
        for bad in ["mfs0", "mfs-", "mfs-c1d9", "mfsx", "isofs2", "mfs02"] {
            assert_eq!(instance_disk("mfs", bad, ""), None, "{bad:?}");
        }
    }

    #[test]
    fn mount_labels_round_trip() {
        for (fs, disk, label) in [
            ("mfs", n(0, 0), "mfs"),
            ("mfs", n(0, 1), "mfs2"),
            ("isofs", n(0, 3), "isofs4"),
            ("isofs", n(1, 2), "isofs-c1d2"),
            ("mfs", n(1, 0), "mfs-c1d0"),
        ] {
            assert_eq!(instance_label(fs, disk), label);
            assert_eq!(instance_disk(fs, label, ""), Some(disk));
        }
    }
}
