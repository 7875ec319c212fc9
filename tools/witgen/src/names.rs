//! Spellings of WIT identifiers in the target languages, shared by the emitters.

use std::collections::BTreeSet;

use crate::GenError;

/// CamelCase of a kebab-case WIT identifier: `vm-config` → `VmConfig`.
pub fn camel(kebab: &str) -> String {
    let mut s = String::with_capacity(kebab.len());
    for part in kebab.split(['-', '.', '/', ':']) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            s.extend(first.to_uppercase());
            s.push_str(chars.as_str());
        }
    }
    s
}

/// snake_case of a kebab-case WIT identifier: `vcpu-count` → `vcpu_count`.
pub fn snake(kebab: &str) -> String {
    kebab.replace(['-', '.', '/', ':'], "_").to_lowercase()
}

/// UPPER_SNAKE_CASE of a kebab-case WIT identifier: `high-cpu` → `HIGH_CPU`.
pub fn upper_snake(kebab: &str) -> String {
    snake(kebab).to_uppercase()
}

/// lowerCamelCase as jco spells fields and functions (heck's `to_lower_camel_case`): each
/// word in lower case, words after the first capitalized: `HTTP-request-denied` →
/// `httpRequestDenied`.
pub fn jco_camel(kebab: &str) -> String {
    let class = jco_class(kebab);
    let mut chars = class.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// UpperCamelCase as jco spells resource classes (heck's `to_upper_camel_case`):
/// `vm-config-builder` → `VmConfigBuilder`.
pub fn jco_class(kebab: &str) -> String {
    let mut s = String::with_capacity(kebab.len());
    for part in kebab.split('-') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            s.extend(first.to_uppercase());
            s.push_str(&chars.as_str().to_lowercase());
        }
    }
    s
}

/// Every generated name of one namespace must be unique; a clash is a generator error, not
/// a silent shadowing. `language` names the target in the message.
pub fn check_unique(language: &str, names: impl IntoIterator<Item = String>) -> Result<(), GenError> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name.clone()) {
            return Err(GenError::Unsupported(format!("two WIT names map to the {language} name `{name}`")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_names_become_snake_and_upper_snake_case() {
        assert_eq!(snake("vcpu-count"), "vcpu_count");
        assert_eq!(snake("HTTP-request-denied"), "http_request_denied");
        assert_eq!(upper_snake("high-cpu"), "HIGH_CPU");
    }

    #[test]
    fn wit_names_become_jco_names() {
        assert_eq!(jco_camel("state-filter"), "stateFilter");
        assert_eq!(jco_camel("HTTP-request-denied"), "httpRequestDenied");
        assert_eq!(jco_camel("ipv4-config"), "ipv4Config");
        assert_eq!(jco_class("vm-config-builder"), "VmConfigBuilder");
    }

    #[test]
    fn a_repeated_name_is_an_error_naming_it() {
        let err = check_unique("Python", ["A".to_string(), "B".into(), "A".into()]).unwrap_err();
        assert!(err.to_string().contains("Python name `A`"), "{err}");
    }
}
