//! The ATA/ATAPI register file, commands and the parsing of IDENTIFY data
//! and SCSI replies: numbers live here, the driver logic in `main.rs`.

/// The two legacy channels of a PIIX IDE function in compatibility mode:
/// command block base, control block port, ISA IRQ line.
pub const CHANNELS: [(u16, u16, u8); 2] = [(0x1f0, 0x3f6, 14), (0x170, 0x376, 15)];
/// Ports of a command block.
pub const CMD_PORTS: u32 = 8;

/// Command block registers (offsets from the base).
pub const REG_DATA: u16 = 0;
pub const REG_FEATURES: u16 = 1;
pub const REG_COUNT: u16 = 2;
pub const REG_LBA0: u16 = 3;
pub const REG_LBA1: u16 = 4;
pub const REG_LBA2: u16 = 5;
pub const REG_DEVICE: u16 = 6;
/// Status on read (acknowledges the interrupt), command on write.
pub const REG_STATUS: u16 = 7;
pub const REG_COMMAND: u16 = 7;

/// Device control register bits (the control port, written).
pub const CTL_SRST: u8 = 0x04;

/// Status bits.
pub const ST_BSY: u8 = 0x80;
pub const ST_DF: u8 = 0x20;
pub const ST_DRQ: u8 = 0x08;
/// ERR for ATA, CHECK for ATAPI.
pub const ST_ERR: u8 = 0x01;

/// Device register: LBA addressing, and the obsolete bits 7 and 5 set.
pub const DEV_LBA: u8 = 0x40;
pub const DEV_OBSOLETE: u8 = 0xa0;

/// ATA commands.
pub const CMD_READ: u8 = 0x20;
pub const CMD_READ_EXT: u8 = 0x24;
pub const CMD_WRITE: u8 = 0x30;
pub const CMD_WRITE_EXT: u8 = 0x34;
pub const CMD_FLUSH: u8 = 0xe7;
pub const CMD_FLUSH_EXT: u8 = 0xea;
pub const CMD_IDENTIFY: u8 = 0xec;
pub const CMD_PACKET: u8 = 0xa0;
pub const CMD_IDENTIFY_PACKET: u8 = 0xa1;

/// SCSI (MMC) commands sent in packets.
pub const SCSI_REQUEST_SENSE: u8 = 0x03;
pub const SCSI_READ_CAPACITY: u8 = 0x25;
pub const SCSI_READ10: u8 = 0x28;

/// LBA1/LBA2 after a reset or an aborted IDENTIFY: the ATAPI signature
/// (and the SATA ATAPI one, for bridges that report it).
pub fn is_atapi_signature(lba1: u8, lba2: u8) -> bool {
    matches!((lba1, lba2), (0x14, 0xeb) | (0x69, 0x96))
}

/// The 256 words of IDENTIFY (PACKET) DEVICE.
pub struct Identify(pub [u16; 256]);

impl Identify {
    /// The model string (words 27-46, two characters per word, high byte
    /// first), trimmed.
    pub fn model(&self) -> alloc::string::String {
        let mut s = alloc::string::String::new();
        for w in &self.0[27..47] {
            for b in [(w >> 8) as u8, *w as u8] {
                s.push(if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '?'
                });
            }
        }
        alloc::string::String::from(s.trim())
    }

    /// An ATA disk: whether it does LBA (word 49 bit 9; CHS-only disks are
    /// not supported) and 48-bit LBA (word 83 bit 10), and its sectors.
    pub fn ata_geometry(&self) -> Option<(bool, u64)> {
        let w = &self.0;
        if w[49] & (1 << 9) == 0 {
            return None;
        }
        let lba28 = u64::from(w[60]) | u64::from(w[61]) << 16;
        let lba48 = w[83] & (1 << 10) != 0;
        if lba48 {
            let n = u64::from(w[100])
                | u64::from(w[101]) << 16
                | u64::from(w[102]) << 32
                | u64::from(w[103]) << 48;
            if n > 0 {
                return Some((true, n));
            }
        }
        Some((false, lba28))
    }

    /// ATAPI: word 0 says packet device (bits 15-14 = 10) with 12-byte
    /// packets (bits 1-0 = 00); 16-byte packets are not supported.
    pub fn atapi_ok(&self) -> bool {
        self.0[0] >> 14 == 0b10 && self.0[0] & 3 == 0
    }
}

/// A 12-byte packet.
pub type Packet = [u8; 12];

/// READ(10) of `count` 2048-byte blocks from `lba`.
pub fn read10(lba: u32, count: u16) -> Packet {
    let l = lba.to_be_bytes();
    let c = count.to_be_bytes();
    [
        SCSI_READ10,
        0,
        l[0],
        l[1],
        l[2],
        l[3],
        0,
        c[0],
        c[1],
        0,
        0,
        0,
    ]
}

/// READ CAPACITY (8 bytes back).
pub fn read_capacity() -> Packet {
    let mut p = [0u8; 12];
    p[0] = SCSI_READ_CAPACITY;
    p
}

/// REQUEST SENSE of 18 bytes (clears a pending UNIT ATTENTION).
pub fn request_sense() -> Packet {
    let mut p = [0u8; 12];
    p[0] = SCSI_REQUEST_SENSE;
    p[4] = 18;
    p
}

/// READ CAPACITY's reply: (number of blocks, block size). `None` for a
/// block size other than 2048 (audio or odd media are not supported).
pub fn parse_capacity(b: &[u8]) -> Option<u64> {
    let last = u32::from_be_bytes(b.get(0..4)?.try_into().ok()?);
    let size = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
    (size == 2048).then_some(u64::from(last) + 1)
}
