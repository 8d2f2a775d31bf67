//! The driver catalog (`.cat`): a PKCS#7 `SignedData` whose content is a certificate trust list
//! (`szOID_CTL`) naming each file of the package by its hash, built with the `RustCrypto`
//! crates `der` and `cms` (no hand-written ASN.1), laid out the way inf2cat lays it out.
//!
//! # What inf2cat and the signing portal write (decoded, and what this writer copies)
//!
//! Decoded with `openssl asn1parse -inform DER -i` from catalogs committed to public
//! repositories: `duncanthrax/scream` `Install/driver/{x64,arm64,x86}/scream.cat` (inf2cat and
//! signtool, September 2022) and `nefarius/HidHide` `drivers/x64/HidHide/hidhide.cat` and
//! `drivers/HidHide_ARM64/hidhide.cat` (Microsoft's signing portal, 2023 and 2024). The hashes
//! were recomputed from the `.sys` and `.inf` committed beside the scream catalogs (the `.inf`
//! with CRLF line ends restored: the checkout has LF).
//! - `SignedData` version 1, content type `szOID_CTL` (`1.3.6.1.4.1.311.10.1`); the CTL has no
//!   version, `subjectUsage` = { `szOID_CATALOG_LIST` `…12.1.1` }, a 16-byte `listIdentifier`,
//!   `thisUpdate` (`UTCTime`), `subjectAlgorithm` = `szOID_CATALOG_LIST_MEMBER2` `…12.1.3`
//!   with NULL parameters (a version 2, SHA-256 catalog).
//! - **Every file is listed twice** (4 entries for 2 files), the entries sorted by their tag
//!   bytes whatever the algorithm:
//!   - tagged by the raw 32-byte SHA-256 hash, with `MEMBERINFO2`, `OSAttr`, `File` and
//!     `SPC_INDIRECT_DATA` (digest algorithm sha256, digest = the tag);
//!   - tagged by the raw 20-byte SHA-1 hash, with `MEMBERINFO2`, `OSAttr`, `File` and no
//!     indirect data.
//!
//!   A PE file is hashed the Authenticode way for both (scream x64: SHA-1 `C118843D…`, SHA-256
//!   `955C4560…`, both recomputed from `Scream.sys`), with `MEMBERINFO2` = `[0]` (`8000`) and
//!   indirect data `SPC_PE_IMAGE_DATA` (`1.3.6.1.4.1.311.2.1.15`) =
//!   `300a030205a0a004a2028000` (flags bits `101`, file link: an empty unicode string). The
//!   `.inf` is hashed flat (every byte) for both, with `MEMBERINFO2` = `[2]` (`8200`) and indirect
//!   data `SPC_CAB_DATA` (`1.3.6.1.4.1.311.2.1.25`) = `a2028000` (the same empty link).
//! - Member attributes (`CAT_NAMEVALUE` `…12.2.1` = `SEQUENCE { BMPString name (no NUL),
//!   INTEGER flags, OCTET STRING value (UTF-16LE, NUL-terminated) }`), flags `0x10010001` on
//!   every one: `OSAttr` = `2:10.0` and `File` = the file name **lowercased** (`Scream.sys`
//!   is listed as `scream.sys`, `HidHide.inf` as `hidhide.inf`). In each entry's attribute set
//!   the order is the DER order: `MEMBERINFO2`, `OSAttr`, `File`, `SPC_INDIRECT_DATA`.
//! - Catalog attributes (CTL extensions `[0]`, each `{ …12.2.1, OCTET STRING (name/value) }`,
//!   flags `0x10010001`): inf2cat writes `OS` first, then `HWID1`, `HWID2`, … = the INF's
//!   hardware IDs lowercased (scream's `*Scream` became `scream`: the leading `*` is dropped;
//!   the portal's `root\HidHide` became `root\hidhide`; one ID listed once although scream's
//!   INF names it in four models sections). inf2cat's `OS` values: `_v100_X64` (scream x64,
//!   `/os:10_X64`), `Server_v100_ARM64` (scream arm64, `/os:Server10_ARM64`), `_v100` (scream
//!   x86). The portal writes `OS` = `_v100_X64,_v100_X64_RS1,…,_v100_X64_22H2` and
//!   `_v100_ARM64_RS3,…,_v100_ARM64_24H2`, and adds `Submission ID`, `BundleID`,
//!   `Universal`, `Declarative`.
//! - The `OS` value is inf2cat's name of the `/os` release without its `Windows` prefix: a
//!   decompiled inf2cat 3.3 (`Signability.SupportedOperatingSystems`) maps `10_X64` to
//!   `Windows_v100_X64`, `Server10_ARM64` to `WindowsServer_v100_ARM64`, `10_X86` to
//!   `Windows_v100` (the three values seen above) and `10_RS3_ARM64` to
//!   `Windows_v100_ARM64_RS3`: so `/os:10_RS3_ARM64` gives `_v100_ARM64_RS3`, which is also the
//!   portal's name of that release ([`os_attribute`]). No real catalog carries `_v100_ARM64`.
//! - Signed attributes of signtool's signature (scream): `SpcSpOpusInfo`
//!   (`1.3.6.1.4.1.311.2.1.12`, an empty `SEQUENCE` without `/d`), `contentType` = `szOID_CTL`,
//!   `SpcStatementType` (individual code signing), `messageDigest`; no `signingTime`. The
//!   portal's: the same four, its `SpcSpOpusInfo` carrying a program name and a URL.
//!
//! This writer makes that layout: the same entries, attributes, flags and encodings (a test
//! rebuilds scream's x64 entries and catalog attributes byte for byte). What differs is only
//! the list identifier (derived from the hashes, so that a package gives the same catalog at
//! the same time) and what the signer adds (`osslsigncode` writes `signingTime` too).
//!
//! The `SignedData` is unsigned here; `osslsigncode sign` adds the signature, and [`check`]
//! checks the structure of the signed file.

use std::fmt::Write as _;

use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerInfos};
use der::asn1::{Any, BmpString, Null, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::{Decode, Encode, Sequence, TagMode, TagNumber, Tagged, ValueOrd};
use sha1::Sha1;
use sha2::digest::Output;
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
/// `SPC_SP_OPUS_INFO_OBJID`, the signed attribute signtool always writes.
pub const OID_SPC_SP_OPUS_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
const OID_SPC_STATEMENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.11");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");

/// Name/value flags as inf2cat writes them: authenticated, ASCII name and data.
pub const NAMEVALUE_FLAGS: u32 = 0x1001_0001;

/// inf2cat's `SPC_PE_IMAGE_DATA` value: `SpcPeImageData { flags '101'B, file [0] SpcLink
/// [2] SpcString [0] "" }`.
pub const PE_IMAGE_DATA: [u8; 12] = [
    0x30, 0x0a, 0x03, 0x02, 0x05, 0xa0, 0xa0, 0x04, 0xa2, 0x02, 0x80, 0x00,
];
/// inf2cat's `SPC_CAB_DATA` value: the `SpcLink` `[2] SpcString [0] ""`.
pub const CAB_DATA: [u8; 4] = [0xa2, 0x02, 0x80, 0x00];

/// The `OS` catalog attribute inf2cat writes for its `/os` value `inf2cat_os` (one release,
/// matched without regard to case as inf2cat does), or `None` for a value not known here.
/// See the module documentation for where each comes from.
#[must_use]
pub fn os_attribute(inf2cat_os: &str) -> Option<&'static str> {
    const TABLE: [(&str, &str); 4] = [
        // Seen in inf2cat's catalogs (scream).
        ("10_X86", "_v100"),
        ("10_X64", "_v100_X64"),
        ("Server10_ARM64", "Server_v100_ARM64"),
        // inf2cat's Windows_v100_ARM64_RS3, the portal's name for the same release.
        ("10_RS3_ARM64", "_v100_ARM64_RS3"),
    ];
    TABLE
        .iter()
        .find(|(os, _)| os.eq_ignore_ascii_case(inf2cat_os))
        .map(|&(_, value)| value)
}

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
    /// Its file name (listed lowercased, as inf2cat lists it).
    pub file: String,
    /// How it is hashed.
    pub kind: Kind,
    /// Its SHA-256 digest (Authenticode for PE, flat otherwise).
    pub sha256: [u8; 32],
    /// Its SHA-1 digest (Authenticode for PE, flat otherwise).
    pub sha1: [u8; 20],
}

impl Member {
    /// The member for the file `file` whose bytes are `data`, hashed as `kind` wants.
    ///
    /// # Errors
    /// A PE file whose headers cannot be read.
    pub fn hash(file: &str, kind: Kind, data: &[u8]) -> Result<Self, String> {
        let (sha256, sha1) = match kind {
            Kind::Pe => (authenticode_hash(data)?, authenticode_sha1(data)?),
            Kind::Flat => (flat_hash(data), Sha1::digest(data).into()),
        };
        Ok(Self {
            file: file.to_owned(),
            kind,
            sha256,
            sha1,
        })
    }
}

/// The catalog-wide values.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    /// The `OS` catalog attribute (see [`os_attribute`]).
    pub os: &'a str,
    /// The `OSAttr` every member carries, e.g. `2:10.0`.
    pub os_attr: &'a str,
    /// The `HWID1`, `HWID2`, … catalog attributes, as [`hardware_ids`] gives them.
    pub hardware_ids: &'a [String],
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

fn indirect_data(member: &Member) -> Result<IndirectData, String> {
    let (kind, value) = match member.kind {
        Kind::Pe => (OID_SPC_PE_IMAGE_DATA, &PE_IMAGE_DATA[..]),
        Kind::Flat => (OID_SPC_CAB_DATA, &CAB_DATA[..]),
    };
    Ok(IndirectData {
        data: TypeAndValue {
            kind,
            value: Some(Any::from_der(value).map_err(|e| e.to_string())?),
        },
        digest: DigestInfo {
            algorithm: sha256_algorithm()?,
            digest: OctetString::new(member.sha256.to_vec()).map_err(|e| e.to_string())?,
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

/// The `CAT_MEMBERINFO2` context tag number a kind of file carries.
#[must_use]
pub fn member_info_tag(kind: Kind) -> u8 {
    match kind {
        Kind::Pe => 0,
        Kind::Flat => 2,
    }
}

/// The unsigned catalog over `members` with the catalog-wide values `header`, dated `now`
/// (seconds since the Unix epoch): two entries per member (SHA-256 with indirect data, SHA-1
/// without), sorted by tag, and the catalog attributes `OS`, `HWID1`, ….
///
/// # Errors
/// An encoding failure (only for values DER cannot hold).
pub fn build(members: &[Member], header: &Header, now: u64) -> Result<Vec<u8>, String> {
    let mut subjects = Vec::new();
    for member in members {
        let file = member.file.to_lowercase();
        let common = [
            attribute(OID_CAT_NAMEVALUE, &name_value("File", &file)?)?,
            attribute(OID_CAT_NAMEVALUE, &name_value("OSAttr", header.os_attr)?)?,
            attribute(OID_CAT_MEMBERINFO2, &member_info(member.kind)?)?,
        ];
        let mut sha256_attributes = SetOfVec::new();
        let mut sha1_attributes = SetOfVec::new();
        for attribute in common {
            sha1_attributes
                .insert(attribute.clone())
                .map_err(|e| e.to_string())?;
            sha256_attributes
                .insert(attribute)
                .map_err(|e| e.to_string())?;
        }
        sha256_attributes
            .insert(attribute(OID_SPC_INDIRECT_DATA, &indirect_data(member)?)?)
            .map_err(|e| e.to_string())?;
        subjects.push(TrustedSubject {
            identifier: OctetString::new(member.sha256.to_vec()).map_err(|e| e.to_string())?,
            attributes: sha256_attributes,
        });
        subjects.push(TrustedSubject {
            identifier: OctetString::new(member.sha1.to_vec()).map_err(|e| e.to_string())?,
            attributes: sha1_attributes,
        });
    }
    subjects.sort_by(|a, b| a.identifier.as_bytes().cmp(b.identifier.as_bytes()));
    // A list identifier derived from the members (16 bytes), so that the same package gives
    // the same catalog apart from its date.
    let mut hasher = Sha256::new();
    for member in members {
        hasher.update(member.sha256);
    }
    let list_identifier = hasher.finalize()[..16].to_vec();
    let mut extensions = Vec::new();
    let hwids = header
        .hardware_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("HWID{}", i + 1), id.as_str()));
    for (name, value) in std::iter::once(("OS".to_owned(), header.os)).chain(hwids) {
        let pair = name_value(&name, value)?
            .to_der()
            .map_err(|e| e.to_string())?;
        extensions.push(CatExtension {
            oid: OID_CAT_NAMEVALUE,
            value: OctetString::new(pair).map_err(|e| e.to_string())?,
        });
    }
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
        extensions: Some(extensions),
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

/// The hardware IDs inf2cat lists as `HWID1`, `HWID2`, …: every ID named on a line of a
/// models section (the sections `[Manufacturer]` names, plain and decorated), in order, once
/// each, lowercased, without a leading `*`. A `%string%` ID is looked up in `[Strings]`.
/// (Compatible IDs after the hardware ID are included too; the real catalogs seen have one ID
/// per model line, so how inf2cat treats them is not known.)
#[must_use]
pub fn hardware_ids(inf: &str) -> Vec<String> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for raw in inf.lines() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            sections.push((line[1..line.len() - 1].trim().to_lowercase(), Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut() {
            lines.push(line.to_owned());
        }
    }
    let section = |name: &str| {
        sections
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, lines)| lines.iter().map(String::as_str))
            .collect::<Vec<&str>>()
    };
    let strings: Vec<(String, String)> = section("strings")
        .iter()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_lowercase(), unquote(v.trim()).to_owned()))
        .collect();
    let resolve = |value: &str| -> String {
        let value = unquote(value.trim());
        match value.strip_prefix('%').and_then(|v| v.strip_suffix('%')) {
            Some(key) => strings
                .iter()
                .find(|(k, _)| *k == key.to_lowercase())
                .map_or_else(|| value.to_owned(), |(_, v)| v.clone()),
            None => value.to_owned(),
        }
    };
    let mut models = Vec::new();
    for line in section("manufacturer") {
        let Some((_, value)) = line.split_once('=') else {
            continue;
        };
        let mut parts = value.split(',').map(|p| resolve(p).to_lowercase());
        let Some(base) = parts.next() else { continue };
        models.push(base.clone());
        models.extend(
            parts
                .filter(|d| !d.is_empty())
                .map(|d| format!("{base}.{d}")),
        );
    }
    let mut ids: Vec<String> = Vec::new();
    for model in models {
        for line in section(&model) {
            let Some((_, value)) = line.split_once('=') else {
                continue;
            };
            for id in value.split(',').skip(1) {
                let id = resolve(id);
                let id = id.trim_start_matches('*').to_lowercase();
                if !id.is_empty() && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// The line without its `;` comment (a `;` inside double quotes is text).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// A decoded name/value pair (`CAT_NAMEVALUE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The name.
    pub name: String,
    /// The flags.
    pub flags: u32,
    /// The value, without its terminating NUL.
    pub value: String,
    /// Whether the value ended with a NUL, as inf2cat writes it.
    pub terminated: bool,
}

impl Pair {
    fn decode(any: &Any) -> Result<Self, String> {
        let pair: NameValue = any.decode_as().map_err(|e| format!("name/value: {e}"))?;
        let units: Vec<u16> = pair
            .value
            .as_bytes()
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let terminated = units.last() == Some(&0);
        let text = if terminated {
            &units[..units.len() - 1]
        } else {
            &units[..]
        };
        Ok(Self {
            name: pair.name.to_string(),
            flags: pair.flags,
            value: String::from_utf16_lossy(text),
            terminated,
        })
    }
}

/// A decoded attribute of a catalog entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryAttribute {
    /// A name/value pair (`File`, `OSAttr`).
    NameValue(Pair),
    /// `CAT_MEMBERINFO2` with its context tag number (`[0]` PE, `[2]` flat file).
    MemberInfo2(u8),
    /// `SPC_INDIRECT_DATA`.
    IndirectData {
        /// The data type (`SPC_PE_IMAGE_DATA`, `SPC_CAB_DATA`).
        data_type: ObjectIdentifier,
        /// The DER of the data value.
        data: Vec<u8>,
        /// The digest algorithm.
        algorithm: ObjectIdentifier,
        /// The digest.
        digest: Vec<u8>,
    },
    /// Anything else, by its OID.
    Other(ObjectIdentifier),
}

/// A decoded catalog entry (CTL trusted subject).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The tag (subject identifier): the raw hash.
    pub tag: Vec<u8>,
    /// Its attributes, in the order stored.
    pub attributes: Vec<EntryAttribute>,
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02X}");
        out
    })
}

fn oid_name(oid: &ObjectIdentifier) -> String {
    match *oid {
        OID_SPC_PE_IMAGE_DATA => "SPC_PE_IMAGE_DATA".into(),
        OID_SPC_CAB_DATA => "SPC_CAB_DATA".into(),
        OID_SHA256 => "sha256".into(),
        OID_SHA1 => "sha1".into(),
        other => other.to_string(),
    }
}

impl Entry {
    /// The hash algorithm the tag's length implies (`SHA256`, `SHA1`, or the length).
    #[must_use]
    pub fn algorithm(&self) -> String {
        match self.tag.len() {
            32 => "SHA256".into(),
            20 => "SHA1".into(),
            n => format!("{n}-byte"),
        }
    }

    /// The value of the name/value attribute `name`.
    #[must_use]
    pub fn pair(&self, name: &str) -> Option<&Pair> {
        self.attributes.iter().find_map(|a| match a {
            EntryAttribute::NameValue(pair) if pair.name == name => Some(pair),
            _ => None,
        })
    }

    /// The indirect data's digest, if the entry has indirect data.
    #[must_use]
    pub fn indirect_digest(&self) -> Option<&[u8]> {
        self.attributes.iter().find_map(|a| match a {
            EntryAttribute::IndirectData { digest, .. } => Some(digest.as_slice()),
            _ => None,
        })
    }

    /// One line: algorithm, tag in hex, then the attributes in the order stored, e.g.
    /// `SHA1   0386AB… MEMBERINFO2 [2]; OSAttr = "2:10.0" (0x10010001); File = "x.inf" (0x10010001)`.
    #[must_use]
    pub fn describe(&self) -> String {
        let attributes: Vec<String> = self
            .attributes
            .iter()
            .map(|a| match a {
                EntryAttribute::NameValue(p) => format!(
                    "{} = \"{}\" ({:#010x}{})",
                    p.name,
                    p.value,
                    p.flags,
                    if p.terminated { "" } else { ", no NUL" }
                ),
                EntryAttribute::MemberInfo2(tag) => format!("MEMBERINFO2 [{tag}]"),
                EntryAttribute::IndirectData {
                    data_type,
                    data,
                    algorithm,
                    digest,
                } => format!(
                    "SPC_INDIRECT_DATA {} {}, {} {}",
                    oid_name(data_type),
                    upper_hex(data),
                    oid_name(algorithm),
                    upper_hex(digest)
                ),
                EntryAttribute::Other(oid) => format!("attribute {oid}"),
            })
            .collect();
        format!(
            "{:<6} {}  {}",
            self.algorithm(),
            upper_hex(&self.tag),
            attributes.join("; ")
        )
    }
}

/// A catalog, decoded.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The CTL's `subjectUsage`.
    pub subject_usage: Vec<ObjectIdentifier>,
    /// The CTL's `subjectAlgorithm`.
    pub subject_algorithm: ObjectIdentifier,
    /// The entries, in the order stored.
    pub entries: Vec<Entry>,
    /// The catalog attributes (name/value pairs), in the order stored.
    pub attributes: Vec<Pair>,
    /// How many signers the `SignedData` has.
    pub signers: usize,
    /// The first signer's signed attributes, by OID, in the order stored.
    pub signed_attributes: Vec<ObjectIdentifier>,
}

fn decode_attribute(oid: ObjectIdentifier, value: &Any) -> Result<EntryAttribute, String> {
    Ok(match oid {
        OID_CAT_NAMEVALUE => EntryAttribute::NameValue(Pair::decode(value)?),
        OID_CAT_MEMBERINFO2 => EntryAttribute::MemberInfo2(value.tag().octet() & 0x1f),
        OID_SPC_INDIRECT_DATA => {
            let data: IndirectData = value
                .decode_as()
                .map_err(|e| format!("indirect data: {e}"))?;
            EntryAttribute::IndirectData {
                data_type: data.data.kind,
                data: match data.data.value {
                    Some(v) => v.to_der().map_err(|e| e.to_string())?,
                    None => Vec::new(),
                },
                algorithm: data.digest.algorithm.oid,
                digest: data.digest.digest.as_bytes().to_vec(),
            }
        }
        other => EntryAttribute::Other(other),
    })
}

/// Decodes a catalog, signed or not.
///
/// # Errors
/// The bytes are not a catalog.
pub fn inspect(catalog: &[u8]) -> Result<Inspection, String> {
    let info = ContentInfo::from_der(catalog).map_err(|e| format!("not a ContentInfo: {e}"))?;
    if info.content_type != OID_SIGNED_DATA {
        return Err("the content is not SignedData".into());
    }
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
    let mut entries = Vec::new();
    for subject in ctl.trusted_subjects {
        let mut attributes = Vec::new();
        for attribute in subject.attributes.iter() {
            for value in attribute.values.iter() {
                attributes.push(decode_attribute(attribute.oid, value)?);
            }
        }
        entries.push(Entry {
            tag: subject.identifier.as_bytes().to_vec(),
            attributes,
        });
    }
    let mut attributes = Vec::new();
    for extension in ctl.extensions.unwrap_or_default() {
        if extension.oid == OID_CAT_NAMEVALUE {
            let any = Any::from_der(extension.value.as_bytes()).map_err(|e| e.to_string())?;
            attributes.push(Pair::decode(&any)?);
        }
    }
    let signed_attributes = signed
        .signer_infos
        .0
        .iter()
        .next()
        .and_then(|s| s.signed_attrs.as_ref())
        .map(|attrs| attrs.iter().map(|a| a.oid).collect())
        .unwrap_or_default();
    Ok(Inspection {
        subject_usage: ctl.subject_usage,
        subject_algorithm: ctl.subject_algorithm.oid,
        entries,
        attributes,
        signers: signed.signer_infos.0.len(),
        signed_attributes,
    })
}

/// The entries a catalog lists: each entry's `File` name and tag (both hashes of every file),
/// read back with the same structures (signed or not: `osslsigncode` keeps the content).
///
/// # Errors
/// The bytes are not such a catalog, or an entry's indirect-data digest differs from its tag.
pub fn members(catalog: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for entry in inspect(catalog)?.entries {
        let Some(file) = entry.pair("File").map(|p| p.value.clone()) else {
            continue;
        };
        if entry.indirect_digest().is_some_and(|d| d != entry.tag) {
            return Err(format!("{file}: the member tag and its digest differ"));
        }
        out.push((file, entry.tag));
    }
    Ok(out)
}

/// What a catalog must hold, for [`check`].
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The files.
    pub members: &'a [Member],
    /// The catalog-wide values.
    pub header: Header<'a>,
    /// Whether the catalog must be signed (one signer, with `SpcSpOpusInfo`, `contentType`,
    /// `SpcStatementType` and `messageDigest` among its signed attributes).
    pub signed: bool,
}

fn check_pair(pair: Option<&Pair>, name: &str, value: &str, what: &str) -> Result<(), String> {
    let pair = pair.ok_or_else(|| format!("{what}: no {name}"))?;
    if pair.value != value || pair.flags != NAMEVALUE_FLAGS || !pair.terminated {
        return Err(format!(
            "{what}: {name} = {:?} (flags {:#010x}, NUL {}), expected {value:?} (flags {NAMEVALUE_FLAGS:#010x}, NUL-terminated)",
            pair.value, pair.flags, pair.terminated
        ));
    }
    Ok(())
}

/// Checks the SHA-256 (`sha256`) or SHA-1 entry of `member` in `found`.
fn check_entry(
    found: &Inspection,
    member: &Member,
    sha256: bool,
    os_attr: &str,
) -> Result<(), String> {
    let file = member.file.to_lowercase();
    let tag = if sha256 {
        &member.sha256[..]
    } else {
        &member.sha1[..]
    };
    let what = format!("{file} ({})", if sha256 { "SHA-256" } else { "SHA-1" });
    let entry = found
        .entries
        .iter()
        .find(|e| e.tag == tag)
        .ok_or_else(|| format!("{what}: no entry tagged {}", upper_hex(tag)))?;
    let expected_count = if sha256 { 4 } else { 3 };
    if entry.attributes.len() != expected_count {
        return Err(format!(
            "{what}: {} attributes, expected {expected_count}",
            entry.attributes.len()
        ));
    }
    check_pair(entry.pair("File"), "File", &file, &what)?;
    check_pair(entry.pair("OSAttr"), "OSAttr", os_attr, &what)?;
    let info = member_info_tag(member.kind);
    if !entry
        .attributes
        .contains(&EntryAttribute::MemberInfo2(info))
    {
        return Err(format!("{what}: no MEMBERINFO2 [{info}]"));
    }
    let indirect = entry.attributes.iter().find_map(|a| match a {
        EntryAttribute::IndirectData {
            data_type,
            data,
            algorithm,
            digest,
        } => Some((data_type, data, algorithm, digest)),
        _ => None,
    });
    match (sha256, indirect) {
        (false, None) => {}
        (false, Some(_)) => return Err(format!("{what}: has indirect data")),
        (true, None) => return Err(format!("{what}: no indirect data")),
        (true, Some((data_type, data, algorithm, digest))) => {
            let (want_type, want_data) = match member.kind {
                Kind::Pe => (OID_SPC_PE_IMAGE_DATA, &PE_IMAGE_DATA[..]),
                Kind::Flat => (OID_SPC_CAB_DATA, &CAB_DATA[..]),
            };
            if *data_type != want_type || data.as_slice() != want_data {
                return Err(format!(
                    "{what}: indirect data {} {}",
                    oid_name(data_type),
                    upper_hex(data)
                ));
            }
            if *algorithm != OID_SHA256 || digest.as_slice() != tag {
                return Err(format!("{what}: indirect digest is not the SHA-256 tag"));
            }
        }
    }
    Ok(())
}

/// Checks that `catalog` has inf2cat's structure for `expected`: `MEMBER2` subject
/// algorithm; two entries per file, sorted by tag, a 32-byte SHA-256 one with exactly
/// `MEMBERINFO2`, `OSAttr`, `File` and `SPC_INDIRECT_DATA` (inf2cat's data value, sha256,
/// digest = tag) and a 20-byte SHA-1 one with exactly `MEMBERINFO2`, `OSAttr` and `File`;
/// `MEMBERINFO2` `[0]` for PE and `[2]` for flat files; the file name lowercased; every
/// name/value pair with inf2cat's flags and a NUL; the catalog attributes exactly `OS`,
/// `HWID1`, …; and, if it must be signed, `SpcSpOpusInfo` among the signed attributes.
///
/// # Errors
/// What differs.
pub fn check(catalog: &[u8], expected: &Expected) -> Result<Inspection, String> {
    let found = inspect(catalog)?;
    if found.subject_usage != [OID_CATALOG_LIST] {
        return Err(format!("subject usage {:?}", found.subject_usage));
    }
    if found.subject_algorithm != OID_CATALOG_LIST_MEMBER2 {
        return Err(format!(
            "subject algorithm {} (not CATALOG_LIST_MEMBER2)",
            found.subject_algorithm
        ));
    }
    if found.entries.len() != 2 * expected.members.len() {
        return Err(format!(
            "{} entries for {} files (expected 2 per file)",
            found.entries.len(),
            expected.members.len()
        ));
    }
    if !found.entries.windows(2).all(|w| w[0].tag < w[1].tag) {
        return Err("the entries are not sorted by tag".into());
    }
    for member in expected.members {
        for sha256 in [true, false] {
            check_entry(&found, member, sha256, expected.header.os_attr)?;
        }
    }
    let mut names = vec![("OS".to_owned(), expected.header.os.to_owned())];
    for (i, id) in expected.header.hardware_ids.iter().enumerate() {
        names.push((format!("HWID{}", i + 1), id.clone()));
    }
    if found.attributes.len() != names.len() {
        return Err(format!(
            "catalog attributes {:?}, expected {:?}",
            found.attributes.iter().map(|p| &p.name).collect::<Vec<_>>(),
            names.iter().map(|(n, _)| n).collect::<Vec<_>>()
        ));
    }
    for (pair, (name, value)) in found.attributes.iter().zip(&names) {
        if pair.name != *name {
            return Err(format!(
                "catalog attribute {:?}, expected {name:?}",
                pair.name
            ));
        }
        check_pair(Some(pair), name, value, "catalog")?;
    }
    if expected.signed {
        if found.signers != 1 {
            return Err(format!("{} signers, expected 1", found.signers));
        }
        for (oid, name) in [
            (OID_SPC_SP_OPUS_INFO, "SpcSpOpusInfo"),
            (OID_CONTENT_TYPE, "contentType"),
            (OID_SPC_STATEMENT_TYPE, "SpcStatementType"),
            (OID_MESSAGE_DIGEST, "messageDigest"),
        ] {
            if !found.signed_attributes.contains(&oid) {
                return Err(format!("the signature has no {name} signed attribute"));
            }
        }
    }
    Ok(found)
}

/// The flat SHA-256 of a file (what an `.inf` is listed by).
#[must_use]
pub fn flat_hash(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The Authenticode SHA-256 image hash of a PE file (see [`authenticode`]).
///
/// # Errors
/// The headers cannot be read.
pub fn authenticode_hash(data: &[u8]) -> Result<[u8; 32], String> {
    Ok(authenticode::<Sha256>(data)?.into())
}

/// The Authenticode SHA-1 image hash of a PE file (see [`authenticode`]).
///
/// # Errors
/// The headers cannot be read.
pub fn authenticode_sha1(data: &[u8]) -> Result<[u8; 20], String> {
    Ok(authenticode::<Sha1>(data)?.into())
}

/// The Authenticode image hash of a PE file with the digest `D`: everything but the checksum
/// field, the certificate-table directory entry and the certificate table itself, headers
/// first, then the sections in file order, then what follows them.
///
/// # Errors
/// The headers cannot be read.
pub fn authenticode<D: Digest>(data: &[u8]) -> Result<Output<D>, String> {
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
    let mut hasher = D::new();
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
    Ok(hasher.finalize())
}

#[cfg(test)]
mod tests;
