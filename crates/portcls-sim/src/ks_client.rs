//! What a KS client (the audio endpoint builder, the HLK's tests) asks a filter about its pins
//! and topology, and how it checks the answers.
//!
//! Each query goes through [`Sim::property`], so it reaches the miniport's table first and
//! PortCls's own handlers ([`port_properties`](crate::port_properties)) after, exactly as a
//! request from user mode would. A fixed-size value is asked for with a buffer of its size; a
//! variable-size one with a zero-length size probe first (`STATUS_BUFFER_OVERFLOW` and the
//! size), then a buffer of the size it named. Every answer is checked before it is used: the
//! status, the size, the `KSMULTIPLE_ITEM` header, the values' ranges. A malformed answer is an
//! error naming the filter, the pin, the request and what is wrong, because the client would
//! give up there. The parsers ([`parse_list`], [`parse_data_ranges`], [`parse_connections`])
//! are plain functions over the bytes.

use std::ops::RangeInclusive;

use portcls_sys::ks::{
    KSDATAFORMAT_SPECIFIER_WAVEFORMATEX, KSPROPERTY_PIN_CATEGORY, KSPROPERTY_PIN_CINSTANCES,
    KSPROPERTY_PIN_COMMUNICATION, KSPROPERTY_PIN_CTYPES, KSPROPERTY_PIN_DATAFLOW,
    KSPROPERTY_PIN_DATARANGES, KSPROPERTY_PIN_NAME, KSPROPERTY_TYPE_GET, KSPROPSETID_Pin,
};
use portcls_sys::{GUID, PDEVICE_OBJECT, STATUS_SUCCESS};

use crate::port_properties::{
    KSPROPERTY_TOPOLOGY_CONNECTIONS, KSPROPERTY_TOPOLOGY_NODES, KSPROPSETID_Topology,
    STATUS_OBJECT_NAME_NOT_FOUND,
};
use crate::property::{STATUS_BUFFER_OVERFLOW, Target, guid_at, property_name, word};
use crate::{PropertyOutcome, Sim, status_name};

/// The largest variable-size answer a client accepts (a larger claimed size is malformed).
const MAX_ANSWER: u32 = 1 << 20;

/// One edge of a filter's topology (`KSTOPOLOGY_CONNECTION`); `u32::MAX` as a node means a
/// filter pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// `FromNode`.
    pub from_node: u32,
    /// `FromNodePin`.
    pub from_pin: u32,
    /// `ToNode`.
    pub to_node: u32,
    /// `ToNodePin`.
    pub to_pin: u32,
}

/// What a client learns of a pin from `DATAFLOW`, `COMMUNICATION` and `CATEGORY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinFacts {
    /// `KSPIN_DATAFLOW` (1 in, 2 out).
    pub data_flow: u32,
    /// `KSPIN_COMMUNICATION` (0 none, 1 sink, 2 source, 3 both, 4 bridge).
    pub communication: u32,
    /// The pin's category.
    pub category: GUID,
}

impl PinFacts {
    /// Whether the pin is a bridge pin (communication `NONE` or `BRIDGE`): no instances, a
    /// connection to another filter or to the outside.
    #[must_use]
    pub const fn is_bridge(&self) -> bool {
        matches!(self.communication, 0 | 4)
    }

    /// Whether the pin is a host pin a client streams through (communication `SINK`).
    #[must_use]
    pub const fn is_host(&self) -> bool {
        self.communication == 1
    }
}

/// The limits of a `KSDATARANGE_AUDIO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioLimits {
    /// `MaximumChannels`.
    pub max_channels: u32,
    /// `MinimumBitsPerSample..=MaximumBitsPerSample`.
    pub bits: RangeInclusive<u32>,
    /// `MinimumSampleFrequency..=MaximumSampleFrequency`.
    pub rates: RangeInclusive<u32>,
}

/// One data range of a `DATARANGES` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataRange {
    /// `MajorFormat`.
    pub major: GUID,
    /// `SubFormat`.
    pub sub_format: GUID,
    /// `Specifier`.
    pub specifier: GUID,
    /// The audio limits, for a range with the `WAVEFORMATEX` specifier.
    pub audio: Option<AudioLimits>,
}

/// The little-endian `u32` at `at`, for the parsers.
fn u32_at(bytes: &[u8], at: usize, what: &str) -> Result<u32, String> {
    word(bytes, at, what)
}

/// Checks a `KSMULTIPLE_ITEM` header against the answer's length: `Size` is the length, and
/// returns `Count`.
fn header(answer: &[u8]) -> Result<u32, String> {
    let size = u32_at(answer, 0, "KSMULTIPLE_ITEM.Size")?;
    let count = u32_at(answer, 4, "KSMULTIPLE_ITEM.Count")?;
    if size as usize != answer.len() {
        return Err(format!(
            "KSMULTIPLE_ITEM.Size {size} is not the {} bytes answered",
            answer.len()
        ));
    }
    Ok(count)
}

/// Checks a `KSMULTIPLE_ITEM` list of `entry`-byte entries (a header whose `Size` is the
/// answer's length and whose `Count` entries fill it exactly) and returns the entries.
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_list(answer: &[u8], entry: usize) -> Result<Vec<&[u8]>, String> {
    let count = header(answer)? as usize;
    let body = &answer[8..];
    if count.checked_mul(entry) != Some(body.len()) {
        return Err(format!(
            "KSMULTIPLE_ITEM.Count {count} entries of {entry} bytes do not fill the {} bytes \
             after the header",
            body.len()
        ));
    }
    Ok(body.chunks_exact(entry).collect())
}

/// Checks a `DATARANGES` answer (a `KSMULTIPLE_ITEM`, then `Count` ranges, each starting on an
/// 8-byte boundary, each at least a `KSDATARANGE` and, with the `WAVEFORMATEX` specifier, a
/// whole `KSDATARANGE_AUDIO` with its limits in order, ending where the answer ends) and
/// returns the ranges.
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_data_ranges(answer: &[u8]) -> Result<Vec<DataRange>, String> {
    let count = header(answer)?;
    let mut at = 8usize;
    let mut out = Vec::new();
    for index in 0..count {
        at = at.next_multiple_of(8);
        let size = u32_at(answer, at, &format!("range {index} FormatSize"))? as usize;
        if size < 64 || at + size > answer.len() {
            return Err(format!(
                "range {index} at byte {at}: FormatSize {size} is not a KSDATARANGE within the \
                 {} bytes",
                answer.len()
            ));
        }
        let range = &answer[at..at + size];
        let guid = |offset: usize| guid_at(range, offset).unwrap_or_default();
        let (major, sub_format, specifier) = (guid(16), guid(32), guid(48));
        let audio = if specifier == KSDATAFORMAT_SPECIFIER_WAVEFORMATEX {
            if size < 84 {
                return Err(format!(
                    "range {index}: the WAVEFORMATEX specifier in {size} bytes, not a \
                     KSDATARANGE_AUDIO"
                ));
            }
            let field = |offset: usize, what: &str| u32_at(range, offset, what);
            let limits = AudioLimits {
                max_channels: field(64, "MaximumChannels")?,
                bits: field(68, "MinimumBitsPerSample")?..=field(72, "MaximumBitsPerSample")?,
                rates: field(76, "MinimumSampleFrequency")?..=field(80, "MaximumSampleFrequency")?,
            };
            if limits.max_channels == 0 || limits.bits.is_empty() || limits.rates.is_empty() {
                return Err(format!("range {index}: limits out of order: {limits:?}"));
            }
            Some(limits)
        } else {
            None
        };
        out.push(DataRange {
            major,
            sub_format,
            specifier,
            audio,
        });
        at += size;
    }
    if at != answer.len() {
        return Err(format!(
            "{count} ranges end at byte {at}, the answer at {}",
            answer.len()
        ));
    }
    Ok(out)
}

/// Checks a `CONNECTIONS` answer (a list of 16-byte `KSTOPOLOGY_CONNECTION`s).
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_connections(answer: &[u8]) -> Result<Vec<Connection>, String> {
    parse_list(answer, 16)?
        .into_iter()
        .map(|entry| {
            let field = |at: usize| u32_at(entry, at, "connection");
            Ok(Connection {
                from_node: field(0)?,
                from_pin: field(4)?,
                to_node: field(8)?,
                to_pin: field(12)?,
            })
        })
        .collect()
}

/// Checks a list of GUIDs (`NODES`, `CATEGORIES`).
///
/// # Errors
/// What is wrong with the answer.
pub fn parse_guids(answer: &[u8]) -> Result<Vec<GUID>, String> {
    parse_list(answer, 16).map(|entries| {
        entries
            .into_iter()
            .map(|entry| guid_at(entry, 0).unwrap_or_default())
            .collect()
    })
}

impl Sim {
    /// A GET of a fixed-size value of `size` bytes; the answer must succeed with exactly that
    /// size.
    ///
    /// # Errors
    /// The request and what it answered, when it did not.
    pub fn ks_fixed(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        target: Target,
        (set, id): (GUID, u32),
        size: usize,
    ) -> Result<Vec<u8>, String> {
        let answer = self.ks_get(fdo, filter, target, (set, id), size);
        if answer.status != STATUS_SUCCESS || answer.size as usize != size {
            return Err(format!(
                "{filter} {target:?}: {} answered {} with {} bytes (wanted STATUS_SUCCESS and \
                 {size})",
                property_name(&set, id),
                status_name(answer.status),
                answer.size
            ));
        }
        Ok(answer.value)
    }

    /// A GET of a variable-size value: a size probe (which must answer
    /// `STATUS_BUFFER_OVERFLOW` and a plausible size), then a GET of that size (which must
    /// succeed with exactly that size).
    ///
    /// # Errors
    /// The request and what it answered, when either step failed.
    pub fn ks_sized(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        target: Target,
        property: (GUID, u32),
    ) -> Result<Vec<u8>, String> {
        let probe = self.ks_get(fdo, filter, target, property, 0);
        self.ks_sized_after(fdo, filter, target, property, &probe)
    }

    /// A GET into `capacity` bytes.
    fn ks_get(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        target: Target,
        (set, id): (GUID, u32),
        capacity: usize,
    ) -> PropertyOutcome {
        self.property(
            fdo,
            filter,
            target,
            set,
            id,
            KSPROPERTY_TYPE_GET,
            &[],
            &vec![0; capacity],
        )
    }

    /// The rest of [`Sim::ks_sized`] after its size `probe`.
    fn ks_sized_after(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        target: Target,
        (set, id): (GUID, u32),
        probe: &PropertyOutcome,
    ) -> Result<Vec<u8>, String> {
        let what = format!("{filter} {target:?}: {}", property_name(&set, id));
        if probe.status != STATUS_BUFFER_OVERFLOW || probe.size == 0 || probe.size > MAX_ANSWER {
            return Err(format!(
                "{what}: the size probe answered {} with {} bytes (wanted STATUS_BUFFER_OVERFLOW \
                 and the size)",
                status_name(probe.status),
                probe.size
            ));
        }
        let answer = self.ks_get(fdo, filter, target, (set, id), probe.size as usize);
        if answer.status != STATUS_SUCCESS || answer.size != probe.size {
            return Err(format!(
                "{what}: a GET of the {} bytes the probe named answered {} with {} bytes",
                probe.size,
                status_name(answer.status),
                answer.size
            ));
        }
        Ok(answer.value)
    }

    /// `KSPROPERTY_PIN_CTYPES`: the filter's pin count.
    ///
    /// # Errors
    /// A malformed answer.
    pub fn pin_count(&self, fdo: PDEVICE_OBJECT, filter: &str) -> Result<u32, String> {
        let value = self.ks_fixed(
            fdo,
            filter,
            Target::Filter,
            (KSPROPSETID_Pin, KSPROPERTY_PIN_CTYPES),
            4,
        )?;
        u32_at(&value, 0, "CTYPES")
    }

    /// `DATAFLOW`, `COMMUNICATION` and `CATEGORY` of a pin, each checked for a known value.
    ///
    /// # Errors
    /// A malformed answer.
    pub fn pin_facts(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        pin: u32,
    ) -> Result<PinFacts, String> {
        let ask =
            |id, size| self.ks_fixed(fdo, filter, Target::Pin(pin), (KSPROPSETID_Pin, id), size);
        let data_flow = u32_at(&ask(KSPROPERTY_PIN_DATAFLOW, 4)?, 0, "DATAFLOW")?;
        let communication = u32_at(&ask(KSPROPERTY_PIN_COMMUNICATION, 4)?, 0, "COMMUNICATION")?;
        let category = guid_at(&ask(KSPROPERTY_PIN_CATEGORY, 16)?, 0).unwrap_or_default();
        if !(1..=2).contains(&data_flow) {
            return Err(format!(
                "{filter} pin {pin}: Pin/DATAFLOW {data_flow} is neither IN (1) nor OUT (2)"
            ));
        }
        if communication > 4 {
            return Err(format!(
                "{filter} pin {pin}: Pin/COMMUNICATION {communication} is not a \
                 KSPIN_COMMUNICATION"
            ));
        }
        Ok(PinFacts {
            data_flow,
            communication,
            category,
        })
    }

    /// `KSPROPERTY_PIN_DATARANGES` of a pin, checked by [`parse_data_ranges`].
    ///
    /// # Errors
    /// A malformed answer.
    pub fn pin_data_ranges(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        pin: u32,
    ) -> Result<Vec<DataRange>, String> {
        let answer = self.ks_sized(
            fdo,
            filter,
            Target::Pin(pin),
            (KSPROPSETID_Pin, KSPROPERTY_PIN_DATARANGES),
        )?;
        parse_data_ranges(&answer).map_err(|e| format!("{filter} pin {pin}: Pin/DATARANGES: {e}"))
    }

    /// `KSPROPERTY_PIN_CINSTANCES` of a pin: (possible, current).
    ///
    /// # Errors
    /// A malformed answer.
    pub fn pin_instances(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        pin: u32,
    ) -> Result<(u32, u32), String> {
        let value = self.ks_fixed(
            fdo,
            filter,
            Target::Pin(pin),
            (KSPROPSETID_Pin, KSPROPERTY_PIN_CINSTANCES),
            8,
        )?;
        Ok((
            u32_at(&value, 0, "PossibleCount")?,
            u32_at(&value, 4, "CurrentCount")?,
        ))
    }

    /// `KSPROPERTY_PIN_NAME` of a pin; `None` when there is no name to find
    /// (`STATUS_OBJECT_NAME_NOT_FOUND`).
    ///
    /// # Errors
    /// A malformed answer (any other failure, or a name that is not NUL-terminated UTF-16).
    pub fn pin_name(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
        pin: u32,
    ) -> Result<Option<String>, String> {
        let what = format!("{filter} pin {pin}: Pin/NAME");
        let property = (KSPROPSETID_Pin, KSPROPERTY_PIN_NAME);
        let probe = self.ks_get(fdo, filter, Target::Pin(pin), property, 0);
        if probe.status == STATUS_OBJECT_NAME_NOT_FOUND {
            return Ok(None);
        }
        let answer = self.ks_sized_after(fdo, filter, Target::Pin(pin), property, &probe)?;
        let units: Vec<u16> = answer
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        match units.split_last() {
            Some((0, text)) if answer.len() % 2 == 0 => String::from_utf16(text)
                .map(Some)
                .map_err(|e| format!("{what}: {e}")),
            _ => Err(format!(
                "{what}: {} bytes that are not a NUL-terminated name",
                answer.len()
            )),
        }
    }

    /// `KSPROPERTY_TOPOLOGY_NODES`: each node's type.
    ///
    /// # Errors
    /// A malformed answer.
    pub fn topology_nodes(&self, fdo: PDEVICE_OBJECT, filter: &str) -> Result<Vec<GUID>, String> {
        let answer = self.ks_sized(
            fdo,
            filter,
            Target::Filter,
            (KSPROPSETID_Topology, KSPROPERTY_TOPOLOGY_NODES),
        )?;
        parse_guids(&answer).map_err(|e| format!("{filter}: Topology/NODES: {e}"))
    }

    /// `KSPROPERTY_TOPOLOGY_CONNECTIONS`: the filter's edges.
    ///
    /// # Errors
    /// A malformed answer.
    pub fn topology_connections(
        &self,
        fdo: PDEVICE_OBJECT,
        filter: &str,
    ) -> Result<Vec<Connection>, String> {
        let answer = self.ks_sized(
            fdo,
            filter,
            Target::Filter,
            (KSPROPSETID_Topology, KSPROPERTY_TOPOLOGY_CONNECTIONS),
        )?;
        parse_connections(&answer).map_err(|e| format!("{filter}: Topology/CONNECTIONS: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(bytes: &mut [u8], at: usize, value: u32) {
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// A header, then a 64-byte range and an 88-byte audio range (at 72: already aligned).
    fn ranges() -> Vec<u8> {
        let mut out = vec![0u8; 8 + 64 + 88];
        put(&mut out, 0, 160);
        put(&mut out, 4, 2);
        put(&mut out, 8, 64);
        put(&mut out, 72, 88);
        let specifier = crate::port_properties::guid_bytes(&KSDATAFORMAT_SPECIFIER_WAVEFORMATEX);
        out[72 + 48..72 + 64].copy_from_slice(&specifier);
        for (at, value) in [(136, 2), (140, 16), (144, 16), (148, 44_100), (152, 48_000)] {
            put(&mut out, at, value);
        }
        out
    }

    #[test]
    fn data_ranges_are_read_with_their_limits() {
        let parsed = parse_data_ranges(&ranges()).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].audio, None);
        assert_eq!(
            parsed[1].audio,
            Some(AudioLimits {
                max_channels: 2,
                bits: 16..=16,
                rates: 44_100..=48_000
            })
        );
    }

    #[test]
    fn malformed_data_ranges_are_named() {
        let fails = |bytes: &[u8], needle: &str| {
            let error = parse_data_ranges(bytes).unwrap_err();
            assert!(error.contains(needle), "{error:?} lacks {needle:?}");
        };
        let good = ranges();
        fails(&good[..100], "Size 160");
        let mut bad = good.clone();
        put(&mut bad, 4, 3);
        fails(&bad, "range 2");
        let mut bad = good.clone();
        put(&mut bad, 4, 1);
        fails(&bad, "end at byte 72");
        let mut bad = good.clone();
        put(&mut bad, 8, 32);
        fails(&bad, "FormatSize 32");
        let mut bad = good.clone();
        put(&mut bad, 152, 8_000);
        fails(&bad, "out of order");
        let mut bad = good;
        put(&mut bad, 72, 80);
        put(&mut bad, 0, 152);
        fails(&bad[..152], "not a KSDATARANGE_AUDIO");
    }

    #[test]
    fn lists_must_fill_their_answer() {
        let mut answer = vec![0u8; 8 + 32];
        put(&mut answer, 0, 40);
        put(&mut answer, 4, 2);
        assert_eq!(parse_connections(&answer).unwrap().len(), 2);
        assert_eq!(parse_guids(&answer).unwrap().len(), 2);
        put(&mut answer, 4, 3);
        assert!(parse_connections(&answer).unwrap_err().contains("Count 3"));
        put(&mut answer, 0, 41);
        assert!(parse_guids(&answer).unwrap_err().contains("Size 41"));
        assert!(parse_list(&[0; 4], 16).unwrap_err().contains("beyond"));
    }

    #[test]
    fn pins_are_bridge_or_host_by_communication() {
        let facts = |communication| PinFacts {
            data_flow: 1,
            communication,
            category: GUID::default(),
        };
        assert!(facts(0).is_bridge() && facts(4).is_bridge() && !facts(1).is_bridge());
        assert!(facts(1).is_host() && !facts(2).is_host());
    }
}
