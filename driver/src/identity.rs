//! The names and identifiers the driver and its INF (`inf/wavertsample.inx`) must agree on.
//!
//! Windows matches the two sides by text and by GUID, and a mismatch fails quietly: an
//! `AddInterface` reference string that differs from the name passed to `PcRegisterSubdevice`
//! means setup does not load the driver, a missing category means the audio endpoint builder
//! never sees the filter. This module is the single source of those facts; the driver reads its
//! subdevice names from here and the test `tests/inf.rs` checks the INF template against it.
//!
//! GUIDs are `u128` values in *registry order*: the hexadecimal digits of the value read in the
//! same order as the braced text form, so `{6994AD04-93EF-11D0-A3CC-00A0C9223196}` is
//! `0x6994AD04_93EF_11D0_A3CC_00A0C9223196`. [`RegistryGuid`] prints that text form.
//!
//! Only `core` is used: no FFI, no `unsafe`, no allocation.

use core::fmt;

/// The service name, which is also the stem of the driver image's file name.
pub const SERVICE_NAME: &str = "wavertsample";

/// The file name of the driver image (`SERVICE_NAME` + `.sys`).
pub const IMAGE_NAME: &str = "wavertsample.sys";

/// The file name of the driver package's catalog.
pub const CATALOG_NAME: &str = "wavertsample.cat";

/// The hardware ID of the root-enumerated device (create it with `pnputil /add-device` or
/// `devcon install`). Windows compares hardware IDs without regard to case.
pub const HARDWARE_ID: &str = "ROOT\\WaveRtSample";

/// The hardware ID the INF binds a virtio-sound PCI function with: vendor `0x1AF4`, device
/// `0x1059` (a modern virtio device is `0x1040` plus its virtio device ID, 25 for sound). The
/// PCI bus reports it among the function's IDs (Windows 10 lists it with the compatible IDs,
/// after the forms with `SUBSYS_` and `REV_`), so it matches every such function. Only this
/// binding enables message-signaled interrupts (the INF's `.HW` section).
pub const PCI_HARDWARE_ID: &str = "PCI\\VEN_1AF4&DEV_1059";

/// The CLSID of the KS proxy (`ksproxy.ax`), which every audio filter interface names as its
/// `CLSID` value.
pub const KS_PROXY_CLSID: u128 = 0x17CC_A71B_ECD7_11D0_B908_00A0_C922_3196;

/// `KSNODETYPE_ANY` (`GUID_NULL`): the value of [`PKEY_AUDIO_ENDPOINT_ASSOCIATION`] for an
/// endpoint that is not tied to a particular node type.
pub const KSNODETYPE_ANY: u128 = 0;

/// The registry key, relative to a topology filter's interface key, that holds the properties
/// of the filter's first (here: only) endpoint.
pub const ENDPOINT_KEY: &str = "EP\\0";

/// A property key (`PROPERTYKEY`): a format ID and a property ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PropertyKey {
    /// The format ID, in registry order.
    pub fmtid: u128,
    /// The property ID within the format.
    pub pid: u32,
}

/// `PKEY_AudioEndpoint_Association`: the KS node type the endpoint is associated with.
pub const PKEY_AUDIO_ENDPOINT_ASSOCIATION: PropertyKey = PropertyKey {
    fmtid: 0x1DA5_D803_D492_4EDD_8C23_E0C0_FFEE_7F0E,
    pid: 2,
};

/// `PKEY_AudioDevice_EnableEndpointByDefault`: whether the endpoint is enabled when it is first
/// created, and for which data flow (a `REG_DWORD` of [`EndpointFlow::enable_by_default`]).
pub const PKEY_AUDIO_DEVICE_ENABLE_ENDPOINT_BY_DEFAULT: PropertyKey = PropertyKey {
    fmtid: 0xF3E8_0BEF_1723_4FF2_BCC4_7F83_DC5E_46D4,
    pid: 4,
};

/// `PKEY_AudioEndpoint_Supports_EventDriven_Mode`: a `REG_DWORD` 1 tells the audio engine the
/// endpoint's streams support event-driven (notification) mode, which every stream of the
/// sample does (`IMiniportWaveRTStreamNotification`).
pub const PKEY_AUDIO_ENDPOINT_SUPPORTS_EVENT_DRIVEN_MODE: PropertyKey = PropertyKey {
    fmtid: 0x1DA5_D803_D492_4EDD_8C23_E0C0_FFEE_7F0E,
    pid: 7,
};

/// The registry key, relative to the device's software (driver) key, from which PortCls reads
/// its idle power settings (the install section's `HKR`).
pub const POWER_SETTINGS_KEY: &str = "PowerSettings";

/// PortCls's idle power settings, as the INF writes them under [`POWER_SETTINGS_KEY`]: three
/// `REG_BINARY` values of four little-endian bytes each (the documented "PortCls Registry Power
/// Settings"). A time of 0 disables idle detection in that power mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdlePowerSettings {
    /// `ConservationIdleTime`: seconds of idleness before the device powers down while the
    /// system runs on battery (power conservation).
    pub conservation_idle_seconds: u32,
    /// `PerformanceIdleTime`: the same on AC power (high performance).
    pub performance_idle_seconds: u32,
    /// `IdlePowerState`: the device power state entered, 1 (D1) to 3 (D3).
    pub idle_power_state: u32,
}

impl IdlePowerSettings {
    /// The registry value names, in the order of [`IdlePowerSettings::values`].
    pub const NAMES: [&'static str; 3] = [
        "ConservationIdleTime",
        "PerformanceIdleTime",
        "IdlePowerState",
    ];

    /// The three values in the order of [`IdlePowerSettings::NAMES`].
    #[must_use]
    pub const fn values(&self) -> [u32; 3] {
        [
            self.conservation_idle_seconds,
            self.performance_idle_seconds,
            self.idle_power_state,
        ]
    }
}

/// What the sample's INF sets: D3 after 30 s idle on battery and after 5 minutes on AC.
pub const IDLE_POWER_SETTINGS: IdlePowerSettings = IdlePowerSettings {
    conservation_idle_seconds: 30,
    performance_idle_seconds: 300,
    idle_power_state: 3,
};

/// `FLAG_ENABLE` of `PKEY_AudioDevice_EnableEndpointByDefault`.
pub const ENDPOINT_FLAG_ENABLE: u32 = 0x1;
/// `FLOW_MASK_RENDER` of `PKEY_AudioDevice_EnableEndpointByDefault`.
pub const ENDPOINT_FLOW_MASK_RENDER: u32 = 0x100;
/// `FLOW_MASK_CAPTURE` of `PKEY_AudioDevice_EnableEndpointByDefault`.
pub const ENDPOINT_FLOW_MASK_CAPTURE: u32 = 0x200;

/// A KS category a filter interface is registered under (`AddInterface` in the INF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KsCategory {
    /// `KSCATEGORY_AUDIO`: every audio filter.
    Audio,
    /// `KSCATEGORY_RENDER`: a filter that renders (the render wave filter).
    Render,
    /// `KSCATEGORY_CAPTURE`: a filter that captures (the capture wave filter).
    Capture,
    /// `KSCATEGORY_REALTIME`: a WaveRT wave filter.
    Realtime,
    /// `KSCATEGORY_TOPOLOGY`: a topology filter.
    Topology,
}

impl KsCategory {
    /// Every category, in declaration order.
    pub const ALL: [Self; 5] = [
        Self::Audio,
        Self::Render,
        Self::Capture,
        Self::Realtime,
        Self::Topology,
    ];

    /// The category's GUID, in registry order.
    #[must_use]
    pub const fn guid(self) -> u128 {
        match self {
            Self::Audio => 0x6994_AD04_93EF_11D0_A3CC_00A0_C922_3196,
            Self::Render => 0x65E8_773E_8F56_11D0_A3B9_00A0_C922_3196,
            Self::Capture => 0x65E8_773D_8F56_11D0_A3B9_00A0_C922_3196,
            Self::Realtime => 0xEB11_5FFC_10C8_4964_831D_6DCB_02E6_F23F,
            Self::Topology => 0xDDA5_4A40_1E4C_11D1_A050_4057_05C1_0000,
        }
    }

    /// The category's name in the Windows headers (`KSCATEGORY_AUDIO`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Audio => "KSCATEGORY_AUDIO",
            Self::Render => "KSCATEGORY_RENDER",
            Self::Capture => "KSCATEGORY_CAPTURE",
            Self::Realtime => "KSCATEGORY_REALTIME",
            Self::Topology => "KSCATEGORY_TOPOLOGY",
        }
    }

    /// The category whose GUID is `guid`, if it is one of these.
    #[must_use]
    pub const fn from_guid(guid: u128) -> Option<Self> {
        let mut i = 0;
        while i < Self::ALL.len() {
            if Self::ALL[i].guid() == guid {
                return Some(Self::ALL[i]);
            }
            i += 1;
        }
        None
    }
}

/// The data flow of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndpointFlow {
    /// Audio leaves the computer (speakers).
    Render,
    /// Audio enters the computer (microphone).
    Capture,
}

impl EndpointFlow {
    /// The `REG_DWORD` value of `PKEY_AudioDevice_EnableEndpointByDefault` that enables the
    /// endpoint by default for this flow: `0x101` for render, `0x201` for capture.
    #[must_use]
    pub const fn enable_by_default(self) -> u32 {
        ENDPOINT_FLAG_ENABLE
            | match self {
                Self::Render => ENDPOINT_FLOW_MASK_RENDER,
                Self::Capture => ENDPOINT_FLOW_MASK_CAPTURE,
            }
    }
}

/// Which kind of PortCls port a subdevice's miniport is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterKind {
    /// A WaveRT filter (`PortWaveRT`): the host pin and the DMA buffer.
    Wave,
    /// A topology filter (`PortTopology`): the bridge pin that becomes the endpoint.
    Topology,
}

/// One subdevice the adapter registers with `PcRegisterSubdevice`, and what the INF must
/// declare for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subdevice {
    /// The subdevice name. The INF's `AddInterface` reference strings for this filter must equal
    /// it character for character.
    pub name: &'static str,
    /// The same name as a NUL-terminated UTF-16 string with `'static` lifetime, which is what
    /// `PcRegisterSubdevice` takes (PortCls keeps the pointer for the device's lifetime).
    pub name_utf16: &'static [u16],
    /// The filter's port kind.
    pub kind: FilterKind,
    /// The flow of the endpoint the filter is part of.
    pub flow: EndpointFlow,
    /// Which endpoint of its flow the filter is part of: 0 for the first (the only one on the
    /// virtual device), `n` for the one a virtio-sound function's `n`-th stream of that
    /// direction becomes.
    pub index: usize,
    /// The KS categories the filter's interface is registered under, each once.
    pub categories: &'static [KsCategory],
    /// The interface's `FriendlyName` registry value.
    pub friendly_name: &'static str,
    /// For a topology filter, the flow of the endpoint its bridge pin becomes; the INF sets
    /// `PKEY_AudioDevice_EnableEndpointByDefault` under [`ENDPOINT_KEY`] from it. `None` for a
    /// wave filter, which carries no endpoint keys.
    pub endpoint: Option<EndpointFlow>,
}

impl Subdevice {
    /// Whether the filter's interface is registered under `category`.
    #[must_use]
    pub fn has_category(&self, category: KsCategory) -> bool {
        self.categories.contains(&category)
    }
}

/// Converts an ASCII string to a NUL-terminated UTF-16 array of `N` code units.
///
/// Meant for constant evaluation (see [`utf16z!`](crate::utf16z)), where a violated condition
/// is a compile error rather than a panic.
///
/// # Panics
/// If `N` is not `text.len() + 1`, or `text` contains a non-ASCII byte or a NUL.
#[must_use]
pub const fn ascii_to_utf16z<const N: usize>(text: &str) -> [u16; N] {
    let bytes = text.as_bytes();
    assert!(
        bytes.len() + 1 == N,
        "the array must hold the text and a NUL"
    );
    let mut out = [0u16; N];
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        assert!(byte.is_ascii(), "only ASCII text can be converted");
        assert!(byte != 0, "the text must not contain a NUL");
        // Widening an ASCII byte is its UTF-16 code unit (`u16::from` is not `const`).
        out[i] = byte as u16;
        i += 1;
    }
    out
}

/// A `&'static [u16]` holding its ASCII string literal argument as NUL-terminated UTF-16, built
/// at compile time. Non-ASCII input does not compile.
///
/// ```
/// const NAME: &[u16] = wavert_sample::utf16z!("Wave");
/// assert_eq!(NAME, &[0x57, 0x61, 0x76, 0x65, 0]);
/// ```
///
/// ```compile_fail
/// const NAME: &[u16] = wavert_sample::utf16z!("Wäve");
/// ```
#[macro_export]
macro_rules! utf16z {
    ($text:expr) => {{
        const TEXT: &str = $text;
        const WIDE: [u16; TEXT.len() + 1] =
            $crate::identity::ascii_to_utf16z::<{ TEXT.len() + 1 }>(TEXT);
        &WIDE
    }};
}

/// One filter of an endpoint: `$kind` (`Wave` or `Topology`) of flow `$flow`, endpoint
/// `$index`, named `$name` (the friendly name `$friendly`).
macro_rules! subdevice {
    (Wave, $flow:ident, $index:expr, $name:expr, $friendly:expr) => {
        Subdevice {
            name: $name,
            name_utf16: utf16z!($name),
            kind: FilterKind::Wave,
            flow: EndpointFlow::$flow,
            index: $index,
            categories: match EndpointFlow::$flow {
                EndpointFlow::Render => {
                    &[KsCategory::Audio, KsCategory::Render, KsCategory::Realtime]
                }
                EndpointFlow::Capture => {
                    &[KsCategory::Audio, KsCategory::Capture, KsCategory::Realtime]
                }
            },
            friendly_name: $friendly,
            endpoint: None,
        }
    };
    (Topology, $flow:ident, $index:expr, $name:expr, $friendly:expr) => {
        Subdevice {
            name: $name,
            name_utf16: utf16z!($name),
            kind: FilterKind::Topology,
            flow: EndpointFlow::$flow,
            index: $index,
            categories: &[KsCategory::Audio, KsCategory::Topology],
            friendly_name: $friendly,
            endpoint: Some(EndpointFlow::$flow),
        }
    };
}

/// The render wave filter (host pin, DMA buffer).
pub const RENDER_WAVE: Subdevice =
    subdevice!(Wave, Render, 0, "WaveSpeaker", "WaveRT Sample Speaker Wave");

/// The render topology filter (volume, mute, the speaker bridge pin).
pub const RENDER_TOPOLOGY: Subdevice = subdevice!(
    Topology,
    Render,
    0,
    "TopologySpeaker",
    "WaveRT Sample Speaker Topology"
);

/// The capture wave filter (host pin, DMA buffer).
pub const CAPTURE_WAVE: Subdevice = subdevice!(
    Wave,
    Capture,
    0,
    "WaveMicrophone",
    "WaveRT Sample Microphone Wave"
);

/// The capture topology filter (the microphone bridge pin).
pub const CAPTURE_TOPOLOGY: Subdevice = subdevice!(
    Topology,
    Capture,
    0,
    "TopologyMicrophone",
    "WaveRT Sample Microphone Topology"
);

/// Every subdevice of the virtual device (one endpoint of each flow), in the order the adapter
/// registers them. A virtio-sound function registers these and, for each stream of a
/// direction after the first, that endpoint's pair of [`ENDPOINTS`].
pub const SUBDEVICES: [Subdevice; 4] =
    [RENDER_WAVE, RENDER_TOPOLOGY, CAPTURE_WAVE, CAPTURE_TOPOLOGY];

/// The most endpoints of one flow: a virtio-sound function's first this many output streams
/// and first this many input streams become endpoints (a device with more has the rest
/// ignored). The INF declares the interfaces of every one of them on the PCI binding.
pub const MAX_ENDPOINTS_PER_FLOW: usize = 4;

/// The two filters of one endpoint: the wave filter and the topology filter its bridge pin
/// is wired to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointFilters {
    /// The wave filter (host pin, DMA buffer).
    pub wave: Subdevice,
    /// The topology filter (the external pin that becomes the endpoint).
    pub topology: Subdevice,
}

/// Every endpoint's filters, by flow (render, then capture) and index: endpoint `n` of a flow
/// is `ENDPOINTS[flow][n]`. The first of each flow are the virtual device's ([`SUBDEVICES`]).
pub const ENDPOINTS: [[EndpointFilters; MAX_ENDPOINTS_PER_FLOW]; 2] = [
    [
        EndpointFilters {
            wave: RENDER_WAVE,
            topology: RENDER_TOPOLOGY,
        },
        EndpointFilters {
            wave: subdevice!(
                Wave,
                Render,
                1,
                "WaveSpeaker2",
                "WaveRT Sample Speaker 2 Wave"
            ),
            topology: subdevice!(
                Topology,
                Render,
                1,
                "TopologySpeaker2",
                "WaveRT Sample Speaker 2 Topology"
            ),
        },
        EndpointFilters {
            wave: subdevice!(
                Wave,
                Render,
                2,
                "WaveSpeaker3",
                "WaveRT Sample Speaker 3 Wave"
            ),
            topology: subdevice!(
                Topology,
                Render,
                2,
                "TopologySpeaker3",
                "WaveRT Sample Speaker 3 Topology"
            ),
        },
        EndpointFilters {
            wave: subdevice!(
                Wave,
                Render,
                3,
                "WaveSpeaker4",
                "WaveRT Sample Speaker 4 Wave"
            ),
            topology: subdevice!(
                Topology,
                Render,
                3,
                "TopologySpeaker4",
                "WaveRT Sample Speaker 4 Topology"
            ),
        },
    ],
    [
        EndpointFilters {
            wave: CAPTURE_WAVE,
            topology: CAPTURE_TOPOLOGY,
        },
        EndpointFilters {
            wave: subdevice!(
                Wave,
                Capture,
                1,
                "WaveMicrophone2",
                "WaveRT Sample Microphone 2 Wave"
            ),
            topology: subdevice!(
                Topology,
                Capture,
                1,
                "TopologyMicrophone2",
                "WaveRT Sample Microphone 2 Topology"
            ),
        },
        EndpointFilters {
            wave: subdevice!(
                Wave,
                Capture,
                2,
                "WaveMicrophone3",
                "WaveRT Sample Microphone 3 Wave"
            ),
            topology: subdevice!(
                Topology,
                Capture,
                2,
                "TopologyMicrophone3",
                "WaveRT Sample Microphone 3 Topology"
            ),
        },
        EndpointFilters {
            wave: subdevice!(
                Wave,
                Capture,
                3,
                "WaveMicrophone4",
                "WaveRT Sample Microphone 4 Wave"
            ),
            topology: subdevice!(
                Topology,
                Capture,
                3,
                "TopologyMicrophone4",
                "WaveRT Sample Microphone 4 Topology"
            ),
        },
    ],
];

/// Every subdevice a virtio-sound function may register (every endpoint's two filters, by
/// flow and index): what the INF's PCI binding declares.
pub const DEVICE_SUBDEVICES: [Subdevice; 4 * MAX_ENDPOINTS_PER_FLOW] = {
    let mut out = [RENDER_WAVE; 4 * MAX_ENDPOINTS_PER_FLOW];
    let mut i = 0;
    while i < 2 * MAX_ENDPOINTS_PER_FLOW {
        let endpoint = ENDPOINTS[i / MAX_ENDPOINTS_PER_FLOW][i % MAX_ENDPOINTS_PER_FLOW];
        out[2 * i] = endpoint.wave;
        out[2 * i + 1] = endpoint.topology;
        i += 1;
    }
    out
};

impl EndpointFlow {
    /// Whether audio enters the computer.
    #[must_use]
    pub const fn is_capture(self) -> bool {
        matches!(self, Self::Capture)
    }

    /// The flow of a direction (input for `capture`).
    #[must_use]
    pub const fn of(capture: bool) -> Self {
        if capture { Self::Capture } else { Self::Render }
    }
}

impl EndpointFilters {
    /// Endpoint `index` of the flow of a direction (input for `capture`), if there is one.
    #[must_use]
    pub const fn of(capture: bool, index: usize) -> Option<&'static Self> {
        if index < MAX_ENDPOINTS_PER_FLOW {
            Some(&ENDPOINTS[capture as usize][index])
        } else {
            None
        }
    }
}

/// Displays a registry-order GUID in its braced, upper-case text form
/// (`{6994AD04-93EF-11D0-A3CC-00A0C9223196}`), as INF files and the registry write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegistryGuid(pub u128);

impl fmt::Display for RegistryGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{{{:08X}-{:04X}-{:04X}-{:04X}-{:012X}}}",
            v >> 96,
            (v >> 80) & 0xFFFF,
            (v >> 64) & 0xFFFF,
            (v >> 48) & 0xFFFF,
            v & 0xFFFF_FFFF_FFFF,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_names_equal_the_str_names_plus_a_nul() {
        for sub in DEVICE_SUBDEVICES {
            let (last, body) = sub.name_utf16.split_last().unwrap();
            assert_eq!(*last, 0, "{}", sub.name);
            let decoded: String = char::decode_utf16(body.iter().copied())
                .map(Result::unwrap)
                .collect();
            assert_eq!(decoded, sub.name);
            assert!(!body.contains(&0), "{} has an interior NUL", sub.name);
        }
    }

    #[test]
    fn ascii_to_utf16z_widens_each_byte_and_appends_a_nul() {
        const WIDE: [u16; 4] = ascii_to_utf16z::<4>("A\\z");
        assert_eq!(WIDE, [0x41, 0x5C, 0x7A, 0]);
        assert_eq!(utf16z!(""), &[0u16]);
    }

    #[test]
    #[should_panic(expected = "only ASCII")]
    fn ascii_to_utf16z_rejects_non_ascii_text() {
        let text = String::from("é");
        let _ = ascii_to_utf16z::<3>(&text);
    }

    #[test]
    #[should_panic(expected = "hold the text and a NUL")]
    fn ascii_to_utf16z_rejects_a_wrong_length() {
        let text = String::from("abc");
        let _ = ascii_to_utf16z::<3>(&text);
    }

    #[test]
    #[should_panic(expected = "must not contain a NUL")]
    fn ascii_to_utf16z_rejects_an_interior_nul() {
        let text = String::from("a\0b");
        let _ = ascii_to_utf16z::<4>(&text);
    }

    #[test]
    fn subdevice_names_are_distinct_and_fit_a_reference_string() {
        for (i, a) in DEVICE_SUBDEVICES.iter().enumerate() {
            assert!(!a.name.is_empty());
            // A reference string is one path component of the interface symbolic link.
            assert!(
                a.name.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{} must be plain alphanumeric",
                a.name
            );
            for b in &DEVICE_SUBDEVICES[i + 1..] {
                assert!(!a.name.eq_ignore_ascii_case(b.name));
                assert_ne!(a.friendly_name, b.friendly_name);
            }
        }
    }

    #[test]
    fn categories_follow_the_filter_kind_and_flow() {
        for sub in DEVICE_SUBDEVICES {
            assert!(sub.has_category(KsCategory::Audio), "{}", sub.name);
            for (j, c) in sub.categories.iter().enumerate() {
                assert!(
                    !sub.categories[j + 1..].contains(c),
                    "{} repeats {c:?}",
                    sub.name
                );
            }
            match sub.kind {
                FilterKind::Wave => {
                    assert_eq!(sub.endpoint, None);
                    assert_eq!(sub.categories.len(), 3);
                    assert!(sub.has_category(KsCategory::Realtime));
                    assert!(!sub.has_category(KsCategory::Topology));
                    assert!(
                        sub.has_category(KsCategory::Render)
                            ^ sub.has_category(KsCategory::Capture)
                    );
                    assert_eq!(sub.has_category(KsCategory::Capture), sub.flow.is_capture());
                }
                FilterKind::Topology => {
                    assert_eq!(sub.endpoint, Some(sub.flow));
                    assert_eq!(sub.categories, &[KsCategory::Audio, KsCategory::Topology]);
                }
            }
        }
        assert!(RENDER_WAVE.has_category(KsCategory::Render));
        assert!(CAPTURE_WAVE.has_category(KsCategory::Capture));
        assert_eq!(RENDER_TOPOLOGY.endpoint, Some(EndpointFlow::Render));
        assert_eq!(CAPTURE_TOPOLOGY.endpoint, Some(EndpointFlow::Capture));
    }

    #[test]
    fn each_endpoint_pairs_a_wave_and_a_topology_filter_of_its_flow_and_index() {
        for (flow, endpoints) in ENDPOINTS.iter().enumerate() {
            for (index, endpoint) in endpoints.iter().enumerate() {
                let capture = flow == 1;
                assert_eq!(EndpointFilters::of(capture, index), Some(endpoint));
                for (sub, kind) in [
                    (endpoint.wave, FilterKind::Wave),
                    (endpoint.topology, FilterKind::Topology),
                ] {
                    assert_eq!(sub.kind, kind, "{}", sub.name);
                    assert_eq!(sub.flow, EndpointFlow::of(capture), "{}", sub.name);
                    assert_eq!(sub.index, index, "{}", sub.name);
                }
                assert!(DEVICE_SUBDEVICES.contains(&endpoint.wave));
                assert!(DEVICE_SUBDEVICES.contains(&endpoint.topology));
            }
            assert_eq!(EndpointFilters::of(flow == 1, MAX_ENDPOINTS_PER_FLOW), None);
        }
        // The virtual device's are the first of each flow, in the order it registers them.
        assert_eq!(SUBDEVICES[..2], DEVICE_SUBDEVICES[..2]);
        assert_eq!(
            SUBDEVICES[2..],
            DEVICE_SUBDEVICES[2 * MAX_ENDPOINTS_PER_FLOW..2 * MAX_ENDPOINTS_PER_FLOW + 2]
        );
        assert!(EndpointFlow::Capture.is_capture() && !EndpointFlow::Render.is_capture());
    }

    #[test]
    fn enable_by_default_values_are_flag_enable_or_the_flow_mask() {
        assert_eq!(EndpointFlow::Render.enable_by_default(), 0x101);
        assert_eq!(EndpointFlow::Capture.enable_by_default(), 0x201);
    }

    #[test]
    fn guids_print_in_registry_text_form() {
        let text = |g| RegistryGuid(g).to_string();
        assert_eq!(
            text(KsCategory::Audio.guid()),
            "{6994AD04-93EF-11D0-A3CC-00A0C9223196}"
        );
        assert_eq!(
            text(KsCategory::Render.guid()),
            "{65E8773E-8F56-11D0-A3B9-00A0C9223196}"
        );
        assert_eq!(
            text(KsCategory::Capture.guid()),
            "{65E8773D-8F56-11D0-A3B9-00A0C9223196}"
        );
        assert_eq!(
            text(KsCategory::Realtime.guid()),
            "{EB115FFC-10C8-4964-831D-6DCB02E6F23F}"
        );
        assert_eq!(
            text(KsCategory::Topology.guid()),
            "{DDA54A40-1E4C-11D1-A050-405705C10000}"
        );
        assert_eq!(
            text(KS_PROXY_CLSID),
            "{17CCA71B-ECD7-11D0-B908-00A0C9223196}"
        );
        assert_eq!(
            text(KSNODETYPE_ANY),
            "{00000000-0000-0000-0000-000000000000}"
        );
        assert_eq!(
            text(PKEY_AUDIO_ENDPOINT_ASSOCIATION.fmtid),
            "{1DA5D803-D492-4EDD-8C23-E0C0FFEE7F0E}"
        );
        assert_eq!(
            text(PKEY_AUDIO_ENDPOINT_SUPPORTS_EVENT_DRIVEN_MODE.fmtid),
            "{1DA5D803-D492-4EDD-8C23-E0C0FFEE7F0E}"
        );
        assert_eq!(PKEY_AUDIO_ENDPOINT_SUPPORTS_EVENT_DRIVEN_MODE.pid, 7);
        assert_eq!(
            text(PKEY_AUDIO_DEVICE_ENABLE_ENDPOINT_BY_DEFAULT.fmtid),
            "{F3E80BEF-1723-4FF2-BCC4-7F83DC5E46D4}"
        );
    }

    #[test]
    fn categories_round_trip_through_their_guids() {
        for c in KsCategory::ALL {
            assert_eq!(KsCategory::from_guid(c.guid()), Some(c));
            assert!(c.name().starts_with("KSCATEGORY_"));
        }
        assert_eq!(KsCategory::from_guid(KS_PROXY_CLSID), None);
    }

    #[test]
    fn idle_settings_enable_idle_detection_and_name_a_low_power_state() {
        let settings = IDLE_POWER_SETTINGS;
        assert!(settings.conservation_idle_seconds > 0);
        assert!((1..=3).contains(&settings.idle_power_state));
        assert_eq!(settings.values(), [30, 300, 3]);
        assert_eq!(IdlePowerSettings::NAMES[2], "IdlePowerState");
    }

    #[test]
    fn image_and_catalog_names_derive_from_the_service_name() {
        assert_eq!(IMAGE_NAME.strip_suffix(".sys"), Some(SERVICE_NAME));
        assert_eq!(CATALOG_NAME.strip_suffix(".cat"), Some(SERVICE_NAME));
        assert_eq!(HARDWARE_ID.split_once('\\'), Some(("ROOT", "WaveRtSample")));
    }

    #[test]
    fn the_pci_hardware_id_names_the_function_the_virtio_backend_drives() {
        let expected = format!(
            "PCI\\VEN_{:04X}&DEV_{:04X}",
            crate::backend::virtio::pci::VIRTIO_VENDOR_ID,
            crate::backend::virtio::sound::PCI_DEVICE_ID
        );
        assert_eq!(PCI_HARDWARE_ID, expected);
        assert_eq!(
            crate::backend::virtio::sound::PCI_DEVICE_ID,
            0x1040 + crate::backend::virtio::sound::DEVICE_ID
        );
    }
}
