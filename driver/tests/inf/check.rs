//! Stamps the INF template and checks an INF against the driver's identity
//! (`wavert_sample::identity`) and the rules of a universal (DCH) PortCls INF.
//!
//! [`check`] returns every problem it finds as a [`Finding`] tagged with the [`Rule`] it breaks,
//! so a test can assert both that a good INF has none and that a broken one is reported.

use std::fmt;

use wavert_sample::backend::virtio::sound;
use wavert_sample::identity::{
    self, EndpointFlow, IdlePowerSettings, KsCategory, PropertyKey, RegistryGuid, Subdevice,
};

use super::parse::{Inf, Line, Section};

/// `{4d36e96c-e325-11ce-bfc1-08002be10318}`, the MEDIA setup class.
pub const MEDIA_CLASS_GUID: u128 = 0x4D36_E96C_E325_11CE_BFC1_0800_2BE1_0318;

/// `FLG_ADDREG_TYPE_DWORD`.
const FLG_ADDREG_TYPE_DWORD: u32 = 0x0001_0001;

/// `FLG_ADDREG_BINVALUETYPE` (`REG_BINARY`): the value is the bytes that follow, in hex.
const FLG_ADDREG_BINVALUETYPE: u32 = 0x0000_0001;

/// `SPSVCINST_ASSOCSERVICE`: the service is the device's function driver.
const SPSVCINST_ASSOCSERVICE: u32 = 0x2;

/// Directives a universal INF may not use, in any section.
const FORBIDDEN_DIRECTIVES: [&str; 9] = [
    "DelReg",
    "DelFiles",
    "RenFiles",
    "RegisterDlls",
    "UnregisterDlls",
    "ProfileItems",
    "UpdateInis",
    "UpdateIniFields",
    "Ini2Reg",
];

/// The subkey of the device's hardware key that enables message-signaled interrupts
/// ("Enabling Message-Signaled Interrupts in the Registry").
pub const MSI_KEY: &str = "Interrupt Management\\MessageSignaledInterruptProperties";

/// The `MessageNumberLimit` the PCI binding must set: the messages the virtio backend can use.
/// It programs MSI-X vector 0 for configuration changes and, when granted more messages than
/// the device has queues, one vector per queue (`SoundDevice::start_in`); fewer are shared.
pub fn message_number_limit() -> u32 {
    u32::from(sound::QUEUES) + 1
}

/// A device the INF binds, each to its own install section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// [`identity::HARDWARE_ID`], the root-enumerated virtual device: it has no interrupt, so
    /// its install must not enable message-signaled interrupts.
    Root,
    /// [`identity::PCI_HARDWARE_ID`], a virtio-sound PCI function: its install enables
    /// MSI-X in the device's hardware key.
    VirtioPci,
}

impl Binding {
    /// Both bindings.
    pub const ALL: [Self; 2] = [Self::Root, Self::VirtioPci];

    /// The subdevices the binding's device may register, whose interfaces its install must
    /// declare: the virtual device's four, or every endpoint's a virtio-sound function may
    /// have.
    pub fn subdevices(self) -> &'static [identity::Subdevice] {
        match self {
            Self::Root => &identity::SUBDEVICES,
            Self::VirtioPci => &identity::DEVICE_SUBDEVICES,
        }
    }

    /// The hardware ID the models section must list.
    pub fn hardware_id(self) -> &'static str {
        match self {
            Self::Root => identity::HARDWARE_ID,
            Self::VirtioPci => identity::PCI_HARDWARE_ID,
        }
    }

    /// Whether the install must enable message-signaled interrupts (else it must not).
    pub fn message_signaled(self) -> bool {
        self == Self::VirtioPci
    }
}

/// The placeholder tokens of the template, which stamping replaces.
pub const PLACEHOLDERS: [&str; 3] = ["$ARCH$", "$DRIVER_DATE$", "$DRIVER_VERSION$"];

/// A target architecture, as INF decorations spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x64.
    Amd64,
    /// Arm64.
    Arm64,
}

impl Arch {
    /// Both architectures the package is built for.
    pub const ALL: [Self; 2] = [Self::Amd64, Self::Arm64];

    /// `amd64` or `arm64`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    /// The models decoration the INF must use: `NTamd64.10.0` or `NTarm64.10.0`.
    pub fn decoration(self) -> String {
        format!("NT{}.10.0", self.name())
    }
}

/// The values stamped into the template.
#[derive(Clone, Copy, Debug)]
pub struct Stamp<'a> {
    /// The architecture (`$ARCH$`).
    pub arch: Arch,
    /// The driver date, `MM/DD/YYYY` (`$DRIVER_DATE$`).
    pub date: &'a str,
    /// The driver version, `w.x.y.z` (`$DRIVER_VERSION$`).
    pub version: &'a str,
}

/// Replaces the template's placeholders; no other text changes.
pub fn stamp(template: &str, stamp: &Stamp<'_>) -> String {
    template
        .replace("$ARCH$", stamp.arch.name())
        .replace("$DRIVER_DATE$", stamp.date)
        .replace("$DRIVER_VERSION$", stamp.version)
}

/// The rule a finding breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The text does not parse, or names a `%strkey%` that `[Strings]` lacks.
    Syntax,
    /// A template placeholder was left in a stamped INF.
    Placeholder,
    /// A `[Version]` entry is missing or wrong.
    Version,
    /// The models section for the architecture does not list a hardware ID, or binds the two
    /// to one install section.
    Models,
    /// A models decoration carries a build number (ignored before Windows 10 1607).
    BuildNumberDecoration,
    /// The install section or its `Include` / `Needs` is missing or wrong.
    Install,
    /// A copied file is not in `SourceDisksFiles`, or goes anywhere but DIRID 13.
    Files,
    /// An `AddReg` line writes outside `HKR`.
    AddRegRoot,
    /// A forbidden directive or section (co-installers, `ClassInstall32`, `DelReg`, `.Wdf`, ...).
    Forbidden,
    /// A device registry value of an audio device (`AssociatedFilters`, `Driver`, ...) is wrong.
    DeviceRegistry,
    /// The `.HW` section lacks `DeviceType` 0x1D or a `Security` SDDL.
    Hardware,
    /// The kernel service is declared wrongly.
    Service,
    /// A subdevice's interfaces do not match its KS categories.
    Interface,
    /// An `AddInterface` reference string is not a subdevice name.
    ReferenceString,
    /// An interface's `AddReg` lacks the KS proxy `CLSID` or its `FriendlyName`.
    InterfaceRegistry,
    /// The endpoint keys under `EP\0` are missing, wrong, or on a wave filter.
    Endpoint,
    /// PortCls's idle power settings (`HKR,PowerSettings`) are missing, of the wrong type, or
    /// not the driver's ([`identity::IDLE_POWER_SETTINGS`]).
    PowerSettings,
    /// The message-signaled interrupt settings (`HKR,Interrupt Management\...`) are missing or
    /// wrong for the PCI binding, present for the root one, or written to a software key.
    Interrupts,
}

/// One problem found in an INF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule broken.
    pub rule: Rule,
    /// What exactly is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.rule, self.message)
    }
}

/// Checks stamped INF text for `arch`. An empty result means the INF passes.
pub fn check(text: &str, arch: Arch) -> Vec<Finding> {
    let mut out = Findings::default();
    for token in PLACEHOLDERS {
        if text.contains(token) {
            out.push(Rule::Placeholder, format!("{token} is not stamped"));
        }
    }
    let inf = match Inf::parse(text) {
        Ok(inf) => inf,
        Err(error) => {
            out.push(Rule::Syntax, error.to_string());
            return out.0;
        }
    };
    for unresolved in &inf.unresolved {
        out.push(
            Rule::Syntax,
            format!(
                "line {}: %{}% has no [Strings] entry",
                unresolved.line, unresolved.key
            ),
        );
    }
    let mut checker = Checker {
        inf: &inf,
        arch,
        out,
    };
    checker.version();
    checker.forbidden();
    checker.addreg_roots();
    for (binding, install) in checker.models() {
        checker.install(binding, &install);
    }
    checker.out.0
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    /// Records a finding once: a section both bindings share is checked for each, and its
    /// problem is one problem.
    fn push(&mut self, rule: Rule, message: String) {
        let finding = Finding { rule, message };
        if !self.0.contains(&finding) {
            self.0.push(finding);
        }
    }
}

/// One `AddReg` line: `root, subkey, value name, flags, value`.
struct RegLine<'a> {
    section: &'a str,
    line: &'a Line,
}

impl RegLine<'_> {
    fn root(&self) -> &str {
        self.line.value(0)
    }
    fn subkey(&self) -> &str {
        self.line.value(1)
    }
    fn name(&self) -> &str {
        self.line.value(2)
    }
    fn flags(&self) -> Option<u32> {
        let flags = self.line.value(3);
        if flags.is_empty() {
            Some(0)
        } else {
            parse_number(flags)
        }
    }
    fn data(&self) -> &str {
        self.line.value(4)
    }
    fn is(&self, subkey: &str, name: &str) -> bool {
        self.root().eq_ignore_ascii_case("HKR")
            && self.subkey().eq_ignore_ascii_case(subkey)
            && self.name().eq_ignore_ascii_case(name)
    }
    /// The value as a string (`REG_SZ`, flags 0).
    fn string(&self) -> Option<&str> {
        (self.flags() == Some(0)).then(|| self.data())
    }
    /// The value as `REG_BINARY` bytes (each field a hexadecimal byte, `0x` optional).
    fn binary(&self) -> Option<Vec<u8>> {
        if self.flags() != Some(FLG_ADDREG_BINVALUETYPE) {
            return None;
        }
        self.line
            .values
            .iter()
            .skip(4)
            .map(|field| {
                let field = field.trim();
                let hex = field
                    .strip_prefix("0x")
                    .or_else(|| field.strip_prefix("0X"))
                    .unwrap_or(field);
                (!hex.is_empty() && hex.len() <= 2)
                    .then(|| u8::from_str_radix(hex, 16).ok())
                    .flatten()
            })
            .collect()
    }
    /// The value as a `REG_DWORD`.
    fn dword(&self) -> Option<u32> {
        if self.flags() == Some(FLG_ADDREG_TYPE_DWORD) {
            parse_number(self.data())
        } else {
            None
        }
    }
}

struct Checker<'a> {
    inf: &'a Inf,
    arch: Arch,
    out: Findings,
}

impl<'a> Checker<'a> {
    fn push(&mut self, rule: Rule, message: String) {
        self.out.push(rule, message);
    }

    /// The `AddReg` lines of the sections that `section`'s `AddReg` directives name.
    fn addreg_of(&mut self, section: &'a Section) -> Vec<RegLine<'a>> {
        let mut lines = Vec::new();
        for name in section.list("AddReg") {
            match self.inf.section(name) {
                Some(target) => lines.extend(target.lines.iter().map(|line| RegLine {
                    section: &target.name,
                    line,
                })),
                None => self.push(
                    Rule::Syntax,
                    format!(
                        "[{}] names AddReg section [{name}], which does not exist",
                        section.name
                    ),
                ),
            }
        }
        lines
    }

    fn version(&mut self) {
        let Some(version) = self.inf.section("Version") else {
            self.push(Rule::Version, "no [Version] section".into());
            return;
        };
        let value = |key: &str| version.entry(key).map(|line| line.value(0).to_owned());
        let expect =
            |checker: &mut Self, key: &str, ok: &dyn Fn(&str) -> bool, want: &str| match value(key)
            {
                Some(v) if ok(&v) => {}
                Some(v) => checker.push(Rule::Version, format!("{key} is {v:?}, expected {want}")),
                None => checker.push(Rule::Version, format!("[Version] has no {key}")),
            };
        expect(
            self,
            "Signature",
            &|v| v.eq_ignore_ascii_case("$Windows NT$"),
            "\"$Windows NT$\"",
        );
        expect(self, "Class", &|v| v.eq_ignore_ascii_case("MEDIA"), "MEDIA");
        expect(
            self,
            "ClassGuid",
            &|v| parse_guid(v) == Some(MEDIA_CLASS_GUID),
            "the MEDIA class GUID",
        );
        expect(self, "Provider", &|v| !v.is_empty(), "a provider name");
        expect(
            self,
            "CatalogFile",
            &|v| v.eq_ignore_ascii_case(identity::CATALOG_NAME),
            identity::CATALOG_NAME,
        );
        expect(self, "PnpLockdown", &|v| parse_number(v) == Some(1), "1");
        match version.entry("DriverVer") {
            Some(line) if valid_date(line.value(0)) && valid_version(line.value(1)) => {}
            Some(line) => self.push(
                Rule::Version,
                format!(
                    "DriverVer {:?} is not MM/DD/YYYY,w.x.y.z",
                    line.values.join(",")
                ),
            ),
            None => self.push(Rule::Version, "[Version] has no DriverVer".into()),
        }
    }

    fn forbidden(&mut self) {
        for section in self.inf.sections() {
            let name = section.name.to_ascii_lowercase();
            if name.starts_with("classinstall32")
                || name.contains(".coinstallers")
                || name.rsplit_once('.').is_some_and(|(_, last)| last == "wdf")
            {
                self.push(
                    Rule::Forbidden,
                    format!("section [{}] is not allowed", section.name),
                );
            }
            for line in &section.lines {
                if let Some(key) = &line.key
                    && FORBIDDEN_DIRECTIVES
                        .iter()
                        .any(|d| d.eq_ignore_ascii_case(key))
                {
                    self.push(
                        Rule::Forbidden,
                        format!(
                            "line {}: directive {key} in [{}] is not allowed",
                            line.number, section.name
                        ),
                    );
                }
            }
        }
    }

    /// Every line of every section some `AddReg` directive names writes to `HKR`.
    fn addreg_roots(&mut self) {
        let mut named: Vec<&str> = Vec::new();
        for section in self.inf.sections() {
            for name in section.list("AddReg") {
                if !named.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    named.push(name);
                }
            }
        }
        for name in named {
            let Some(section) = self.inf.section(name) else {
                continue;
            };
            for line in &section.lines {
                let reg = RegLine {
                    section: &section.name,
                    line,
                };
                if !reg.root().eq_ignore_ascii_case("HKR") {
                    self.push(
                        Rule::AddRegRoot,
                        format!(
                            "line {}: [{}] writes to {}, not HKR",
                            line.number,
                            reg.section,
                            reg.root()
                        ),
                    );
                }
                if reg.name().eq_ignore_ascii_case("CoInstallers32") {
                    self.push(
                        Rule::Forbidden,
                        format!("line {}: a co-installer is registered", line.number),
                    );
                }
            }
        }
    }

    /// Checks `[Manufacturer]` and the models section; returns each binding found with its
    /// install section's name as the models line gives it (undecorated).
    fn models(&mut self) -> Vec<(Binding, String)> {
        let Some(manufacturer) = self.inf.section("Manufacturer") else {
            self.push(Rule::Models, "no [Manufacturer] section".into());
            return Vec::new();
        };
        let wanted = self.arch.decoration();
        let mut installs: Vec<(Binding, String)> = Vec::new();
        for line in &manufacturer.lines {
            let base = line.value(0);
            for decoration in line.values.iter().skip(1) {
                let parts: Vec<&str> = decoration.split('.').collect();
                if parts.len() > 5 {
                    self.push(
                        Rule::BuildNumberDecoration,
                        format!("decoration {decoration} has a build number; builds before 1607 ignore it"),
                    );
                } else if parts.len() > 3 {
                    self.push(
                        Rule::Models,
                        format!("decoration {decoration} names a product type or suite mask"),
                    );
                } else if !decoration.eq_ignore_ascii_case(&wanted) {
                    self.push(
                        Rule::Models,
                        format!("decoration {decoration} is not {wanted}"),
                    );
                }
            }
            if !line
                .values
                .iter()
                .skip(1)
                .any(|d| d.eq_ignore_ascii_case(&wanted))
            {
                continue;
            }
            let section_name = format!("{base}.{wanted}");
            let Some(models) = self.inf.section(&section_name) else {
                self.push(
                    Rule::Models,
                    format!("models section [{section_name}] does not exist"),
                );
                continue;
            };
            for device in &models.lines {
                for binding in Binding::ALL {
                    let listed = device
                        .values
                        .iter()
                        .skip(1)
                        .any(|id| id.eq_ignore_ascii_case(binding.hardware_id()));
                    if listed && !installs.iter().any(|(b, _)| *b == binding) {
                        installs.push((binding, device.value(0).to_owned()));
                    }
                }
            }
        }
        for binding in Binding::ALL {
            if !installs.iter().any(|(b, _)| *b == binding) {
                self.push(
                    Rule::Models,
                    format!(
                        "no {wanted} models section lists hardware ID {}",
                        binding.hardware_id()
                    ),
                );
            }
        }
        if let [(_, a), (_, b)] = installs.as_slice()
            && a.eq_ignore_ascii_case(b)
        {
            self.push(
                Rule::Models,
                format!(
                    "{} and {} share install section [{a}]; each needs its own (only the PCI \
                     function's enables message-signaled interrupts)",
                    identity::HARDWARE_ID,
                    identity::PCI_HARDWARE_ID
                ),
            );
        }
        installs
    }

    fn install(&mut self, binding: Binding, base: &str) {
        // Setup picks the most specific decorated install section.
        let candidates = [
            format!("{base}.NT{}", self.arch.name()),
            format!("{base}.NT"),
            base.to_owned(),
        ];
        let Some(section) = candidates.iter().find_map(|name| self.inf.section(name)) else {
            self.push(
                Rule::Install,
                format!("install section [{base}] (.NT...) does not exist"),
            );
            return;
        };
        let has_all = |list: Vec<&str>, wanted: &[&str]| {
            wanted
                .iter()
                .all(|w| list.iter().any(|v| v.eq_ignore_ascii_case(w)))
        };
        if !has_all(section.list("Include"), &["ks.inf", "wdmaudio.inf"]) {
            self.push(
                Rule::Install,
                format!(
                    "[{}] does not Include ks.inf and wdmaudio.inf",
                    section.name
                ),
            );
        }
        if !has_all(
            section.list("Needs"),
            &["KS.Registration", "WDMAUDIO.Registration"],
        ) {
            self.push(
                Rule::Install,
                format!(
                    "[{}] does not Need KS.Registration and WDMAUDIO.Registration",
                    section.name
                ),
            );
        }
        self.files(section);
        self.device_registry(section);
        let name = section.name.clone();
        let hw = self.inf.section(&format!("{name}.HW"));
        match hw {
            Some(hw) => self.hardware(hw),
            None => self.push(Rule::Hardware, format!("no [{name}.HW] section")),
        }
        self.interrupts(binding, section, hw);
        match self.inf.section(&format!("{name}.Services")) {
            Some(services) => self.service(services),
            None => self.push(Rule::Service, format!("no [{name}.Services] section")),
        }
        match self.inf.section(&format!("{name}.Interfaces")) {
            Some(interfaces) => self.interfaces(interfaces, binding.subdevices()),
            None => self.push(Rule::Interface, format!("no [{name}.Interfaces] section")),
        }
    }

    /// The lines of `[base]` and `[base.<arch>]`.
    fn arch_lines(&self, base: &str) -> Vec<&'a Line> {
        [base.to_owned(), format!("{base}.{}", self.arch.name())]
            .iter()
            .filter_map(|name| self.inf.section(name))
            .flat_map(|s| s.lines.iter())
            .collect()
    }

    /// Every `SourceDisksFiles` entry names a disk of `SourceDisksNames`; returns the entries.
    fn source_disks(&mut self) -> Vec<&'a Line> {
        let disk_files = self.arch_lines("SourceDisksFiles");
        let disks = self.arch_lines("SourceDisksNames");
        for file in &disk_files {
            let disk = file.value(0);
            if !disks.iter().any(|d| d.key.as_deref() == Some(disk)) {
                self.push(
                    Rule::Files,
                    format!(
                        "line {}: disk {disk:?} is not in SourceDisksNames",
                        file.number
                    ),
                );
            }
        }
        disk_files
    }

    fn files(&mut self, install: &Section) {
        let disk_files = self.source_disks();
        let destinations = self.inf.section("DestinationDirs");
        let mut copied_image = false;
        // Every CopyFiles directive of the INF, not only the install section's.
        let directives: Vec<(String, String)> = self
            .inf
            .sections()
            .iter()
            .flat_map(|s| {
                s.list("CopyFiles")
                    .into_iter()
                    .map(|v| (s.name.clone(), v.to_owned()))
            })
            .collect();
        if install.list("CopyFiles").is_empty() {
            self.push(Rule::Files, format!("[{}] copies no files", install.name));
        }
        for (owner, target) in directives {
            let (files, destination): (Vec<String>, Option<&Line>) =
                if let Some(single) = target.strip_prefix('@') {
                    (
                        vec![single.to_owned()],
                        destinations.and_then(|d| d.entry("DefaultDestDir")),
                    )
                } else {
                    let Some(list) = self.inf.section(&target) else {
                        self.push(
                            Rule::Files,
                            format!("[{owner}] copies [{target}], which does not exist"),
                        );
                        continue;
                    };
                    let files = list
                        .lines
                        .iter()
                        .map(|line| {
                            // `destination[, source]`: the source name defaults to the destination.
                            let source = line.value(1);
                            if source.is_empty() {
                                line.value(0)
                            } else {
                                source
                            }
                            .to_owned()
                        })
                        .collect();
                    let destination = destinations
                        .and_then(|d| d.entry(&target).or_else(|| d.entry("DefaultDestDir")));
                    (files, destination)
                };
            if destination.map(|line| parse_number(line.value(0))) != Some(Some(13)) {
                self.push(
                    Rule::Files,
                    format!("files of [{target}] do not go to DIRID 13"),
                );
            }
            for file in files {
                copied_image |= file.eq_ignore_ascii_case(identity::IMAGE_NAME);
                if !disk_files.iter().any(|line| {
                    line.key
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case(&file))
                }) {
                    self.push(
                        Rule::Files,
                        format!("{file} (copied by [{target}]) is not in SourceDisksFiles"),
                    );
                }
            }
        }
        if !copied_image {
            self.push(
                Rule::Files,
                format!("{} is never copied", identity::IMAGE_NAME),
            );
        }
    }

    fn device_registry(&mut self, install: &'a Section) {
        let lines = self.addreg_of(install);
        let find = |subkey: &str, name: &str| lines.iter().find(|r| r.is(subkey, name));
        let mut expect = |subkey: &str, name: &str, ok: &dyn Fn(&str) -> bool, want: &str| {
            let found = find(subkey, name).and_then(RegLine::string);
            if !found.is_some_and(ok) {
                self.out.push(
                    Rule::DeviceRegistry,
                    format!("HKR,{subkey},{name} is {found:?}, expected {want}"),
                );
            }
        };
        expect(
            "",
            "AssociatedFilters",
            &|v| v.eq_ignore_ascii_case("wdmaud,swmidi,redbook"),
            "\"wdmaud,swmidi,redbook\"",
        );
        expect(
            "",
            "Driver",
            &|v| v.eq_ignore_ascii_case(identity::IMAGE_NAME),
            identity::IMAGE_NAME,
        );
        expect(
            "Drivers",
            "SubClasses",
            &|v| v.split(',').any(|c| c.trim().eq_ignore_ascii_case("wave")),
            "a list with wave",
        );
        expect(
            "Drivers\\wave\\wdmaud.drv",
            "Driver",
            &|v| v.eq_ignore_ascii_case("wdmaud.drv"),
            "wdmaud.drv",
        );
        // PortCls reads its idle settings from the driver key's PowerSettings subkey: each a
        // REG_BINARY of four little-endian bytes.
        let wanted = identity::IDLE_POWER_SETTINGS.values();
        for (name, want) in IdlePowerSettings::NAMES.into_iter().zip(wanted) {
            let found = find(identity::POWER_SETTINGS_KEY, name).map(RegLine::binary);
            let want_bytes = want.to_le_bytes().to_vec();
            if found != Some(Some(want_bytes.clone())) {
                let found = match found {
                    None => "missing".to_owned(),
                    Some(None) => "not REG_BINARY bytes".to_owned(),
                    Some(Some(bytes)) => format!("{bytes:02X?}"),
                };
                self.out.push(
                    Rule::PowerSettings,
                    format!(
                        "HKR,{},{name} is {found}, expected REG_BINARY {want_bytes:02X?} ({want})",
                        identity::POWER_SETTINGS_KEY
                    ),
                );
            }
        }
        if !(1..=3).contains(&wanted[2]) {
            self.out.push(
                Rule::PowerSettings,
                format!("IdlePowerState {} is not D1..D3", wanted[2]),
            );
        }
    }

    fn hardware(&mut self, hw: &'a Section) {
        let lines = self.addreg_of(hw);
        let device_type = lines
            .iter()
            .find(|r| r.is("", "DeviceType"))
            .and_then(RegLine::dword);
        if device_type != Some(0x1D) {
            self.push(
                Rule::Hardware,
                format!("DeviceType is {device_type:?}, expected 0x1D as REG_DWORD"),
            );
        }
        let security = lines
            .iter()
            .find(|r| r.is("", "Security"))
            .and_then(RegLine::string);
        if !security.is_some_and(|s| s.starts_with("D:") && s.contains("(A;")) {
            self.push(
                Rule::Hardware,
                format!("Security is {security:?}, expected an SDDL DACL"),
            );
        }
    }

    /// Message-signaled interrupts: enabled in the hardware key (the `.HW` section's `AddReg`)
    /// for the PCI binding with the driver's message limit, absent for the root binding, and
    /// never written to the driver's software key (the install section's `AddReg`), where the
    /// PnP manager does not look for them.
    fn interrupts(&mut self, binding: Binding, install: &'a Section, hw: Option<&'a Section>) {
        let id = binding.hardware_id();
        let under_interrupt_management = |r: &RegLine<'_>| {
            r.root().eq_ignore_ascii_case("HKR")
                && r.subkey()
                    .get(..20)
                    .is_some_and(|k| k.eq_ignore_ascii_case("Interrupt Management"))
        };
        for reg in self.addreg_of(install) {
            if under_interrupt_management(&reg) {
                self.push(
                    Rule::Interrupts,
                    format!(
                        "line {}: [{}] ({id}) writes HKR,{},{} to the driver's software key; \
                         interrupt settings belong in the .HW section",
                        reg.line.number,
                        reg.section,
                        reg.subkey(),
                        reg.name()
                    ),
                );
            }
        }
        let Some(hw) = hw else { return };
        let lines = self.addreg_of(hw);
        if !binding.message_signaled() {
            for reg in lines.iter().filter(|r| under_interrupt_management(r)) {
                self.push(
                    Rule::Interrupts,
                    format!(
                        "line {}: [{}] ({id}) sets HKR,{},{}; the root-enumerated device has no \
                         interrupt",
                        reg.line.number,
                        reg.section,
                        reg.subkey(),
                        reg.name()
                    ),
                );
            }
            return;
        }
        let dword = |name: &str| {
            lines
                .iter()
                .find(|r| r.is(MSI_KEY, name))
                .map(RegLine::dword)
        };
        let limit = message_number_limit();
        for (name, want) in [("MSISupported", 1), ("MessageNumberLimit", limit)] {
            let found = dword(name);
            if found != Some(Some(want)) {
                let found = match found {
                    None => "missing".to_owned(),
                    Some(None) => "not a REG_DWORD".to_owned(),
                    Some(Some(value)) => value.to_string(),
                };
                self.push(
                    Rule::Interrupts,
                    format!(
                        "[{}] ({id}): HKR,{MSI_KEY},{name} is {found}, expected {want} as REG_DWORD",
                        hw.name
                    ),
                );
            }
        }
    }

    fn service(&mut self, services: &Section) {
        let ours: Vec<&Line> = services
            .entries("AddService")
            .filter(|line| line.value(0).eq_ignore_ascii_case(identity::SERVICE_NAME))
            .collect();
        let [line] = ours.as_slice() else {
            self.push(
                Rule::Service,
                format!(
                    "[{}] has {} AddService lines for {}, expected 1",
                    services.name,
                    ours.len(),
                    identity::SERVICE_NAME
                ),
            );
            return;
        };
        if parse_number(line.value(1)).is_none_or(|flags| flags & SPSVCINST_ASSOCSERVICE == 0) {
            self.push(
                Rule::Service,
                "AddService lacks SPSVCINST_ASSOCSERVICE (0x2)".into(),
            );
        }
        let Some(install) = self.inf.section(line.value(2)) else {
            self.push(
                Rule::Service,
                format!("service install section [{}] does not exist", line.value(2)),
            );
            return;
        };
        for (key, want) in [("ServiceType", 1), ("StartType", 3), ("ErrorControl", 1)] {
            let value = install.entry(key).and_then(|l| parse_number(l.value(0)));
            if value != Some(want) {
                self.push(
                    Rule::Service,
                    format!("{key} is {value:?}, expected {want}"),
                );
            }
        }
        let binary = install.entry("ServiceBinary").map(|l| l.value(0));
        let want = format!("%13%\\{}", identity::IMAGE_NAME);
        if !binary.is_some_and(|b| b.eq_ignore_ascii_case(&want)) {
            self.push(
                Rule::Service,
                format!("ServiceBinary is {binary:?}, expected {want}"),
            );
        }
    }

    fn interfaces(&mut self, interfaces: &'a Section, subdevices: &[Subdevice]) {
        // (category, reference string, interface install section, line)
        let mut declared: Vec<(u128, &'a str, &'a str, usize)> = Vec::new();
        for line in interfaces.entries("AddInterface") {
            let Some(guid) = parse_guid(line.value(0)) else {
                self.push(
                    Rule::Interface,
                    format!("line {}: {:?} is not a GUID", line.number, line.value(0)),
                );
                continue;
            };
            if KsCategory::from_guid(guid).is_none() {
                self.push(
                    Rule::Interface,
                    format!(
                        "line {}: {} is not a KS category",
                        line.number,
                        RegistryGuid(guid)
                    ),
                );
            }
            let reference = line.value(1);
            if !subdevices.iter().any(|s| s.name == reference) {
                let near = subdevices
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(reference));
                self.push(
                    Rule::ReferenceString,
                    match near {
                        Some(s) => format!(
                            "line {}: reference string {reference:?} differs in case from {:?}",
                            line.number, s.name
                        ),
                        None => format!(
                            "line {}: reference string {reference:?} is not a subdevice name",
                            line.number
                        ),
                    },
                );
            }
            declared.push((guid, reference, line.value(2), line.number));
        }
        for subdevice in subdevices {
            let mine: Vec<_> = declared.iter().filter(|d| d.1 == subdevice.name).collect();
            for category in subdevice.categories {
                let count = mine.iter().filter(|d| d.0 == category.guid()).count();
                if count != 1 {
                    self.push(
                        Rule::Interface,
                        format!(
                            "[{}]: {} is registered {count} times under {}, expected once",
                            interfaces.name,
                            subdevice.name,
                            category.name()
                        ),
                    );
                }
            }
            for (guid, _, _, number) in &mine {
                if !subdevice.categories.iter().any(|c| c.guid() == *guid) {
                    self.push(
                        Rule::Interface,
                        format!(
                            "line {number}: {} must not be registered under {}",
                            subdevice.name,
                            RegistryGuid(*guid)
                        ),
                    );
                }
            }
            // Interfaces of one subdevice usually share an install section: check each once.
            let mut checked: Vec<&str> = Vec::new();
            for (_, _, section, number) in mine {
                if !checked.iter().any(|c| c.eq_ignore_ascii_case(section)) {
                    checked.push(section);
                    self.interface_registry(subdevice, section, *number);
                }
            }
        }
    }

    fn interface_registry(&mut self, subdevice: &Subdevice, section: &str, number: usize) {
        let Some(section) = self.inf.section(section) else {
            self.push(
                Rule::InterfaceRegistry,
                format!(
                    "line {number}: interface section [{section}] of {} does not exist",
                    subdevice.name
                ),
            );
            return;
        };
        let lines = self.addreg_of(section);
        let clsid = lines
            .iter()
            .find(|r| r.is("", "CLSID"))
            .and_then(RegLine::string);
        if clsid.and_then(parse_guid) != Some(identity::KS_PROXY_CLSID) {
            self.push(
                Rule::InterfaceRegistry,
                format!(
                    "[{}]: CLSID is {clsid:?}, expected the KS proxy",
                    section.name
                ),
            );
        }
        let friendly = lines
            .iter()
            .find(|r| r.is("", "FriendlyName"))
            .and_then(RegLine::string);
        if friendly != Some(subdevice.friendly_name) {
            self.push(
                Rule::InterfaceRegistry,
                format!(
                    "[{}]: FriendlyName is {friendly:?}, expected {:?}",
                    section.name, subdevice.friendly_name
                ),
            );
        }
        let endpoint_key = |key: PropertyKey| {
            lines.iter().find(|r| {
                r.root().eq_ignore_ascii_case("HKR")
                    && r.subkey().eq_ignore_ascii_case(identity::ENDPOINT_KEY)
                    && parse_property_key(r.name()) == Some(key)
            })
        };
        let association = endpoint_key(identity::PKEY_AUDIO_ENDPOINT_ASSOCIATION);
        let enable = endpoint_key(identity::PKEY_AUDIO_DEVICE_ENABLE_ENDPOINT_BY_DEFAULT);
        let event_driven = endpoint_key(identity::PKEY_AUDIO_ENDPOINT_SUPPORTS_EVENT_DRIVEN_MODE);
        let Some(flow) = subdevice.endpoint else {
            if association.is_some() || enable.is_some() || event_driven.is_some() {
                self.push(
                    Rule::Endpoint,
                    format!(
                        "[{}]: wave filter {} carries endpoint keys",
                        section.name, subdevice.name
                    ),
                );
            }
            return;
        };
        let association = association.and_then(RegLine::string);
        if association.and_then(parse_guid) != Some(identity::KSNODETYPE_ANY) {
            self.push(
                Rule::Endpoint,
                format!(
                    "[{}]: EP\\0 Association is {association:?}, expected KSNODETYPE_ANY",
                    section.name
                ),
            );
        }
        let event_driven = event_driven.and_then(RegLine::dword);
        if event_driven != Some(1) {
            self.push(
                Rule::Endpoint,
                format!(
                    "[{}]: EP\\0 Supports_EventDriven_Mode is {event_driven:?}, expected 1 as REG_DWORD",
                    section.name
                ),
            );
        }
        let enable = enable.and_then(RegLine::dword);
        if enable != Some(flow.enable_by_default()) {
            let what = match flow {
                EndpointFlow::Render => "render",
                EndpointFlow::Capture => "capture",
            };
            self.push(
                Rule::Endpoint,
                format!(
                    "[{}]: EP\\0 EnableEndpointByDefault is {enable:#x?}, expected {:#x} ({what}) as REG_DWORD",
                    section.name,
                    flow.enable_by_default()
                ),
            );
        }
    }
}

/// A decimal or `0x` hexadecimal number.
pub fn parse_number(text: &str) -> Option<u32> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A braced GUID in text form (either case), in registry order.
pub fn parse_guid(text: &str) -> Option<u128> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let groups: Vec<&str> = inner.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    if groups.len() != lengths.len()
        || groups
            .iter()
            .zip(lengths)
            .any(|(g, n)| g.len() != n || !g.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    u128::from_str_radix(&groups.concat(), 16).ok()
}

/// A property key as the registry names it: `{fmtid},pid`.
pub fn parse_property_key(text: &str) -> Option<PropertyKey> {
    let (guid, pid) = text.split_once(',')?;
    Some(PropertyKey {
        fmtid: parse_guid(guid)?,
        pid: pid.trim().parse().ok()?,
    })
}

fn valid_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    let [month, day, year] = parts.as_slice() else {
        return false;
    };
    let number = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    matches!(
        (number(month, 2), number(day, 2), number(year, 4)),
        (Some(1..=12), Some(1..=31), Some(1980..))
    )
}

fn valid_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        })
}
