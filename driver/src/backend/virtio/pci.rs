//! Finding a virtio PCI function's structures (virtio 1.2, 4.1.4): the capability list in
//! configuration space, the vendor capabilities that locate the common, notify, ISR and device
//! configuration structures in the BARs, and the MSI-X capability.
//!
//! Configuration space is the device's: the list is walked with every pointer checked (inside
//! the 256-byte header, past the standard header, dword aligned), a bounded number of steps (a
//! list that loops ends), and each structure must lie inside a memory BAR the system assigned
//! ([`Structures::locate`]); otherwise the function is refused with a [`PciError`].

use portcls_sys::{NTSTATUS, STATUS_DEVICE_PROTOCOL_ERROR, STATUS_NOT_SUPPORTED};

/// Bytes of configuration space the driver reads (the PCI-compatible header and capabilities).
pub const CONFIG_SPACE_BYTES: usize = 256;
/// Vendor ID of virtio devices.
pub const VIRTIO_VENDOR_ID: u16 = 0x1AF4;
/// PCI status bit: the function has a capability list.
const STATUS_CAPABILITIES_LIST: u16 = 1 << 4;
/// Offset of the capabilities pointer.
const CAPABILITIES_POINTER: usize = 0x34;
/// Capability ID: MSI-X.
pub const CAP_MSIX: u8 = 0x11;
/// Capability ID: vendor specific (virtio's structures).
pub const CAP_VENDOR: u8 = 0x09;
/// The most capabilities a 256-byte space can hold (48 dwords past the header).
const MAX_CAPABILITIES: usize = 48;

/// `VIRTIO_PCI_CAP_COMMON_CFG`.
pub const CFG_COMMON: u8 = 1;
/// `VIRTIO_PCI_CAP_NOTIFY_CFG`.
pub const CFG_NOTIFY: u8 = 2;
/// `VIRTIO_PCI_CAP_ISR_CFG`.
pub const CFG_ISR: u8 = 3;
/// `VIRTIO_PCI_CAP_DEVICE_CFG`.
pub const CFG_DEVICE: u8 = 4;

/// A configuration space the driver cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciError {
    /// Not a virtio function of the expected device ID.
    NotVirtio {
        /// Vendor ID read.
        vendor: u16,
        /// Device ID read.
        device: u16,
    },
    /// A capability pointer outside the capability area or not dword aligned, or a list
    /// that does not end.
    BadList,
    /// A virtio capability shorter than its layout, or naming a BAR that does not exist.
    BadCapability,
    /// One of the four structures is missing (a legacy-only device has none).
    Missing(u8),
    /// A structure lies outside its BAR, or in a BAR the system gave no memory.
    OutsideBar(u8),
    /// The notify structure's multiplier is not a multiple of 2, or a queue's notify
    /// address lies outside the structure.
    BadNotify,
}

impl PciError {
    /// The NTSTATUS the start fails with.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::NotVirtio { .. } | Self::Missing(_) => STATUS_NOT_SUPPORTED,
            _ => STATUS_DEVICE_PROTOCOL_ERROR,
        }
    }
}

/// A structure's place: a BAR, an offset in it and a length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// BAR index (0-5).
    pub bar: u8,
    /// Offset in the BAR.
    pub offset: u32,
    /// Length in bytes.
    pub length: u32,
}

/// The MSI-X capability's view of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msix {
    /// Offset of the capability in configuration space (its message control word is at +2).
    pub offset: u8,
    /// Vectors in the table.
    pub vectors: u16,
}

/// Where the virtio structures of a function are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structures {
    /// `virtio_pci_common_cfg`.
    pub common: Region,
    /// The notify structure.
    pub notify: Region,
    /// `notify_off_multiplier`.
    pub notify_multiplier: u32,
    /// The ISR status byte.
    pub isr: Region,
    /// The device-specific configuration.
    pub device: Region,
    /// The MSI-X capability, if the function has one.
    pub msix: Option<Msix>,
}

fn le16(space: &[u8; CONFIG_SPACE_BYTES], at: usize) -> u16 {
    u16::from_le_bytes([
        space.get(at).copied().unwrap_or(0),
        space.get(at + 1).copied().unwrap_or(0),
    ])
}

fn le32(space: &[u8; CONFIG_SPACE_BYTES], at: usize) -> u32 {
    u32::from(le16(space, at)) | u32::from(le16(space, at + 2)) << 16
}

impl Structures {
    /// Walks the capability list of a virtio function with PCI device ID `device_id`.
    ///
    /// # Errors
    /// [`PciError`]: not that device, a malformed list or capability, or a missing structure.
    pub fn parse(space: &[u8; CONFIG_SPACE_BYTES], device_id: u16) -> Result<Self, PciError> {
        let vendor = le16(space, 0);
        let device = le16(space, 2);
        if vendor != VIRTIO_VENDOR_ID || device != device_id {
            return Err(PciError::NotVirtio { vendor, device });
        }
        let mut found: [Option<Region>; 4] = [None; 4];
        let mut multiplier = None;
        let mut msix = None;
        if le16(space, 6) & STATUS_CAPABILITIES_LIST != 0 {
            let mut pointer = space.get(CAPABILITIES_POINTER).copied().unwrap_or(0);
            let mut steps = 0;
            while pointer != 0 {
                let at = usize::from(pointer);
                steps += 1;
                if steps > MAX_CAPABILITIES
                    || at < 0x40
                    || !at.is_multiple_of(4)
                    || at + 2 > CONFIG_SPACE_BYTES
                {
                    return Err(PciError::BadList);
                }
                let id = space.get(at).copied().unwrap_or(0);
                let next = space.get(at + 1).copied().unwrap_or(0);
                match id {
                    CAP_MSIX => {
                        if at + 4 > CONFIG_SPACE_BYTES {
                            return Err(PciError::BadCapability);
                        }
                        msix.get_or_insert(Msix {
                            offset: pointer,
                            vectors: (le16(space, at + 2) & 0x7FF) + 1,
                        });
                    }
                    CAP_VENDOR => vendor_capability(space, at, &mut found, &mut multiplier)?,
                    _ => {}
                }
                pointer = next;
            }
        }
        let region = |kind: u8| {
            found
                .get(usize::from(kind - 1))
                .copied()
                .flatten()
                .ok_or(PciError::Missing(kind))
        };
        let structures = Self {
            common: region(CFG_COMMON)?,
            notify: region(CFG_NOTIFY)?,
            notify_multiplier: multiplier.unwrap_or(0),
            isr: region(CFG_ISR)?,
            device: region(CFG_DEVICE)?,
            msix,
        };
        if !structures.notify_multiplier.is_multiple_of(2) {
            return Err(PciError::BadNotify);
        }
        Ok(structures)
    }

    /// Checks each structure lies inside its BAR (`bars[i]`: the length of memory BAR `i` the
    /// system assigned, 0 if none) and holds at least what the driver reads: the common
    /// configuration `common_bytes`, one ISR byte, the device configuration `device_bytes`.
    ///
    /// # Errors
    /// [`PciError::OutsideBar`] naming the structure.
    pub fn locate(
        &self,
        bars: &[u64; 6],
        common_bytes: u32,
        device_bytes: u32,
    ) -> Result<(), PciError> {
        let checks = [
            (CFG_COMMON, self.common, common_bytes),
            (CFG_NOTIFY, self.notify, 2),
            (CFG_ISR, self.isr, 1),
            (CFG_DEVICE, self.device, device_bytes),
        ];
        for (kind, region, needed) in checks {
            let bar = bars.get(usize::from(region.bar)).copied().unwrap_or(0);
            let end = u64::from(region.offset) + u64::from(region.length);
            if region.length < needed || end > bar {
                return Err(PciError::OutsideBar(kind));
            }
        }
        Ok(())
    }

    /// The offset in the notify structure's BAR where the driver writes to notify a queue
    /// whose `queue_notify_off` is `notify_off`.
    ///
    /// # Errors
    /// [`PciError::BadNotify`] if the 16-bit notification would not lie in the structure.
    pub fn notify_offset(&self, notify_off: u16) -> Result<u32, PciError> {
        let within = u64::from(notify_off) * u64::from(self.notify_multiplier);
        if within + 2 > u64::from(self.notify.length) {
            return Err(PciError::BadNotify);
        }
        u32::try_from(u64::from(self.notify.offset) + within).map_err(|_| PciError::BadNotify)
    }
}

/// The bus addresses of the function's memory BARs, read from the header (`None` for an I/O
/// BAR, an unused one, or the upper half of a 64-bit BAR, which belongs to the BAR before it).
#[must_use]
pub fn memory_bars(space: &[u8; CONFIG_SPACE_BYTES]) -> [Option<u64>; 6] {
    let mut bars = [None; 6];
    let mut index = 0;
    while index < 6 {
        let low = le32(space, 0x10 + 4 * index);
        let io = low & 1 != 0;
        let wide = low & 0b110 == 0b100;
        let address = u64::from(low & !0xF);
        if io {
            index += 1;
            continue;
        }
        let address = if wide && index < 5 {
            address | u64::from(le32(space, 0x10 + 4 * (index + 1))) << 32
        } else {
            address
        };
        if let Some(slot) = bars.get_mut(index) {
            *slot = (address != 0).then_some(address);
        }
        index += if wide { 2 } else { 1 };
    }
    bars
}

/// Which of the memory resources the system assigned (their raw, bus-relative start addresses,
/// in the resource list's order) is each BAR: `[Some(i)]` for a BAR whose address is resource
/// `i`'s start. BARs the system gave no resource stay `None` (the driver must not use them).
#[must_use]
pub fn match_bars(space: &[u8; CONFIG_SPACE_BYTES], raw_starts: &[u64]) -> [Option<usize>; 6] {
    let bars = memory_bars(space);
    let mut matched = [None; 6];
    for (slot, bar) in matched.iter_mut().zip(bars) {
        *slot = bar.and_then(|address| raw_starts.iter().position(|&start| start == address));
    }
    matched
}

/// Reads one `virtio_pci_cap` at `at` (the first of each kind counts, as the spec says).
fn vendor_capability(
    space: &[u8; CONFIG_SPACE_BYTES],
    at: usize,
    found: &mut [Option<Region>; 4],
    multiplier: &mut Option<u32>,
) -> Result<(), PciError> {
    let length = usize::from(space.get(at + 2).copied().unwrap_or(0));
    let kind = space.get(at + 3).copied().unwrap_or(0);
    let bar = space.get(at + 4).copied().unwrap_or(0);
    if length < 16 || at + length > CONFIG_SPACE_BYTES {
        return Err(PciError::BadCapability);
    }
    if !(CFG_COMMON..=CFG_DEVICE).contains(&kind) {
        // PCI configuration access and shared memory capabilities: not used.
        return Ok(());
    }
    if bar > 5 {
        return Err(PciError::BadCapability);
    }
    let Some(slot) = found.get_mut(usize::from(kind - 1)) else {
        return Ok(());
    };
    if slot.is_some() {
        return Ok(());
    }
    if kind == CFG_NOTIFY {
        if length < 20 {
            return Err(PciError::BadCapability);
        }
        *multiplier = Some(le32(space, at + 16));
    }
    *slot = Some(Region {
        bar,
        offset: le32(space, at + 8),
        length: le32(space, at + 12),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration space of a QEMU-like virtio-sound function: MSI-X at 0x98 (3
    /// vectors), then the four virtio structures in BAR 4.
    fn space() -> [u8; CONFIG_SPACE_BYTES] {
        let mut s = [0; CONFIG_SPACE_BYTES];
        s[..2].copy_from_slice(&VIRTIO_VENDOR_ID.to_le_bytes());
        s[2..4].copy_from_slice(&0x1059_u16.to_le_bytes());
        s[6] = 0x10;
        s[CAPABILITIES_POINTER] = 0x98;
        s[0x98..0x9C].copy_from_slice(&[CAP_MSIX, 0x84, 0x02, 0x80]);
        let mut put = |at: usize, next: u8, len: u8, kind: u8, offset: u32, length: u32| {
            s[at..at + 5].copy_from_slice(&[CAP_VENDOR, next, len, kind, 4]);
            s[at + 8..at + 12].copy_from_slice(&offset.to_le_bytes());
            s[at + 12..at + 16].copy_from_slice(&length.to_le_bytes());
        };
        put(0x84, 0x70, 20, CFG_NOTIFY, 0x3000, 0x1000);
        put(0x70, 0x60, 16, CFG_DEVICE, 0x2000, 0x1000);
        put(0x60, 0x50, 16, CFG_ISR, 0x1000, 0x1000);
        put(0x50, 0x00, 16, CFG_COMMON, 0x0000, 0x1000);
        s[0x84 + 16..0x84 + 20].copy_from_slice(&4_u32.to_le_bytes());
        s
    }

    const BARS: [u64; 6] = [0, 0x1000, 0, 0, 0x4000, 0];

    #[test]
    fn a_virtio_sound_function_is_found_and_located() {
        let structures = Structures::parse(&space(), 0x1059).unwrap();
        assert_eq!(
            structures.common,
            Region {
                bar: 4,
                offset: 0,
                length: 0x1000
            }
        );
        assert_eq!(structures.isr.offset, 0x1000);
        assert_eq!(structures.device.offset, 0x2000);
        assert_eq!(
            structures.notify,
            Region {
                bar: 4,
                offset: 0x3000,
                length: 0x1000
            }
        );
        assert_eq!(structures.notify_multiplier, 4);
        assert_eq!(
            structures.msix,
            Some(Msix {
                offset: 0x98,
                vectors: 3
            })
        );
        assert_eq!(structures.locate(&BARS, 0x38, 12), Ok(()));
        assert_eq!(structures.notify_offset(3), Ok(0x300C));
        assert_eq!(structures.notify_offset(1023), Ok(0x3FFC));
        assert_eq!(structures.notify_offset(1024), Err(PciError::BadNotify));
    }

    #[test]
    fn other_functions_and_malformed_lists_are_refused() {
        assert_eq!(
            Structures::parse(&space(), 0x1041).map(|_| ()),
            Err(PciError::NotVirtio {
                vendor: 0x1AF4,
                device: 0x1059
            })
        );
        let mut no_list = space();
        no_list[6] = 0;
        assert_eq!(
            Structures::parse(&no_list, 0x1059),
            Err(PciError::Missing(CFG_COMMON))
        );
        let mut looped = space();
        looped[0x51] = 0x98; // common -> MSI-X again: a cycle
        assert_eq!(Structures::parse(&looped, 0x1059), Err(PciError::BadList));
        for pointer in [0x10_u8, 0x99, 0xFF] {
            let mut bad = space();
            bad[CAPABILITIES_POINTER] = pointer;
            assert_eq!(
                Structures::parse(&bad, 0x1059),
                Err(PciError::BadList),
                "{pointer:#x}"
            );
        }
        let mut short = space();
        short[0x62] = 12;
        assert_eq!(
            Structures::parse(&short, 0x1059),
            Err(PciError::BadCapability)
        );
        let mut beyond = space();
        beyond[0x64] = 6;
        assert_eq!(
            Structures::parse(&beyond, 0x1059),
            Err(PciError::BadCapability)
        );
        let mut odd = space();
        odd[0x84 + 16] = 3;
        assert_eq!(Structures::parse(&odd, 0x1059), Err(PciError::BadNotify));
        let mut notify_short = space();
        notify_short[0x86] = 16;
        assert_eq!(
            Structures::parse(&notify_short, 0x1059),
            Err(PciError::BadCapability)
        );
        assert_eq!(PciError::BadList.status(), STATUS_DEVICE_PROTOCOL_ERROR);
        assert_eq!(PciError::Missing(1).status(), STATUS_NOT_SUPPORTED);
    }

    #[test]
    fn memory_bars_are_matched_to_the_resources_by_address() {
        let mut s = space();
        // BAR 1: 32-bit memory; BAR 2: I/O; BAR 4-5: 64-bit memory above 4 GiB.
        s[0x14..0x18].copy_from_slice(&0xFEB0_1000_u32.to_le_bytes());
        s[0x18..0x1C].copy_from_slice(&0x0000_C001_u32.to_le_bytes());
        s[0x20..0x24].copy_from_slice(&0x0000_400C_u32.to_le_bytes());
        s[0x24..0x28].copy_from_slice(&0x0000_0008_u32.to_le_bytes());
        assert_eq!(
            memory_bars(&s),
            [
                None,
                Some(0xFEB0_1000),
                None,
                None,
                Some(0x8_0000_4000),
                None
            ]
        );
        let matched = match_bars(&s, &[0x8_0000_4000, 0xFEB0_1000]);
        assert_eq!(matched, [None, Some(1), None, None, Some(0), None]);
        // A BAR the system did not assign.
        assert_eq!(match_bars(&s, &[0xFEB0_1000])[4], None);
        // A 64-bit BAR in the last slot has no upper half to read.
        let mut last = space();
        last[0x24..0x28].copy_from_slice(&0x1000_0004_u32.to_le_bytes());
        assert_eq!(memory_bars(&last)[5], Some(0x1000_0000));
    }

    #[test]
    fn structures_must_lie_in_assigned_bars() {
        let structures = Structures::parse(&space(), 0x1059).unwrap();
        assert_eq!(structures.locate(&[0x4000; 6], 0x38, 12), Ok(()));
        assert_eq!(
            structures.locate(&[0, 0, 0, 0, 0x3FFF, 0], 0x38, 12),
            Err(PciError::OutsideBar(CFG_NOTIFY))
        );
        assert_eq!(
            structures.locate(&[0; 6], 0x38, 12),
            Err(PciError::OutsideBar(CFG_COMMON))
        );
        assert_eq!(
            structures.locate(&BARS, 0x2000, 12),
            Err(PciError::OutsideBar(CFG_COMMON))
        );
        let mut huge = space();
        huge[0x50 + 8..0x50 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let structures = Structures::parse(&huge, 0x1059).unwrap();
        assert_eq!(structures.locate(&[u64::MAX; 6], 0x38, 12), Ok(()));
        assert_eq!(
            structures.locate(&BARS, 0x38, 12),
            Err(PciError::OutsideBar(CFG_COMMON))
        );
    }
}
