//! An independent check of the declarations: the sizes, alignments and field offsets of every
//! structure this crate shares with the mingw-w64 headers (ks.h, ksmedia.h, mmreg.h), their
//! enum and property-id values, and their GUIDs, compiled by clang against those headers for
//! x64 and arm64 Windows.
//!
//! The Rust side emits the facts (`size_of`, `align_of`, `offset_of!` of this crate's types);
//! the C side asserts each one with `_Static_assert`, so a single wrong offset stops the
//! compilation with its name. GUIDs are not constant expressions in C: the headers' `STATIC_*`
//! initialisers are expanded by the preprocessor and compared here. The headers lack PortCls
//! and the stream-resource types, and declare `KSPIN_DESCRIPTOR` for kernel builds only (which
//! these user-mode headers cannot be made to compile); those are checked against the reference
//! sheet by the layout assertions in the crate and its unit tests.
//!
//! Needs clang and the mingw-w64 headers (Debian: `clang`, `mingw-w64-common`); `.ci/run`
//! installs them.

use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};
use std::process::Command;

use portcls_sys::GUID;
use portcls_sys::ks::{
    KSAUDIO_POSITION, KSDATAFORMAT, KSDATARANGE_AUDIO, KSIDENTIFIER, KSJACK_DESCRIPTION,
    KSJACK_DESCRIPTION2, KSMULTIPLE_ITEM, KSNODEPROPERTY, KSNODEPROPERTY_AUDIO_CHANNEL, KSP_NODE,
    KSP_PIN, KSPROPERTY_DESCRIPTION, KSPROPERTY_MEMBERSHEADER, KSPROPERTY_STEPPING_LONG,
    KSTOPOLOGY_CONNECTION, WAVEFORMATEX, WAVEFORMATEXTENSIBLE,
};

const HEADERS: &str = "/usr/share/mingw-w64/include";

struct Layout {
    c: &'static str,
    size: usize,
    align: usize,
    fields: Vec<(&'static str, usize)>,
}

macro_rules! layout {
    ($rust:ty => $c:literal { $($field:ident => $cfield:literal),* $(,)? }) => {
        Layout {
            c: $c,
            size: size_of::<$rust>(),
            align: align_of::<$rust>(),
            fields: vec![$(($cfield, offset_of!($rust, $field))),*],
        }
    };
}

fn layouts() -> Vec<Layout> {
    vec![
        layout!(KSIDENTIFIER => "KSIDENTIFIER" { Set => "Set", Id => "Id", Flags => "Flags" }),
        layout!(KSP_PIN => "KSP_PIN" { Property => "Property", PinId => "PinId", Reserved => "Reserved" }),
        layout!(KSP_NODE => "KSP_NODE" { Property => "Property", NodeId => "NodeId", Reserved => "Reserved" }),
        layout!(KSNODEPROPERTY => "KSNODEPROPERTY" { Property => "Property", NodeId => "NodeId", Reserved => "Reserved" }),
        layout!(KSNODEPROPERTY_AUDIO_CHANNEL => "KSNODEPROPERTY_AUDIO_CHANNEL" {
            NodeProperty => "NodeProperty", Channel => "Channel", Reserved => "Reserved"
        }),
        layout!(KSMULTIPLE_ITEM => "KSMULTIPLE_ITEM" { Size => "Size", Count => "Count" }),
        layout!(KSPROPERTY_DESCRIPTION => "KSPROPERTY_DESCRIPTION" {
            AccessFlags => "AccessFlags", DescriptionSize => "DescriptionSize",
            PropTypeSet => "PropTypeSet", MembersListCount => "MembersListCount",
            Reserved => "Reserved"
        }),
        layout!(KSPROPERTY_MEMBERSHEADER => "KSPROPERTY_MEMBERSHEADER" {
            MembersFlags => "MembersFlags", MembersSize => "MembersSize",
            MembersCount => "MembersCount", Flags => "Flags"
        }),
        layout!(KSPROPERTY_STEPPING_LONG => "KSPROPERTY_STEPPING_LONG" {
            SteppingDelta => "SteppingDelta", Reserved => "Reserved", Bounds => "Bounds"
        }),
        layout!(KSDATAFORMAT => "KSDATAFORMAT" {
            FormatSize => "FormatSize", Flags => "Flags", SampleSize => "SampleSize",
            Reserved => "Reserved", MajorFormat => "MajorFormat", SubFormat => "SubFormat",
            Specifier => "Specifier"
        }),
        layout!(KSDATARANGE_AUDIO => "KSDATARANGE_AUDIO" {
            DataRange => "DataRange", MaximumChannels => "MaximumChannels",
            MinimumBitsPerSample => "MinimumBitsPerSample",
            MaximumBitsPerSample => "MaximumBitsPerSample",
            MinimumSampleFrequency => "MinimumSampleFrequency",
            MaximumSampleFrequency => "MaximumSampleFrequency"
        }),
        layout!(KSTOPOLOGY_CONNECTION => "KSTOPOLOGY_CONNECTION" {
            FromNode => "FromNode", FromNodePin => "FromNodePin", ToNode => "ToNode",
            ToNodePin => "ToNodePin"
        }),
        layout!(KSAUDIO_POSITION => "KSAUDIO_POSITION" { PlayOffset => "PlayOffset", WriteOffset => "WriteOffset" }),
        layout!(KSJACK_DESCRIPTION => "KSJACK_DESCRIPTION" {
            ChannelMapping => "ChannelMapping", Color => "Color",
            ConnectionType => "ConnectionType", GeoLocation => "GeoLocation",
            GenLocation => "GenLocation", PortConnection => "PortConnection",
            IsConnected => "IsConnected"
        }),
        layout!(KSJACK_DESCRIPTION2 => "KSJACK_DESCRIPTION2" {
            DeviceStateInfo => "DeviceStateInfo", JackCapabilities => "JackCapabilities"
        }),
        layout!(WAVEFORMATEX => "WAVEFORMATEX" {
            wFormatTag => "wFormatTag", nChannels => "nChannels",
            nSamplesPerSec => "nSamplesPerSec", nAvgBytesPerSec => "nAvgBytesPerSec",
            nBlockAlign => "nBlockAlign", wBitsPerSample => "wBitsPerSample", cbSize => "cbSize"
        }),
        layout!(WAVEFORMATEXTENSIBLE => "WAVEFORMATEXTENSIBLE" {
            Format => "Format", Samples => "Samples", dwChannelMask => "dwChannelMask",
            SubFormat => "SubFormat"
        }),
    ]
}

/// Constants whose C names are enumerators or macros usable in `_Static_assert` (the jack
/// property ids and `JACKDESC2_*` flags are not in these headers; the reference sheet has them).
fn constants() -> Vec<(&'static str, i64)> {
    use portcls_sys::ks as k;
    vec![
        ("KSSTATE_STOP", k::KSSTATE_STOP.0.into()),
        ("KSSTATE_ACQUIRE", k::KSSTATE_ACQUIRE.0.into()),
        ("KSSTATE_PAUSE", k::KSSTATE_PAUSE.0.into()),
        ("KSSTATE_RUN", k::KSSTATE_RUN.0.into()),
        ("KSPIN_DATAFLOW_IN", k::KSPIN_DATAFLOW_IN.0.into()),
        ("KSPIN_DATAFLOW_OUT", k::KSPIN_DATAFLOW_OUT.0.into()),
        (
            "KSPIN_COMMUNICATION_NONE",
            k::KSPIN_COMMUNICATION_NONE.0.into(),
        ),
        (
            "KSPIN_COMMUNICATION_SINK",
            k::KSPIN_COMMUNICATION_SINK.0.into(),
        ),
        ("KSPROPERTY_TYPE_GET", k::KSPROPERTY_TYPE_GET.into()),
        ("KSPROPERTY_TYPE_SET", k::KSPROPERTY_TYPE_SET.into()),
        (
            "KSPROPERTY_TYPE_BASICSUPPORT",
            k::KSPROPERTY_TYPE_BASICSUPPORT.into(),
        ),
        (
            "KSPROPERTY_TYPE_TOPOLOGY",
            k::KSPROPERTY_TYPE_TOPOLOGY.into(),
        ),
        (
            "KSPROPERTY_AUDIO_VOLUMELEVEL",
            k::KSPROPERTY_AUDIO_VOLUMELEVEL.into(),
        ),
        ("KSPROPERTY_AUDIO_MUTE", k::KSPROPERTY_AUDIO_MUTE.into()),
        ("KSPROPERTY_PIN_CATEGORY", k::KSPROPERTY_PIN_CATEGORY.into()),
        ("KSPROPERTY_PIN_NAME", k::KSPROPERTY_PIN_NAME.into()),
        (
            "KSPROPERTY_MEMBER_STEPPEDRANGES",
            k::KSPROPERTY_MEMBER_STEPPEDRANGES.into(),
        ),
        (
            "KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL",
            k::KSPROPERTY_MEMBER_FLAG_BASICSUPPORT_MULTICHANNEL.into(),
        ),
        ("KSAUDIO_SPEAKER_STEREO", k::KSAUDIO_SPEAKER_STEREO.into()),
        ("eConnType3Point5mm", k::eConnType3Point5mm.into()),
        ("eGeoLocFront", k::eGeoLocFront.into()),
        ("eGenLocPrimaryBox", k::eGenLocPrimaryBox.into()),
        ("ePortConnJack", k::ePortConnJack.into()),
    ]
}

/// GUIDs that have a `STATIC_<name>` initialiser in the headers (`KSPROPSETID_Jack` and the KS
/// proxy's CLSID do not; the reference sheet and the crate's registry-form tests cover them).
fn guids() -> Vec<(&'static str, GUID)> {
    use portcls_sys::ks as k;
    vec![
        ("KSCATEGORY_AUDIO", k::KSCATEGORY_AUDIO),
        ("KSCATEGORY_RENDER", k::KSCATEGORY_RENDER),
        ("KSCATEGORY_CAPTURE", k::KSCATEGORY_CAPTURE),
        ("KSCATEGORY_REALTIME", k::KSCATEGORY_REALTIME),
        ("KSCATEGORY_TOPOLOGY", k::KSCATEGORY_TOPOLOGY),
        ("KSINTERFACESETID_Standard", k::KSINTERFACESETID_Standard),
        ("KSMEDIUMSETID_Standard", k::KSMEDIUMSETID_Standard),
        ("KSDATAFORMAT_TYPE_AUDIO", k::KSDATAFORMAT_TYPE_AUDIO),
        ("KSDATAFORMAT_SUBTYPE_PCM", k::KSDATAFORMAT_SUBTYPE_PCM),
        (
            "KSDATAFORMAT_SUBTYPE_IEEE_FLOAT",
            k::KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
        ),
        (
            "KSDATAFORMAT_SUBTYPE_ANALOG",
            k::KSDATAFORMAT_SUBTYPE_ANALOG,
        ),
        (
            "KSDATAFORMAT_SPECIFIER_WAVEFORMATEX",
            k::KSDATAFORMAT_SPECIFIER_WAVEFORMATEX,
        ),
        (
            "KSDATAFORMAT_SPECIFIER_NONE",
            k::KSDATAFORMAT_SPECIFIER_NONE,
        ),
        ("KSNODETYPE_SPEAKER", k::KSNODETYPE_SPEAKER),
        ("KSNODETYPE_MICROPHONE", k::KSNODETYPE_MICROPHONE),
        ("KSNODETYPE_VOLUME", k::KSNODETYPE_VOLUME),
        ("KSNODETYPE_MUTE", k::KSNODETYPE_MUTE),
        ("KSAUDFNAME_MASTER_VOLUME", k::KSAUDFNAME_MASTER_VOLUME),
        ("KSAUDFNAME_MASTER_MUTE", k::KSAUDFNAME_MASTER_MUTE),
        ("KSPROPSETID_Pin", k::KSPROPSETID_Pin),
        ("KSPROPSETID_Audio", k::KSPROPSETID_Audio),
        ("KSPROPSETID_General", k::KSPROPSETID_General),
        ("KSPROPSETID_RtAudio", k::KSPROPSETID_RtAudio),
        ("KSPROPTYPESETID_General", k::KSPROPTYPESETID_General),
    ]
}

const PRELUDE: &str = "#include <windows.h>\n#include <mmreg.h>\n#include <ks.h>\n#include <ksmedia.h>\n#include <stddef.h>\n";

fn clang(target: &str, args: &[&str], source: &str) -> String {
    let dir = std::env::temp_dir().join(format!("portcls-abi-{}-{target}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("oracle.c");
    std::fs::write(&file, source).unwrap();
    let output = Command::new("clang")
        .args([&format!("--target={target}"), "-I", HEADERS, "-w"])
        .args(args)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("clang is needed for the ABI oracle (Debian: apt-get install clang): {e}")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        output.status.success(),
        "clang ({target}) rejected the oracle:\n{stderr}"
    );
    stdout
}

/// Evaluates one GUID component as the headers spell it: a number, possibly cast
/// (`(USHORT) (1)`) or summed (`0xDFF219E0+(USHORT)(0x0301)`).
fn parse_number(text: &str) -> u64 {
    let cleaned = text.replace("(USHORT)", "").replace(['(', ')', ' '], "");
    cleaned
        .split('+')
        .map(|term| {
            let term = term.trim_end_matches(['L', 'l', 'U', 'u']);
            term.strip_prefix("0x")
                .or_else(|| term.strip_prefix("0X"))
                .map_or_else(
                    || {
                        term.parse()
                            .unwrap_or_else(|_| panic!("not a number: {text}"))
                    },
                    |hex| u64::from_str_radix(hex, 16).unwrap(),
                )
        })
        .sum()
}

#[test]
#[cfg_attr(miri, ignore = "runs clang: natively only")]
fn layouts_constants_and_guids_agree_with_the_mingw_headers() {
    assert!(
        std::path::Path::new(HEADERS).join("ksmedia.h").exists(),
        "the mingw-w64 headers are needed (Debian: apt-get install mingw-w64-common)"
    );
    let mut source = String::from(PRELUDE);
    let mut items = 0;
    for layout in layouts() {
        let c = layout.c;
        writeln!(
            source,
            "_Static_assert(sizeof({c}) == {}, \"size of {c}\");",
            layout.size
        )
        .unwrap();
        writeln!(
            source,
            "_Static_assert(_Alignof({c}) == {}, \"alignment of {c}\");",
            layout.align
        )
        .unwrap();
        items += 2;
        for (field, offset) in &layout.fields {
            writeln!(
                source,
                "_Static_assert(offsetof({c}, {field}) == {offset}, \"offset of {c}.{field}\");"
            )
            .unwrap();
            items += 1;
        }
    }
    for (name, value) in constants() {
        writeln!(
            source,
            "_Static_assert({name} == {value}, \"value of {name}\");"
        )
        .unwrap();
        items += 1;
    }
    for target in ["x86_64-w64-mingw32", "aarch64-w64-mingw32"] {
        clang(target, &["-fsyntax-only", "-std=c11"], &source);
    }

    // GUIDs: expand the STATIC_ initialisers and compare.
    let mut expand = String::from(PRELUDE);
    for (name, _) in guids() {
        writeln!(expand, "GUID_{name}: STATIC_{name}").unwrap();
    }
    let expanded = clang("x86_64-w64-mingw32", &["-E", "-P"], &expand);
    for (name, guid) in guids() {
        let line = expanded
            .lines()
            .find(|l| l.starts_with(&format!("GUID_{name}:")))
            .unwrap_or_else(|| panic!("no expansion of STATIC_{name}"));
        let numbers: Vec<u64> = line
            .split_once(':')
            .unwrap()
            .1
            .split(',')
            .map(parse_number)
            .collect();
        let mut expected = vec![
            u64::from(guid.Data1),
            u64::from(guid.Data2),
            u64::from(guid.Data3),
        ];
        expected.extend(guid.Data4.iter().map(|&b| u64::from(b)));
        assert_eq!(numbers, expected, "{name}");
        items += 1;
    }
    println!(
        "ABI oracle: {items} items checked against the mingw-w64 headers on x86_64 and aarch64"
    );
}
