//! What a webhook may be: MLflow's name rule and its SSRF guard on URLs
//! (`utils/validation.py` `_validate_webhook_name`, `_validate_webhook_url`, `_is_public_ip`;
//! `webhooks/ssrf.py`).
//!
//! MLflow checks the resolved addresses when a webhook is created, updated and before each
//! delivery, and again checks the connected socket's peer. rsflow does the first part the
//! same way and the second through [`PublicOnlyResolver`]: the delivery client connects only
//! to addresses this resolver returned, and it returns none unless all are public, so a DNS
//! answer that changes between the check and the connect (rebinding) gains nothing. Literal IP
//! hosts are never resolved and are checked directly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rsflow_core::MlflowError;
use rsflow_core::pyfmt::repr_str;

/// `_HOSTNAME_RESOLUTION_TIMEOUT_SECONDS`.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// `_validate_webhook_name`.
pub fn validate_name(name: &str) -> Result<(), MlflowError> {
    let b = name.as_bytes();
    let inner_ok = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    let ok = (1..=63).contains(&name.chars().count())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(inner_ok);
    if ok {
        return Ok(());
    }
    Err(MlflowError::invalid_param(format!(
        "Webhook name {} is invalid. It must start and end with a letter or digit, be less \
         than 63 characters long, and contain only letters, digits, dots (.), underscores (_), \
         and hyphens (-).",
        repr_str(name)
    )))
}

/// The parts of Python's `urllib.parse.urlparse` the guard reads.
#[derive(Debug, PartialEq, Eq)]
pub struct UrlParts {
    pub scheme: String,
    /// `parsed.hostname`: lower case, brackets and port removed; `None` when empty.
    pub hostname: Option<String>,
}

pub fn urlparse(url: &str) -> UrlParts {
    let trimmed: String = url
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let (scheme, rest) = match trimmed.split_once(':') {
        Some((s, rest))
            if s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (s.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), trimmed.as_str()),
    };
    let hostname = rest.strip_prefix("//").and_then(|after| {
        let netloc = after.split(['/', '?', '#']).next().unwrap_or_default();
        let hostport = netloc.rsplit_once('@').map_or(netloc, |(_, h)| h);
        let host = match hostport.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => hostport.split(':').next().unwrap_or_default(),
        };
        (!host.is_empty()).then(|| host.to_lowercase())
    });
    UrlParts { scheme, hostname }
}

/// Python 3.11's `ipaddress` `is_global`, after MLflow's unwrapping of IPv4 carried in IPv6
/// (mapped, 6to4, NAT64).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_is_global(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4_is_global(v4),
            None => v6_is_global(v6),
        },
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn v4_is_global(ip: Ipv4Addr) -> bool {
    const PRIVATE: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 29),
        ([192, 0, 0, 170], 31),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([240, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
    ];
    !in_v4(ip, [100, 64, 0, 0], 10) && !PRIVATE.iter().any(|(n, l)| in_v4(ip, *n, *l))
}

fn in_v6(ip: Ipv6Addr, net: Ipv6Addr, len: u32) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    u128::from(ip) & mask == u128::from(net) & mask
}

fn v6_is_global(ip: Ipv6Addr) -> bool {
    let private: [(Ipv6Addr, u32); 10] = [
        (Ipv6Addr::LOCALHOST, 128),
        (Ipv6Addr::UNSPECIFIED, 128),
        (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96),
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
        (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
        (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
    ];
    !private.iter().any(|(n, l)| in_v6(ip, *n, *l))
}

/// `_embedded_ipv4`: `ipv4_mapped`, then `sixtofour`, then the NAT64 prefix.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if bits >> 32 == 0xffff {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if ip.segments()[0] == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    if in_v6(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    None
}

/// `str(ipaddress.ip_address(...))` in Python 3.11: IPv6 in plain compressed hex, also for
/// IPv4-mapped addresses (which Rust prints dotted).
pub fn python_ip(ip: IpAddr) -> String {
    let IpAddr::V6(v6) = ip else {
        return ip.to_string();
    };
    let seg = v6.segments();
    // The first longest run (length > 1) of zero hextets becomes "::".
    let (mut best, mut best_len, mut i) = (0usize, 0usize, 0usize);
    while i < 8 {
        if seg[i] == 0 {
            let start = i;
            while i < 8 && seg[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                (best, best_len) = (start, i - start);
            }
        } else {
            i += 1;
        }
    }
    let hex = |r: &[u16]| {
        r.iter()
            .map(|h| format!("{h:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len > 1 {
        format!("{}::{}", hex(&seg[..best]), hex(&seg[best + best_len..]))
    } else {
        hex(&seg)
    }
}

/// The operator's SSRF settings (`MLFLOW_WEBHOOK_ALLOWED_SCHEMES`,
/// `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allowed_schemes: Vec<String>,
    pub allow_private_ips: bool,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        UrlPolicy {
            allowed_schemes: vec!["https".into()],
            allow_private_ips: false,
        }
    }
}

impl UrlPolicy {
    /// `_validate_webhook_url`, with its messages.
    pub async fn validate(&self, url: &str) -> Result<(), MlflowError> {
        if url.trim().is_empty() {
            return Err(MlflowError::invalid_param(format!(
                "Webhook URL cannot be empty or just whitespace: {}",
                repr_str(url)
            )));
        }
        let parts = urlparse(url);
        if !self.allowed_schemes.contains(&parts.scheme) {
            return Err(MlflowError::invalid_param(format!(
                "Invalid webhook URL scheme: {}. Allowed schemes are: {}.",
                repr_str(&parts.scheme),
                self.allowed_schemes.join(", ")
            )));
        }
        let Some(hostname) = parts.hostname else {
            return Err(MlflowError::invalid_param(format!(
                "Webhook URL must include a hostname: {}",
                repr_str(url)
            )));
        };
        if self.allow_private_ips {
            return Ok(());
        }
        for ip in resolve(&hostname).await? {
            if !is_public_ip(ip) {
                return Err(MlflowError::invalid_param(format!(
                    "Webhook URL must not resolve to a non-public IP address. {} resolves to \
                     {}.",
                    repr_str(&hostname),
                    python_ip(ip)
                )));
            }
        }
        Ok(())
    }
}

/// `socket.getaddrinfo(hostname, None)` with MLflow's timeout and messages.
async fn resolve(hostname: &str) -> Result<Vec<IpAddr>, MlflowError> {
    if let Ok(ip) = hostname.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lookup = tokio::net::lookup_host((hostname.to_owned(), 0));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Err(_) => Err(MlflowError::invalid_param(format!(
            "Timed out resolving Webhook URL hostname {} after 5 seconds",
            repr_str(hostname)
        ))),
        Ok(Err(e)) => Err(MlflowError::invalid_param(format!(
            "Cannot resolve Webhook URL hostname {}: {e}",
            repr_str(hostname)
        ))),
        Ok(Ok(addrs)) => Ok(addrs.map(|a| a.ip()).collect()),
    }
}

/// The delivery client's resolver: public addresses only, unless private ones are allowed.
#[derive(Debug, Clone)]
pub struct PublicOnlyResolver {
    pub allow_private_ips: bool,
}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private_ips;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.clone(), 0)))
                    .await
                    .map_err(|_| format!("timed out resolving {host}"))??
                    .collect();
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public_ip(a.ip())) {
                return Err(format!(
                    "Webhook connection blocked: {} is not a public IP address. This may \
                     indicate a DNS rebinding attempt.",
                    bad.ip()
                )
                .into());
            }
            let iter: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(iter)
        })
    }
}

/// The host reqwest will connect to, when it is an IP literal that must be public.
pub fn literal_host_allowed(url: &reqwest::Url, allow_private_ips: bool) -> Result<(), String> {
    if allow_private_ips {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        return Ok(());
    };
    if is_public_ip(ip) {
        Ok(())
    } else {
        Err(format!(
            "Webhook connection blocked: {ip} is not a public IP address. This may indicate a \
             DNS rebinding attempt."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ips_match_python_311() {
        // Expected values from Python 3.11.7's `ipaddress` + MLflow's `_is_public_ip`.
        for (ip, public) in [
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("100.64.0.1", false),
            ("169.254.169.254", false),
            ("224.0.0.1", true),
            ("8.8.8.8", true),
            ("192.0.0.9", true),
            ("255.255.255.255", false),
            ("::1", false),
            ("fe80::1", false),
            ("2002:a00:1::", false),
            ("64:ff9b::a00:1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:8.8.8.8", true),
            ("2001:4860::1", true),
            ("ff02::1", true),
            ("2001:db8::1", false),
            ("0.0.0.0", false),
            ("198.18.0.1", false),
            ("2001:20::1", false),
        ] {
            assert_eq!(is_public_ip(ip.parse().unwrap()), public, "{ip}");
        }
    }

    #[test]
    fn ips_print_as_python_does() {
        let p = |s: &str| python_ip(s.parse().unwrap());
        assert_eq!(p("::ffff:169.254.169.254"), "::ffff:a9fe:a9fe");
        assert_eq!(p("::1"), "::1");
        assert_eq!(p("::"), "::");
        assert_eq!(p("fe80::1:0:0:1"), "fe80::1:0:0:1");
        assert_eq!(p("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
        assert_eq!(p("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
        assert_eq!(p("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn urls_parse_like_urllib() {
        assert_eq!(
            urlparse("HTTP://User@[::1]:80/x"),
            UrlParts {
                scheme: "http".into(),
                hostname: Some("::1".into())
            }
        );
        assert_eq!(urlparse("http:///nohost").hostname, None);
        assert_eq!(urlparse("file:///etc/passwd").scheme, "file");
        assert_eq!(
            urlparse("http://a.example:8080?q").hostname.as_deref(),
            Some("a.example")
        );
    }

    #[tokio::test]
    async fn urls_are_refused_with_mlflows_messages() {
        let p = UrlPolicy::default();
        assert_eq!(
            p.validate("http://example.com").await.unwrap_err().message,
            "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
        );
        assert_eq!(
            p.validate("https://169.254.169.254/latest")
                .await
                .unwrap_err()
                .message,
            "Webhook URL must not resolve to a non-public IP address. '169.254.169.254' \
             resolves to 169.254.169.254."
        );
        assert!(p.validate("https://127.1/").await.is_err());
        let open = UrlPolicy {
            allowed_schemes: vec!["http".into(), "https".into()],
            allow_private_ips: true,
        };
        assert!(open.validate("http://127.0.0.1:9/").await.is_ok());
        assert!(open.validate("file:///etc/passwd").await.is_err());
        assert!(validate_name("-bad").is_err());
        assert!(validate_name("good.name_1").is_ok());
    }
}
