//! Memory grants: the only way one process lets another read or write part
//! of its memory (MINIX "safecopies").
//!
//! Each process owns a [`GrantTable`]. A *direct* grant gives one endpoint
//! (or anyone) read and/or write access to a byte range of the owner's
//! memory. An *indirect* grant passes on (a sub-range of) a grant the owner
//! itself received, so a server can forward a client's buffer to a driver.
//! [`resolve`] checks a copy request against the chain of grants and
//! returns the process and address the bytes really live at; the kernel
//! then copies between address spaces. Revoking a grant makes every
//! resolution through it fail at once, including indirect ones.

use crate::process::Endpoint;
use alloc::vec::Vec;

/// Most hops followed through indirect grants.
pub const MAX_INDIRECTION: usize = 8;

/// A grant's index in its owner's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GrantId(pub u32);

/// Access rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The grantee may copy from the range.
    pub read: bool,
    /// The grantee may copy into the range.
    pub write: bool,
}

impl Access {
    /// Read only.
    pub const READ: Access = Access {
        read: true,
        write: false,
    };
    /// Write only.
    pub const WRITE: Access = Access {
        read: false,
        write: true,
    };
    /// Read and write.
    pub const RW: Access = Access {
        read: true,
        write: true,
    };

    fn covers(self, want: Access) -> bool {
        (self.read || !want.read) && (self.write || !want.write)
    }
}

/// Who may use a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grantee {
    /// Any process.
    Any,
    /// Only this endpoint (a stale endpoint never matches a new instance).
    Ep(Endpoint),
}

/// What a grant refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantKind {
    /// `len` bytes of the owner's memory at `base`.
    Direct {
        /// Start address in the owner's address space.
        base: u64,
        /// Length in bytes.
        len: u64,
    },
    /// `len` bytes at `offset` inside grant `id` that `from` gave the owner.
    Indirect {
        /// Who granted it to the owner.
        from: Endpoint,
        /// That grant's id in `from`'s table.
        id: GrantId,
        /// Offset inside that grant.
        offset: u64,
        /// Length of the passed-on part.
        len: u64,
    },
}

impl GrantKind {
    fn len(&self) -> u64 {
        match *self {
            Self::Direct { len, .. } | Self::Indirect { len, .. } => len,
        }
    }
}

/// One grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Who may use it.
    pub grantee: Grantee,
    /// What they may do.
    pub access: Access,
    /// What it covers.
    pub kind: GrantKind,
}

/// Why a grant check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The granting process (or a link of the chain) does not exist.
    NoSuchProcess(Endpoint),
    /// No grant with that id was ever made.
    NoSuchGrant(GrantId),
    /// The grant was revoked.
    Revoked(GrantId),
    /// The requester is not the grantee.
    WrongGrantee,
    /// The grant does not allow this direction.
    NoAccess,
    /// The byte range is outside the grant.
    OutOfRange,
    /// Indirect grants nest too deeply (or loop).
    TooDeep,
    /// The owner already has as many grants as it may.
    TooMany,
}

impl GrantError {
    /// The code returned to user space.
    pub fn errno(self) -> abi::Errno {
        match self {
            Self::NoSuchProcess(_) => abi::Errno::DeadSrcDst,
            Self::WrongGrantee | Self::NoAccess => abi::Errno::Perm,
            Self::TooMany => abi::Errno::NoMem,
            _ => abi::Errno::Inval,
        }
    }
}

/// A process's grants.
#[derive(Clone, Debug, Default)]
pub struct GrantTable {
    slots: Vec<Option<Grant>>,
}

impl GrantTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a grant (reusing a revoked slot) and returns its id.
    pub fn create(&mut self, g: Grant) -> GrantId {
        match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(g);
                GrantId(i as u32)
            }
            None => {
                self.slots.push(Some(g));
                GrantId((self.slots.len() - 1) as u32)
            }
        }
    }

    /// Adds a grant like [`Self::create`] unless the table already holds
    /// `limit` live grants ([`GrantError::TooMany`]): the kernel bounds
    /// every table, so no process can make the kernel heap grow without
    /// end.
    pub fn try_create(&mut self, g: Grant, limit: usize) -> Result<GrantId, GrantError> {
        let live = self.slots.iter().filter(|s| s.is_some()).count();
        if live >= limit {
            return Err(GrantError::TooMany);
        }
        Ok(self.create(g))
    }

    /// Revokes a grant; later uses fail.
    pub fn revoke(&mut self, id: GrantId) -> Result<(), GrantError> {
        match self.slots.get_mut(id.0 as usize) {
            Some(s @ Some(_)) => {
                *s = None;
                Ok(())
            }
            Some(None) => Err(GrantError::Revoked(id)),
            None => Err(GrantError::NoSuchGrant(id)),
        }
    }

    fn get(&self, id: GrantId) -> Result<&Grant, GrantError> {
        match self.slots.get(id.0 as usize) {
            Some(Some(g)) => Ok(g),
            Some(None) => Err(GrantError::Revoked(id)),
            None => Err(GrantError::NoSuchGrant(id)),
        }
    }
}

/// Finds a live process's grant table by endpoint.
pub trait GrantLookup {
    /// The table of the live process `ep` (`None` if dead or stale).
    fn table(&self, ep: Endpoint) -> Option<&GrantTable>;
}

/// Where the bytes of a checked copy live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The process whose memory holds them.
    pub owner: Endpoint,
    /// Their start address in that process.
    pub addr: u64,
}

/// Checks that `requester` may access `len` bytes at `offset` inside grant
/// `id` of `granter` with rights `want`, following indirect grants.
pub fn resolve(
    tables: &impl GrantLookup,
    granter: Endpoint,
    id: GrantId,
    requester: Endpoint,
    offset: u64,
    len: u64,
    want: Access,
) -> Result<Resolved, GrantError> {
    let (mut granter, mut id, mut requester, mut offset) = (granter, id, requester, offset);
    for _ in 0..MAX_INDIRECTION {
        let table = tables
            .table(granter)
            .ok_or(GrantError::NoSuchProcess(granter))?;
        let g = table.get(id)?;
        match g.grantee {
            Grantee::Any => {}
            Grantee::Ep(e) if e == requester => {}
            Grantee::Ep(_) => return Err(GrantError::WrongGrantee),
        }
        if !g.access.covers(want) {
            return Err(GrantError::NoAccess);
        }
        let end = offset.checked_add(len).ok_or(GrantError::OutOfRange)?;
        if end > g.kind.len() {
            return Err(GrantError::OutOfRange);
        }
        match g.kind {
            GrantKind::Direct { base, .. } => {
                let addr = base.checked_add(offset).ok_or(GrantError::OutOfRange)?;
                return Ok(Resolved {
                    owner: granter,
                    addr,
                });
            }
            GrantKind::Indirect {
                from,
                id: inner,
                offset: inner_off,
                ..
            } => {
                // The granter must itself hold rights on `from`'s grant.
                requester = granter;
                granter = from;
                id = inner;
                offset = inner_off
                    .checked_add(offset)
                    .ok_or(GrantError::OutOfRange)?;
            }
        }
    }
    Err(GrantError::TooDeep)
}

#[cfg(test)]
mod bound_tests {
    use super::*;

    #[test]
    fn tables_are_bounded_and_revoked_ids_are_reused() {
        let mut t = GrantTable::new();
        let g = Grant {
            grantee: Grantee::Any,
            access: Access::READ,
            kind: GrantKind::Direct {
                base: 0x4000_0000,
                len: 8,
            },
        };
        for i in 0..4 {
            assert_eq!(t.try_create(g, 4), Ok(GrantId(i)));
        }
        assert_eq!(t.try_create(g, 4), Err(GrantError::TooMany));
        assert_eq!(GrantError::TooMany.errno(), abi::Errno::NoMem);
        t.revoke(GrantId(2)).unwrap();
        assert_eq!(t.try_create(g, 4), Ok(GrantId(2)), "the hole is reused");
        assert_eq!(t.try_create(g, 4), Err(GrantError::TooMany));
        assert_eq!(t.try_create(g, 5), Ok(GrantId(4)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    struct Tables(BTreeMap<u32, GrantTable>);

    impl GrantLookup for Tables {
        fn table(&self, ep: Endpoint) -> Option<&GrantTable> {
            self.0.get(&ep.0)
        }
    }

    fn ep(slot: u16) -> Endpoint {
        Endpoint::new(slot, 0)
    }

    /// Client 1 grants server 2 a 100-byte buffer at 0x1000; returns the
    /// tables and the grant id.
    fn setup(access: Access) -> (Tables, GrantId) {
        let mut t = Tables(BTreeMap::new());
        let mut client = GrantTable::new();
        let id = client.create(Grant {
            grantee: Grantee::Ep(ep(2)),
            access,
            kind: GrantKind::Direct {
                base: 0x1000,
                len: 100,
            },
        });
        t.0.insert(ep(1).0, client);
        t.0.insert(ep(2).0, GrantTable::new());
        t.0.insert(ep(3).0, GrantTable::new());
        (t, id)
    }

    #[test]
    fn direct_grants_in_both_directions() {
        let (t, id) = setup(Access::RW);
        let r = resolve(&t, ep(1), id, ep(2), 10, 90, Access::READ).unwrap();
        assert_eq!(
            r,
            Resolved {
                owner: ep(1),
                addr: 0x100a
            }
        );
        let r = resolve(&t, ep(1), id, ep(2), 0, 100, Access::WRITE).unwrap();
        assert_eq!(r.addr, 0x1000);
    }

    #[test]
    fn refusals() {
        let (t, id) = setup(Access::READ);
        assert_eq!(
            resolve(&t, ep(1), id, ep(2), 0, 1, Access::WRITE),
            Err(GrantError::NoAccess)
        );
        assert_eq!(
            resolve(&t, ep(1), id, ep(3), 0, 1, Access::READ),
            Err(GrantError::WrongGrantee)
        );
        assert_eq!(
            resolve(&t, ep(1), id, ep(2), 50, 51, Access::READ),
            Err(GrantError::OutOfRange)
        );
        assert_eq!(
            resolve(&t, ep(1), id, ep(2), u64::MAX, 2, Access::READ),
            Err(GrantError::OutOfRange)
        );
        assert_eq!(
            resolve(&t, ep(1), GrantId(7), ep(2), 0, 1, Access::READ),
            Err(GrantError::NoSuchGrant(GrantId(7)))
        );
        assert_eq!(
            resolve(&t, ep(9), id, ep(2), 0, 1, Access::READ),
            Err(GrantError::NoSuchProcess(ep(9)))
        );
        // A new instance of the grantee (new generation) does not inherit it.
        assert_eq!(
            resolve(&t, ep(1), id, Endpoint::new(2, 1), 0, 1, Access::READ),
            Err(GrantError::WrongGrantee)
        );
    }

    #[test]
    fn revoked_grant_stops_working_at_once() {
        let (mut t, id) = setup(Access::RW);
        resolve(&t, ep(1), id, ep(2), 0, 1, Access::READ).unwrap();
        t.0.get_mut(&ep(1).0).unwrap().revoke(id).unwrap();
        assert_eq!(
            resolve(&t, ep(1), id, ep(2), 0, 1, Access::READ),
            Err(GrantError::Revoked(id))
        );
        assert_eq!(
            t.0.get_mut(&ep(1).0).unwrap().revoke(id),
            Err(GrantError::Revoked(id))
        );
    }

    #[test]
    fn indirect_grants_follow_the_chain() {
        let (mut t, id) = setup(Access::RW);
        // Server 2 passes bytes 20..60 of the client's buffer on to driver 3.
        let fwd = t.0.get_mut(&ep(2).0).unwrap().create(Grant {
            grantee: Grantee::Ep(ep(3)),
            access: Access::WRITE,
            kind: GrantKind::Indirect {
                from: ep(1),
                id,
                offset: 20,
                len: 40,
            },
        });
        let r = resolve(&t, ep(2), fwd, ep(3), 5, 35, Access::WRITE).unwrap();
        assert_eq!(
            r,
            Resolved {
                owner: ep(1),
                addr: 0x1000 + 25
            }
        );
        // Rights and range are limited by the indirect grant itself.
        assert_eq!(
            resolve(&t, ep(2), fwd, ep(3), 0, 1, Access::READ),
            Err(GrantError::NoAccess)
        );
        assert_eq!(
            resolve(&t, ep(2), fwd, ep(3), 30, 11, Access::WRITE),
            Err(GrantError::OutOfRange)
        );
        // Revoking the original breaks the indirect one too.
        t.0.get_mut(&ep(1).0).unwrap().revoke(id).unwrap();
        assert_eq!(
            resolve(&t, ep(2), fwd, ep(3), 0, 1, Access::WRITE),
            Err(GrantError::Revoked(id))
        );
    }

    #[test]
    fn indirect_grant_cannot_widen_or_loop() {
        let (mut t, id) = setup(Access::READ);
        // 2 tries to pass on more than it got, and with write access.
        let wide = t.0.get_mut(&ep(2).0).unwrap().create(Grant {
            grantee: Grantee::Any,
            access: Access::RW,
            kind: GrantKind::Indirect {
                from: ep(1),
                id,
                offset: 90,
                len: 20,
            },
        });
        assert_eq!(
            resolve(&t, ep(2), wide, ep(3), 15, 5, Access::READ),
            Err(GrantError::OutOfRange)
        );
        assert_eq!(
            resolve(&t, ep(2), wide, ep(3), 0, 5, Access::WRITE),
            Err(GrantError::NoAccess)
        );
        // A grant that points at itself.
        let me = t.0.get_mut(&ep(3).0).unwrap();
        let selfref = me.create(Grant {
            grantee: Grantee::Any,
            access: Access::RW,
            kind: GrantKind::Indirect {
                from: ep(3),
                id: GrantId(0),
                offset: 0,
                len: 10,
            },
        });
        assert_eq!(
            resolve(&t, ep(3), selfref, ep(3), 0, 1, Access::READ),
            Err(GrantError::TooDeep)
        );
    }

    #[test]
    fn revoked_slots_are_reused() {
        let mut g = GrantTable::new();
        let grant = Grant {
            grantee: Grantee::Any,
            access: Access::READ,
            kind: GrantKind::Direct { base: 0, len: 1 },
        };
        let a = g.create(grant);
        let b = g.create(grant);
        g.revoke(a).unwrap();
        assert_eq!(g.create(grant), a);
        assert_ne!(a, b);
    }
}
