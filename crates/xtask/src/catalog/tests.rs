//! Structural tests of the catalogs [`super::build`] writes: the entries, their tags and
//! attributes, the catalog attributes, and the signed attributes [`super::check`] requires,
//! against what inf2cat writes (scream's x64 catalog, rebuilt byte for byte).

use super::*;
use cms::cert::x509::attr::Attribute;
use cms::cert::x509::ext::pkix::SubjectKeyIdentifier;
use cms::signed_data::{SignerIdentifier, SignerInfo};

/// The end of the CTL of `duncanthrax/scream` `Install/driver/x64/scream.cat` (inf2cat,
/// `/os:10_X64`, 2022-09-17): its `trustedSubjects` (4 entries) and its catalog attributes
/// (`OS` = `_v100_X64`, `HWID1` = `scream`), bytes 129 to 1080 of the file.
const SCREAM_X64_TAIL: &str = "\
    3082034730819b04140386abe04de14079f304071b7898fdaa2e96e1083181823010060a2b0601040182370c\
    0203310282003034060a2b0601040182370c0201312630241e0c004f00530041007400740072020410010001\
    040e32003a00310030002e00300000003038060a2b0601040182370c0201312a30281e0800460069006c0065\
    0204100100010416730063007200650061006d002e0069006e00660000003081fe0420541c9ad90617c1bad0\
    1d0cade37778ce4ba657679328f0c5696ac35c6c9deea63181d93010060a2b0601040182370c020331028200\
    3034060a2b0601040182370c0201312630241e0c004f00530041007400740072020410010001040e32003a00\
    310030002e00300000003038060a2b0601040182370c0201312a30281e0800460069006c0065020410010001\
    0416730063007200650061006d002e0069006e00660000003055060a2b060104018237020104314730453010\
    060a2b060104018237020119a20280003031300d060960864801650304020105000420541c9ad90617c1bad0\
    1d0cade37778ce4ba657679328f0c5696ac35c6c9deea6308201060420955c45608aa94bcd9ea4f696f98ac7\
    65064d8723901c7c863ae454103494e1fa3181e13010060a2b0601040182370c0203310280003034060a2b06\
    01040182370c0201312630241e0c004f00530041007400740072020410010001040e32003a00310030002e00\
    300000003038060a2b0601040182370c0201312a30281e0800460069006c0065020410010001041673006300\
    7200650061006d002e007300790073000000305d060a2b060104018237020104314f304d3018060a2b060104\
    01823702010f300a030205a0a004a20280003031300d060960864801650304020105000420955c45608aa94b\
    cd9ea4f696f98ac765064d8723901c7c863ae454103494e1fa30819b0414c118843d92f0ea3d509442ba874f\
    b6cd4d1185923181823010060a2b0601040182370c0203310280003034060a2b0601040182370c0201312630\
    241e0c004f00530041007400740072020410010001040e32003a00310030002e00300000003038060a2b0601\
    040182370c0201312a30281e0800460069006c00650204100100010416730063007200650061006d002e0073\
    00790073000000a06a30683032060a2b0601040182370c0201042430221e04004f005302041001000104145f\
    0076003100300030005f0058003600340000003032060a2b0601040182370c0201042430221e0a0048005700\
    4900440031020410010001040e730063007200650061006d000000\
";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn array<const N: usize>(text: &str) -> [u8; N] {
    unhex(text).try_into().unwrap()
}

/// The models sections of scream's INF (as committed), for its hardware IDs.
const SCREAM_INF: &str = "[Manufacturer]\r\n\
    %MfgName%=MicrosoftDS,NTAMD64,NTx86,NTARM,NTARM64\r\n\
    \r\n\
    [MicrosoftDS.NTAMD64]\r\n\
    %Scream.DeviceDesc%=Scream,*Scream\r\n\
    \r\n\
    [MicrosoftDS.NTx86]\r\n\
    %Scream.DeviceDesc%=Scream,*Scream\r\n\
    \r\n\
    [MicrosoftDS.NTARM]\r\n\
    %Scream.DeviceDesc%=Scream,*Scream\r\n\
    \r\n\
    [MicrosoftDS.NTARM64]\r\n\
    %Scream.DeviceDesc%=Scream,*Scream\r\n";

fn scream_members() -> [Member; 2] {
    [
        Member {
            file: "Scream.sys".into(),
            kind: Kind::Pe,
            sha256: array("955c45608aa94bcd9ea4f696f98ac765064d8723901c7c863ae454103494e1fa"),
            sha1: array("c118843d92f0ea3d509442ba874fb6cd4d118592"),
        },
        Member {
            file: "Scream.inf".into(),
            kind: Kind::Flat,
            sha256: array("541c9ad90617c1bad01d0cade37778ce4ba657679328f0c5696ac35c6c9deea6"),
            sha1: array("0386abe04de14079f304071b7898fdaa2e96e108"),
        },
    ]
}

/// The content octets of a catalog's CTL.
fn ctl_content(catalog: &[u8]) -> Vec<u8> {
    let info = ContentInfo::from_der(catalog).unwrap();
    let signed: SignedData = info.content.decode_as().unwrap();
    signed.encap_content_info.econtent.unwrap().value().to_vec()
}

#[test]
fn scream_x64_is_rebuilt_byte_for_byte() {
    let hwids = hardware_ids(SCREAM_INF);
    assert_eq!(hwids, ["scream"]);
    let header = Header {
        os: os_attribute("10_X64").unwrap(),
        os_attr: "2:10.0",
        hardware_ids: &hwids,
    };
    let catalog = build(&scream_members(), &header, 1_663_402_146).unwrap();
    let ours = ctl_content(&catalog);
    let theirs = unhex(SCREAM_X64_TAIL);
    assert!(
        ours.ends_with(&theirs),
        "ours:   {}\ntheirs: {}",
        upper_hex(&ours),
        upper_hex(&theirs)
    );
    // The head: subjectUsage, a 16-byte list identifier, thisUpdate, MEMBER2 with NULL.
    let head = &ours[..ours.len() - theirs.len()];
    assert_eq!(&head[..14], &unhex("300c060a2b0601040182370c0101")[..]);
    assert_eq!(&head[14..16], &[0x04, 16]);
    assert_eq!(&head[32..47], b"\x17\x0d220917080906Z");
    assert_eq!(&head[47..], &unhex("300e060a2b0601040182370c01030500")[..]);
    check(
        &catalog,
        &Expected {
            members: &scream_members(),
            header,
            signed: false,
        },
    )
    .unwrap();
}

fn package_members() -> [Member; 2] {
    [
        Member {
            file: "wavertsample.sys".into(),
            kind: Kind::Pe,
            sha256: [7; 32],
            sha1: [8; 20],
        },
        Member {
            file: "wavertsample.inf".into(),
            kind: Kind::Flat,
            sha256: [3; 32],
            sha1: [4; 20],
        },
    ]
}

/// The INF template with its architecture stamped (the date and version do not matter to the
/// hardware IDs).
fn template_inf(arch: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../inf/wavertsample.inx"),
    )
    .unwrap()
    .replace("$ARCH$", arch)
}

/// A catalog of the package's two files (made-up hashes) with the template's hardware IDs.
fn package_catalog(os: &str) -> (Vec<u8>, Vec<String>) {
    let hwids = hardware_ids(&template_inf("amd64"));
    let header = Header {
        os,
        os_attr: "2:10.0",
        hardware_ids: &hwids,
    };
    (
        build(&package_members(), &header, 1_700_000_000).unwrap(),
        hwids,
    )
}

#[test]
fn every_file_is_listed_by_sha256_with_indirect_data_and_by_sha1_without() {
    let (catalog, _) = package_catalog("_v100_X64");
    let found = inspect(&catalog).unwrap();
    assert_eq!(found.subject_usage, [OID_CATALOG_LIST]);
    assert_eq!(found.subject_algorithm, OID_CATALOG_LIST_MEMBER2);
    // Two entries per file, sorted by tag: the INF's SHA-256 (03…), its SHA-1 (04…), the
    // image's SHA-256 (07…), its SHA-1 (08…).
    assert_eq!(found.entries.len(), 4);
    let tags: Vec<(u8, usize)> = found
        .entries
        .iter()
        .map(|e| (e.tag[0], e.tag.len()))
        .collect();
    assert_eq!(tags, [(3, 32), (4, 20), (7, 32), (8, 20)]);
    for entry in &found.entries {
        let file = &entry.pair("File").unwrap().value;
        let (pe, sha256) = (file == "wavertsample.sys", entry.tag.len() == 32);
        let mut expected = vec![
            EntryAttribute::MemberInfo2(if pe { 0 } else { 2 }),
            EntryAttribute::NameValue(Pair {
                name: "OSAttr".into(),
                flags: 0x1001_0001,
                value: "2:10.0".into(),
                terminated: true,
            }),
            EntryAttribute::NameValue(Pair {
                name: "File".into(),
                flags: 0x1001_0001,
                value: file.clone(),
                terminated: true,
            }),
        ];
        if sha256 {
            expected.push(EntryAttribute::IndirectData {
                data_type: if pe {
                    OID_SPC_PE_IMAGE_DATA
                } else {
                    OID_SPC_CAB_DATA
                },
                data: if pe {
                    unhex("300a030205a0a004a2028000")
                } else {
                    unhex("a2028000")
                },
                algorithm: OID_SHA256,
                digest: entry.tag.clone(),
            });
        }
        // Exactly these, in inf2cat's (DER) order.
        assert_eq!(entry.attributes, expected, "{}", entry.describe());
    }
    let files: Vec<&str> = found
        .entries
        .iter()
        .map(|e| e.pair("File").unwrap().value.as_str())
        .collect();
    assert_eq!(
        files,
        [
            "wavertsample.inf",
            "wavertsample.inf",
            "wavertsample.sys",
            "wavertsample.sys"
        ]
    );
    // The catalog attributes: OS, then the hardware IDs.
    assert_eq!(
        found.attributes,
        [
            Pair {
                name: "OS".into(),
                flags: 0x1001_0001,
                value: "_v100_X64".into(),
                terminated: true,
            },
            Pair {
                name: "HWID1".into(),
                flags: 0x1001_0001,
                value: "root\\wavertsample".into(),
                terminated: true,
            },
            Pair {
                name: "HWID2".into(),
                flags: 0x1001_0001,
                value: "pci\\ven_1af4&dev_1059".into(),
                terminated: true,
            },
        ]
    );
    // Unsigned: no signer.
    assert_eq!(found.signers, 0);
    assert!(found.signed_attributes.is_empty());
}

#[test]
fn the_os_attribute_is_what_inf2cat_writes_for_the_os_value() {
    assert_eq!(os_attribute("10_X64"), Some("_v100_X64"));
    assert_eq!(os_attribute("10_RS3_ARM64"), Some("_v100_ARM64_RS3"));
    assert_eq!(os_attribute("10_rs3_arm64"), Some("_v100_ARM64_RS3"));
    assert_eq!(os_attribute("Server10_ARM64"), Some("Server_v100_ARM64"));
    assert_eq!(os_attribute("10_X86"), Some("_v100"));
    // No inf2cat /os value is plain 10_ARM64.
    assert_eq!(os_attribute("10_ARM64"), None);
    let (catalog, _) = package_catalog(os_attribute("10_RS3_ARM64").unwrap());
    let found = inspect(&catalog).unwrap();
    assert_eq!(found.attributes[0].name, "OS");
    assert_eq!(found.attributes[0].value, "_v100_ARM64_RS3");
}

#[test]
fn file_names_are_listed_lowercased() {
    let members = scream_members();
    let header = Header {
        os: "_v100_X64",
        os_attr: "2:10.0",
        hardware_ids: &[],
    };
    let listed = members_of(&build(&members, &header, 0).unwrap());
    assert_eq!(
        listed,
        ["scream.inf", "scream.inf", "scream.sys", "scream.sys"]
    );
}

fn members_of(catalog: &[u8]) -> Vec<String> {
    members(catalog)
        .unwrap()
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

#[test]
fn members_lists_both_tags_of_each_file() {
    let (catalog, _) = package_catalog("_v100_X64");
    let listed = members(&catalog).unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.contains(&("wavertsample.sys".to_owned(), vec![7; 32])));
    assert!(listed.contains(&("wavertsample.sys".to_owned(), vec![8; 20])));
    assert!(listed.contains(&("wavertsample.inf".to_owned(), vec![3; 32])));
    assert!(listed.contains(&("wavertsample.inf".to_owned(), vec![4; 20])));
    // The same package gives the same catalog at the same time.
    assert_eq!(package_catalog("_v100_X64").0, catalog);
    // The content type is the CTL.
    let info = ContentInfo::from_der(&catalog).unwrap();
    let signed: SignedData = info.content.decode_as().unwrap();
    assert_eq!(signed.encap_content_info.econtent_type, OID_CTL);
}

#[test]
fn check_refuses_what_differs() {
    let (catalog, hwids) = package_catalog("_v100_X64");
    let members = package_members();
    let expected = |os, hardware_ids, members, signed| Expected {
        members,
        header: Header {
            os,
            os_attr: "2:10.0",
            hardware_ids,
        },
        signed,
    };
    assert!(check(&catalog, &expected("_v100_X64", &hwids, &members, false)).is_ok());
    let error = |e: Expected| check(&catalog, &e).unwrap_err();
    assert!(error(expected("_v100_ARM64_RS3", &hwids, &members, false)).contains("OS"));
    assert!(error(expected("_v100_X64", &[], &members, false)).contains("catalog attributes"));
    // A catalog that lists one of the two bindings is not this package's.
    assert!(
        error(expected("_v100_X64", &hwids[..1], &members, false)).contains("catalog attributes")
    );
    let mut wrong = package_members();
    wrong[0].sha1[0] ^= 1;
    assert!(error(expected("_v100_X64", &hwids, &wrong, false)).contains("SHA-1"));
    let mut kind = package_members();
    kind[1].kind = Kind::Pe;
    assert!(error(expected("_v100_X64", &hwids, &kind, false)).contains("MEMBERINFO2"));
    assert!(error(expected("_v100_X64", &hwids, &members[..1], false)).contains("entries"));
    assert!(error(expected("_v100_X64", &hwids, &members, true)).contains("signers"));
}

/// The catalog with a (structurally complete, cryptographically meaningless) signer whose
/// signed attributes are `oids`.
fn with_signer(catalog: &[u8], oids: &[ObjectIdentifier]) -> Vec<u8> {
    let info = ContentInfo::from_der(catalog).unwrap();
    let mut data: SignedData = info.content.decode_as().unwrap();
    let mut attributes = SetOfVec::new();
    for oid in oids {
        let mut values = SetOfVec::new();
        values.insert(any(&Null).unwrap()).unwrap();
        attributes.insert(Attribute { oid: *oid, values }).unwrap();
    }
    let signer = SignerInfo {
        version: cms::content_info::CmsVersion::V1,
        sid: SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(
            OctetString::new(vec![1; 20]).unwrap(),
        )),
        digest_alg: sha256_algorithm().unwrap(),
        signed_attrs: Some(attributes),
        signature_algorithm: sha256_algorithm().unwrap(),
        signature: OctetString::new(vec![0; 8]).unwrap(),
        unsigned_attrs: None,
    };
    data.signer_infos.0.insert(signer).unwrap();
    ContentInfo {
        content_type: OID_SIGNED_DATA,
        content: any(&data).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn a_signed_catalog_must_carry_spc_sp_opus_info() {
    let (catalog, hwids) = package_catalog("_v100_X64");
    let members = package_members();
    let expected = Expected {
        members: &members,
        header: Header {
            os: "_v100_X64",
            os_attr: "2:10.0",
            hardware_ids: &hwids,
        },
        signed: true,
    };
    let signtool_like = [
        OID_SPC_SP_OPUS_INFO,
        OID_CONTENT_TYPE,
        OID_SPC_STATEMENT_TYPE,
        OID_MESSAGE_DIGEST,
    ];
    let signed = with_signer(&catalog, &signtool_like);
    let found = check(&signed, &expected).unwrap();
    assert_eq!(found.signers, 1);
    assert!(found.signed_attributes.contains(&OID_SPC_SP_OPUS_INFO));
    let without = with_signer(&catalog, &signtool_like[1..]);
    assert!(
        check(&without, &expected)
            .unwrap_err()
            .contains("SpcSpOpusInfo")
    );
}

#[test]
fn hardware_ids_come_from_the_models_sections() {
    assert_eq!(hardware_ids(SCREAM_INF), ["scream"]);
    let hidhide = "[Manufacturer]\n%ManufacturerName% = Standard,NTamd64\n\
                   [Standard.NTamd64]\n%HidHideDeviceName% = HidHide_Device,root\\HidHide\n";
    assert_eq!(hardware_ids(hidhide), ["root\\hidhide"]);
    // Strings, compatible IDs, comments, quotes, and other sections ignored.
    let inf = "[Manufacturer]\n\"Maker\" = Models, NTamd64.10.0 ; comment\n\
               [Models.NTamd64.10.0]\n%Desc% = Install, %Id%, PCI\\CC_0401 ; \"x\"\n\
               [Install]\nAddReg = x\n[Strings]\nDesc = \"A; b\"\nId = \"PCI\\VEN_1234&DEV_5678\"\n";
    assert_eq!(
        hardware_ids(inf),
        ["pci\\ven_1234&dev_5678", "pci\\cc_0401"]
    );
    // The sample's own INF template: the root-enumerated device and the virtio-sound PCI
    // function, in models order, lowercased as inf2cat writes them.
    for arch in ["amd64", "arm64"] {
        assert_eq!(
            hardware_ids(&template_inf(arch)),
            ["root\\wavertsample", "pci\\ven_1af4&dev_1059"],
            "{arch}"
        );
    }
}

/// A minimal PE32+ image: headers only (no sections), 0x200 bytes, then 0x40 trailing bytes.
fn tiny_pe() -> Vec<u8> {
    let mut data = vec![0u8; 0x240];
    data[0x3c] = 0x40;
    data[0x40..0x44].copy_from_slice(b"PE\0\0");
    data[0x54] = 240; // SizeOfOptionalHeader
    data[0x58..0x5a].copy_from_slice(&0x20b_u16.to_le_bytes());
    data[0x58 + 60..0x58 + 64].copy_from_slice(&0x200_u32.to_le_bytes());
    data[0x58 + 64..0x58 + 68].copy_from_slice(&[0xaa; 4]); // CheckSum
    for (i, byte) in data.iter_mut().enumerate().skip(0x200) {
        *byte = u8::try_from(i % 251).unwrap();
    }
    data
}

#[test]
fn pe_members_are_hashed_the_authenticode_way_with_both_algorithms() {
    let pe = tiny_pe();
    // By hand: everything but the checksum and the certificate-table entry.
    let (checksum, cert) = (0x58 + 64, 0x58 + 112 + 32);
    let mut kept = pe[..checksum].to_vec();
    kept.extend_from_slice(&pe[checksum + 4..cert]);
    kept.extend_from_slice(&pe[cert + 8..]);
    let member = Member::hash("x.sys", Kind::Pe, &pe).unwrap();
    assert_eq!(member.sha256, <[u8; 32]>::from(Sha256::digest(&kept)));
    assert_eq!(member.sha1, <[u8; 20]>::from(Sha1::digest(&kept)));
    // The checksum does not count.
    let mut other = pe.clone();
    other[checksum] ^= 0xff;
    assert_eq!(Member::hash("x.sys", Kind::Pe, &other).unwrap(), member);
    let flat = Member::hash("x.inf", Kind::Flat, b"abc").unwrap();
    assert_eq!(
        upper_hex(&flat.sha1),
        "A9993E364706816ABA3E25717850C26C9CD0D89D"
    );
    assert_eq!(flat.sha256, flat_hash(b"abc"));
}

#[test]
fn garbage_is_not_a_catalog() {
    assert!(members(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    assert!(inspect(&[]).is_err());
}
