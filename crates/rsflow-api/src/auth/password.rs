//! Werkzeug's password hash strings, as MLflow's auth store writes and checks them
//! (`generate_password_hash` / `check_password_hash`): `scrypt:N:r:p$salt$hex` (Werkzeug 3's
//! default, what MLflow 3.17.2 writes) and `pbkdf2:sha256[:iterations]$salt$hex` (older
//! databases). The salt is used as its UTF-8 text, the digest is lower-case hex, and the
//! comparison is constant-time.

use subtle::ConstantTimeEq;

/// Werkzeug 3.1's defaults.
const SCRYPT_N: u64 = 32768;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SCRYPT_LEN: usize = 64;
const PBKDF2_DEFAULT_ITERATIONS: u32 = 1_000_000;
/// Bounds on what a stored hash may ask for, so a forged row cannot make a login cost minutes.
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_SCRYPT_LOG_N: u8 = 20;
const SALT_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A new hash in the form MLflow 3.17.2 writes (`scrypt:32768:8:1$<16 chars>$<128 hex>`).
pub fn generate(password: &str) -> String {
    let salt = gen_salt(16);
    let digest = scrypt_digest(
        password,
        &salt,
        SCRYPT_N.trailing_zeros() as u8,
        SCRYPT_R,
        SCRYPT_P,
    )
    .expect("werkzeug's default scrypt parameters are valid");
    format!(
        "scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}${salt}${}",
        hex(&digest)
    )
}

/// Werkzeug's `check_password_hash`: false for a wrong password and for any hash it cannot
/// read (never an error, so nothing about the stored hash reaches a response).
pub fn verify(stored: &str, password: &str) -> bool {
    let mut parts = stored.splitn(3, '$');
    let (Some(method), Some(salt), Some(expected)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(actual) = compute(method, salt, password) else {
        return false;
    };
    let actual = hex(&actual);
    actual.as_bytes().ct_eq(expected.as_bytes()).into()
}

fn compute(method: &str, salt: &str, password: &str) -> Option<Vec<u8>> {
    let mut fields = method.split(':');
    match fields.next()? {
        "scrypt" => {
            let n: u64 = fields.next().map_or(Some(SCRYPT_N), |v| v.parse().ok())?;
            let r: u32 = fields.next().map_or(Some(SCRYPT_R), |v| v.parse().ok())?;
            let p: u32 = fields.next().map_or(Some(SCRYPT_P), |v| v.parse().ok())?;
            if !n.is_power_of_two() || n < 2 {
                return None;
            }
            let log_n = n.trailing_zeros() as u8;
            if log_n > MAX_SCRYPT_LOG_N || r == 0 || r > 32 || p == 0 || p > 16 {
                return None;
            }
            scrypt_digest(password, salt, log_n, r, p)
        }
        "pbkdf2" => {
            let algo = fields.next().unwrap_or("sha256");
            let iterations: u32 = fields
                .next()
                .map_or(Some(PBKDF2_DEFAULT_ITERATIONS), |v| v.parse().ok())?;
            if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
                return None;
            }
            match algo {
                "sha256" => {
                    let mut out = [0u8; 32];
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                        password.as_bytes(),
                        salt.as_bytes(),
                        iterations,
                        &mut out,
                    );
                    Some(out.to_vec())
                }
                "sha512" => {
                    let mut out = [0u8; 64];
                    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(
                        password.as_bytes(),
                        salt.as_bytes(),
                        iterations,
                        &mut out,
                    );
                    Some(out.to_vec())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn scrypt_digest(password: &str, salt: &str, log_n: u8, r: u32, p: u32) -> Option<Vec<u8>> {
    let params = scrypt::Params::new(log_n, r, p, SCRYPT_LEN).ok()?;
    let mut out = vec![0u8; SCRYPT_LEN];
    scrypt::scrypt(password.as_bytes(), salt.as_bytes(), &params, &mut out).ok()?;
    Some(out)
}

fn gen_salt(len: usize) -> String {
    let mut raw = vec![0u8; len];
    getrandom::fill(&mut raw).expect("the operating system's random source");
    // 62 symbols: rejection sampling keeps the draw uniform, as `secrets.choice` is.
    let mut out = String::with_capacity(len);
    let mut bytes: Box<dyn Iterator<Item = u8>> = Box::new(raw.into_iter());
    while out.len() < len {
        let b = match bytes.next() {
            Some(b) => b,
            None => {
                let mut more = [0u8; 16];
                getrandom::fill(&mut more).expect("the operating system's random source");
                bytes = Box::new(more.into_iter());
                continue;
            }
        };
        if (b as usize) < 62 * 4 {
            out.push(SALT_CHARS[b as usize % 62] as char);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by werkzeug 3.1's `generate_password_hash("password1234567", method=...)`.
    const WERKZEUG: &[&str] = &[
        "pbkdf2:sha256:1000$YSMSL0f2tMvgTWPm$c445221dc5c4c8f484d487870943741dd17634ba9b0e5195cfa6f3cefac15680",
        "scrypt:1024:8:1$CfVjF6UdCB7Fnbbv$690b7373484591eed5210b56caf9d144890bb62207a61692f88068df96bbc8fbc65053c5e5723a5aef9dad57a78a902510c0a9b971d86d3907b28087f3af9f23",
        "scrypt:32768:8:1$2aof9XFiM1YWx9Cl$6e2773a9e3b608a687a9bccf2243410ec0e6c4cf43f4cbe410fa2a2a7b85bff69bef2e9d348cd170322a2f09c2479c782ee027f6f7d3e78705492ac49833ca74",
    ];

    #[test]
    fn werkzeug_hashes_verify() {
        for h in WERKZEUG {
            assert!(verify(h, "password1234567"), "{h}");
            assert!(!verify(h, "password1234568"), "{h}");
        }
    }

    #[test]
    fn generated_hashes_verify_and_look_like_werkzeug() {
        let h = generate("correct horse battery");
        assert!(h.starts_with("scrypt:32768:8:1$"));
        let parts: Vec<&str> = h.split('$').collect();
        assert_eq!(parts[1].len(), 16);
        assert_eq!(parts[2].len(), 128);
        assert!(verify(&h, "correct horse battery"));
        assert!(!verify(&h, "correct horse batterx"));
    }

    #[test]
    fn unreadable_hashes_never_verify() {
        for bad in ["", "x", "md5$a$b", "scrypt:3:8:1$a$b", "pbkdf2:sha1:10$a$b"] {
            assert!(!verify(bad, ""));
        }
    }
}
