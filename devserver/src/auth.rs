//! metald's development authentication (docs/upstream.md#authentication): a bearer token naming the user,
//! and a tenant header, checked in the real server's order with its codes and messages.

use connectrpc::ConnectError;
use http::HeaderMap;

/// Who a request acts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The customer (owner of VMs). `None` when the real server would fail to carry it
    /// through W3C baggage (characters OTel rejects), which later checks turn into
    /// `unauthenticated`.
    pub customer: Option<String>,
    /// The tenant header.
    pub tenant: String,
}

/// The only user allowed into the restricted tenant.
pub const ADMIN_USER: &str = "admin-user";
/// A tenant only the admin user may use.
pub const RESTRICTED_TENANT: &str = "restricted-tenant";

/// Authenticates a request from its headers.
pub fn authenticate(headers: &HeaderMap) -> Result<Caller, ConnectError> {
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| ConnectError::unauthenticated("authorization header required"))?
        .to_str()
        .map_err(|_| ConnectError::unauthenticated("authorization must be 'Bearer <token>'"))?;
    let token = match authorization.split_once(' ') {
        Some(("Bearer", token)) => token,
        _ => return Err(ConnectError::unauthenticated("authorization must be 'Bearer <token>'")),
    };
    let customer = if let Some(id) = token.strip_prefix("dev_user_") {
        id
    } else if let Some(id) = token.strip_prefix("dev_customer_") {
        id
    } else {
        return Err(ConnectError::unauthenticated(
            "invalid token format - use 'dev_user_<user_id>' for development",
        ));
    };
    if customer.is_empty() {
        return Err(ConnectError::unauthenticated("invalid development token format"));
    }
    let tenant = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    if tenant == RESTRICTED_TENANT && customer != ADMIN_USER {
        return Err(ConnectError::permission_denied(format!(
            "access denied: user {customer} cannot access restricted tenant"
        )));
    }
    if tenant.is_empty() {
        return Err(ConnectError::unauthenticated("tenant ID is required"));
    }
    Ok(Caller { customer: baggage_value(customer), tenant })
}

/// The customer id as it comes out of the server's W3C baggage round trip: `None` when
/// OTel rejects the value, percent-decoded otherwise.
fn baggage_value(raw: &str) -> Option<String> {
    let rejected =
        |c: char| !c.is_ascii() || c.is_ascii_control() || matches!(c, ' ' | '"' | ',' | ';' | '\\');
    if raw.chars().any(rejected) {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use connectrpc::ErrorCode;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn rejection(pairs: &[(&'static str, &str)]) -> (ErrorCode, String) {
        let error = authenticate(&headers(pairs)).unwrap_err();
        (error.code, error.message.unwrap_or_default())
    }

    #[test]
    fn accepts_dev_user_and_legacy_dev_customer_tokens() {
        let caller =
            authenticate(&headers(&[("authorization", "Bearer dev_user_alice"), ("x-tenant-id", "t")]))
                .unwrap();
        assert_eq!(caller, Caller { customer: Some("alice".into()), tenant: "t".into() });
        let legacy =
            authenticate(&headers(&[("authorization", "Bearer dev_customer_bob"), ("x-tenant-id", "t")]))
                .unwrap();
        assert_eq!(legacy.customer.as_deref(), Some("bob"));
    }

    #[test]
    fn rejects_missing_authorization() {
        assert_eq!(
            rejection(&[("x-tenant-id", "t")]),
            (ErrorCode::Unauthenticated, "authorization header required".into())
        );
    }

    #[test]
    fn rejects_non_bearer_schemes() {
        for value in ["Basic abc", "bearer dev_user_a", "Bearer", "Bearerdev_user_a"] {
            assert_eq!(
                rejection(&[("authorization", value), ("x-tenant-id", "t")]),
                (ErrorCode::Unauthenticated, "authorization must be 'Bearer <token>'".into()),
                "{value}"
            );
        }
    }

    #[test]
    fn rejects_empty_dev_ids() {
        for token in ["Bearer dev_user_", "Bearer dev_customer_"] {
            assert_eq!(
                rejection(&[("authorization", token), ("x-tenant-id", "t")]),
                (ErrorCode::Unauthenticated, "invalid development token format".into())
            );
        }
    }

    #[test]
    fn rejects_other_tokens() {
        assert_eq!(
            rejection(&[("authorization", "Bearer eyJhbGciOi"), ("x-tenant-id", "t")]),
            (
                ErrorCode::Unauthenticated,
                "invalid token format - use 'dev_user_<user_id>' for development".into()
            )
        );
    }

    #[test]
    fn restricted_tenant_is_for_the_admin_only() {
        assert_eq!(
            rejection(&[("authorization", "Bearer dev_user_alice"), ("x-tenant-id", "restricted-tenant")]),
            (ErrorCode::PermissionDenied, "access denied: user alice cannot access restricted tenant".into())
        );
        assert!(
            authenticate(&headers(&[
                ("authorization", "Bearer dev_user_admin-user"),
                ("x-tenant-id", "restricted-tenant")
            ]))
            .is_ok()
        );
    }

    #[test]
    fn tenant_header_is_required() {
        assert_eq!(
            rejection(&[("authorization", "Bearer dev_user_alice")]),
            (ErrorCode::Unauthenticated, "tenant ID is required".into())
        );
        assert_eq!(
            rejection(&[("authorization", "Bearer dev_user_alice"), ("x-tenant-id", "")]),
            (ErrorCode::Unauthenticated, "tenant ID is required".into())
        );
    }

    #[test]
    fn baggage_unsafe_user_ids_lose_their_customer() {
        let caller =
            authenticate(&headers(&[("authorization", "Bearer dev_user_a,b"), ("x-tenant-id", "t")]))
                .unwrap();
        assert_eq!(caller.customer, None);
        let decoded =
            authenticate(&headers(&[("authorization", "Bearer dev_user_a%41"), ("x-tenant-id", "t")]))
                .unwrap();
        assert_eq!(decoded.customer.as_deref(), Some("aA"));
    }
}
