//! Kernel Streaming declarations a WaveRT miniport needs (`ks.h`, `ksmedia.h`, `mmreg.h`,
//! plus the endpoint property keys of `mmdeviceapi.h`).
//!
//! Layouts follow the 64-bit C ABI of the Windows headers; the traps are asserted at compile
//! time: [`KSIDENTIFIER`] and [`KSDATAFORMAT`] carry a `LONGLONG` alignment member (8-byte
//! alignment, so [`KSDATARANGE_AUDIO`] is 88 bytes, not 84), and [`WAVEFORMATEX`] /
//! [`WAVEFORMATEXTENSIBLE`] are byte-packed (read them with unaligned loads).
//!
//! Enumerations are `#[repr(transparent)]` wrappers around the C enum's `i32`; property ids are
//! plain `u32` constants because they are compared with the `Id` fields (`ULONG`).

use crate::GUID;
use core::ffi::c_void;
use core::marker::{PhantomData, PhantomPinned};

// ---------------------------------------------------------------------------------------------
// Identifiers and property requests
// ---------------------------------------------------------------------------------------------

/// `KSIDENTIFIER`: a property, method or event set plus an id and flags (24 bytes; the C
/// union with a `LONGLONG` member gives it 8-byte alignment).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSIDENTIFIER {
    /// The set GUID (`KSPROPSETID_*`, `KSMETHODSETID_*`, `KSEVENTSETID_*`).
    pub Set: GUID,
    /// The item id within the set.
    pub Id: u32,
    /// `KSPROPERTY_TYPE_*` / `KSMETHOD_TYPE_*` / `KSEVENT_TYPE_*` flags.
    pub Flags: u32,
}
/// `PKSIDENTIFIER`.
pub type PKSIDENTIFIER = *mut KSIDENTIFIER;
/// `KSPROPERTY`: a [`KSIDENTIFIER`] naming a property.
pub type KSPROPERTY = KSIDENTIFIER;
/// `PKSPROPERTY`.
pub type PKSPROPERTY = *mut KSPROPERTY;
/// `KSMETHOD`: a [`KSIDENTIFIER`] naming a method.
pub type KSMETHOD = KSIDENTIFIER;
/// `KSEVENT`: a [`KSIDENTIFIER`] naming an event.
pub type KSEVENT = KSIDENTIFIER;
/// `KSPIN_INTERFACE`: a [`KSIDENTIFIER`] naming a pin interface.
pub type KSPIN_INTERFACE = KSIDENTIFIER;
/// `KSPIN_MEDIUM`: a [`KSIDENTIFIER`] naming a pin medium.
pub type KSPIN_MEDIUM = KSIDENTIFIER;

/// `KSPROPERTY_TYPE_GET`: read the property.
pub const KSPROPERTY_TYPE_GET: u32 = 0x0000_0001;
/// `KSPROPERTY_TYPE_SET`: write the property.
pub const KSPROPERTY_TYPE_SET: u32 = 0x0000_0002;
/// `KSPROPERTY_TYPE_SETSUPPORT`: query whether the set is supported.
pub const KSPROPERTY_TYPE_SETSUPPORT: u32 = 0x0000_0100;
/// `KSPROPERTY_TYPE_BASICSUPPORT`: query access flags and value ranges.
pub const KSPROPERTY_TYPE_BASICSUPPORT: u32 = 0x0000_0200;
/// `KSPROPERTY_TYPE_RELATIONS`: query related properties.
pub const KSPROPERTY_TYPE_RELATIONS: u32 = 0x0000_0400;
/// `KSPROPERTY_TYPE_SERIALIZESET`: serialize the whole set.
pub const KSPROPERTY_TYPE_SERIALIZESET: u32 = 0x0000_0800;
/// `KSPROPERTY_TYPE_UNSERIALIZESET`: restore a serialized set.
pub const KSPROPERTY_TYPE_UNSERIALIZESET: u32 = 0x0000_1000;
/// `KSPROPERTY_TYPE_SERIALIZERAW`: serialize raw data.
pub const KSPROPERTY_TYPE_SERIALIZERAW: u32 = 0x0000_2000;
/// `KSPROPERTY_TYPE_UNSERIALIZERAW`: restore raw serialized data.
pub const KSPROPERTY_TYPE_UNSERIALIZERAW: u32 = 0x0000_4000;
/// `KSPROPERTY_TYPE_SERIALIZESIZE`: query the serialized size.
pub const KSPROPERTY_TYPE_SERIALIZESIZE: u32 = 0x0000_8000;
/// `KSPROPERTY_TYPE_DEFAULTVALUES`: query default values.
pub const KSPROPERTY_TYPE_DEFAULTVALUES: u32 = 0x0001_0000;
/// `KSPROPERTY_TYPE_TOPOLOGY`: the request addresses a topology node (`KSP_NODE` follows).
pub const KSPROPERTY_TYPE_TOPOLOGY: u32 = 0x1000_0000;

/// `KSMETHOD_TYPE_NONE`.
pub const KSMETHOD_TYPE_NONE: u32 = 0x0000_0000;
/// `KSMETHOD_TYPE_READ`: the method reads its buffer.
pub const KSMETHOD_TYPE_READ: u32 = 0x0000_0001;
/// `KSMETHOD_TYPE_WRITE`: the method writes its buffer.
pub const KSMETHOD_TYPE_WRITE: u32 = 0x0000_0002;
/// `KSMETHOD_TYPE_MODIFY`: read and write.
pub const KSMETHOD_TYPE_MODIFY: u32 = 0x0000_0003;
/// `KSMETHOD_TYPE_SOURCE`: the buffer is a source.
pub const KSMETHOD_TYPE_SOURCE: u32 = 0x0000_0004;
/// `KSMETHOD_TYPE_BASICSUPPORT`: query support.
pub const KSMETHOD_TYPE_BASICSUPPORT: u32 = 0x0000_0200;

/// `KSEVENT_TYPE_ENABLE`: enable the event.
pub const KSEVENT_TYPE_ENABLE: u32 = 0x0000_0001;
/// `KSEVENT_TYPE_ONESHOT`: enable the event for one signal.
pub const KSEVENT_TYPE_ONESHOT: u32 = 0x0000_0002;
/// `KSEVENT_TYPE_BASICSUPPORT`: query support.
pub const KSEVENT_TYPE_BASICSUPPORT: u32 = 0x0000_0200;

/// `KSP_PIN`: a property request addressed to one pin of a filter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSP_PIN {
    /// The property.
    pub Property: KSPROPERTY,
    /// The pin id (index in the filter's pin table).
    pub PinId: u32,
    /// Reserved, 0.
    pub Reserved: u32,
}
/// `PKSP_PIN`.
pub type PKSP_PIN = *mut KSP_PIN;

/// `KSP_NODE`: a property request addressed to one topology node.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSP_NODE {
    /// The property (with [`KSPROPERTY_TYPE_TOPOLOGY`] set).
    pub Property: KSPROPERTY,
    /// The node id.
    pub NodeId: u32,
    /// Reserved, 0.
    pub Reserved: u32,
}
/// `PKSP_NODE`.
pub type PKSP_NODE = *mut KSP_NODE;

/// `KSNODEPROPERTY`: the audio flavour of [`KSP_NODE`] (same layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSNODEPROPERTY {
    /// The property (with [`KSPROPERTY_TYPE_TOPOLOGY`] set).
    pub Property: KSPROPERTY,
    /// The node id.
    pub NodeId: u32,
    /// Reserved, 0.
    pub Reserved: u32,
}
/// `PKSNODEPROPERTY`.
pub type PKSNODEPROPERTY = *mut KSNODEPROPERTY;

/// `KSNODEPROPERTY_AUDIO_CHANNEL`: a node property for one channel (volume, mute).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSNODEPROPERTY_AUDIO_CHANNEL {
    /// The node property.
    pub NodeProperty: KSNODEPROPERTY,
    /// The channel (0-based; -1 addresses the master channel).
    pub Channel: i32,
    /// Reserved, 0.
    pub Reserved: u32,
}
/// `PKSNODEPROPERTY_AUDIO_CHANNEL`.
pub type PKSNODEPROPERTY_AUDIO_CHANNEL = *mut KSNODEPROPERTY_AUDIO_CHANNEL;

/// `KSMULTIPLE_ITEM`: the header in front of a variable list of items.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSMULTIPLE_ITEM {
    /// Total size in bytes, this header included.
    pub Size: u32,
    /// Number of items that follow.
    pub Count: u32,
}
/// `PKSMULTIPLE_ITEM`.
pub type PKSMULTIPLE_ITEM = *mut KSMULTIPLE_ITEM;

/// `KSPROPERTY_DESCRIPTION`: the head of a basic-support answer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSPROPERTY_DESCRIPTION {
    /// `KSPROPERTY_TYPE_*` flags saying which accesses are supported.
    pub AccessFlags: u32,
    /// Size of the whole answer (this description and the member lists).
    pub DescriptionSize: u32,
    /// The value type: set [`KSPROPTYPESETID_General`], id a `VARENUM` (`VT_I4`, ...).
    pub PropTypeSet: KSIDENTIFIER,
    /// Number of [`KSPROPERTY_MEMBERSHEADER`] lists that follow.
    pub MembersListCount: u32,
    /// Reserved, 0.
    pub Reserved: u32,
}
/// `PKSPROPERTY_DESCRIPTION`.
pub type PKSPROPERTY_DESCRIPTION = *mut KSPROPERTY_DESCRIPTION;

/// `KSPROPERTY_MEMBERSHEADER`: the head of one list of ranges or values.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSPROPERTY_MEMBERSHEADER {
    /// `KSPROPERTY_MEMBER_*`: what the list holds.
    pub MembersFlags: u32,
    /// Size of one member.
    pub MembersSize: u32,
    /// Number of members.
    pub MembersCount: u32,
    /// `KSPROPERTY_MEMBER_FLAG_*`.
    pub Flags: u32,
}
/// `PKSPROPERTY_MEMBERSHEADER`.
pub type PKSPROPERTY_MEMBERSHEADER = *mut KSPROPERTY_MEMBERSHEADER;

/// `KSPROPERTY_MEMBER_RANGES`: the members are ranges.
pub const KSPROPERTY_MEMBER_RANGES: u32 = 0x0000_0001;
/// `KSPROPERTY_MEMBER_STEPPEDRANGES`: the members are stepped ranges.
pub const KSPROPERTY_MEMBER_STEPPEDRANGES: u32 = 0x0000_0002;
/// `KSPROPERTY_MEMBER_VALUES`: the members are discrete values.
pub const KSPROPERTY_MEMBER_VALUES: u32 = 0x0000_0003;
/// `KSPROPERTY_MEMBER_FLAG_DEFAULT`: the list holds default values.
pub const KSPROPERTY_MEMBER_FLAG_DEFAULT: u32 = 0x0000_0001;
/// `KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL`: one member per channel.
pub const KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL: u32 = 0x0000_0002;
/// `KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_UNIFORM`: one member for all channels.
pub const KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_UNIFORM: u32 = 0x0000_0004;

/// The signed member of [`KSPROPERTY_BOUNDS_LONG`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSPROPERTY_BOUNDS_LONG_SIGNED {
    /// Lower bound.
    pub SignedMinimum: i32,
    /// Upper bound.
    pub SignedMaximum: i32,
}

/// The unsigned member of [`KSPROPERTY_BOUNDS_LONG`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KSPROPERTY_BOUNDS_LONG_UNSIGNED {
    /// Lower bound.
    pub UnsignedMinimum: u32,
    /// Upper bound.
    pub UnsignedMaximum: u32,
}

/// `KSPROPERTY_BOUNDS_LONG`: 32-bit bounds, signed or unsigned (8 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub union KSPROPERTY_BOUNDS_LONG {
    /// Signed bounds.
    pub Signed: KSPROPERTY_BOUNDS_LONG_SIGNED,
    /// Unsigned bounds.
    pub Unsigned: KSPROPERTY_BOUNDS_LONG_UNSIGNED,
}

impl core::fmt::Debug for KSPROPERTY_BOUNDS_LONG {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // SAFETY: both members are two 32-bit integers; every bit pattern is valid for either.
        let signed = unsafe { self.Signed };
        f.debug_struct("KSPROPERTY_BOUNDS_LONG")
            .field("SignedMinimum", &signed.SignedMinimum)
            .field("SignedMaximum", &signed.SignedMaximum)
            .finish()
    }
}

/// `KSPROPERTY_STEPPING_LONG`: one stepped range of 32-bit values.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KSPROPERTY_STEPPING_LONG {
    /// The step between valid values.
    pub SteppingDelta: u32,
    /// Reserved, 0.
    pub Reserved: u32,
    /// The range.
    pub Bounds: KSPROPERTY_BOUNDS_LONG,
}
/// `PKSPROPERTY_STEPPING_LONG`.
pub type PKSPROPERTY_STEPPING_LONG = *mut KSPROPERTY_STEPPING_LONG;

/// `VT_I4`: the `VARENUM` of a 32-bit signed value (for [`KSPROPERTY_DESCRIPTION::PropTypeSet`]).
pub const VT_I4: u32 = 3;
/// `VT_BOOL`: the `VARENUM` of a boolean value.
pub const VT_BOOL: u32 = 11;
/// `VT_UI4`: the `VARENUM` of a 32-bit unsigned value.
pub const VT_UI4: u32 = 19;

// ---------------------------------------------------------------------------------------------
// Data formats and ranges
// ---------------------------------------------------------------------------------------------

/// `KSDATAFORMAT` (also `KSDATARANGE`): the 64-byte head of every data format and range; the C
/// union with a `LONGLONG` member gives it 8-byte alignment.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSDATAFORMAT {
    /// Size in bytes of the whole format or range, this head included.
    pub FormatSize: u32,
    /// `KSDATAFORMAT_*` / `KSDATARANGE_*` flags.
    pub Flags: u32,
    /// Sample size in bytes (0 for variable-size samples).
    pub SampleSize: u32,
    /// Reserved, 0.
    pub Reserved: u32,
    /// Major format, e.g. [`KSDATAFORMAT_TYPE_AUDIO`].
    pub MajorFormat: GUID,
    /// Subformat, e.g. [`KSDATAFORMAT_SUBTYPE_PCM`].
    pub SubFormat: GUID,
    /// Specifier of what follows the head, e.g. [`KSDATAFORMAT_SPECIFIER_WAVEFORMATEX`].
    pub Specifier: GUID,
}
/// `PKSDATAFORMAT`.
pub type PKSDATAFORMAT = *mut KSDATAFORMAT;
/// `KSDATARANGE`: the same layout as [`KSDATAFORMAT`].
pub type KSDATARANGE = KSDATAFORMAT;
/// `PKSDATARANGE`.
pub type PKSDATARANGE = *mut KSDATARANGE;

/// `KSDATARANGE_AUDIO`: an audio data range (88 bytes: 84 of fields, padded to 8).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSDATARANGE_AUDIO {
    /// The common head; its `FormatSize` must be `size_of::<KSDATARANGE_AUDIO>()` (88).
    pub DataRange: KSDATARANGE,
    /// Maximum number of channels (`u32::MAX`: any).
    pub MaximumChannels: u32,
    /// Minimum bits per sample.
    pub MinimumBitsPerSample: u32,
    /// Maximum bits per sample.
    pub MaximumBitsPerSample: u32,
    /// Minimum sample rate in Hz.
    pub MinimumSampleFrequency: u32,
    /// Maximum sample rate in Hz.
    pub MaximumSampleFrequency: u32,
}
/// `PKSDATARANGE_AUDIO`.
pub type PKSDATARANGE_AUDIO = *mut KSDATARANGE_AUDIO;

/// `WAVEFORMATEX` (`mmreg.h`): 18 bytes, byte-packed; may sit at any address, so copy it out
/// with an unaligned read.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WAVEFORMATEX {
    /// `WAVE_FORMAT_*` tag.
    pub wFormatTag: u16,
    /// Number of channels.
    pub nChannels: u16,
    /// Sample rate in Hz.
    pub nSamplesPerSec: u32,
    /// Bytes per second (`nSamplesPerSec * nBlockAlign`).
    pub nAvgBytesPerSec: u32,
    /// Bytes per frame.
    pub nBlockAlign: u16,
    /// Bits per sample (container size).
    pub wBitsPerSample: u16,
    /// Size of the extra bytes that follow (22 for [`WAVEFORMATEXTENSIBLE`]).
    pub cbSize: u16,
}
/// `PWAVEFORMATEX`.
pub type PWAVEFORMATEX = *mut WAVEFORMATEX;

/// `WAVEFORMATEXTENSIBLE` (`mmreg.h`): 40 bytes, byte-packed.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
pub struct WAVEFORMATEXTENSIBLE {
    /// The basic format, with `wFormatTag` [`WAVE_FORMAT_EXTENSIBLE`] and `cbSize` 22.
    pub Format: WAVEFORMATEX,
    /// The `Samples` union: `wValidBitsPerSample` for PCM and float (all members are 16 bits).
    pub Samples: u16,
    /// `SPEAKER_*` bits of the channels present.
    pub dwChannelMask: u32,
    /// The subformat, e.g. [`KSDATAFORMAT_SUBTYPE_PCM`].
    pub SubFormat: GUID,
}
/// `PWAVEFORMATEXTENSIBLE`.
pub type PWAVEFORMATEXTENSIBLE = *mut WAVEFORMATEXTENSIBLE;

/// `WAVE_FORMAT_PCM`.
pub const WAVE_FORMAT_PCM: u16 = 0x0001;
/// `WAVE_FORMAT_IEEE_FLOAT`.
pub const WAVE_FORMAT_IEEE_FLOAT: u16 = 0x0003;
/// `WAVE_FORMAT_EXTENSIBLE`.
pub const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// `SPEAKER_FRONT_LEFT`.
pub const SPEAKER_FRONT_LEFT: u32 = 0x1;
/// `SPEAKER_FRONT_RIGHT`.
pub const SPEAKER_FRONT_RIGHT: u32 = 0x2;
/// `SPEAKER_FRONT_CENTER`.
pub const SPEAKER_FRONT_CENTER: u32 = 0x4;
/// `KSAUDIO_SPEAKER_MONO`: front center.
pub const KSAUDIO_SPEAKER_MONO: u32 = SPEAKER_FRONT_CENTER;
/// `KSAUDIO_SPEAKER_STEREO`: front left and right.
pub const KSAUDIO_SPEAKER_STEREO: u32 = SPEAKER_FRONT_LEFT | SPEAKER_FRONT_RIGHT;

// ---------------------------------------------------------------------------------------------
// Attributes and audio signal-processing modes
// ---------------------------------------------------------------------------------------------

/// `KSDATAFORMAT_ATTRIBUTES` (in [`KSDATAFORMAT::Flags`]): an attribute list follows the format,
/// at the next 8-byte boundary after `FormatSize` bytes: a [`KSMULTIPLE_ITEM`] (its `Size`
/// counts the header and every attribute) and `Count` attributes, each a [`KSATTRIBUTE`] header
/// and its data, each starting on an 8-byte boundary.
pub const KSDATAFORMAT_ATTRIBUTES: u32 = 1 << 1;
/// `KSDATARANGE_ATTRIBUTES` (in a data range's `Flags`): in the pin's `DataRanges` array the
/// next entry is not a range but a [`PKSATTRIBUTE_LIST`] naming the attributes the range
/// supports (and `DataRangesCount` counts that entry too).
pub const KSDATARANGE_ATTRIBUTES: u32 = 1 << 1;
/// `KSDATARANGE_REQUIRED_ATTRIBUTES`: the range's attribute list holds required attributes.
pub const KSDATARANGE_REQUIRED_ATTRIBUTES: u32 = 1 << 2;
/// `KSATTRIBUTE_REQUIRED` (in [`KSATTRIBUTE::Flags`]): a format must carry this attribute.
pub const KSATTRIBUTE_REQUIRED: u32 = 0x0000_0001;

/// `KSATTRIBUTE`: the header of one attribute (24 bytes, 4-byte alignment).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSATTRIBUTE {
    /// Bytes of the attribute, this header included.
    pub Size: u32,
    /// [`KSATTRIBUTE_REQUIRED`] or 0.
    pub Flags: u32,
    /// What the attribute is, e.g. [`KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE`].
    pub Attribute: GUID,
}
/// `PKSATTRIBUTE`.
pub type PKSATTRIBUTE = *mut KSATTRIBUTE;

/// `KSATTRIBUTE_LIST` (`ks.h`, kernel mode): the attributes a data range supports, as the entry
/// after a range flagged [`KSDATARANGE_ATTRIBUTES`] in a pin's `DataRanges` (16 bytes on
/// 64-bit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KSATTRIBUTE_LIST {
    /// Number of entries in `Attributes`.
    pub Count: u32,
    /// Pointers to the attributes.
    pub Attributes: *mut PKSATTRIBUTE,
}
/// `PKSATTRIBUTE_LIST`.
pub type PKSATTRIBUTE_LIST = *mut KSATTRIBUTE_LIST;

/// `KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE` (`ksmedia.h`): the signal-processing mode a client
/// asks for in a format's attribute list (40 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE {
    /// `Size` = 40, `Flags` 0, `Attribute` = [`KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE`].
    pub AttributeHeader: KSATTRIBUTE,
    /// The mode, e.g. [`AUDIO_SIGNALPROCESSINGMODE_DEFAULT`].
    pub SignalProcessingMode: GUID,
}
/// `PKSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE`.
pub type PKSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE = *mut KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE;

/// `KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE` {E1F89EB5-5F46-419B-967B-FF6770B98401}: the
/// attribute that names an audio signal-processing mode.
pub const KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE: GUID =
    GUID::from_u128(0xE1F8_9EB5_5F46_419B_967B_FF67_70B9_8401);
/// `AUDIO_SIGNALPROCESSINGMODE_DEFAULT` {C18E2F7E-933D-4965-B7D1-1EEF228D2AF3}: the device's
/// default processing (the mode of a format without attributes).
pub const AUDIO_SIGNALPROCESSINGMODE_DEFAULT: GUID =
    GUID::from_u128(0xC18E_2F7E_933D_4965_B7D1_1EEF_228D_2AF3);
/// `AUDIO_SIGNALPROCESSINGMODE_RAW` {9E90EA20-B493-4FD1-A1A8-7E1361A956CF}: no processing.
pub const AUDIO_SIGNALPROCESSINGMODE_RAW: GUID =
    GUID::from_u128(0x9E90_EA20_B493_4FD1_A1A8_7E13_61A9_56CF);
/// `AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS` {98951333-B9CD-48B1-A0A3-FF40682D73F7}:
/// processing tuned for voice calls.
pub const AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS: GUID =
    GUID::from_u128(0x9895_1333_B9CD_48B1_A0A3_FF40_682D_73F7);

// ---------------------------------------------------------------------------------------------
// Pins, topology, stream state
// ---------------------------------------------------------------------------------------------

/// `KSSTATE` (a C enum, 4 bytes): the state of a stream.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSSTATE(pub i32);
/// `KSSTATE_STOP`: no resources held, position 0.
pub const KSSTATE_STOP: KSSTATE = KSSTATE(0);
/// `KSSTATE_ACQUIRE`: resources acquired.
pub const KSSTATE_ACQUIRE: KSSTATE = KSSTATE(1);
/// `KSSTATE_PAUSE`: ready to run, position kept.
pub const KSSTATE_PAUSE: KSSTATE = KSSTATE(2);
/// `KSSTATE_RUN`: streaming.
pub const KSSTATE_RUN: KSSTATE = KSSTATE(3);
/// `PKSSTATE`.
pub type PKSSTATE = *mut KSSTATE;

/// `KSPIN_DATAFLOW` (a C enum, 4 bytes): the direction of data through a pin.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSPIN_DATAFLOW(pub i32);
/// `KSPIN_DATAFLOW_IN`: data flows into the filter.
pub const KSPIN_DATAFLOW_IN: KSPIN_DATAFLOW = KSPIN_DATAFLOW(1);
/// `KSPIN_DATAFLOW_OUT`: data flows out of the filter.
pub const KSPIN_DATAFLOW_OUT: KSPIN_DATAFLOW = KSPIN_DATAFLOW(2);

/// `KSPIN_COMMUNICATION` (a C enum, 4 bytes): how a pin connects.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KSPIN_COMMUNICATION(pub i32);
/// `KSPIN_COMMUNICATION_NONE`: no instances (bridge pins of audio filters).
pub const KSPIN_COMMUNICATION_NONE: KSPIN_COMMUNICATION = KSPIN_COMMUNICATION(0);
/// `KSPIN_COMMUNICATION_SINK`: instances are created on this pin.
pub const KSPIN_COMMUNICATION_SINK: KSPIN_COMMUNICATION = KSPIN_COMMUNICATION(1);
/// `KSPIN_COMMUNICATION_SOURCE`: the pin connects to a sink.
pub const KSPIN_COMMUNICATION_SOURCE: KSPIN_COMMUNICATION = KSPIN_COMMUNICATION(2);
/// `KSPIN_COMMUNICATION_BOTH`: sink and source.
pub const KSPIN_COMMUNICATION_BOTH: KSPIN_COMMUNICATION = KSPIN_COMMUNICATION(3);
/// `KSPIN_COMMUNICATION_BRIDGE`: a bridge to another filter.
pub const KSPIN_COMMUNICATION_BRIDGE: KSPIN_COMMUNICATION = KSPIN_COMMUNICATION(4);

/// `KSINTERFACE_STANDARD_STREAMING`: the id of the standard streaming interface.
pub const KSINTERFACE_STANDARD_STREAMING: u32 = 0;
/// `KSMEDIUM_TYPE_ANYINSTANCE`: the id of the standard device I/O medium.
pub const KSMEDIUM_TYPE_ANYINSTANCE: u32 = 0;

/// The constrained-ranges member of [`KSPIN_DESCRIPTOR_RESERVED`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KSPIN_DESCRIPTOR_CONSTRAINED {
    /// Number of constrained data ranges.
    pub ConstrainedDataRangesCount: u32,
    /// The constrained data ranges.
    pub ConstrainedDataRanges: *mut PKSDATARANGE,
}

/// The anonymous union at the end of [`KSPIN_DESCRIPTOR`] (16 bytes on 64-bit).
#[repr(C)]
#[derive(Clone, Copy)]
pub union KSPIN_DESCRIPTOR_RESERVED {
    /// Reserved, 0 (the usual choice).
    pub Reserved: i64,
    /// Constrained data ranges.
    pub Constrained: KSPIN_DESCRIPTOR_CONSTRAINED,
}

impl core::fmt::Debug for KSPIN_DESCRIPTOR_RESERVED {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KSPIN_DESCRIPTOR_RESERVED { .. }")
    }
}

/// `KSPIN_DESCRIPTOR`: the static description of one pin (88 bytes on 64-bit: the trailing
/// union holds a count and a pointer).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KSPIN_DESCRIPTOR {
    /// Number of entries in `Interfaces` (0: the standard streaming interface).
    pub InterfacesCount: u32,
    /// Supported interfaces, or null.
    pub Interfaces: *const KSPIN_INTERFACE,
    /// Number of entries in `Mediums` (0: the standard medium).
    pub MediumsCount: u32,
    /// Supported mediums, or null.
    pub Mediums: *const KSPIN_MEDIUM,
    /// Number of entries in `DataRanges`.
    pub DataRangesCount: u32,
    /// Pointers to the supported data ranges.
    pub DataRanges: *const PKSDATARANGE,
    /// Direction of data.
    pub DataFlow: KSPIN_DATAFLOW,
    /// How the pin connects.
    pub Communication: KSPIN_COMMUNICATION,
    /// Pin category (e.g. [`KSNODETYPE_SPEAKER`]), or null.
    pub Category: *const GUID,
    /// Pin name GUID (looked up under `MediaCategories`), or null.
    pub Name: *const GUID,
    /// Reserved (0) or the constrained data ranges.
    pub Constraints: KSPIN_DESCRIPTOR_RESERVED,
}
/// `PKSPIN_DESCRIPTOR`.
pub type PKSPIN_DESCRIPTOR = *mut KSPIN_DESCRIPTOR;

/// `KSTOPOLOGY_CONNECTION`: one edge of a filter's topology.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSTOPOLOGY_CONNECTION {
    /// Source node, or [`KSFILTER_NODE`] for a filter pin.
    pub FromNode: u32,
    /// Pin of the source node (or filter pin id).
    pub FromNodePin: u32,
    /// Destination node, or [`KSFILTER_NODE`] for a filter pin.
    pub ToNode: u32,
    /// Pin of the destination node (or filter pin id).
    pub ToNodePin: u32,
}
/// `PKSTOPOLOGY_CONNECTION`.
pub type PKSTOPOLOGY_CONNECTION = *mut KSTOPOLOGY_CONNECTION;

/// `KSFILTER_NODE`: the "node" id that stands for the filter itself.
pub const KSFILTER_NODE: u32 = 0xFFFF_FFFF;

/// `KSEVENT_ENTRY`: an event entry KS manages; only ever handled by pointer.
#[repr(C)]
#[derive(Debug)]
pub struct KSEVENT_ENTRY {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// `PKSEVENT_ENTRY`.
pub type PKSEVENT_ENTRY = *mut KSEVENT_ENTRY;

// ---------------------------------------------------------------------------------------------
// Audio property values
// ---------------------------------------------------------------------------------------------

/// `KSAUDIO_POSITION`: byte offsets within the cyclic buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSAUDIO_POSITION {
    /// Render: the offset the hardware plays; capture: the offset it records.
    pub PlayOffset: u64,
    /// Render: the offset the client wrote up to; capture: the offset the client read up to.
    pub WriteOffset: u64,
}
/// `PKSAUDIO_POSITION`.
pub type PKSAUDIO_POSITION = *mut KSAUDIO_POSITION;

/// `KSAUDIO_PRESENTATION_POSITION` (ksmedia.h): a stream position in blocks (frames, for PCM)
/// since the stream started, and the performance counter at which it was taken.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSAUDIO_PRESENTATION_POSITION {
    /// Blocks from the start of the stream to the position presented now.
    pub u64PositionInBlocks: u64,
    /// `KeQueryPerformanceCounter` when the position was taken.
    pub u64QPCPosition: u64,
}
/// `PKSAUDIO_PRESENTATION_POSITION`.
pub type PKSAUDIO_PRESENTATION_POSITION = *mut KSAUDIO_PRESENTATION_POSITION;

/// `KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM`: the last data of a stream (the only flag
/// `IMiniportWaveRTOutputStream::SetWritePacket` takes).
pub const KSSTREAM_HEADER_OPTIONSF_ENDOFSTREAM: u32 = 0x0000_0200;

/// `KSRTAUDIO_HWLATENCY`: the hardware latency a WaveRT stream reports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSRTAUDIO_HWLATENCY {
    /// FIFO size in bytes.
    pub FifoSize: u32,
    /// Chipset delay in 100-ns units.
    pub ChipsetDelay: u32,
    /// Codec delay in 100-ns units.
    pub CodecDelay: u32,
}
/// `PKSRTAUDIO_HWLATENCY`.
pub type PKSRTAUDIO_HWLATENCY = *mut KSRTAUDIO_HWLATENCY;

/// `KSRTAUDIO_HWREGISTER`: a hardware position or clock register mapped for the client.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KSRTAUDIO_HWREGISTER {
    /// The mapped register.
    pub Register: *mut c_void,
    /// Register width in bits.
    pub Width: u32,
    /// Clock numerator (clock registers).
    pub Numerator: u64,
    /// Clock denominator (clock registers).
    pub Denominator: u64,
    /// Accuracy.
    pub Accuracy: u32,
}
/// `PKSRTAUDIO_HWREGISTER`.
pub type PKSRTAUDIO_HWREGISTER = *mut KSRTAUDIO_HWREGISTER;

/// `EPcxConnectionType` (a C enum): the physical connector of a jack (the values of an HD
/// Audio pin's connection type).
pub type EPcxConnectionType = i32;
/// `eConnTypeUnknown`.
pub const eConnTypeUnknown: EPcxConnectionType = 0;
/// `eConnType3Point5mm`: a 3.5 mm jack.
pub const eConnType3Point5mm: EPcxConnectionType = 1;
/// `eConnTypeQuarter`: a quarter-inch jack.
pub const eConnTypeQuarter: EPcxConnectionType = 2;
/// `eConnTypeAtapiInternal`.
pub const eConnTypeAtapiInternal: EPcxConnectionType = 3;
/// `eConnTypeRCA`.
pub const eConnTypeRCA: EPcxConnectionType = 4;
/// `eConnTypeOptical`.
pub const eConnTypeOptical: EPcxConnectionType = 5;
/// `eConnTypeOtherDigital`.
pub const eConnTypeOtherDigital: EPcxConnectionType = 6;
/// `eConnTypeOtherAnalog`.
pub const eConnTypeOtherAnalog: EPcxConnectionType = 7;
/// `eConnTypeMultichannelAnalogDIN`.
pub const eConnTypeMultichannelAnalogDIN: EPcxConnectionType = 8;
/// `eConnTypeXlrProfessional`.
pub const eConnTypeXlrProfessional: EPcxConnectionType = 9;
/// `eConnTypeRJ11Modem`.
pub const eConnTypeRJ11Modem: EPcxConnectionType = 10;
/// `eConnTypeCombination`.
pub const eConnTypeCombination: EPcxConnectionType = 11;
/// `EPcxGeoLocation` (a C enum): where the jack is.
pub type EPcxGeoLocation = i32;
/// `eGeoLocRear`.
pub const eGeoLocRear: EPcxGeoLocation = 1;
/// `eGeoLocFront`.
pub const eGeoLocFront: EPcxGeoLocation = 2;
/// `eGeoLocLeft`.
pub const eGeoLocLeft: EPcxGeoLocation = 3;
/// `eGeoLocRight`.
pub const eGeoLocRight: EPcxGeoLocation = 4;
/// `eGeoLocTop`.
pub const eGeoLocTop: EPcxGeoLocation = 5;
/// `eGeoLocBottom`.
pub const eGeoLocBottom: EPcxGeoLocation = 6;
/// `eGeoLocRearPanel`.
pub const eGeoLocRearPanel: EPcxGeoLocation = 7;
/// `eGeoLocRiser`.
pub const eGeoLocRiser: EPcxGeoLocation = 8;
/// `eGeoLocInsideMobileLid`.
pub const eGeoLocInsideMobileLid: EPcxGeoLocation = 9;
/// `eGeoLocDrivebay`.
pub const eGeoLocDrivebay: EPcxGeoLocation = 10;
/// `eGeoLocHDMI`.
pub const eGeoLocHDMI: EPcxGeoLocation = 11;
/// `eGeoLocOutsideMobileLid`.
pub const eGeoLocOutsideMobileLid: EPcxGeoLocation = 12;
/// `eGeoLocATAPI`.
pub const eGeoLocATAPI: EPcxGeoLocation = 13;
/// `eGeoLocNotApplicable`: no location applies (mingw-w64 spells it `eGeoLocReserved5`).
pub const eGeoLocNotApplicable: EPcxGeoLocation = 14;
/// `EPcxGenLocation` (a C enum): the general location of the jack.
pub type EPcxGenLocation = i32;
/// `eGenLocPrimaryBox`.
pub const eGenLocPrimaryBox: EPcxGenLocation = 0;
/// `eGenLocInternal`.
pub const eGenLocInternal: EPcxGenLocation = 1;
/// `eGenLocSeparate`.
pub const eGenLocSeparate: EPcxGenLocation = 2;
/// `eGenLocOther`.
pub const eGenLocOther: EPcxGenLocation = 3;
/// `EPxcPortConnection` (a C enum, the header's spelling): jack or integrated device.
pub type EPxcPortConnection = i32;
/// `ePortConnJack`.
pub const ePortConnJack: EPxcPortConnection = 0;
/// `ePortConnIntegratedDevice`.
pub const ePortConnIntegratedDevice: EPxcPortConnection = 1;
/// `ePortConnBothIntegratedAndJack`.
pub const ePortConnBothIntegratedAndJack: EPxcPortConnection = 2;
/// `ePortConnUnknown`.
pub const ePortConnUnknown: EPxcPortConnection = 3;

/// `KSJACK_DESCRIPTION`: one entry of the jack description property (28 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSJACK_DESCRIPTION {
    /// `SPEAKER_*` bits of the channels on the jack.
    pub ChannelMapping: u32,
    /// Jack color as `0x00RRGGBB`.
    pub Color: u32,
    /// Connector type.
    pub ConnectionType: EPcxConnectionType,
    /// Geometric location.
    pub GeoLocation: EPcxGeoLocation,
    /// General location.
    pub GenLocation: EPcxGenLocation,
    /// Jack or integrated device.
    pub PortConnection: EPxcPortConnection,
    /// `BOOL`: something is plugged in (TRUE when presence is not detected).
    pub IsConnected: i32,
}
/// `PKSJACK_DESCRIPTION`.
pub type PKSJACK_DESCRIPTION = *mut KSJACK_DESCRIPTION;

/// `KSJACK_DESCRIPTION2`: one entry of the second jack description property.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KSJACK_DESCRIPTION2 {
    /// Device state (0: active).
    pub DeviceStateInfo: u32,
    /// `JACKDESC2_*` capability bits.
    pub JackCapabilities: u32,
}
/// `PKSJACK_DESCRIPTION2`.
pub type PKSJACK_DESCRIPTION2 = *mut KSJACK_DESCRIPTION2;

/// `JACKDESC2_PRESENCE_DETECT_CAPABILITY`: the jack detects presence.
pub const JACKDESC2_PRESENCE_DETECT_CAPABILITY: u32 = 0x0000_0001;
/// `JACKDESC2_DYNAMIC_FORMAT_CHANGE_CAPABILITY`: the jack supports dynamic format changes.
pub const JACKDESC2_DYNAMIC_FORMAT_CHANGE_CAPABILITY: u32 = 0x0000_0002;

// ---------------------------------------------------------------------------------------------
// Property ids
// ---------------------------------------------------------------------------------------------

/// `KSPROPERTY_PIN_CINSTANCES`.
pub const KSPROPERTY_PIN_CINSTANCES: u32 = 0;
/// `KSPROPERTY_PIN_CTYPES`.
pub const KSPROPERTY_PIN_CTYPES: u32 = 1;
/// `KSPROPERTY_PIN_DATAFLOW`.
pub const KSPROPERTY_PIN_DATAFLOW: u32 = 2;
/// `KSPROPERTY_PIN_DATARANGES`.
pub const KSPROPERTY_PIN_DATARANGES: u32 = 3;
/// `KSPROPERTY_PIN_DATAINTERSECTION`.
pub const KSPROPERTY_PIN_DATAINTERSECTION: u32 = 4;
/// `KSPROPERTY_PIN_INTERFACES`.
pub const KSPROPERTY_PIN_INTERFACES: u32 = 5;
/// `KSPROPERTY_PIN_MEDIUMS`.
pub const KSPROPERTY_PIN_MEDIUMS: u32 = 6;
/// `KSPROPERTY_PIN_COMMUNICATION`.
pub const KSPROPERTY_PIN_COMMUNICATION: u32 = 7;
/// `KSPROPERTY_PIN_GLOBALCINSTANCES`.
pub const KSPROPERTY_PIN_GLOBALCINSTANCES: u32 = 8;
/// `KSPROPERTY_PIN_NECESSARYINSTANCES`.
pub const KSPROPERTY_PIN_NECESSARYINSTANCES: u32 = 9;
/// `KSPROPERTY_PIN_PHYSICALCONNECTION`.
pub const KSPROPERTY_PIN_PHYSICALCONNECTION: u32 = 10;
/// `KSPROPERTY_PIN_CATEGORY`.
pub const KSPROPERTY_PIN_CATEGORY: u32 = 11;
/// `KSPROPERTY_PIN_NAME`.
pub const KSPROPERTY_PIN_NAME: u32 = 12;
/// `KSPROPERTY_PIN_CONSTRAINEDDATARANGES`.
pub const KSPROPERTY_PIN_CONSTRAINEDDATARANGES: u32 = 13;
/// `KSPROPERTY_PIN_PROPOSEDATAFORMAT`.
pub const KSPROPERTY_PIN_PROPOSEDATAFORMAT: u32 = 14;
/// `KSPROPERTY_PIN_PROPOSEDATAFORMAT2`.
pub const KSPROPERTY_PIN_PROPOSEDATAFORMAT2: u32 = 15;

/// `KSPROPERTY_AUDIO_VOLUMELEVEL` (in [`KSPROPSETID_Audio`]): volume in 1/65536 dB.
pub const KSPROPERTY_AUDIO_VOLUMELEVEL: u32 = 4;
/// `KSPROPERTY_AUDIO_POSITION` (in [`KSPROPSETID_Audio`]).
pub const KSPROPERTY_AUDIO_POSITION: u32 = 5;
/// `KSPROPERTY_AUDIO_MUTE` (in [`KSPROPSETID_Audio`]).
pub const KSPROPERTY_AUDIO_MUTE: u32 = 13;
/// `KSPROPERTY_AUDIO_PEAKMETER2` (in [`KSPROPSETID_Audio`]; Windows 8 and later): the peak
/// sample value at a peak-meter node since the last GET, linear, full scale = `LONG_MAX`.
pub const KSPROPERTY_AUDIO_PEAKMETER2: u32 = 55;

/// `KSPROPERTY_JACK_DESCRIPTION` (in [`KSPROPSETID_Jack`]).
pub const KSPROPERTY_JACK_DESCRIPTION: u32 = 1;
/// `KSPROPERTY_JACK_DESCRIPTION2` (in [`KSPROPSETID_Jack`]).
pub const KSPROPERTY_JACK_DESCRIPTION2: u32 = 2;

/// `KSPROPERTY_GENERAL_COMPONENTID` (in [`KSPROPSETID_General`]).
pub const KSPROPERTY_GENERAL_COMPONENTID: u32 = 0;

/// `KSPROPERTY_RTAUDIO_GETPOSITIONFUNCTION` (in [`KSPROPSETID_RtAudio`]).
pub const KSPROPERTY_RTAUDIO_GETPOSITIONFUNCTION: u32 = 0;
/// `KSPROPERTY_RTAUDIO_BUFFER`.
pub const KSPROPERTY_RTAUDIO_BUFFER: u32 = 1;
/// `KSPROPERTY_RTAUDIO_HWLATENCY`.
pub const KSPROPERTY_RTAUDIO_HWLATENCY: u32 = 2;
/// `KSPROPERTY_RTAUDIO_POSITIONREGISTER`.
pub const KSPROPERTY_RTAUDIO_POSITIONREGISTER: u32 = 3;
/// `KSPROPERTY_RTAUDIO_CLOCKREGISTER`.
pub const KSPROPERTY_RTAUDIO_CLOCKREGISTER: u32 = 4;
/// `KSPROPERTY_RTAUDIO_BUFFER_WITH_NOTIFICATION`.
pub const KSPROPERTY_RTAUDIO_BUFFER_WITH_NOTIFICATION: u32 = 5;
/// `KSPROPERTY_RTAUDIO_REGISTER_NOTIFICATION_EVENT`.
pub const KSPROPERTY_RTAUDIO_REGISTER_NOTIFICATION_EVENT: u32 = 6;
/// `KSPROPERTY_RTAUDIO_UNREGISTER_NOTIFICATION_EVENT`.
pub const KSPROPERTY_RTAUDIO_UNREGISTER_NOTIFICATION_EVENT: u32 = 7;
/// `KSPROPERTY_RTAUDIO_QUERY_NOTIFICATION_SUPPORT`.
pub const KSPROPERTY_RTAUDIO_QUERY_NOTIFICATION_SUPPORT: u32 = 8;

// ---------------------------------------------------------------------------------------------
// GUIDs
// ---------------------------------------------------------------------------------------------

/// `GUID_NULL`.
pub const GUID_NULL: GUID = GUID::from_u128(0);

/// `KSCATEGORY_AUDIO` {6994AD04-93EF-11D0-A3CC-00A0C9223196}.
pub const KSCATEGORY_AUDIO: GUID = GUID::from_u128(0x6994_AD04_93EF_11D0_A3CC_00A0_C922_3196);
/// `KSCATEGORY_RENDER` {65E8773E-8F56-11D0-A3B9-00A0C9223196}.
pub const KSCATEGORY_RENDER: GUID = GUID::from_u128(0x65E8_773E_8F56_11D0_A3B9_00A0_C922_3196);
/// `KSCATEGORY_CAPTURE` {65E8773D-8F56-11D0-A3B9-00A0C9223196}.
pub const KSCATEGORY_CAPTURE: GUID = GUID::from_u128(0x65E8_773D_8F56_11D0_A3B9_00A0_C922_3196);
/// `KSCATEGORY_REALTIME` {EB115FFC-10C8-4964-831D-6DCB02E6F23F}.
pub const KSCATEGORY_REALTIME: GUID = GUID::from_u128(0xEB11_5FFC_10C8_4964_831D_6DCB_02E6_F23F);
/// `KSCATEGORY_TOPOLOGY` {DDA54A40-1E4C-11D1-A050-405705C10000}.
pub const KSCATEGORY_TOPOLOGY: GUID = GUID::from_u128(0xDDA5_4A40_1E4C_11D1_A050_4057_05C1_0000);

/// `CLSID_Proxy`, the KS proxy {17CCA71B-ECD7-11D0-B908-00A0C9223196} (the `CLSID` value of
/// each device interface in the INF).
pub const CLSID_Proxy: GUID = GUID::from_u128(0x17CC_A71B_ECD7_11D0_B908_00A0_C922_3196);

/// `KSINTERFACESETID_Standard` {1A8766A0-62CE-11CF-A5D6-28DB04C10000}.
pub const KSINTERFACESETID_Standard: GUID =
    GUID::from_u128(0x1A87_66A0_62CE_11CF_A5D6_28DB_04C1_0000);
/// `KSMEDIUMSETID_Standard` {4747B320-62CE-11CF-A5D6-28DB04C10000}.
pub const KSMEDIUMSETID_Standard: GUID = GUID::from_u128(0x4747_B320_62CE_11CF_A5D6_28DB_04C1_0000);

/// `KSDATAFORMAT_TYPE_AUDIO` {73647561-0000-0010-8000-00AA00389B71}.
pub const KSDATAFORMAT_TYPE_AUDIO: GUID =
    GUID::from_u128(0x7364_7561_0000_0010_8000_00AA_0038_9B71);
/// `KSDATAFORMAT_SUBTYPE_PCM` {00000001-0000-0010-8000-00AA00389B71}.
pub const KSDATAFORMAT_SUBTYPE_PCM: GUID =
    GUID::from_u128(0x0000_0001_0000_0010_8000_00AA_0038_9B71);
/// `KSDATAFORMAT_SUBTYPE_IEEE_FLOAT` {00000003-0000-0010-8000-00AA00389B71}.
pub const KSDATAFORMAT_SUBTYPE_IEEE_FLOAT: GUID =
    GUID::from_u128(0x0000_0003_0000_0010_8000_00AA_0038_9B71);
/// `KSDATAFORMAT_SUBTYPE_ANALOG` {6DBA3190-67BD-11CF-A0F7-0020AFD156E4} (bridge pins).
pub const KSDATAFORMAT_SUBTYPE_ANALOG: GUID =
    GUID::from_u128(0x6DBA_3190_67BD_11CF_A0F7_0020_AFD1_56E4);
/// `KSDATAFORMAT_SPECIFIER_WAVEFORMATEX` {05589F81-C356-11CE-BF01-00AA0055595A}.
pub const KSDATAFORMAT_SPECIFIER_WAVEFORMATEX: GUID =
    GUID::from_u128(0x0558_9F81_C356_11CE_BF01_00AA_0055_595A);
/// `KSDATAFORMAT_SPECIFIER_NONE` {0F6417D6-C318-11D0-A43F-00A0C9223196}.
pub const KSDATAFORMAT_SPECIFIER_NONE: GUID =
    GUID::from_u128(0x0F64_17D6_C318_11D0_A43F_00A0_C922_3196);

/// `KSNODETYPE_ANY`: `GUID_NULL` (the endpoint association value in the INF).
pub const KSNODETYPE_ANY: GUID = GUID_NULL;
/// `KSNODETYPE_SPEAKER` {DFF21CE1-F70F-11D0-B917-00A0C9223196}.
pub const KSNODETYPE_SPEAKER: GUID = GUID::from_u128(0xDFF2_1CE1_F70F_11D0_B917_00A0_C922_3196);
/// `KSNODETYPE_MICROPHONE` {DFF21BE1-F70F-11D0-B917-00A0C9223196}.
pub const KSNODETYPE_MICROPHONE: GUID = GUID::from_u128(0xDFF2_1BE1_F70F_11D0_B917_00A0_C922_3196);
/// `KSNODETYPE_VOLUME` {3A5ACC00-C557-11D0-8A2B-00A0C9255AC1}.
pub const KSNODETYPE_VOLUME: GUID = GUID::from_u128(0x3A5A_CC00_C557_11D0_8A2B_00A0_C925_5AC1);
/// `KSNODETYPE_MUTE` {02B223C0-C557-11D0-8A2B-00A0C9255AC1}.
pub const KSNODETYPE_MUTE: GUID = GUID::from_u128(0x02B2_23C0_C557_11D0_8A2B_00A0_C925_5AC1);
/// `KSNODETYPE_PEAKMETER` {A085651E-5F0D-4B36-A869-D195D6AB4B9E}.
pub const KSNODETYPE_PEAKMETER: GUID = GUID::from_u128(0xA085_651E_5F0D_4B36_A869_D195_D6AB_4B9E);
/// `KSAUDFNAME_PEAKMETER` {57E24340-FC5B-4612-A562-72B11A29DFAE}.
pub const KSAUDFNAME_PEAKMETER: GUID = GUID::from_u128(0x57E2_4340_FC5B_4612_A562_72B1_1A29_DFAE);

/// `KSAUDFNAME_MASTER_VOLUME` {185FEDE3-9905-11D1-95A9-00C04FB925D3}.
pub const KSAUDFNAME_MASTER_VOLUME: GUID =
    GUID::from_u128(0x185F_EDE3_9905_11D1_95A9_00C0_4FB9_25D3);
/// `KSAUDFNAME_MASTER_MUTE` {185FEDE4-9905-11D1-95A9-00C04FB925D3}.
pub const KSAUDFNAME_MASTER_MUTE: GUID = GUID::from_u128(0x185F_EDE4_9905_11D1_95A9_00C0_4FB9_25D3);

/// `KSPROPSETID_Pin` {8C134960-51AD-11CF-878A-94F801C10000}.
pub const KSPROPSETID_Pin: GUID = GUID::from_u128(0x8C13_4960_51AD_11CF_878A_94F8_01C1_0000);
/// `KSPROPSETID_Audio` {45FFAAA0-6E1B-11D0-BCF2-444553540000}.
pub const KSPROPSETID_Audio: GUID = GUID::from_u128(0x45FF_AAA0_6E1B_11D0_BCF2_4445_5354_0000);
/// `KSPROPSETID_Jack` {4509F757-2D46-4637-8E62-CE7DB944F57B}.
pub const KSPROPSETID_Jack: GUID = GUID::from_u128(0x4509_F757_2D46_4637_8E62_CE7D_B944_F57B);
/// `KSEVENTSETID_PinCapsChange` {DD4F192E-3B78-49AD-A534-2C315B822000}: a pin's formats or
/// jack changed.
pub const KSEVENTSETID_PinCapsChange: GUID =
    GUID::from_u128(0xDD4F_192E_3B78_49AD_A534_2C31_5B82_2000);
/// `KSEVENT_PINCAPS_FORMATCHANGE`.
pub const KSEVENT_PINCAPS_FORMATCHANGE: u32 = 0;
/// `KSEVENT_PINCAPS_JACKINFOCHANGE`: the jack description of a pin changed (something was
/// plugged in or pulled out).
pub const KSEVENT_PINCAPS_JACKINFOCHANGE: u32 = 1;
/// `KSPROPSETID_General` {1464EDA5-6A8F-11D1-9AA7-00A0C9223196}.
pub const KSPROPSETID_General: GUID = GUID::from_u128(0x1464_EDA5_6A8F_11D1_9AA7_00A0_C922_3196);
/// `KSPROPSETID_RtAudio` {A855A48C-2F78-4729-9051-1968746B9EEF}.
pub const KSPROPSETID_RtAudio: GUID = GUID::from_u128(0xA855_A48C_2F78_4729_9051_1968_746B_9EEF);
/// `KSPROPTYPESETID_General` {97E99BA0-BDEA-11CF-A5D6-28DB04C10000}: the type set of
/// [`KSPROPERTY_DESCRIPTION::PropTypeSet`].
pub const KSPROPTYPESETID_General: GUID =
    GUID::from_u128(0x97E9_9BA0_BDEA_11CF_A5D6_28DB_04C1_0000);

// ---------------------------------------------------------------------------------------------
// Endpoint property keys (mmdeviceapi.h), written by the INF
// ---------------------------------------------------------------------------------------------

/// `PROPERTYKEY`: a property set GUID plus a property id (20 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PROPERTYKEY {
    /// The property set (`FMTID`).
    pub fmtid: GUID,
    /// The property id within the set.
    pub pid: u32,
}

/// The property set of the `PKEY_AudioEndpoint_*` keys {1DA5D803-D492-4EDD-8C23-E0C0FFEE7F0E}.
pub const FMTID_AudioEndpoint: GUID = GUID::from_u128(0x1DA5_D803_D492_4EDD_8C23_E0C0_FFEE_7F0E);
/// The property set of `PKEY_AudioEngine_OEMFormat` {E4870E26-3CC5-4CD2-BA46-CA0A9A70ED04}.
pub const FMTID_AudioEngine_OEMFormat: GUID =
    GUID::from_u128(0xE487_0E26_3CC5_4CD2_BA46_CA0A_9A70_ED04);
/// The property set of `PKEY_AudioDevice_EnableEndpointByDefault`
/// {F3E80BEF-1723-4FF2-BCC4-7F83DC5E46D4}.
pub const FMTID_AudioDevice_EnableEndpointByDefault: GUID =
    GUID::from_u128(0xF3E8_0BEF_1723_4FF2_BCC4_7F83_DC5E_46D4);

/// `PKEY_AudioEndpoint_Association`: the KS node type the endpoint stands for.
pub const PKEY_AudioEndpoint_Association: PROPERTYKEY = PROPERTYKEY {
    fmtid: FMTID_AudioEndpoint,
    pid: 2,
};
/// `PKEY_AudioEndpoint_Supports_EventDriven_Mode`: the endpoint supports event-driven streaming.
pub const PKEY_AudioEndpoint_Supports_EventDriven_Mode: PROPERTYKEY = PROPERTYKEY {
    fmtid: FMTID_AudioEndpoint,
    pid: 7,
};
/// `PKEY_AudioEngine_OEMFormat`: the default device format, as a `WAVEFORMATEXTENSIBLE` blob.
pub const PKEY_AudioEngine_OEMFormat: PROPERTYKEY = PROPERTYKEY {
    fmtid: FMTID_AudioEngine_OEMFormat,
    pid: 3,
};
/// `PKEY_AudioDevice_EnableEndpointByDefault`: which endpoints are enabled on install.
pub const PKEY_AudioDevice_EnableEndpointByDefault: PROPERTYKEY = PROPERTYKEY {
    fmtid: FMTID_AudioDevice_EnableEndpointByDefault,
    pid: 4,
};

#[cfg(target_pointer_width = "64")]
mod layout {
    use super::{
        KSATTRIBUTE, KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE, KSATTRIBUTE_LIST, KSAUDIO_POSITION,
        KSDATAFORMAT, KSDATARANGE_AUDIO, KSIDENTIFIER, KSJACK_DESCRIPTION, KSJACK_DESCRIPTION2,
        KSMULTIPLE_ITEM, KSNODEPROPERTY, KSNODEPROPERTY_AUDIO_CHANNEL, KSP_NODE, KSP_PIN,
        KSPIN_COMMUNICATION, KSPIN_DATAFLOW, KSPIN_DESCRIPTOR, KSPIN_DESCRIPTOR_RESERVED,
        KSPROPERTY_BOUNDS_LONG, KSPROPERTY_DESCRIPTION, KSPROPERTY_MEMBERSHEADER,
        KSPROPERTY_STEPPING_LONG, KSRTAUDIO_HWLATENCY, KSRTAUDIO_HWREGISTER, KSSTATE,
        KSTOPOLOGY_CONNECTION, PROPERTYKEY, WAVEFORMATEX, WAVEFORMATEXTENSIBLE,
    };
    use core::mem::{align_of, offset_of, size_of};

    // Every value below was compared with the mingw-w64 headers by a C compiler
    // (x86_64-w64-mingw32), except where a comment says otherwise.
    const _: () = assert!(size_of::<KSIDENTIFIER>() == 24 && align_of::<KSIDENTIFIER>() == 8);
    const _: () = assert!(offset_of!(KSIDENTIFIER, Id) == 16);
    const _: () = assert!(offset_of!(KSIDENTIFIER, Flags) == 20);
    const _: () = assert!(size_of::<KSP_PIN>() == 32 && align_of::<KSP_PIN>() == 8);
    const _: () = assert!(offset_of!(KSP_PIN, PinId) == 24);
    const _: () = assert!(offset_of!(KSP_PIN, Reserved) == 28);
    const _: () = assert!(size_of::<KSP_NODE>() == 32);
    const _: () = assert!(offset_of!(KSP_NODE, NodeId) == 24);
    const _: () = assert!(size_of::<KSNODEPROPERTY>() == 32);
    const _: () = assert!(offset_of!(KSNODEPROPERTY, NodeId) == 24);
    const _: () = assert!(size_of::<KSNODEPROPERTY_AUDIO_CHANNEL>() == 40);
    const _: () = assert!(offset_of!(KSNODEPROPERTY_AUDIO_CHANNEL, Channel) == 32);
    const _: () = assert!(offset_of!(KSNODEPROPERTY_AUDIO_CHANNEL, Reserved) == 36);
    const _: () = assert!(size_of::<KSMULTIPLE_ITEM>() == 8);
    const _: () = assert!(size_of::<KSPROPERTY_DESCRIPTION>() == 40);
    const _: () = assert!(offset_of!(KSPROPERTY_DESCRIPTION, PropTypeSet) == 8);
    const _: () = assert!(offset_of!(KSPROPERTY_DESCRIPTION, MembersListCount) == 32);
    const _: () = assert!(size_of::<KSPROPERTY_MEMBERSHEADER>() == 16);
    const _: () = assert!(offset_of!(KSPROPERTY_MEMBERSHEADER, Flags) == 12);
    const _: () = assert!(size_of::<KSPROPERTY_BOUNDS_LONG>() == 8);
    const _: () = assert!(size_of::<KSPROPERTY_STEPPING_LONG>() == 16);
    const _: () = assert!(offset_of!(KSPROPERTY_STEPPING_LONG, Bounds) == 8);
    const _: () = assert!(size_of::<KSDATAFORMAT>() == 64 && align_of::<KSDATAFORMAT>() == 8);
    const _: () = assert!(offset_of!(KSDATAFORMAT, MajorFormat) == 16);
    const _: () = assert!(offset_of!(KSDATAFORMAT, SubFormat) == 32);
    const _: () = assert!(offset_of!(KSDATAFORMAT, Specifier) == 48);
    const _: () = assert!(size_of::<KSDATARANGE_AUDIO>() == 88);
    const _: () = assert!(align_of::<KSDATARANGE_AUDIO>() == 8);
    const _: () = assert!(offset_of!(KSDATARANGE_AUDIO, MaximumChannels) == 64);
    const _: () = assert!(offset_of!(KSDATARANGE_AUDIO, MaximumSampleFrequency) == 80);
    const _: () = assert!(size_of::<WAVEFORMATEX>() == 18 && align_of::<WAVEFORMATEX>() == 1);
    const _: () = assert!(offset_of!(WAVEFORMATEX, nSamplesPerSec) == 4);
    const _: () = assert!(offset_of!(WAVEFORMATEX, nAvgBytesPerSec) == 8);
    const _: () = assert!(offset_of!(WAVEFORMATEX, nBlockAlign) == 12);
    const _: () = assert!(offset_of!(WAVEFORMATEX, wBitsPerSample) == 14);
    const _: () = assert!(offset_of!(WAVEFORMATEX, cbSize) == 16);
    const _: () = assert!(size_of::<WAVEFORMATEXTENSIBLE>() == 40);
    const _: () = assert!(align_of::<WAVEFORMATEXTENSIBLE>() == 1);
    const _: () = assert!(offset_of!(WAVEFORMATEXTENSIBLE, Samples) == 18);
    const _: () = assert!(offset_of!(WAVEFORMATEXTENSIBLE, dwChannelMask) == 20);
    const _: () = assert!(offset_of!(WAVEFORMATEXTENSIBLE, SubFormat) == 24);
    const _: () = assert!(size_of::<KSSTATE>() == 4);
    const _: () = assert!(size_of::<KSPIN_DATAFLOW>() == 4);
    const _: () = assert!(size_of::<KSPIN_COMMUNICATION>() == 4);
    const _: () = assert!(size_of::<KSPIN_DESCRIPTOR>() == 88);
    const _: () = assert!(align_of::<KSPIN_DESCRIPTOR>() == 8);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, Interfaces) == 8);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, MediumsCount) == 16);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, Mediums) == 24);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, DataRangesCount) == 32);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, DataRanges) == 40);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, DataFlow) == 48);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, Communication) == 52);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, Category) == 56);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, Name) == 64);
    const _: () = assert!(offset_of!(KSPIN_DESCRIPTOR, Constraints) == 72);
    const _: () = assert!(size_of::<KSPIN_DESCRIPTOR_RESERVED>() == 16);
    const _: () = assert!(size_of::<KSTOPOLOGY_CONNECTION>() == 16);
    const _: () = assert!(offset_of!(KSTOPOLOGY_CONNECTION, ToNodePin) == 12);
    const _: () = assert!(size_of::<KSAUDIO_POSITION>() == 16);
    const _: () = assert!(offset_of!(KSAUDIO_POSITION, WriteOffset) == 8);
    const _: () = assert!(size_of::<super::KSAUDIO_PRESENTATION_POSITION>() == 16);
    const _: () = assert!(offset_of!(super::KSAUDIO_PRESENTATION_POSITION, u64QPCPosition) == 8);
    const _: () = assert!(size_of::<KSJACK_DESCRIPTION>() == 28);
    const _: () = assert!(offset_of!(KSJACK_DESCRIPTION, IsConnected) == 24);
    const _: () = assert!(size_of::<KSJACK_DESCRIPTION2>() == 8);
    const _: () = assert!(size_of::<PROPERTYKEY>() == 20);
    const _: () = assert!(size_of::<KSATTRIBUTE>() == 24 && align_of::<KSATTRIBUTE>() == 4);
    const _: () = assert!(offset_of!(KSATTRIBUTE, Flags) == 4);
    const _: () = assert!(offset_of!(KSATTRIBUTE, Attribute) == 8);
    const _: () = assert!(size_of::<KSATTRIBUTE_LIST>() == 16);
    const _: () = assert!(offset_of!(KSATTRIBUTE_LIST, Attributes) == 8);
    // mingw-w64 does not declare this one; the layout follows the documented field list.
    const _: () = assert!(size_of::<KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE>() == 40);
    const _: () =
        assert!(offset_of!(KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE, SignalProcessingMode) == 24);
    const _: () = assert!(offset_of!(PROPERTYKEY, pid) == 16);
    // mingw-w64 does not declare these two; the values follow the documented field lists.
    const _: () = assert!(size_of::<KSRTAUDIO_HWLATENCY>() == 12);
    const _: () = assert!(offset_of!(KSRTAUDIO_HWLATENCY, CodecDelay) == 8);
    const _: () = assert!(size_of::<KSRTAUDIO_HWREGISTER>() == 40);
    const _: () = assert!(offset_of!(KSRTAUDIO_HWREGISTER, Width) == 8);
    const _: () = assert!(offset_of!(KSRTAUDIO_HWREGISTER, Numerator) == 16);
    const _: () = assert!(offset_of!(KSRTAUDIO_HWREGISTER, Denominator) == 24);
    const _: () = assert!(offset_of!(KSRTAUDIO_HWREGISTER, Accuracy) == 32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::parse_registry_form;

    #[test]
    fn guid_values_match_the_reference_sheet() {
        let cases = [
            (KSCATEGORY_AUDIO, "{6994AD04-93EF-11D0-A3CC-00A0C9223196}"),
            (KSCATEGORY_RENDER, "{65E8773E-8F56-11D0-A3B9-00A0C9223196}"),
            (KSCATEGORY_CAPTURE, "{65E8773D-8F56-11D0-A3B9-00A0C9223196}"),
            (
                KSCATEGORY_REALTIME,
                "{EB115FFC-10C8-4964-831D-6DCB02E6F23F}",
            ),
            (
                KSCATEGORY_TOPOLOGY,
                "{DDA54A40-1E4C-11D1-A050-405705C10000}",
            ),
            (CLSID_Proxy, "{17CCA71B-ECD7-11D0-B908-00A0C9223196}"),
            (
                KSINTERFACESETID_Standard,
                "{1A8766A0-62CE-11CF-A5D6-28DB04C10000}",
            ),
            (
                KSMEDIUMSETID_Standard,
                "{4747B320-62CE-11CF-A5D6-28DB04C10000}",
            ),
            (
                KSDATAFORMAT_TYPE_AUDIO,
                "{73647561-0000-0010-8000-00AA00389B71}",
            ),
            (
                KSDATAFORMAT_SUBTYPE_PCM,
                "{00000001-0000-0010-8000-00AA00389B71}",
            ),
            (
                KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
                "{00000003-0000-0010-8000-00AA00389B71}",
            ),
            (
                KSDATAFORMAT_SUBTYPE_ANALOG,
                "{6DBA3190-67BD-11CF-A0F7-0020AFD156E4}",
            ),
            (
                KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
                "{05589F81-C356-11CE-BF01-00AA0055595A}",
            ),
            (
                KSDATAFORMAT_SPECIFIER_NONE,
                "{0F6417D6-C318-11D0-A43F-00A0C9223196}",
            ),
            (KSNODETYPE_ANY, "{00000000-0000-0000-0000-000000000000}"),
            (KSNODETYPE_SPEAKER, "{DFF21CE1-F70F-11D0-B917-00A0C9223196}"),
            (
                KSNODETYPE_MICROPHONE,
                "{DFF21BE1-F70F-11D0-B917-00A0C9223196}",
            ),
            (KSNODETYPE_VOLUME, "{3A5ACC00-C557-11D0-8A2B-00A0C9255AC1}"),
            (KSNODETYPE_MUTE, "{02B223C0-C557-11D0-8A2B-00A0C9255AC1}"),
            (
                KSNODETYPE_PEAKMETER,
                "{A085651E-5F0D-4B36-A869-D195D6AB4B9E}",
            ),
            (
                KSAUDFNAME_PEAKMETER,
                "{57E24340-FC5B-4612-A562-72B11A29DFAE}",
            ),
            (
                KSAUDFNAME_MASTER_VOLUME,
                "{185FEDE3-9905-11D1-95A9-00C04FB925D3}",
            ),
            (
                KSAUDFNAME_MASTER_MUTE,
                "{185FEDE4-9905-11D1-95A9-00C04FB925D3}",
            ),
            (KSPROPSETID_Pin, "{8C134960-51AD-11CF-878A-94F801C10000}"),
            (KSPROPSETID_Audio, "{45FFAAA0-6E1B-11D0-BCF2-444553540000}"),
            (KSPROPSETID_Jack, "{4509F757-2D46-4637-8E62-CE7DB944F57B}"),
            (
                KSPROPSETID_General,
                "{1464EDA5-6A8F-11D1-9AA7-00A0C9223196}",
            ),
            (
                KSPROPSETID_RtAudio,
                "{A855A48C-2F78-4729-9051-1968746B9EEF}",
            ),
            (
                KSPROPTYPESETID_General,
                "{97E99BA0-BDEA-11CF-A5D6-28DB04C10000}",
            ),
            (
                FMTID_AudioEndpoint,
                "{1DA5D803-D492-4EDD-8C23-E0C0FFEE7F0E}",
            ),
            (
                FMTID_AudioEngine_OEMFormat,
                "{E4870E26-3CC5-4CD2-BA46-CA0A9A70ED04}",
            ),
            (
                FMTID_AudioDevice_EnableEndpointByDefault,
                "{F3E80BEF-1723-4FF2-BCC4-7F83DC5E46D4}",
            ),
        ];
        for (guid, text) in cases {
            assert_eq!(guid.to_u128(), parse_registry_form(text), "{text}");
        }
    }

    #[test]
    fn property_keys_pair_the_documented_set_and_id() {
        assert_eq!(PKEY_AudioEndpoint_Association.fmtid, FMTID_AudioEndpoint);
        assert_eq!(PKEY_AudioEndpoint_Association.pid, 2);
        assert_eq!(
            PKEY_AudioEndpoint_Supports_EventDriven_Mode.fmtid,
            FMTID_AudioEndpoint
        );
        assert_eq!(PKEY_AudioEndpoint_Supports_EventDriven_Mode.pid, 7);
        assert_eq!(PKEY_AudioEngine_OEMFormat.pid, 3);
        assert_eq!(PKEY_AudioDevice_EnableEndpointByDefault.pid, 4);
    }

    #[test]
    fn signal_processing_guids_match_the_documented_values() {
        let cases = [
            (
                KSATTRIBUTEID_AUDIOSIGNALPROCESSING_MODE,
                "{E1F89EB5-5F46-419B-967B-FF6770B98401}",
            ),
            (
                AUDIO_SIGNALPROCESSINGMODE_DEFAULT,
                "{C18E2F7E-933D-4965-B7D1-1EEF228D2AF3}",
            ),
            (
                AUDIO_SIGNALPROCESSINGMODE_RAW,
                "{9E90EA20-B493-4FD1-A1A8-7E1361A956CF}",
            ),
            (
                AUDIO_SIGNALPROCESSINGMODE_COMMUNICATIONS,
                "{98951333-B9CD-48B1-A0A3-FF40682D73F7}",
            ),
        ];
        for (guid, text) in cases {
            assert_eq!(guid.to_u128(), parse_registry_form(text), "{text}");
        }
    }

    #[test]
    fn attribute_flags_and_sizes_have_their_header_values() {
        assert_eq!(KSDATAFORMAT_ATTRIBUTES, 2);
        assert_eq!(KSDATARANGE_ATTRIBUTES, 2);
        assert_eq!(KSDATARANGE_REQUIRED_ATTRIBUTES, 4);
        assert_eq!(KSATTRIBUTE_REQUIRED, 1);
        assert_eq!(core::mem::size_of::<KSATTRIBUTE>(), 24);
        assert_eq!(
            core::mem::size_of::<KSATTRIBUTE_AUDIOSIGNALPROCESSING_MODE>(),
            40
        );
    }

    #[test]
    fn data_range_audio_size_is_the_format_size_portcls_expects() {
        assert_eq!(core::mem::size_of::<KSDATARANGE_AUDIO>(), 88);
        assert_eq!(core::mem::size_of::<KSDATAFORMAT>() + 18, 82);
        assert_eq!(KSAUDIO_SPEAKER_STEREO, 0x3);
        assert_eq!(KSPROPERTY_TYPE_BASICSUPPORT, 0x200);
        assert_eq!(KSPROPERTY_TYPE_TOPOLOGY, 0x1000_0000);
    }
}
