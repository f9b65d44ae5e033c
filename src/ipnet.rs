//! Address allowlists (`allowed_ips` in scenario files): IP addresses and CIDR blocks.
//! Vendor-neutral; each vendor decides what an unlisted address gets.

use std::net::IpAddr;

use toml::Spanned;

use crate::scenario::Problem;

/// An address (`127.0.0.1`, `::1`) or a CIDR block (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl std::fmt::Display for IpNet {
    /// As written in a scenario file: the address alone for a single host.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.addr.is_ipv4() { 32 } else { 128 };
        if self.prefix == host {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl IpNet {
    /// `None` for anything that is not an address or `address/prefix`.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    /// Whether `ip` is this address or inside this block (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        let bits = |a: IpAddr| match a {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32u32),
            IpAddr::V6(v) => (u128::from(v), 128u32),
        };
        let ((net, w1), (host, w2)) = (bits(self.addr), bits(ip));
        if w1 != w2 {
            return false;
        }
        let shift = w1 - u32::from(self.prefix);
        shift >= 128 || (net >> shift) == (host >> shift)
    }
}

/// Compile an `allowed_ips` list from a scenario file: `None` (absent) allows every
/// address; each entry that is not an address or block is a located problem.
pub fn compile_allowlist(
    list: Option<&[Spanned<String>]>,
    problems: &mut Vec<Problem>,
) -> Option<Vec<IpNet>> {
    let list = list?;
    let mut nets = Vec::with_capacity(list.len());
    for s in list {
        match IpNet::parse(s.get_ref()) {
            Some(net) => nets.push(net),
            None => problems.push(Problem::at(
                s.span(),
                format!(
                    "`{}` is not an IP address or CIDR block (e.g. \"10.0.0.0/8\")",
                    s.get_ref()
                ),
            )),
        }
    }
    Some(nets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_nets_match_addresses_and_blocks() {
        let cases = [
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("::1", "::1", true),
            ("127.0.0.1", "::ffff:127.0.0.1", true),
            ("2001:db8::/32", "2001:db8::1", true),
            ("2001:db8::/32", "10.0.0.1", false),
        ];
        for (net, ip, want) in cases {
            assert_eq!(
                IpNet::parse(net).unwrap().contains(ip.parse().unwrap()),
                want,
                "{net} contains {ip}"
            );
        }
        for bad in ["", "10.0.0.0/33", "hello", "1.2.3.4/x"] {
            assert!(IpNet::parse(bad).is_none(), "{bad:?}");
        }
    }
}
