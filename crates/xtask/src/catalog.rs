//! The driver catalog (`.cat`): a PKCS#7 `SignedData` whose content is a certificate trust list
//! (`szOID_CTL`) naming each file of the package by its hash, built with the `RustCrypto`
//! crates `der` and `cms` (no hand-written ASN.1).
//!
//! This is a version 2 catalog (SHA-256, supported from Windows 8, so by every build the
//! package targets):
//! - `subjectUsage` = `szOID_CATALOG_LIST`, `subjectAlgorithm` = `szOID_CATALOG_LIST_MEMBER2`;
//! - each member's identifier is the raw SHA-256 digest of the file, with the attributes
//!   `File` and `OSAttr` (name/value pairs), `MEMBERINFO2` (PE or flat file), and
//!   `SPC_INDIRECT_DATA` carrying the digest: the Authenticode image hash for the `.sys`, the
//!   flat file hash for the `.inf`;
//! - the catalog-level attribute `OS` names the Windows version.
//!
//! The `SignedData` is unsigned here; `osslsigncode sign` adds the signature.

use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerInfos};
use der::asn1::{
    Any, BitString, BmpString, Null, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
};
use der::{Decode, Encode, Sequence, TagMode, TagNumber, ValueOrd};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;

/// `szOID_CTL`.
pub const OID_CTL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.1");
const OID_CATALOG_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.12.1.1");
const OID_CATALOG_LIST_MEMBER2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.12.1.3");
const OID_CAT_NAMEVALUE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.12.2.1");
const OID_CAT_MEMBERINFO2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.12.2.3");
const OID_SPC_INDIRECT_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
const OID_SPC_PE_IMAGE_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
const OID_SPC_CAB_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.25");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");

/// Name/value flags as inf2cat writes them: authenticated, ASCII name and data.
const NAMEVALUE_FLAGS: u32 = 0x1001_0001;

/// What kind of file a member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A PE image, hashed the Authenticode way.
    Pe,
    /// Any other file, hashed flat.
    Flat,
}

/// One file of the package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its file name.
    pub file: String,
    /// How it is hashed.
    pub kind: Kind,
    /// Its SHA-256 digest (Authenticode for PE, flat otherwise).
    pub digest: [u8; 32],
}

#[derive(Clone, Debug, Sequence, ValueOrd)]
struct CatAttribute {
    oid: ObjectIdentifier,
    values: SetOfVec<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct NameValue {
    name: BmpString,
    flags: u32,
    value: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct TrustedSubject {
    identifier: OctetString,
    attributes: SetOfVec<CatAttribute>,
}

#[derive(Clone, Debug, Sequence)]
struct CatExtension {
    oid: ObjectIdentifier,
    value: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct Ctl {
    subject_usage: Vec<ObjectIdentifier>,
    list_identifier: OctetString,
    this_update: UtcTime,
    subject_algorithm: AlgorithmIdentifierOwned,
    trusted_subjects: Vec<TrustedSubject>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<CatExtension>>,
}

#[derive(Clone, Debug, Sequence)]
struct TypeAndValue {
    kind: ObjectIdentifier,
    value: Option<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct IndirectData {
    data: TypeAndValue,
    digest: DigestInfo,
}

#[derive(Clone, Debug, Sequence)]
struct PeImageData {
    flags: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    file: Any,
}

fn any<T: Encode>(value: &T) -> Result<Any, String> {
    let bytes = value.to_der().map_err(|e| e.to_string())?;
    Any::from_der(&bytes).map_err(|e| e.to_string())
}

fn utf16z(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect()
}

fn name_value(name: &str, value: &str) -> Result<NameValue, String> {
    Ok(NameValue {
        name: BmpString::from_utf8(name).map_err(|e| e.to_string())?,
        flags: NAMEVALUE_FLAGS,
        value: OctetString::new(utf16z(value)).map_err(|e| e.to_string())?,
    })
}

fn attribute<T: Encode>(oid: ObjectIdentifier, value: &T) -> Result<CatAttribute, String> {
    let mut values = SetOfVec::new();
    values.insert(any(value)?).map_err(|e| e.to_string())?;
    Ok(CatAttribute { oid, values })
}

fn sha256_algorithm() -> Result<AlgorithmIdentifierOwned, String> {
    Ok(AlgorithmIdentifierOwned {
        oid: OID_SHA256,
        parameters: Some(any(&Null)?),
    })
}

/// `SpcLink` `[2] file SpcString [0] unicode "<<<Obsolete>>>"`, as signing tools write it.
fn obsolete_link() -> Result<Any, String> {
    let unicode = der::asn1::ContextSpecific {
        tag_number: TagNumber::N0,
        tag_mode: TagMode::Implicit,
        value: BmpString::from_utf8("<<<Obsolete>>>").map_err(|e| e.to_string())?,
    };
    let file = der::asn1::ContextSpecific {
        tag_number: TagNumber::N2,
        tag_mode: TagMode::Explicit,
        value: unicode,
    };
    any(&file)
}

fn indirect_data(member: &Member) -> Result<IndirectData, String> {
    let data = match member.kind {
        Kind::Pe => TypeAndValue {
            kind: OID_SPC_PE_IMAGE_DATA,
            value: Some(any(&PeImageData {
                flags: BitString::from_bytes(&[]).map_err(|e| e.to_string())?,
                file: obsolete_link()?,
            })?),
        },
        Kind::Flat => TypeAndValue {
            kind: OID_SPC_CAB_DATA,
            value: Some(obsolete_link()?),
        },
    };
    Ok(IndirectData {
        data,
        digest: DigestInfo {
            algorithm: sha256_algorithm()?,
            digest: OctetString::new(member.digest.to_vec()).map_err(|e| e.to_string())?,
        },
    })
}

/// `CAT_MEMBERINFO2`: `[0] NULL` for a PE image, `[2] NULL` for a flat file.
fn member_info(kind: Kind) -> Result<Any, String> {
    let tag_number = match kind {
        Kind::Pe => TagNumber::N0,
        Kind::Flat => TagNumber::N2,
    };
    any(&der::asn1::ContextSpecific {
        tag_number,
        tag_mode: TagMode::Implicit,
        value: Null,
    })
}

/// The unsigned catalog over `members` for Windows `os` (the `OS` attribute, e.g.
/// `_v100_X64`), listing `os_attr` (e.g. `2:10.0`) per member, dated `now` (seconds since the
/// Unix epoch).
///
/// # Errors
/// An encoding failure (only for values DER cannot hold).
pub fn build(members: &[Member], os: &str, os_attr: &str, now: u64) -> Result<Vec<u8>, String> {
    let mut subjects = Vec::new();
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by_key(|m| m.digest);
    for member in sorted {
        let mut attributes = SetOfVec::new();
        for attribute in [
            attribute(OID_CAT_NAMEVALUE, &name_value("File", &member.file)?)?,
            attribute(OID_CAT_NAMEVALUE, &name_value("OSAttr", os_attr)?)?,
            attribute(OID_CAT_MEMBERINFO2, &member_info(member.kind)?)?,
            attribute(OID_SPC_INDIRECT_DATA, &indirect_data(member)?)?,
        ] {
            attributes.insert(attribute).map_err(|e| e.to_string())?;
        }
        subjects.push(TrustedSubject {
            identifier: OctetString::new(member.digest.to_vec()).map_err(|e| e.to_string())?,
            attributes,
        });
    }
    // A list identifier derived from the members (16 bytes), so that the same package gives
    // the same catalog apart from its date.
    let mut hasher = Sha256::new();
    for member in members {
        hasher.update(member.digest);
    }
    let list_identifier = hasher.finalize()[..16].to_vec();
    let os_value = name_value("OS", os)?.to_der().map_err(|e| e.to_string())?;
    let ctl = Ctl {
        subject_usage: vec![OID_CATALOG_LIST],
        list_identifier: OctetString::new(list_identifier).map_err(|e| e.to_string())?,
        this_update: UtcTime::from_unix_duration(std::time::Duration::from_secs(now))
            .map_err(|e| e.to_string())?,
        subject_algorithm: AlgorithmIdentifierOwned {
            oid: OID_CATALOG_LIST_MEMBER2,
            parameters: Some(any(&Null)?),
        },
        trusted_subjects: subjects,
        extensions: Some(vec![CatExtension {
            oid: OID_CAT_NAMEVALUE,
            value: OctetString::new(os_value).map_err(|e| e.to_string())?,
        }]),
    };
    let signed = SignedData {
        version: cms::content_info::CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: OID_CTL,
            econtent: Some(any(&ctl)?),
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    let info = ContentInfo {
        content_type: OID_SIGNED_DATA,
        content: any(&signed)?,
    };
    info.to_der().map_err(|e| e.to_string())
}

/// The members a catalog lists (file name and digest), read back with the same structures
/// (signed or not: `osslsigncode` keeps the content).
///
/// # Errors
/// The bytes are not such a catalog.
pub fn members(catalog: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let info = ContentInfo::from_der(catalog).map_err(|e| format!("not a ContentInfo: {e}"))?;
    let signed: SignedData = info.content.decode_as().map_err(|e| e.to_string())?;
    if signed.encap_content_info.econtent_type != OID_CTL {
        return Err("the content is not a certificate trust list".into());
    }
    let ctl: Ctl = signed
        .encap_content_info
        .econtent
        .ok_or("no content")?
        .decode_as()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for subject in ctl.trusted_subjects {
        let mut file = None;
        let mut digest = None;
        for attribute in subject.attributes.iter() {
            for value in attribute.values.iter() {
                if attribute.oid == OID_CAT_NAMEVALUE
                    && let Ok(pair) = value.decode_as::<NameValue>()
                    && pair.name.to_string() == "File"
                {
                    let units: Vec<u16> = pair
                        .value
                        .as_bytes()
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .take_while(|&u| u != 0)
                        .collect();
                    file = Some(String::from_utf16_lossy(&units));
                }
                if attribute.oid == OID_SPC_INDIRECT_DATA
                    && let Ok(data) = value.decode_as::<IndirectData>()
                {
                    digest = Some(data.digest.digest.as_bytes().to_vec());
                }
            }
        }
        if let (Some(file), Some(digest)) = (file, digest) {
            if digest != subject.identifier.as_bytes() {
                return Err(format!("{file}: the member tag and its digest differ"));
            }
            out.push((file, digest));
        }
    }
    Ok(out)
}

/// The flat SHA-256 of a file (what an `.inf` is listed by).
#[must_use]
pub fn flat_hash(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The Authenticode SHA-256 image hash of a PE file: everything but the checksum field, the
/// certificate-table directory entry and the certificate table itself, headers first, then the
/// sections in file order, then what follows them.
///
/// # Errors
/// The headers cannot be read.
pub fn authenticode_hash(data: &[u8]) -> Result<[u8; 32], String> {
    let word = |at: usize| -> Result<u32, String> {
        data.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| format!("truncated at {at:#x}"))
    };
    let pe = word(0x3c)? as usize;
    let optional = pe + 24;
    let magic = u16::from_le_bytes([data[optional], data[optional + 1]]);
    if magic != 0x20b {
        return Err("not a PE32+ image".into());
    }
    let checksum = optional + 64;
    // Data directories start at optional + 112 on PE32+; the certificate table is entry 4.
    let cert_entry = optional + 112 + 4 * 8;
    let size_of_headers = word(optional + 60)? as usize;
    let (cert_offset, cert_size) = (word(cert_entry)? as usize, word(cert_entry + 4)? as usize);
    let mut hasher = Sha256::new();
    hasher.update(&data[..checksum]);
    hasher.update(&data[checksum + 4..cert_entry]);
    hasher.update(&data[cert_entry + 8..size_of_headers]);
    let sections = u16::from_le_bytes([data[pe + 6], data[pe + 7]]) as usize;
    let optional_size = u16::from_le_bytes([data[pe + 20], data[pe + 21]]) as usize;
    let table = pe + 24 + optional_size;
    let mut ranges = Vec::new();
    for i in 0..sections {
        let header = table + i * 40;
        let raw_size = word(header + 16)? as usize;
        let raw_at = word(header + 20)? as usize;
        if raw_size > 0 {
            ranges.push((raw_at, raw_size));
        }
    }
    ranges.sort_unstable();
    let mut end = size_of_headers;
    for (at, size) in ranges {
        let section = data
            .get(at..at + size)
            .ok_or_else(|| format!("section at {at:#x} beyond the file"))?;
        hasher.update(section);
        end = end.max(at + size);
    }
    let stop = if cert_size > 0 {
        cert_offset
    } else {
        data.len()
    };
    if stop > end {
        hasher.update(&data[end..stop]);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_parses_back_with_its_members() {
        let files = [
            Member {
                file: "wavertsample.sys".into(),
                kind: Kind::Pe,
                digest: [7; 32],
            },
            Member {
                file: "wavertsample.inf".into(),
                kind: Kind::Flat,
                digest: [3; 32],
            },
        ];
        let catalog = build(&files, "_v100_X64", "2:10.0", 1_700_000_000).unwrap();
        let listed = members(&catalog).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&("wavertsample.sys".to_owned(), vec![7; 32])));
        assert!(listed.contains(&("wavertsample.inf".to_owned(), vec![3; 32])));
        // The same package gives the same catalog at the same time.
        assert_eq!(
            build(&files, "_v100_X64", "2:10.0", 1_700_000_000).unwrap(),
            catalog
        );
        // The content type is the CTL.
        let info = ContentInfo::from_der(&catalog).unwrap();
        let signed: SignedData = info.content.decode_as().unwrap();
        assert_eq!(signed.encap_content_info.econtent_type, OID_CTL);
    }

    #[test]
    fn garbage_is_not_a_catalog() {
        assert!(members(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    }
}
