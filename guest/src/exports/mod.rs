//! The component's exports: thin glue from the WIT interfaces to the SDK modules.

mod builder;
mod client;

use alloc::string::String;
use alloc::vec::Vec;

use crate::bindings::exports::metald::client::{codec, config_file, endpoint, errors, templates, validation};
use crate::model::*;
use crate::options::Resolved;

/// The component.
pub struct Component;

impl templates::Guest for Component {
    fn template_config(template: templates::Template) -> VmConfig {
        crate::templates::config(template)
    }

    fn parse_template(name: String) -> Result<templates::Template, Error> {
        crate::templates::parse(&name)
    }

    fn template_name(template: templates::Template) -> String {
        crate::templates::name(template).into()
    }

    fn all_templates() -> Vec<templates::Template> {
        crate::templates::ALL.to_vec()
    }
}

impl validation::Guest for Component {
    fn validate_config(config: VmConfig) -> Result<(), Vec<ValidationIssue>> {
        let issues = crate::validation::config_issues(&config);
        if issues.is_empty() { Ok(()) } else { Err(issues) }
    }

    fn validate_identity(user_id: String, tenant_id: String) -> Result<(), Vec<ValidationIssue>> {
        let issues = crate::validation::identity_issues(&user_id, &tenant_id);
        if issues.is_empty() { Ok(()) } else { Err(issues) }
    }
}

impl config_file::Guest for Component {
    fn parse_config_file(json: String) -> Result<config_file::VmConfigFile, Error> {
        crate::config_file::parse(&json)
    }

    fn render_config_file(file: config_file::VmConfigFile) -> String {
        crate::config_file::render(&file)
    }

    fn from_vm_config(
        config: VmConfig,
        name: String,
        description: String,
    ) -> Result<config_file::VmConfigFile, Error> {
        crate::config_file::from_vm_config(&config, &name, &description)
    }

    fn to_vm_config(file: config_file::VmConfigFile) -> Result<VmConfig, Error> {
        crate::config_file::to_vm_config(&file)
    }
}

impl codec::Guest for Component {
    fn encode_request(
        options: ClientOptions,
        request: codec::RpcRequest,
    ) -> Result<codec::HttpRequest, Error> {
        let resolved = Resolved::new(&options)?;
        crate::codec::encode_request(&resolved, &request, resolved.timeout_ms)
    }

    fn decode_response(
        options: ClientOptions,
        method: codec::RpcMethod,
        response: codec::HttpResponse,
    ) -> Result<codec::RpcResponse, Error> {
        crate::codec::decode_response(&Resolved::new(&options)?, method, &response)
    }
}

impl errors::Guest for Component {
    fn codes() -> Vec<errors::CodeInfo> {
        crate::errors::codes()
    }

    fn code_name(code: ErrorCode) -> String {
        crate::errors::code_name(code).into()
    }

    fn code_from_name(name: String) -> Option<ErrorCode> {
        crate::errors::code_from_name(&name)
    }

    fn code_from_http_status(status: u16) -> ErrorCode {
        crate::errors::code_from_http_status(status)
    }

    fn describe(error: Error) -> String {
        crate::errors::describe(&error)
    }

    fn describe_issues(issues: Vec<ValidationIssue>) -> String {
        crate::errors::describe_issues(&issues)
    }
}

impl endpoint::Guest for Component {
    fn parse_server_url(url: String) -> Result<endpoint::ServerUrl, Error> {
        crate::options::parse_server_url(&url)
    }
}

crate::bindings::export!(Component with_types_in crate::bindings);
