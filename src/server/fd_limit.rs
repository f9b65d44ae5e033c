//! The open-file limit: every connection is a file descriptor, and a common default
//! soft limit (1024) is far below [`super::MAX_CONNECTIONS`]. Past it `accept` fails and
//! new clients would wait however many idle connections could be closed for them, so
//! the soft limit is raised to the hard one at start when the connection limit needs it,
//! and the connection limit is lowered to fit when even the hard limit is too low.

/// Descriptors kept for everything but client connections: the listeners, the
/// runtime's own, outbound webhook calls, scenario files read at start, refused
/// connections being sent their 503.
pub const RESERVED_FDS: usize = 128;

/// Whether `e` says this process or the system has no file descriptor left
/// (`EMFILE`, `ENFILE`): closing a connection is then what lets `accept` succeed.
pub fn out_of_descriptors(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        matches!(Errno::from_io_error(e), Some(Errno::MFILE | Errno::NFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// How many connections can be open at once, at most `wanted`, raising the soft limit
/// on open files to the hard limit if `wanted` needs it.
pub fn connections_allowed(wanted: usize) -> usize {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let need = (wanted + RESERVED_FDS) as u64;
        // `None` is "unlimited".
        let soft = |l: &Rlimit| l.current.unwrap_or(u64::MAX);
        let before = getrlimit(Resource::Nofile);
        if soft(&before) >= need {
            return wanted;
        }
        let raised = Rlimit {
            current: before.maximum,
            maximum: before.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_err() {
            // macOS refuses an unlimited soft limit (its own cap is lower): ask for what
            // is needed instead.
            let enough = Rlimit {
                current: Some(before.maximum.map_or(need, |max| max.min(need))),
                maximum: before.maximum,
            };
            let _ = setrlimit(Resource::Nofile, enough);
        }
        let now = soft(&getrlimit(Resource::Nofile));
        if now >= need {
            tracing::info!(
                "raised the open-file limit from {} to {now} for {wanted} connections",
                soft(&before)
            );
            return wanted;
        }
        let fit = usize::try_from(now)
            .unwrap_or(usize::MAX)
            .saturating_sub(RESERVED_FDS)
            .max(16);
        tracing::warn!(
            "the open-file limit is {now} (hard limit {}): at most {fit} connections at once instead of {wanted}",
            before.maximum.map_or("unlimited".to_string(), |m| m.to_string())
        );
        fit
    }
    #[cfg(not(unix))]
    {
        wanted
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use rustix::io::Errno;

    #[test]
    fn only_running_out_of_descriptors_counts_as_out_of_descriptors() {
        let err = |e: Errno| std::io::Error::from_raw_os_error(e.raw_os_error());
        assert!(out_of_descriptors(&err(Errno::MFILE)));
        assert!(out_of_descriptors(&err(Errno::NFILE)));
        for other in [
            Errno::CONNABORTED,
            Errno::NOBUFS,
            Errno::NOMEM,
            Errno::PROTO,
        ] {
            assert!(!out_of_descriptors(&err(other)), "{other:?}");
        }
    }
}
