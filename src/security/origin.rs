//! Trusted origins (CSRF checks) and callback-URL checks (no open redirects).

use url::Url;

/// One trusted origin, e.g. `https://app.example.com` or `https://*.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    /// Exact host, or the suffix after `*.` for a wildcard.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl OriginPattern {
    pub fn parse(s: &str) -> Option<Self> {
        let (wildcard, candidate) = match s.split_once("://*.") {
            Some((scheme, rest)) => (true, format!("{scheme}://{rest}")),
            None => (false, s.to_string()),
        };
        let url = Url::parse(&candidate).ok()?;
        if !matches!(url.scheme(), "http" | "https")
            || !matches!(url.path(), "" | "/")
            || url.query().is_some()
        {
            return None;
        }
        Some(Self {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            wildcard,
            port: url.port_or_known_default(),
        })
    }

    pub fn from_url(url: &Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            wildcard: false,
            port: url.port_or_known_default(),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let host_ok = if self.wildcard {
            host.strip_suffix(&self.host).is_some_and(|head| head.ends_with('.') && head.len() > 1)
        } else {
            host == self.host
        };
        host_ok && url.scheme() == self.scheme && url.port_or_known_default() == self.port
    }
}

/// The origins this server trusts: the base URL's, `TRUSTED_ORIGINS`, and for a loopback base
/// URL the `localhost` / `127.0.0.1` twin on the same port.
#[derive(Debug, Clone)]
pub struct TrustedOrigins {
    patterns: Vec<OriginPattern>,
}

impl TrustedOrigins {
    pub fn new(base_url: &Url, extra: &[OriginPattern]) -> Self {
        let mut patterns: Vec<OriginPattern> = OriginPattern::from_url(base_url).into_iter().collect();
        if let (Some(host), Some(port)) = (base_url.host_str(), base_url.port_or_known_default()) {
            let twin = match host {
                "localhost" => Some("127.0.0.1"),
                "127.0.0.1" => Some("localhost"),
                _ => None,
            };
            if let Some(twin) = twin {
                patterns.extend(OriginPattern::parse(&format!("{}://{twin}:{port}", base_url.scheme())));
            }
        }
        patterns.extend(extra.iter().cloned());
        Self { patterns }
    }

    /// Whether an `Origin` or `Referer` header value names a trusted origin.
    pub fn is_trusted(&self, value: &str) -> bool {
        Url::parse(value).is_ok_and(|url| self.patterns.iter().any(|p| p.matches(&url)))
    }

    /// Whether an `Origin` is trusted by name (not through a `*.` pattern): the origins pages may
    /// read answers from with credentials (CORS).
    pub fn is_listed(&self, value: &str) -> bool {
        Url::parse(value).is_ok_and(|url| self.patterns.iter().any(|p| !p.wildcard && p.matches(&url)))
    }

    /// A callback URL is fine when it is a safe relative path or an absolute URL on a trusted
    /// origin.
    pub fn is_safe_callback(&self, value: &str) -> bool {
        if value.chars().any(|c| c.is_control() || c == '\\') {
            return false;
        }
        if value.starts_with('/') {
            return !value.starts_with("//");
        }
        self.is_trusted(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedOrigins {
        let base = Url::parse("http://127.0.0.1:3000").unwrap();
        TrustedOrigins::new(&base, &[OriginPattern::parse("https://*.example.com").unwrap()])
    }

    #[test]
    fn origins() {
        let t = trusted();
        assert!(t.is_trusted("http://127.0.0.1:3000"));
        assert!(t.is_trusted("http://localhost:3000"));
        assert!(t.is_trusted("http://127.0.0.1:3000/some/page?x=1"));
        assert!(t.is_trusted("https://app.example.com"));
        assert!(t.is_trusted("https://a.b.example.com"));
        assert!(!t.is_trusted("https://example.com"));
        assert!(!t.is_trusted("https://evilexample.com"));
        assert!(!t.is_trusted("http://app.example.com"));
        assert!(!t.is_trusted("http://127.0.0.1:3001"));
        assert!(!t.is_trusted("null"));
    }

    #[test]
    fn callbacks() {
        let t = trusted();
        assert!(t.is_safe_callback("/dashboard?tab=1"));
        assert!(t.is_safe_callback("https://app.example.com/welcome"));
        assert!(!t.is_safe_callback("//evil.com"));
        assert!(!t.is_safe_callback("/\\evil.com"));
        assert!(!t.is_safe_callback("https://evil.com/"));
        assert!(!t.is_safe_callback("javascript:alert(1)"));
        assert!(!t.is_safe_callback("dashboard"));
    }
}
