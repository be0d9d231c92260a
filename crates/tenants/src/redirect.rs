//! Partner redirect URIs: what may be registered, and how the merchant is sent back.

use crate::TenantError;
use url::Url;

/// A redirect URI must be absolute, without fragment or userinfo, and https unless it points at
/// this machine (partners developing locally).
pub fn validate_redirect_uri(uri: &str) -> Result<Url, TenantError> {
    let invalid = |reason| TenantError::InvalidRedirectUri { uri: uri.to_owned(), reason };
    let url = Url::parse(uri).map_err(|_| invalid("not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(invalid("must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not contain a user name or password"));
    }
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if local => Ok(url),
        "http" => Err(invalid("must use https")),
        _ => Err(invalid("must be an http(s) URL")),
    }
}

/// The URL the merchant is sent back to: the registered URI plus `merchant_id`, `state` and,
/// when the connection has warnings, a comma-separated `warnings` list.
pub fn build_return_url(
    redirect_uri: &str,
    merchant_id: &str,
    state: &str,
    warnings: &[String],
) -> Result<Url, TenantError> {
    let mut url = validate_redirect_uri(redirect_uri)?;
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("merchant_id", merchant_id);
        query.append_pair("state", state);
        if !warnings.is_empty() {
            query.append_pair("warnings", &warnings.join(","));
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        let ok = [
            "https://partner.example/callback",
            "https://partner.example/cb?x=1",
            "http://localhost:3000/cb",
            "http://127.0.0.1:8080/demo/callback",
        ];
        for uri in ok {
            assert!(validate_redirect_uri(uri).is_ok(), "{uri}");
        }
        let bad = [
            "",
            "/relative",
            "http://partner.example/cb",
            "https://partner.example/cb#frag",
            "https://user:pw@partner.example/cb",
            "javascript:alert(1)",
            "ftp://partner.example/cb",
        ];
        for uri in bad {
            assert!(validate_redirect_uri(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn return_url_keeps_existing_query_and_encodes_state() {
        let url = build_return_url("https://p.example/cb?x=1", "m1", "a b&c", &[]).expect("valid");
        assert_eq!(url.as_str(), "https://p.example/cb?x=1&merchant_id=m1&state=a+b%26c");
        let url = build_return_url(
            "https://p.example/cb",
            "m1",
            "s",
            &["no_shipping_methods".into(), "missing_permission:orders".into()],
        )
        .expect("valid");
        assert_eq!(
            url.as_str(),
            "https://p.example/cb?merchant_id=m1&state=s&warnings=no_shipping_methods%2Cmissing_permission%3Aorders"
        );
    }
}
