//! Typed errors: each carries the `NTSTATUS` to hand back to the kernel and the step that failed.

use portcls_sys::{
    NTSTATUS, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_STATE, STATUS_INVALID_PARAMETER,
    STATUS_NOINTERFACE, STATUS_UNSUCCESSFUL,
};

use crate::Mechanism;

/// The step of a stream-resource operation that failed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Step {
    /// `QueryInterface` on a PortCls object.
    Query,
    /// `PcGetPhysicalDeviceObject` (finding the PDO under the driver's FDO).
    PdoLookup,
    /// Registering a resource through the given mechanism.
    Add(Mechanism),
    /// Removing a registration through the given mechanism.
    Remove(Mechanism),
}

impl core::fmt::Display for Step {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Query => f.write_str("QueryInterface"),
            Self::PdoLookup => f.write_str("PcGetPhysicalDeviceObject"),
            Self::Add(mechanism) => write!(f, "registering through {}", mechanism.add_routine()),
            Self::Remove(mechanism) => {
                write!(f, "removing through {}", mechanism.remove_routine())
            }
        }
    }
}

/// Why a stream-resource operation failed.
///
/// Every variant names the [`Step`] and maps to an `NTSTATUS` ([`Error::status`]) that a
/// driver can return from its own callback unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, thiserror::Error)]
pub enum Error {
    /// PortCls refused a parameter (`STATUS_INVALID_PARAMETER`, the documented answer to any
    /// invalid parameter).
    #[error("{step} failed: invalid parameter (STATUS_INVALID_PARAMETER)")]
    InvalidParameter {
        /// The failed step.
        step: Step,
    },
    /// The system ran out of memory or another resource (`STATUS_INSUFFICIENT_RESOURCES`).
    #[error("{step} failed: insufficient resources (STATUS_INSUFFICIENT_RESOURCES)")]
    InsufficientResources {
        /// The failed step.
        step: Step,
    },
    /// The object does not implement the interface asked for (`STATUS_NOINTERFACE`).
    #[error("{step} failed: the object does not implement the interface (STATUS_NOINTERFACE)")]
    NoInterface {
        /// The failed step.
        step: Step,
    },
    /// The call must be made at `PASSIVE_LEVEL` and the caller was above it. Reported by debug
    /// builds before PortCls is called (where it would bug-check); status
    /// `STATUS_INVALID_DEVICE_STATE`.
    #[error("{step} must run at PASSIVE_LEVEL, but the IRQL is {irql}")]
    IrqlNotPassive {
        /// The step that was not attempted.
        step: Step,
        /// The caller's IRQL.
        irql: u8,
    },
    /// The callee reported success but handed back no object or handle; status
    /// `STATUS_UNSUCCESSFUL`.
    #[error("{step} reported success but returned nothing")]
    NullResult {
        /// The step whose result was empty.
        step: Step,
    },
    /// Any other failure status.
    #[error("{step} failed with NTSTATUS {status:#010X}")]
    Failed {
        /// The failed step.
        step: Step,
        /// The status the callee returned.
        status: NTSTATUS,
    },
}

impl Error {
    /// Classifies a failure `status` returned by `step`.
    #[must_use]
    pub const fn from_status(step: Step, status: NTSTATUS) -> Self {
        match status {
            STATUS_INVALID_PARAMETER => Self::InvalidParameter { step },
            STATUS_INSUFFICIENT_RESOURCES => Self::InsufficientResources { step },
            STATUS_NOINTERFACE => Self::NoInterface { step },
            _ => Self::Failed { step, status },
        }
    }

    /// The `NTSTATUS` this error stands for.
    #[must_use]
    pub const fn status(&self) -> NTSTATUS {
        match self {
            Self::InvalidParameter { .. } => STATUS_INVALID_PARAMETER,
            Self::InsufficientResources { .. } => STATUS_INSUFFICIENT_RESOURCES,
            Self::NoInterface { .. } => STATUS_NOINTERFACE,
            Self::IrqlNotPassive { .. } => STATUS_INVALID_DEVICE_STATE,
            Self::NullResult { .. } => STATUS_UNSUCCESSFUL,
            Self::Failed { status, .. } => *status,
        }
    }

    /// The step that failed.
    #[must_use]
    pub const fn step(&self) -> Step {
        match self {
            Self::InvalidParameter { step }
            | Self::InsufficientResources { step }
            | Self::NoInterface { step }
            | Self::IrqlNotPassive { step, .. }
            | Self::NullResult { step }
            | Self::Failed { step, .. } => *step,
        }
    }
}

/// Turns an `NTSTATUS` from `step` into a `Result`.
pub(crate) const fn check(step: Step, status: NTSTATUS) -> Result<(), Error> {
    if portcls_sys::NT_SUCCESS(status) {
        Ok(())
    } else {
        Err(Error::from_status(step, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_get_their_own_variants_and_round_trip() {
        let step = Step::Add(Mechanism::InterfaceV2);
        let invalid = Error::from_status(step, STATUS_INVALID_PARAMETER);
        assert_eq!(invalid, Error::InvalidParameter { step });
        assert_eq!(invalid.status(), STATUS_INVALID_PARAMETER);
        let low = Error::from_status(step, STATUS_INSUFFICIENT_RESOURCES);
        assert_eq!(low, Error::InsufficientResources { step });
        assert_eq!(low.status(), STATUS_INSUFFICIENT_RESOURCES);
        let missing = Error::from_status(Step::Query, STATUS_NOINTERFACE);
        assert_eq!(missing, Error::NoInterface { step: Step::Query });
        assert_eq!(missing.status(), STATUS_NOINTERFACE);
        let other = Error::from_status(Step::Query, portcls_sys::STATUS_NOT_FOUND);
        assert_eq!(other.status(), portcls_sys::STATUS_NOT_FOUND);
        assert_eq!(other.step(), Step::Query);
    }

    #[test]
    fn check_passes_success_and_informational_codes() {
        assert_eq!(check(Step::Query, 0), Ok(()));
        assert_eq!(check(Step::Query, 0x0000_0103), Ok(())); // STATUS_PENDING
        assert!(check(Step::Query, STATUS_UNSUCCESSFUL).is_err());
    }

    #[test]
    fn messages_name_the_step_and_the_status() {
        extern crate std;
        use std::string::ToString;
        let e = Error::Failed {
            step: Step::Remove(Mechanism::Export),
            status: STATUS_UNSUCCESSFUL,
        };
        assert_eq!(
            e.to_string(),
            "removing through PcRemoveStreamResource failed with NTSTATUS 0xC0000001"
        );
        let e = Error::IrqlNotPassive {
            step: Step::Add(Mechanism::InterfaceV1),
            irql: 2,
        };
        assert_eq!(
            e.to_string(),
            "registering through IPortClsStreamResourceManager::AddStreamResource must run at PASSIVE_LEVEL, but the IRQL is 2"
        );
    }
}
