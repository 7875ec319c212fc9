//! HTTP routes of `VmService`: `POST /<package>.VmService/<Method>`.

use alloc::format;
use alloc::string::String;

/// Proto package of servers built from July 2025 on (the default).
pub const DEFAULT_PACKAGE: &str = "metal.vmprovisioner.v1";
/// Proto package of servers built before July 2025.
pub const LEGACY_PACKAGE: &str = "vmprovisioner.v1";
/// Name of the one service in the package.
pub const SERVICE: &str = "VmService";

/// The nine unary RPCs of `VmService`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `CreateVm`
    CreateVm,
    /// `DeleteVm`
    DeleteVm,
    /// `BootVm`
    BootVm,
    /// `ShutdownVm`
    ShutdownVm,
    /// `PauseVm`
    PauseVm,
    /// `ResumeVm`
    ResumeVm,
    /// `RebootVm`
    RebootVm,
    /// `GetVmInfo`
    GetVmInfo,
    /// `ListVms`
    ListVms,
}

impl Method {
    /// Every method, in the order of the service definition.
    pub const ALL: [Method; 9] = [
        Method::CreateVm,
        Method::DeleteVm,
        Method::BootVm,
        Method::ShutdownVm,
        Method::PauseVm,
        Method::ResumeVm,
        Method::RebootVm,
        Method::GetVmInfo,
        Method::ListVms,
    ];

    /// The method's name as it appears in the route (`"GetVmInfo"`).
    pub const fn name(self) -> &'static str {
        match self {
            Method::CreateVm => "CreateVm",
            Method::DeleteVm => "DeleteVm",
            Method::BootVm => "BootVm",
            Method::ShutdownVm => "ShutdownVm",
            Method::PauseVm => "PauseVm",
            Method::ResumeVm => "ResumeVm",
            Method::RebootVm => "RebootVm",
            Method::GetVmInfo => "GetVmInfo",
            Method::ListVms => "ListVms",
        }
    }

    /// Whether repeating the call cannot change server state (safe to retry).
    pub const fn is_read_only(self) -> bool {
        matches!(self, Method::GetVmInfo | Method::ListVms)
    }

    /// The route under `package`: `/<package>.VmService/<Method>`.
    pub fn path(self, package: &str) -> String {
        format!("/{package}.{SERVICE}/{}", self.name())
    }

    /// Parses a route path under `package` back into its method.
    pub fn from_path(path: &str, package: &str) -> Option<Method> {
        let rest = path.strip_prefix('/')?.strip_prefix(package)?;
        let name = rest.strip_prefix('.')?.strip_prefix(SERVICE)?.strip_prefix('/')?;
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_package() {
        assert_eq!(Method::GetVmInfo.path(DEFAULT_PACKAGE), "/metal.vmprovisioner.v1.VmService/GetVmInfo");
        assert_eq!(Method::CreateVm.path(LEGACY_PACKAGE), "/vmprovisioner.v1.VmService/CreateVm");
    }

    #[test]
    fn every_route_parses_back_to_its_method() {
        for method in Method::ALL {
            for package in [DEFAULT_PACKAGE, LEGACY_PACKAGE] {
                assert_eq!(Method::from_path(&method.path(package), package), Some(method));
            }
        }
        assert_eq!(Method::from_path("/metal.vmprovisioner.v1.VmService/Nope", DEFAULT_PACKAGE), None);
        assert_eq!(Method::from_path("/vmprovisioner.v1.VmService/BootVm", DEFAULT_PACKAGE), None);
    }

    #[test]
    fn only_reads_are_safe_to_retry() {
        let safe: alloc::vec::Vec<_> = Method::ALL.into_iter().filter(|m| m.is_read_only()).collect();
        assert_eq!(safe, [Method::GetVmInfo, Method::ListVms]);
    }
}
