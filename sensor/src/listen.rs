//! The app's LISTEN sockets, read from `/proc/net/tcp` and `/proc/net/tcp6`.

use std::collections::BTreeSet;
use std::fs;

/// TCP state number of LISTEN in `/proc/net/tcp`.
const TCP_LISTEN: &str = "0A";

/// Ports in LISTEN state in one `/proc/net/tcp`-format table.
pub fn parse_listen_ports(table: &str) -> BTreeSet<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let local = cols.nth(1)?;
            let state = cols.nth(1)?;
            if state != TCP_LISTEN {
                return None;
            }
            let port = local.rsplit(':').next()?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// Ports the network namespace of this process listens on (IPv4 and IPv6).
pub fn listening_ports() -> BTreeSet<u16> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().filter_map(|p| fs::read_to_string(p).ok()).flat_map(|t| parse_listen_ports(&t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listen_rows_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1\n\
   1: 0100007F:0050 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n";
        assert_eq!(parse_listen_ports(table).into_iter().collect::<Vec<_>>(), vec![8080]);
        let v6 = "  sl  local_address remote_address st\n\
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(parse_listen_ports(v6).into_iter().collect::<Vec<_>>(), vec![80]);
    }
}
