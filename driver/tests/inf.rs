//! Checks the INF template `inf/wavertsample.inx` against `wavert_sample::identity`, stamped for
//! each architecture, and proves that the checker reports the mistakes it is meant to catch.

mod inf {
    pub mod check;
    pub mod parse;
}

use std::fmt::Write as _;

use inf::check::{
    Arch, Binding, Finding, MSI_KEY, Rule, Stamp, check, message_number_limit, parse_guid,
    parse_number, stamp,
};
use inf::parse::Inf;
use wavert_sample::identity;

const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../inf/wavertsample.inx"
));

const DATE: &str = "05/20/2026";
const VERSION: &str = "0.1.0.0";

fn stamped(template: &str, arch: Arch) -> String {
    stamp(
        template,
        &Stamp {
            arch,
            date: DATE,
            version: VERSION,
        },
    )
}

fn report(findings: &[Finding]) -> String {
    findings.iter().fold(String::new(), |mut out, f| {
        let _ = write!(out, "\n  {f}");
        out
    })
}

/// Applies each `(from, to)` edit to the template (each `from` must occur exactly once),
/// stamps it for amd64 and checks it.
fn findings_after(edits: &[(&str, &str)]) -> Vec<Finding> {
    let mut text = TEMPLATE.to_owned();
    for (from, to) in edits {
        assert_eq!(
            text.matches(from).count(),
            1,
            "the edit target {from:?} must occur once"
        );
        text = text.replacen(from, to, 1);
    }
    check(&stamped(&text, Arch::Amd64), Arch::Amd64)
}

/// Like [`findings_after`], but each `from` must occur exactly once in the text of the
/// template's section `[section]` (its header up to the next header), and only there is it
/// replaced: for lines both bindings' sections repeat. Checked for `arch`.
fn findings_after_in(arch: Arch, section: &str, edits: &[(&str, &str)]) -> Vec<Finding> {
    let header = format!("\n[{section}]\n");
    assert_eq!(
        TEMPLATE.matches(&header).count(),
        1,
        "[{section}] must occur once"
    );
    let start = TEMPLATE.find(&header).unwrap() + 1;
    let end = TEMPLATE[start + 1..]
        .find("\n[")
        .map_or(TEMPLATE.len(), |at| start + 1 + at + 1);
    let mut body = TEMPLATE[start..end].to_owned();
    for (from, to) in edits {
        assert_eq!(
            body.matches(from).count(),
            1,
            "the edit target {from:?} must occur once in [{section}]"
        );
        body = body.replacen(from, to, 1);
    }
    let text = format!("{}{body}{}", &TEMPLATE[..start], &TEMPLATE[end..]);
    check(&stamped(&text, arch), arch)
}

#[track_caller]
fn assert_reported(findings: &[Finding], rule: Rule, needle: &str) {
    assert!(
        findings
            .iter()
            .any(|f| f.rule == rule && f.message.contains(needle)),
        "expected a {rule:?} finding mentioning {needle:?}; got:{}",
        report(findings)
    );
}

#[test]
fn the_template_passes_every_check_for_amd64_and_arm64() {
    for arch in Arch::ALL {
        let findings = check(&stamped(TEMPLATE, arch), arch);
        assert!(findings.is_empty(), "{arch:?}:{}", report(&findings));
    }
}

#[test]
fn stamping_fills_every_placeholder_and_keeps_the_signature() {
    for arch in Arch::ALL {
        let text = stamped(TEMPLATE, arch);
        for token in inf::check::PLACEHOLDERS {
            assert!(TEMPLATE.contains(token), "the template uses {token}");
            assert!(!text.contains(token), "{token} survives stamping");
        }
        let inf = Inf::parse(&text).unwrap();
        let version = inf.section("Version").unwrap();
        assert_eq!(version.entry("Signature").unwrap().value(0), "$Windows NT$");
        assert_eq!(version.entry("DriverVer").unwrap().values, [DATE, VERSION]);
        let manufacturer = inf.section("Manufacturer").unwrap();
        assert_eq!(manufacturer.lines[0].values[1], arch.decoration());
        assert!(
            inf.section(&format!("WaveRtSample.{}", arch.decoration()))
                .is_some()
        );
    }
}

#[test]
fn the_unstamped_template_is_reported_as_such() {
    let findings = check(TEMPLATE, Arch::Amd64);
    for token in inf::check::PLACEHOLDERS {
        assert_reported(&findings, Rule::Placeholder, token);
    }
}

#[test]
fn an_inf_stamped_for_one_architecture_fails_for_the_other() {
    let findings = check(&stamped(TEMPLATE, Arch::Arm64), Arch::Amd64);
    assert_reported(&findings, Rule::Models, "NTamd64.10.0");
}

#[test]
fn every_subdevice_name_appears_as_a_reference_string() {
    let inf = Inf::parse(&stamped(TEMPLATE, Arch::Amd64)).unwrap();
    let interfaces = inf.section("WaveRtSample_Device.NT.Interfaces").unwrap();
    for subdevice in wavert_sample::identity::SUBDEVICES {
        let categories: Vec<u128> = interfaces
            .entries("AddInterface")
            .filter(|line| line.value(1) == subdevice.name)
            .map(|line| parse_guid(line.value(0)).unwrap())
            .collect();
        let expected: Vec<u128> = subdevice.categories.iter().map(|c| c.guid()).collect();
        assert_eq!(categories, expected, "{}", subdevice.name);
    }
}

/// The `AddReg` lines (`root, subkey, name, flags, value`) of the sections `section`'s `AddReg`
/// directives name.
fn addreg_lines<'a>(inf: &'a Inf, section: &str) -> Vec<&'a inf::parse::Line> {
    inf.section(section)
        .unwrap()
        .list("AddReg")
        .into_iter()
        .flat_map(|name| inf.section(name).unwrap().lines.iter())
        .collect()
}

#[test]
fn both_hardware_ids_are_bound_in_each_architectures_models_section_to_their_own_install() {
    for arch in Arch::ALL {
        let inf = Inf::parse(&stamped(TEMPLATE, arch)).unwrap();
        let models = inf
            .section(&format!("WaveRtSample.{}", arch.decoration()))
            .unwrap();
        let install_of = |id: &str| -> Vec<&str> {
            models
                .lines
                .iter()
                .filter(|l| l.values[1..].iter().any(|v| v.eq_ignore_ascii_case(id)))
                .map(|l| l.value(0))
                .collect()
        };
        assert_eq!(
            install_of(identity::HARDWARE_ID),
            ["WaveRtSample_Device"],
            "{arch:?}"
        );
        assert_eq!(
            install_of(identity::PCI_HARDWARE_ID),
            ["WaveRtSample_Virtio"],
            "{arch:?}"
        );
        assert_eq!(models.lines.len(), 2, "{arch:?}");
    }
    assert_eq!(
        Binding::ALL.map(Binding::hardware_id),
        [identity::HARDWARE_ID, identity::PCI_HARDWARE_ID]
    );
}

#[test]
fn msi_x_is_enabled_in_the_pci_bindings_hardware_key_only() {
    for arch in Arch::ALL {
        let inf = Inf::parse(&stamped(TEMPLATE, arch)).unwrap();
        let msi = |section: &str| -> Vec<(String, String, String)> {
            addreg_lines(&inf, section)
                .into_iter()
                .filter(|l| {
                    l.value(1)
                        .to_ascii_lowercase()
                        .starts_with("interrupt management")
                })
                .map(|l| {
                    assert_eq!(l.value(0), "HKR");
                    assert_eq!(l.value(1), MSI_KEY);
                    (
                        l.value(2).to_owned(),
                        l.value(3).to_owned(),
                        l.value(4).to_owned(),
                    )
                })
                .collect()
        };
        let dword =
            |name: &str, value: u32| (name.to_owned(), "0x00010001".to_owned(), value.to_string());
        assert_eq!(
            msi("WaveRtSample_Virtio.NT.HW"),
            [
                dword("MSISupported", 1),
                dword("MessageNumberLimit", message_number_limit())
            ],
            "{arch:?}"
        );
        for software_or_root in [
            "WaveRtSample_Virtio.NT",
            "WaveRtSample_Device.NT",
            "WaveRtSample_Device.NT.HW",
        ] {
            assert_eq!(msi(software_or_root), [], "{arch:?}: [{software_or_root}]");
        }
    }
    // Vector 0 for configuration changes and one per queue: control, event, tx, rx.
    assert_eq!(message_number_limit(), 5);
}

#[test]
fn the_pci_binding_shares_the_root_devices_files_service_registry_and_interfaces() {
    let inf = Inf::parse(&stamped(TEMPLATE, Arch::Amd64)).unwrap();
    let lines = |section: &str| inf.section(section).unwrap().lines.clone();
    assert_eq!(
        lines("WaveRtSample_Virtio.NT")
            .iter()
            .map(|l| (l.key.clone(), l.values.clone()))
            .collect::<Vec<_>>(),
        lines("WaveRtSample_Device.NT")
            .iter()
            .map(|l| (l.key.clone(), l.values.clone()))
            .collect::<Vec<_>>()
    );
    // The root device's hardware key as before: only DeviceType and Security.
    assert_eq!(
        inf.section("WaveRtSample_Device.NT.HW")
            .unwrap()
            .list("AddReg"),
        ["WaveRtSample_Device.HW.AddReg"]
    );
    assert_eq!(
        inf.section("WaveRtSample_Virtio.NT.HW")
            .unwrap()
            .list("AddReg"),
        [
            "WaveRtSample_Device.HW.AddReg",
            "WaveRtSample_Virtio.MSI.AddReg"
        ]
    );
    let values = |section: &str| -> Vec<Vec<String>> {
        lines(section).into_iter().map(|l| l.values).collect()
    };
    assert_eq!(
        values("WaveRtSample_Virtio.NT.Services"),
        values("WaveRtSample_Device.NT.Services")
    );
    // The function declares the root device's interfaces, to the same install sections, and
    // those of its further endpoints.
    let root = values("WaveRtSample_Device.NT.Interfaces");
    let function = values("WaveRtSample_Virtio.NT.Interfaces");
    assert!(root.iter().all(|line| function.contains(line)));
    assert_eq!(
        function.len(),
        root.len() * identity::MAX_ENDPOINTS_PER_FLOW
    );
    let further: Vec<&str> = function
        .iter()
        .filter(|line| !root.contains(line))
        .map(|line| line[2].as_str())
        .collect();
    for endpoint in identity::ENDPOINTS.iter().flat_map(|flow| &flow[1..]) {
        for subdevice in [endpoint.wave, endpoint.topology] {
            assert!(
                further.contains(&format!("WaveRtSample.{}", subdevice.name).as_str()),
                "{}",
                subdevice.name
            );
        }
    }
}

// ----- the checker catches mistakes ------------------------------------------------------------

#[test]
fn a_wrong_reference_string_is_reported() {
    let findings = findings_after_in(
        Arch::Amd64,
        "WaveRtSample_Device.NT.Interfaces",
        &[(
            "AddInterface = %KSCATEGORY_RENDER%,   %KSNAME_WaveSpeaker%,",
            "AddInterface = %KSCATEGORY_RENDER%,   WaveSpeakers,",
        )],
    );
    assert_reported(&findings, Rule::ReferenceString, "\"WaveSpeakers\"");
    assert_reported(
        &findings,
        Rule::Interface,
        "[WaveRtSample_Device.NT.Interfaces]: WaveSpeaker is registered 0 times under KSCATEGORY_RENDER",
    );
}

#[test]
fn a_reference_string_that_differs_only_in_case_is_reported() {
    let findings = findings_after(&[(
        "KSNAME_TopologyMicrophone  = \"TopologyMicrophone\"",
        "KSNAME_TopologyMicrophone  = \"topologyMicrophone\"",
    )]);
    assert_reported(&findings, Rule::ReferenceString, "differs in case");
}

#[test]
fn an_addreg_outside_hkr_is_reported() {
    let findings = findings_after(&[(
        "HKR, , Driver, , wavertsample.sys\n",
        "HKR, , Driver, , wavertsample.sys\nHKLM, SOFTWARE\\WaveRtSample, Enabled, 0x00010001, 1\n",
    )]);
    assert_reported(&findings, Rule::AddRegRoot, "HKLM");
}

#[test]
fn an_addreg_outside_hkr_in_an_interface_section_is_reported() {
    let findings = findings_after(&[(
        "HKR, , FriendlyName, , %WaveMicrophone.FriendlyName%\n",
        "HKR, , FriendlyName, , %WaveMicrophone.FriendlyName%\nHKCU, Software\\Sample, X, , y\n",
    )]);
    assert_reported(&findings, Rule::AddRegRoot, "HKCU");
}

#[test]
fn a_build_number_decoration_is_reported() {
    let findings = findings_after(&[
        (
            "= WaveRtSample, NT$ARCH$.10.0\n",
            "= WaveRtSample, NT$ARCH$.10.0...14310\n",
        ),
        (
            "[WaveRtSample.NT$ARCH$.10.0]",
            "[WaveRtSample.NT$ARCH$.10.0...14310]",
        ),
    ]);
    assert_reported(
        &findings,
        Rule::BuildNumberDecoration,
        "NTamd64.10.0...14310",
    );
    assert_reported(&findings, Rule::Models, "ROOT\\WaveRtSample");
}

#[test]
fn a_build_number_decoration_next_to_the_plain_one_is_still_reported() {
    let findings = findings_after(&[(
        "= WaveRtSample, NT$ARCH$.10.0\n",
        "= WaveRtSample, NT$ARCH$.10.0, NT$ARCH$.10.0...14310\n",
    )]);
    assert_reported(&findings, Rule::BuildNumberDecoration, "14310");
}

#[test]
fn a_missing_hardware_id_is_reported() {
    let findings = findings_after(&[(", ROOT\\WaveRtSample", ", ROOT\\WaveRtSampl")]);
    assert_reported(&findings, Rule::Models, "ROOT\\WaveRtSample");
}

#[test]
fn a_missing_pci_hardware_id_is_reported_for_each_architecture() {
    for arch in Arch::ALL {
        let models = "WaveRtSample.NT$ARCH$.10.0";
        let removed = findings_after_in(
            arch,
            models,
            &[(
                "%VirtioDeviceDescription% = WaveRtSample_Virtio, PCI\\VEN_1AF4&DEV_1059\n",
                "",
            )],
        );
        assert_reported(
            &removed,
            Rule::Models,
            &format!(
                "no {} models section lists hardware ID PCI\\VEN_1AF4&DEV_1059",
                arch.decoration()
            ),
        );
        // Only the PCI binding is missing: the root one is still found and checked.
        assert_eq!(removed.len(), 1, "{arch:?}:{}", report(&removed));
        let mistyped = findings_after_in(
            arch,
            models,
            &[(", PCI\\VEN_1AF4&DEV_1059\n", ", PCI\\VEN_1AF4&DEV_1058\n")],
        );
        assert_reported(&mistyped, Rule::Models, identity::PCI_HARDWARE_ID);
    }
}

#[test]
fn a_pci_binding_sharing_the_root_devices_install_is_reported() {
    let findings = findings_after(&[(
        "= WaveRtSample_Virtio, PCI\\VEN_1AF4&DEV_1059",
        "= WaveRtSample_Device, PCI\\VEN_1AF4&DEV_1059",
    )]);
    assert_reported(
        &findings,
        Rule::Models,
        "share install section [WaveRtSample_Device]",
    );
    // Which leaves the PCI function without message-signaled interrupts.
    assert_reported(
        &findings,
        Rule::Interrupts,
        "[WaveRtSample_Device.NT.HW] (PCI\\VEN_1AF4&DEV_1059): HKR,Interrupt Management\\MessageSignaledInterruptProperties,MSISupported is missing",
    );
}

#[test]
fn msi_supported_zero_is_reported() {
    let findings = findings_after(&[(
        "MSISupported,       0x00010001, 1\n",
        "MSISupported,       0x00010001, 0\n",
    )]);
    assert_reported(
        &findings,
        Rule::Interrupts,
        "[WaveRtSample_Virtio.NT.HW] (PCI\\VEN_1AF4&DEV_1059): HKR,Interrupt Management\\MessageSignaledInterruptProperties,MSISupported is 0, expected 1 as REG_DWORD",
    );
    assert_eq!(findings.len(), 1, "{}", report(&findings));
}

#[test]
fn msi_supported_written_as_a_string_is_reported() {
    let findings = findings_after(&[(
        "MSISupported,       0x00010001, 1\n",
        "MSISupported,       , 1\n",
    )]);
    assert_reported(
        &findings,
        Rule::Interrupts,
        "MSISupported is not a REG_DWORD, expected 1 as REG_DWORD",
    );
}

#[test]
fn a_missing_or_wrong_message_number_limit_is_reported() {
    let missing = findings_after(&[(
        "HKR, Interrupt Management\\MessageSignaledInterruptProperties, MessageNumberLimit, 0x00010001, 5\n",
        "",
    )]);
    assert_reported(
        &missing,
        Rule::Interrupts,
        "HKR,Interrupt Management\\MessageSignaledInterruptProperties,MessageNumberLimit is missing, expected 5 as REG_DWORD",
    );
    assert_eq!(missing.len(), 1, "{}", report(&missing));
    let fewer = findings_after(&[(
        "MessageNumberLimit, 0x00010001, 5\n",
        "MessageNumberLimit, 0x00010001, 4\n",
    )]);
    assert_reported(
        &fewer,
        Rule::Interrupts,
        "MessageNumberLimit is 4, expected 5 as REG_DWORD",
    );
}

#[test]
fn msi_settings_on_the_root_binding_are_reported() {
    let findings = findings_after_in(
        Arch::Amd64,
        "WaveRtSample_Device.NT.HW",
        &[(
            "AddReg = WaveRtSample_Device.HW.AddReg\n",
            "AddReg = WaveRtSample_Device.HW.AddReg, WaveRtSample_Virtio.MSI.AddReg\n",
        )],
    );
    assert_reported(
        &findings,
        Rule::Interrupts,
        "[WaveRtSample_Virtio.MSI.AddReg] (ROOT\\WaveRtSample) sets HKR,Interrupt Management\\MessageSignaledInterruptProperties,MSISupported",
    );
    assert_reported(&findings, Rule::Interrupts, "MessageNumberLimit");
    assert!(
        findings
            .iter()
            .all(|f| f.rule == Rule::Interrupts && f.message.contains("ROOT\\WaveRtSample")),
        "{}",
        report(&findings)
    );
    // In the hardware section both bindings share, it is reported for the root binding too.
    let shared = findings_after(&[(
        "HKR, , DeviceType, 0x00010001, 0x0000001D\n",
        "HKR, , DeviceType, 0x00010001, 0x0000001D\n\
         HKR, Interrupt Management\\MessageSignaledInterruptProperties, MSISupported, 0x00010001, 1\n",
    )]);
    assert_reported(
        &shared,
        Rule::Interrupts,
        "[WaveRtSample_Device.HW.AddReg] (ROOT\\WaveRtSample) sets",
    );
}

#[test]
fn msi_settings_in_the_software_key_are_reported() {
    let text = TEMPLATE
        .replacen(
            "[WaveRtSample_Virtio.NT.HW]\nAddReg = WaveRtSample_Device.HW.AddReg, WaveRtSample_Virtio.MSI.AddReg\n",
            "[WaveRtSample_Virtio.NT.HW]\nAddReg = WaveRtSample_Device.HW.AddReg\n",
            1,
        )
        .replacen(
            "[WaveRtSample_Virtio.NT]\nInclude   = ks.inf, wdmaudio.inf\n",
            "[WaveRtSample_Virtio.NT]\nAddReg    = WaveRtSample_Virtio.MSI.AddReg\nInclude   = ks.inf, wdmaudio.inf\n",
            1,
        );
    assert_ne!(text, TEMPLATE);
    let findings = check(&stamped(&text, Arch::Amd64), Arch::Amd64);
    assert_reported(
        &findings,
        Rule::Interrupts,
        "[WaveRtSample_Virtio.MSI.AddReg] (PCI\\VEN_1AF4&DEV_1059) writes HKR,Interrupt Management\\MessageSignaledInterruptProperties,MSISupported to the driver's software key",
    );
    assert_reported(&findings, Rule::Interrupts, "MSISupported is missing");
}

#[test]
fn a_tampered_pci_interfaces_section_is_reported_as_such() {
    let findings = findings_after_in(
        Arch::Arm64,
        "WaveRtSample_Virtio.NT.Interfaces",
        &[(
            "AddInterface = %KSCATEGORY_RENDER%,   %KSNAME_WaveSpeaker%, WaveRtSample.WaveSpeaker\n",
            "",
        )],
    );
    assert_reported(
        &findings,
        Rule::Interface,
        "[WaveRtSample_Virtio.NT.Interfaces]: WaveSpeaker is registered 0 times under KSCATEGORY_RENDER",
    );
    assert_eq!(findings.len(), 1, "{}", report(&findings));
}

#[test]
fn a_further_endpoint_missing_from_the_pci_binding_or_on_the_root_binding_is_reported() {
    let missing = findings_after_in(
        Arch::Amd64,
        "WaveRtSample_Virtio.NT.Interfaces",
        &[(
            "AddInterface = %KSCATEGORY_CAPTURE%,  %KSNAME_WaveMicrophone3%, WaveRtSample.WaveMicrophone3\n",
            "",
        )],
    );
    assert_reported(
        &missing,
        Rule::Interface,
        "[WaveRtSample_Virtio.NT.Interfaces]: WaveMicrophone3 is registered 0 times under KSCATEGORY_CAPTURE",
    );
    assert_eq!(missing.len(), 1, "{}", report(&missing));
    // The virtual device never registers a second endpoint: its binding must not declare one.
    let on_root = findings_after_in(
        Arch::Amd64,
        "WaveRtSample_Device.NT.Interfaces",
        &[(
            "; Capture wave filter\n",
            "AddInterface = %KSCATEGORY_AUDIO%,    %KSNAME_WaveSpeaker2%, WaveRtSample.WaveSpeaker2\n",
        )],
    );
    assert_reported(
        &on_root,
        Rule::ReferenceString,
        "reference string \"WaveSpeaker2\" is not a subdevice name",
    );
}

#[test]
fn a_missing_category_is_reported() {
    let findings = findings_after_in(
        Arch::Amd64,
        "WaveRtSample_Device.NT.Interfaces",
        &[(
            "AddInterface = %KSCATEGORY_REALTIME%, %KSNAME_WaveMicrophone%, WaveRtSample.WaveMicrophone\n",
            "",
        )],
    );
    assert_reported(
        &findings,
        Rule::Interface,
        "[WaveRtSample_Device.NT.Interfaces]: WaveMicrophone is registered 0 times under KSCATEGORY_REALTIME",
    );
}

#[test]
fn an_extra_or_repeated_category_is_reported() {
    let extra = findings_after(&[(
        "; Render topology filter\n",
        "AddInterface = %KSCATEGORY_TOPOLOGY%, %KSNAME_WaveSpeaker%, WaveRtSample.WaveSpeaker\n; Render topology filter\n",
    )]);
    assert_reported(
        &extra,
        Rule::Interface,
        "WaveSpeaker must not be registered under {DDA54A40",
    );
    let repeated = findings_after(&[(
        "; Capture wave filter\n",
        "AddInterface = %KSCATEGORY_AUDIO%, %KSNAME_TopologySpeaker%, WaveRtSample.TopologySpeaker\n; Capture wave filter\n",
    )]);
    assert_reported(
        &repeated,
        Rule::Interface,
        "TopologySpeaker is registered 2 times under KSCATEGORY_AUDIO",
    );
}

#[test]
fn a_missing_proxy_clsid_or_friendly_name_is_reported() {
    let findings = findings_after(&[
        (
            "[WaveRtSample.WaveSpeaker.AddReg]\nHKR, , CLSID, , %KSProxy.CLSID%\n",
            "[WaveRtSample.WaveSpeaker.AddReg]\n",
        ),
        (
            "HKR, , FriendlyName, , %TopologyMicrophone.FriendlyName%\n",
            "",
        ),
    ]);
    assert_reported(
        &findings,
        Rule::InterfaceRegistry,
        "[WaveRtSample.WaveSpeaker]: CLSID is None",
    );
    assert_reported(
        &findings,
        Rule::InterfaceRegistry,
        "[WaveRtSample.TopologyMicrophone]: FriendlyName is None",
    );
}

#[test]
fn a_wrong_endpoint_flow_is_reported() {
    for section in [
        "WaveRtSample.TopologySpeaker.AddReg",
        "WaveRtSample.TopologySpeaker3.AddReg",
    ] {
        let findings = findings_after_in(
            Arch::Amd64,
            section,
            &[(
                "%PKEY_AudioDevice_EnableEndpointByDefault%, 0x00010001, 0x00000101",
                "%PKEY_AudioDevice_EnableEndpointByDefault%, 0x00010001, 0x00000201",
            )],
        );
        assert_reported(&findings, Rule::Endpoint, "expected 0x101 (render)");
    }
}

#[test]
fn an_endpoint_flag_written_as_a_string_is_reported() {
    let findings = findings_after_in(
        Arch::Amd64,
        "WaveRtSample.TopologyMicrophone.AddReg",
        &[(
            "%PKEY_AudioDevice_EnableEndpointByDefault%, 0x00010001, 0x00000201",
            "%PKEY_AudioDevice_EnableEndpointByDefault%, , 0x00000201",
        )],
    );
    assert_reported(
        &findings,
        Rule::Endpoint,
        "expected 0x201 (capture) as REG_DWORD",
    );
}

#[test]
fn missing_endpoint_keys_or_endpoint_keys_on_a_wave_filter_are_reported() {
    let findings = findings_after(&[
        (
            "HKR, , FriendlyName, , %TopologySpeaker.FriendlyName%\nHKR, EP\\0, %PKEY_AudioEndpoint_Association%, , %KSNODETYPE_ANY%\n",
            "HKR, , FriendlyName, , %TopologySpeaker.FriendlyName%\n",
        ),
        (
            "HKR, , FriendlyName, , %WaveSpeaker.FriendlyName%\n",
            "HKR, , FriendlyName, , %WaveSpeaker.FriendlyName%\nHKR, EP\\0, %PKEY_AudioEndpoint_Association%, , %KSNODETYPE_ANY%\n",
        ),
    ]);
    assert_reported(
        &findings,
        Rule::Endpoint,
        "[WaveRtSample.TopologySpeaker]: EP\\0 Association is None",
    );
    assert_reported(
        &findings,
        Rule::Endpoint,
        "wave filter WaveSpeaker carries endpoint keys",
    );
}

#[test]
fn both_endpoints_declare_event_driven_mode_and_the_device_its_idle_settings() {
    let inf = Inf::parse(&stamped(TEMPLATE, Arch::Amd64)).unwrap();
    let key = format!(
        "{},{}",
        identity::RegistryGuid(identity::PKEY_AUDIO_ENDPOINT_SUPPORTS_EVENT_DRIVEN_MODE.fmtid),
        identity::PKEY_AUDIO_ENDPOINT_SUPPORTS_EVENT_DRIVEN_MODE.pid
    );
    assert_eq!(key, "{1DA5D803-D492-4EDD-8C23-E0C0FFEE7F0E},7");
    for section in [
        "WaveRtSample.TopologySpeaker.AddReg",
        "WaveRtSample.TopologyMicrophone.AddReg",
    ] {
        let lines: Vec<_> = inf
            .section(section)
            .unwrap()
            .lines
            .iter()
            .filter(|l| l.value(1) == "EP\\0" && l.value(2) == key)
            .collect();
        assert_eq!(lines.len(), 1, "{section}");
        assert_eq!(
            (lines[0].value(3), parse_number(lines[0].value(4))),
            ("0x00010001", Some(1)),
            "{section}"
        );
    }
    let device = inf.section("WaveRtSample_Device.AddReg").unwrap();
    let power: Vec<(&str, Vec<u8>)> = device
        .lines
        .iter()
        .filter(|l| l.value(0) == "HKR" && l.value(1) == identity::POWER_SETTINGS_KEY)
        .map(|l| {
            assert_eq!(parse_number(l.value(3)), Some(1), "REG_BINARY");
            let bytes = l.values[4..]
                .iter()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect();
            (l.value(2), bytes)
        })
        .collect();
    assert_eq!(
        power,
        [
            ("ConservationIdleTime", vec![0x1E, 0, 0, 0]),
            ("PerformanceIdleTime", vec![0x2C, 0x01, 0, 0]),
            ("IdlePowerState", vec![3, 0, 0, 0]),
        ]
    );
    assert_eq!(identity::IDLE_POWER_SETTINGS.values(), [30, 300, 3]);
}

#[test]
fn a_missing_or_wrong_event_driven_key_is_reported() {
    let missing = findings_after_in(
        Arch::Amd64,
        "WaveRtSample.TopologySpeaker.AddReg",
        &[(
            "HKR, EP\\0, %PKEY_AudioDevice_EnableEndpointByDefault%, 0x00010001, 0x00000101\n\
             HKR, EP\\0, %PKEY_AudioEndpoint_Supports_EventDriven_Mode%, 0x00010001, 0x00000001\n",
            "HKR, EP\\0, %PKEY_AudioDevice_EnableEndpointByDefault%, 0x00010001, 0x00000101\n",
        )],
    );
    assert_reported(
        &missing,
        Rule::Endpoint,
        "[WaveRtSample.TopologySpeaker]: EP\\0 Supports_EventDriven_Mode is None",
    );
    let zero = findings_after_in(
        Arch::Amd64,
        "WaveRtSample.TopologyMicrophone2.AddReg",
        &[(
            "0x00000201\nHKR, EP\\0, %PKEY_AudioEndpoint_Supports_EventDriven_Mode%, 0x00010001, 0x00000001",
            "0x00000201\nHKR, EP\\0, %PKEY_AudioEndpoint_Supports_EventDriven_Mode%, 0x00010001, 0x00000000",
        )],
    );
    assert_reported(
        &zero,
        Rule::Endpoint,
        "[WaveRtSample.TopologyMicrophone2]: EP\\0 Supports_EventDriven_Mode is Some(0)",
    );
    let on_wave = findings_after(&[(
        "HKR, , FriendlyName, , %WaveMicrophone.FriendlyName%\n",
        "HKR, , FriendlyName, , %WaveMicrophone.FriendlyName%\n\
         HKR, EP\\0, %PKEY_AudioEndpoint_Supports_EventDriven_Mode%, 0x00010001, 1\n",
    )]);
    assert_reported(
        &on_wave,
        Rule::Endpoint,
        "wave filter WaveMicrophone carries endpoint keys",
    );
}

#[test]
fn missing_or_wrong_idle_power_settings_are_reported() {
    let missing = findings_after(&[(
        "HKR, PowerSettings, PerformanceIdleTime,  0x00000001, 2C, 01, 00, 00\n",
        "",
    )]);
    assert_reported(
        &missing,
        Rule::PowerSettings,
        "HKR,PowerSettings,PerformanceIdleTime is missing",
    );
    assert_eq!(missing.len(), 1, "{}", report(&missing));
    let as_dword = findings_after(&[(
        "ConservationIdleTime, 0x00000001, 1E, 00, 00, 00",
        "ConservationIdleTime, 0x00010001, 0x1E",
    )]);
    assert_reported(
        &as_dword,
        Rule::PowerSettings,
        "ConservationIdleTime is not REG_BINARY bytes",
    );
    let wrong_state = findings_after(&[(
        "IdlePowerState,       0x00000001, 03, 00, 00, 00",
        "IdlePowerState,       0x00000001, 02, 00, 00, 00",
    )]);
    assert_reported(
        &wrong_state,
        Rule::PowerSettings,
        "IdlePowerState is [02, 00, 00, 00], expected REG_BINARY [03, 00, 00, 00] (3)",
    );
    let short = findings_after(&[(
        "ConservationIdleTime, 0x00000001, 1E, 00, 00, 00",
        "ConservationIdleTime, 0x00000001, 1E",
    )]);
    assert_reported(&short, Rule::PowerSettings, "ConservationIdleTime is [1E]");
    let in_hw_key = findings_after(&[
        (
            "HKR, PowerSettings, IdlePowerState,       0x00000001, 03, 00, 00, 00\n",
            "",
        ),
        (
            "HKR, , DeviceType, 0x00010001, 0x0000001D\n",
            "HKR, , DeviceType, 0x00010001, 0x0000001D\n\
             HKR, PowerSettings, IdlePowerState, 0x00000001, 03, 00, 00, 00\n",
        ),
    ]);
    assert_reported(
        &in_hw_key,
        Rule::PowerSettings,
        "HKR,PowerSettings,IdlePowerState is missing",
    );
}

#[test]
fn a_wrong_service_binary_or_start_type_is_reported() {
    let findings = findings_after(&[
        (
            "ServiceBinary = %13%\\wavertsample.sys",
            "ServiceBinary = %12%\\wavertsample.sys",
        ),
        ("StartType     = 3", "StartType     = 2"),
    ]);
    assert_reported(
        &findings,
        Rule::Service,
        "ServiceBinary is Some(\"%12%\\\\wavertsample.sys\")",
    );
    assert_reported(&findings, Rule::Service, "StartType is Some(2), expected 3");
}

#[test]
fn forbidden_directives_and_sections_are_reported() {
    let findings = findings_after_in(
        Arch::Amd64,
        "WaveRtSample_Device.NT",
        &[(
            "AddReg    = WaveRtSample_Device.AddReg\n",
            "AddReg    = WaveRtSample_Device.AddReg\nDelReg    = WaveRtSample_Device.AddReg\nRegisterDlls = Dlls\n",
        )],
    );
    for needle in ["DelReg", "RegisterDlls"] {
        assert_reported(&findings, Rule::Forbidden, needle);
    }
    let findings = findings_after(&[(
        "[Strings]\n",
        "[ClassInstall32]\nAddReg = WaveRtSample_Device.AddReg\n\n[WaveRtSample_Device.NT.Wdf]\nKmdfService = wavertsample, Wdf\n\n\
             [WaveRtSample_Device.NT.CoInstallers]\nCopyFiles = WaveRtSample_Device.CopyFiles\n\n[Strings]\n",
    )]);
    for needle in [
        "[ClassInstall32]",
        "[WaveRtSample_Device.NT.Wdf]",
        ".CoInstallers]",
    ] {
        assert_reported(&findings, Rule::Forbidden, needle);
    }
}

#[test]
fn a_copied_file_missing_from_source_disks_files_is_reported() {
    let findings = findings_after(&[(
        "[WaveRtSample_Device.CopyFiles]\nwavertsample.sys\n",
        "[WaveRtSample_Device.CopyFiles]\nwavertsample.sys\nwavertsample.pdb\n",
    )]);
    assert_reported(&findings, Rule::Files, "wavertsample.pdb");
}

#[test]
fn a_destination_other_than_the_driver_store_is_reported() {
    let findings = findings_after(&[(
        "WaveRtSample_Device.CopyFiles = 13",
        "WaveRtSample_Device.CopyFiles = 12",
    )]);
    assert_reported(&findings, Rule::Files, "DIRID 13");
}

#[test]
fn missing_version_entries_are_reported() {
    let findings = findings_after(&[
        ("PnpLockdown = 1\n", ""),
        ("CatalogFile = wavertsample.cat", "CatalogFile = other.cat"),
    ]);
    assert_reported(&findings, Rule::Version, "[Version] has no PnpLockdown");
    assert_reported(&findings, Rule::Version, "CatalogFile is \"other.cat\"");
}

#[test]
fn a_malformed_driver_version_is_reported() {
    let text = stamp(
        TEMPLATE,
        &Stamp {
            arch: Arch::Amd64,
            date: "2026-05-20",
            version: "1.0",
        },
    );
    assert_reported(&check(&text, Arch::Amd64), Rule::Version, "DriverVer");
}

#[test]
fn a_wrong_device_type_or_missing_security_is_reported() {
    let findings = findings_after(&[
        (
            "DeviceType, 0x00010001, 0x0000001D",
            "DeviceType, 0x00010001, 0x00000022",
        ),
        ("HKR, , Security, ", "HKR, , SecurityX, "),
    ]);
    assert_reported(&findings, Rule::Hardware, "DeviceType is Some(34)");
    assert_reported(&findings, Rule::Hardware, "Security is None");
}

#[test]
fn missing_audio_device_registry_values_are_reported() {
    let findings = findings_after(&[("\"wdmaud,swmidi,redbook\"", "\"wdmaud\"")]);
    assert_reported(&findings, Rule::DeviceRegistry, "AssociatedFilters");
}

#[test]
fn an_undefined_string_key_is_reported() {
    let findings = findings_after(&[(
        "%WaveSpeaker.FriendlyName%\n",
        "%WaveSpeaker.FriendlyNam%\n",
    )]);
    assert_reported(&findings, Rule::Syntax, "%WaveSpeaker.FriendlyNam%");
}

// ----- the parser ------------------------------------------------------------------------------

#[test]
fn the_parser_follows_inf_lexical_rules() {
    let text = "\
; a comment\n\
[version]\n\
signature = \"$Windows NT$\" ; trailing comment\n\
[Sec]\n\
A = one, \"two, with; comma\", \"say \"\"hi\"\"\", , last\n\
HKR, , Value, , \"a;b\"\n\
Long = first, \\\n\
       second\n\
Dirs = %13%\\x.sys, 100%%, %Name%\n\
[SEC]\n\
b = appended\n\
[Strings]\n\
name = \"Quoted, value\"\n";
    let inf = Inf::parse(text).unwrap();
    assert!(inf.unresolved.is_empty());
    assert_eq!(
        inf.section("VERSION")
            .unwrap()
            .entry("Signature")
            .unwrap()
            .values,
        ["$Windows NT$"]
    );
    let sec = inf.section("sec").unwrap();
    assert_eq!(sec.name, "Sec");
    assert_eq!(
        sec.entry("a").unwrap().values,
        ["one", "two, with; comma", "say \"hi\"", "", "last"]
    );
    let plain = &sec.lines[1];
    assert_eq!(plain.key, None);
    assert_eq!(plain.values, ["HKR", "", "Value", "", "a;b"]);
    let long = sec.entry("LONG").unwrap();
    assert_eq!(
        (long.number, long.values.as_slice()),
        (7, ["first", "second"].map(String::from).as_slice())
    );
    assert_eq!(
        sec.entry("dirs").unwrap().values,
        ["%13%\\x.sys", "100%", "Quoted, value"]
    );
    assert_eq!(sec.list("B"), ["appended"]);
    assert_eq!(inf.sections().len(), 3);
}

#[test]
fn the_parser_rejects_malformed_lines() {
    assert_eq!(Inf::parse("key = value\n").unwrap_err().line, 1);
    assert_eq!(Inf::parse("[A]\nx = \"open\n").unwrap_err().line, 2);
    assert_eq!(Inf::parse("[A\n").unwrap_err().line, 1);
}

#[test]
fn numbers_and_guids_parse_in_inf_notation() {
    assert_eq!(parse_number("0x0000001D"), Some(0x1D));
    assert_eq!(parse_number("13"), Some(13));
    assert_eq!(parse_number("x13"), None);
    assert_eq!(
        parse_guid("{4d36e96c-e325-11ce-bfc1-08002be10318}"),
        Some(inf::check::MEDIA_CLASS_GUID)
    );
    assert_eq!(parse_guid("{4d36e96c-e325-11ce-bfc1-08002be1031}"), None);
    assert_eq!(parse_guid("4d36e96c-e325-11ce-bfc1-08002be10318"), None);
}
