//! Packet mode (`IMiniportWaveRTOutputStream` for render, `IMiniportWaveRTInputStream` for
//! capture), as pure arithmetic on the linear position the DMA engine keeps.
//!
//! In packet mode the buffer is cut into `NotificationCount` packets of one notification
//! interval each ([`Packets`]), numbered from 0 at the last STOP: packet `n` holds the frames
//! `n x P .. (n + 1) x P` of the stream (`P` frames a packet), in slot `n mod NotificationCount`
//! of the buffer. The OS passes packet numbers as 32-bit values, so they wrap; they are read
//! against the 64-bit linear packet count (the nearest packet with those low 32 bits).
//!
//! # Render
//! - `GetPacketCount`: packets completely transferred to the device, `frames / P` (the low 32
//!   bits).
//! - `GetOutputStreamPresentationPosition`: the linear position in frames (a PCM block is a
//!   frame) and the counter it was read at. The virtual device has no FIFO or codec delay, so
//!   the frame presented is the frame transferred, and packet 0's first frame is block 0.
//! - `SetWritePacket(n)`: packet `n` is *late* (`STATUS_DATA_LATE_ERROR`) once the device has
//!   begun it (its first frame is behind the position), and an *overrun*
//!   (`STATUS_DATA_OVERRUN`) if its slot still holds a packet the device has not finished (`n`
//!   at least `NotificationCount` packets past the one in transfer). A flag other than
//!   `KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM`, or an end-of-stream length beyond a packet, is
//!   `STATUS_INVALID_PARAMETER`; any call after an end of stream is
//!   `STATUS_INVALID_DEVICE_STATE` until STOP. The device keeps running (and signalling) at
//!   the nominal rate whatever the client writes, as the docs require; what was written is
//!   recorded for the client's queries.
//!
//! # Capture
//! - `GetReadPacket`: the oldest complete packet the client has not read and the device has not
//!   begun to overwrite, its first sample's counter value, and whether another one is complete
//!   already (`MoreData`); `STATUS_DEVICE_NOT_READY` when none is. Each call takes one packet:
//!   the docs let the driver assume the OS has read every earlier packet when it asks again.
//!   Packets the client was too slow for are skipped (overwritten oldest first).
//!
//! The docs name no `ReleaseReadPacket`: `IMiniportWaveRTInputStream` has `GetReadPacket` only.
//!
//! Only `core`; no allocation, no FFI: the stream shell ([`stream`](crate::stream)) calls these
//! under its lock with the DMA's position.

use core::num::NonZeroU64;

use portcls_sys::ks::KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM;
use portcls_sys::wavert::{STATUS_DATA_LATE_ERROR, STATUS_DATA_OVERRUN, STATUS_DEVICE_NOT_READY};
use portcls_sys::{NTSTATUS, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER};

use crate::notification::Notifications;

/// A refused packet request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// The stream has no buffer with notifications, so no packets.
    NoPackets,
    /// `SetWritePacket` for a packet the device has begun or finished.
    Late,
    /// `SetWritePacket` for a packet whose slot the device has not finished with.
    Overrun,
    /// `SetWritePacket` with an unknown flag, or an end-of-stream length beyond a packet.
    InvalidParameter,
    /// `SetWritePacket` after the end of the stream was written.
    AfterEndOfStream,
    /// `GetReadPacket` with no new complete packet.
    NotReady,
}

impl PacketError {
    /// The NTSTATUS the OS receives.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::NoPackets | Self::AfterEndOfStream => STATUS_INVALID_DEVICE_STATE,
            Self::Late => STATUS_DATA_LATE_ERROR,
            Self::Overrun => STATUS_DATA_OVERRUN,
            Self::InvalidParameter => STATUS_INVALID_PARAMETER,
            Self::NotReady => STATUS_DEVICE_NOT_READY,
        }
    }
}

impl core::fmt::Display for PacketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoPackets => "the stream has no buffer with notifications",
            Self::Late => "the packet is already being transferred",
            Self::Overrun => "the packet's slot is still in use",
            Self::InvalidParameter => "unknown flags or an end-of-stream length beyond a packet",
            Self::AfterEndOfStream => "the end of the stream was written already",
            Self::NotReady => "no new packet is complete",
        })
    }
}

impl core::error::Error for PacketError {}

/// The packet geometry of a buffer: `count` packets of `frames` frames each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packets {
    frames: NonZeroU64,
    count: u32,
    bytes: u32,
}

impl Packets {
    /// The packets of a buffer with these notification points, at `bytes_per_frame`.
    #[must_use]
    pub fn new(notifications: Notifications, bytes_per_frame: u32) -> Option<Self> {
        let frames = NonZeroU64::new(notifications.interval_frames())?;
        let bytes = u32::try_from(frames.get().checked_mul(u64::from(bytes_per_frame))?).ok()?;
        Some(Self {
            frames,
            count: notifications.count(),
            bytes,
        })
    }

    /// Frames per packet.
    #[must_use]
    pub const fn frames(&self) -> u64 {
        self.frames.get()
    }

    /// Bytes per packet.
    #[must_use]
    pub const fn bytes(&self) -> u32 {
        self.bytes
    }

    /// Packets in the buffer (`NotificationCount`).
    #[must_use]
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Packets completely transferred (render) or captured at linear position `frames`.
    #[must_use]
    pub fn completed(&self, frames: u64) -> u64 {
        frames / self.frames
    }

    /// Packets the device has begun at linear position `frames` (a partly moved one counts).
    #[must_use]
    pub fn begun(&self, frames: u64) -> u64 {
        self.completed(frames) + u64::from(frames % self.frames != 0)
    }

    /// The linear packet whose low 32 bits are `number`, nearest to packet `near`.
    #[must_use]
    pub fn unwrap_number(&self, number: u32, near: u64) -> u64 {
        // The low 32 bits of `near`, by design.
        #[allow(clippy::cast_possible_truncation)]
        let low = near as u32;
        // A signed 32-bit distance: the reinterpretation is the point.
        let delta = i64::from(number.wrapping_sub(low).cast_signed());
        near.saturating_add_signed(delta)
    }
}

/// `GetPacketCount`: packets completely transferred at linear position `frames`, as the OS's
/// 32-bit count (wrapping).
#[must_use]
pub fn packet_count(packets: &Packets, frames: u64) -> u32 {
    // The low 32 bits, by the interface's definition.
    #[allow(clippy::cast_possible_truncation)]
    let count = packets.completed(frames) as u32;
    count
}

/// What the client wrote last (render).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WritePackets {
    /// The linear number of the last packet written.
    last: Option<u64>,
    /// The end of the stream: its packet and the bytes of it that are data.
    end: Option<(u64, u32)>,
}

impl WritePackets {
    /// Nothing written (a new stream, or after STOP).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            last: None,
            end: None,
        }
    }

    /// The linear number of the last packet written.
    #[must_use]
    pub const fn last(&self) -> Option<u64> {
        self.last
    }

    /// The end of the stream, once written: `(packet, bytes of data in it)`.
    #[must_use]
    pub const fn end_of_stream(&self) -> Option<(u64, u32)> {
        self.end
    }

    /// `SetWritePacket(number, flags, eos_length)` at linear position `frames`. Returns the
    /// packet's linear number; nothing changes on an error.
    ///
    /// # Errors
    /// See the [module docs](self).
    pub fn set_write_packet(
        &mut self,
        packets: Option<&Packets>,
        frames: u64,
        number: u32,
        flags: u32,
        eos_length: u32,
    ) -> Result<u64, PacketError> {
        let packets = packets.ok_or(PacketError::NoPackets)?;
        if flags & !KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM != 0 {
            return Err(PacketError::InvalidParameter);
        }
        let end = flags & KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM != 0;
        if end && eos_length > packets.bytes() {
            return Err(PacketError::InvalidParameter);
        }
        if self.end.is_some() {
            return Err(PacketError::AfterEndOfStream);
        }
        // The packet in transfer (or, at a packet boundary, the next to start).
        let current = packets.completed(frames);
        let packet = packets.unwrap_number(number, current);
        let first_frame = packet.saturating_mul(packets.frames());
        if packet < current || first_frame < frames {
            return Err(PacketError::Late);
        }
        if packet - current >= u64::from(packets.count()) {
            return Err(PacketError::Overrun);
        }
        self.last = Some(packet);
        if end {
            self.end = Some((packet, eos_length));
        }
        Ok(packet)
    }
}

/// One packet `GetReadPacket` hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadPacket {
    /// The linear packet number (the OS sees its low 32 bits).
    pub packet: u64,
    /// The linear position of its first frame.
    pub first_frame: u64,
    /// Whether the next packet is complete too.
    pub more: bool,
}

impl ReadPacket {
    /// The packet number as the OS receives it (low 32 bits).
    #[must_use]
    pub const fn number(&self) -> u32 {
        // The low 32 bits, by the interface's definition.
        #[allow(clippy::cast_possible_truncation)]
        let number = self.packet as u32;
        number
    }
}

/// What the client has read (capture).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadPackets {
    /// The linear number of the next packet to hand out.
    next: u64,
}

impl ReadPackets {
    /// Nothing read (a new stream, or after STOP).
    #[must_use]
    pub const fn new() -> Self {
        Self { next: 0 }
    }

    /// `GetReadPacket` at linear position `frames`: the oldest intact packet not read yet.
    ///
    /// # Errors
    /// [`PacketError::NoPackets`] without packets, [`PacketError::NotReady`] when no new packet
    /// is complete (nothing changes then).
    pub fn read_packet(
        &mut self,
        packets: Option<&Packets>,
        frames: u64,
    ) -> Result<ReadPacket, PacketError> {
        let packets = packets.ok_or(PacketError::NoPackets)?;
        let completed = packets.completed(frames);
        // Packet q's slot is overwritten once the device writes packet q + count, i.e. once
        // the position passes (q + count) x P: the oldest intact packet is ceil(frames / P) - count.
        let oldest = packets
            .begun(frames)
            .saturating_sub(u64::from(packets.count()));
        let packet = self.next.max(oldest);
        if packet >= completed {
            return Err(PacketError::NotReady);
        }
        let after = packet.saturating_add(1);
        self.next = after;
        Ok(ReadPacket {
            packet,
            first_frame: packet.saturating_mul(packets.frames()),
            more: after < completed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;

    /// 48 kHz 16-bit stereo, a 1920-byte buffer (480 frames) with two notifications: packets of
    /// 240 frames (960 bytes, 5 ms).
    fn packets() -> Packets {
        let notifications = Notifications::new(1920, &Format::PREFERRED, 2).unwrap();
        Packets::new(notifications, 4).unwrap()
    }

    const P: u64 = 240;
    const EOS: u32 = KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM;

    #[test]
    fn a_packet_is_one_notification_interval() {
        let p = packets();
        assert_eq!((p.frames(), p.bytes(), p.count()), (240, 960, 2));
        let one = Notifications::new(1920, &Format::PREFERRED, 1).unwrap();
        assert_eq!(Packets::new(one, 4).unwrap().frames(), 480);
    }

    #[test]
    fn the_packet_count_is_whole_packets_transferred() {
        let p = packets();
        assert_eq!(packet_count(&p, 0), 0);
        assert_eq!(packet_count(&p, P - 1), 0);
        assert_eq!(packet_count(&p, P), 1);
        assert_eq!(packet_count(&p, 10 * P + 7), 10);
        // 32-bit wrap, as the OS reads it.
        assert_eq!(packet_count(&p, (1 << 32) * P + 3 * P), 3);
    }

    #[test]
    fn packet_numbers_unwrap_to_the_nearest_linear_packet() {
        let p = packets();
        assert_eq!(p.unwrap_number(5, 3), 5);
        assert_eq!(p.unwrap_number(1, 3), 1);
        let near = (1u64 << 32) + 2;
        assert_eq!(p.unwrap_number(3, near), near + 1);
        assert_eq!(p.unwrap_number(u32::MAX, near), (1 << 32) - 1);
        assert_eq!(p.unwrap_number(u32::MAX, 0), 0, "saturates below 0");
    }

    #[test]
    fn writes_ahead_of_the_device_within_the_buffer_are_accepted() {
        let p = packets();
        let mut w = WritePackets::new();
        // Before RUN, position 0: packets 0 and 1 fit the buffer.
        assert_eq!(w.set_write_packet(Some(&p), 0, 0, 0, 0), Ok(0));
        assert_eq!(w.set_write_packet(Some(&p), 0, 1, 0, 0), Ok(1));
        assert_eq!(w.last(), Some(1));
        // Packet 0 in transfer: 1 is next, 2 takes packet 0's slot after it.
        assert_eq!(
            w.set_write_packet(Some(&p), 1, 2, 0, 0),
            Err(PacketError::Overrun)
        );
        // At the boundary packet 0 is done, 1 about to start: 2 fits, 3 does not.
        assert_eq!(w.set_write_packet(Some(&p), P, 2, 0, 0), Ok(2));
        assert_eq!(
            w.set_write_packet(Some(&p), P, 3, 0, 0),
            Err(PacketError::Overrun)
        );
        assert_eq!(w.last(), Some(2));
    }

    #[test]
    fn a_packet_the_device_has_begun_is_late() {
        let p = packets();
        let mut w = WritePackets::new();
        assert_eq!(
            w.set_write_packet(Some(&p), 1, 0, 0, 0),
            Err(PacketError::Late)
        );
        assert_eq!(
            w.set_write_packet(Some(&p), 3 * P, 1, 0, 0),
            Err(PacketError::Late)
        );
        assert_eq!(
            w.set_write_packet(Some(&p), 3 * P + 1, 3, 0, 0),
            Err(PacketError::Late)
        );
        assert_eq!(w.last(), None, "refusals change nothing");
        assert_eq!(PacketError::Late.status(), STATUS_DATA_LATE_ERROR);
        assert_eq!(PacketError::Overrun.status(), STATUS_DATA_OVERRUN);
    }

    #[test]
    fn the_end_of_the_stream_is_kept_and_ends_writing() {
        let p = packets();
        let mut w = WritePackets::new();
        assert_eq!(
            w.set_write_packet(Some(&p), 0, 0, EOS, 961),
            Err(PacketError::InvalidParameter)
        );
        assert_eq!(
            w.set_write_packet(Some(&p), 0, 0, 0x1, 0),
            Err(PacketError::InvalidParameter)
        );
        assert_eq!(w.set_write_packet(Some(&p), 0, 1, EOS, 100), Ok(1));
        assert_eq!(w.end_of_stream(), Some((1, 100)));
        assert_eq!(
            w.set_write_packet(Some(&p), 0, 1, 0, 0),
            Err(PacketError::AfterEndOfStream)
        );
        assert_eq!(
            PacketError::AfterEndOfStream.status(),
            STATUS_INVALID_DEVICE_STATE
        );
        // A length is ignored without the flag.
        let mut fresh = WritePackets::new();
        assert_eq!(fresh.set_write_packet(Some(&p), 0, 0, 0, u32::MAX), Ok(0));
    }

    #[test]
    fn without_packets_every_request_is_refused() {
        let mut w = WritePackets::new();
        let mut r = ReadPackets::new();
        assert_eq!(
            w.set_write_packet(None, 0, 0, 0, 0),
            Err(PacketError::NoPackets)
        );
        assert_eq!(r.read_packet(None, 10 * P), Err(PacketError::NoPackets));
        assert_eq!(PacketError::NoPackets.status(), STATUS_INVALID_DEVICE_STATE);
    }

    #[test]
    fn reads_hand_out_each_complete_packet_once_in_order() {
        let p = packets();
        let mut r = ReadPackets::new();
        assert_eq!(r.read_packet(Some(&p), P - 1), Err(PacketError::NotReady));
        let first = r.read_packet(Some(&p), P).unwrap();
        assert_eq!((first.packet, first.first_frame, first.more), (0, 0, false));
        assert_eq!(r.read_packet(Some(&p), P + 5), Err(PacketError::NotReady));
        assert_eq!(PacketError::NotReady.status(), STATUS_DEVICE_NOT_READY);
        // Two complete at once: MoreData, then the next.
        let second = r.read_packet(Some(&p), 3 * P).unwrap();
        assert_eq!(
            (second.packet, second.first_frame, second.more),
            (1, P, true)
        );
        let third = r.read_packet(Some(&p), 3 * P).unwrap();
        assert_eq!((third.packet, third.more), (2, false));
        assert_eq!(r.read_packet(Some(&p), 3 * P), Err(PacketError::NotReady));
    }

    #[test]
    fn packets_the_device_overwrote_are_skipped() {
        let p = packets();
        let mut r = ReadPackets::new();
        // At 2P exactly packets 0 and 1 are intact; once the device writes into packet 2
        // (slot 0), packet 0 is gone.
        assert_eq!(r.read_packet(Some(&p), 2 * P).unwrap().packet, 0);
        let mut slow = ReadPackets::new();
        let oldest = slow.read_packet(Some(&p), 2 * P + 1).unwrap();
        assert_eq!((oldest.packet, oldest.more), (1, false));
        let late = ReadPackets::new()
            .read_packet(Some(&p), 10 * P + 3)
            .unwrap();
        assert_eq!((late.packet, late.more), (9, false));
    }

    #[test]
    fn packet_numbers_wrap_at_32_bits() {
        let p = packets();
        let base = (1u64 << 32) - 1;
        let mut r = ReadPackets { next: base };
        let packet = r.read_packet(Some(&p), (base + 2) * P).unwrap();
        assert_eq!((packet.number(), packet.more), (u32::MAX, true));
        assert_eq!(r.read_packet(Some(&p), (base + 2) * P).unwrap().number(), 0);
        let mut w = WritePackets::new();
        assert_eq!(
            w.set_write_packet(Some(&p), (base + 1) * P, 0, 0, 0),
            Ok(base + 1)
        );
    }
}
