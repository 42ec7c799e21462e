//! systemd readiness notification for `rill serve` (`Type=notify` units).
//!
//! The protocol (sd_notify(3)) is one datagram of `KEY=VALUE` lines sent to
//! the `AF_UNIX` socket named by `$NOTIFY_SOCKET`: a file-system path, or an
//! abstract socket name written with a leading `@`. We send it ourselves
//! instead of linking libsystemd. Outside systemd the variable is unset and
//! notifying does nothing.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Why a notification could not be sent; names the socket it was for.
#[derive(Debug)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor an `@name`.
    BadAddress(String),
    /// Creating the socket or sending the datagram failed.
    Send(String, std::io::Error),
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::BadAddress(a) => write!(
                f,
                "NOTIFY_SOCKET={a:?} is not an absolute path or @abstract name"
            ),
            NotifyError::Send(a, e) => write!(f, "cannot notify systemd at {a:?}: {e}"),
        }
    }
}

impl std::error::Error for NotifyError {}

/// Send `state` (e.g. `"READY=1"`) to `$NOTIFY_SOCKET`. Returns `Ok(false)`
/// when the variable is unset or empty (not started by systemd).
pub fn notify(state: &str) -> Result<bool, NotifyError> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(v) if !v.is_empty() => notify_to(&v, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Send `state` as one datagram to the socket named `socket` (a
/// `$NOTIFY_SOCKET` value).
pub fn notify_to(socket: &OsStr, state: &str) -> Result<(), NotifyError> {
    let shown = socket.to_string_lossy().into_owned();
    let addr = parse_address(socket).ok_or_else(|| NotifyError::BadAddress(shown.clone()))?;
    let sock = UnixDatagram::unbound().map_err(|e| NotifyError::Send(shown.clone(), e))?;
    sock.send_to_addr(state.as_bytes(), &addr)
        .map_err(|e| NotifyError::Send(shown, e))?;
    Ok(())
}

/// `/path` is a path socket; `@name` is the abstract socket `name`.
fn parse_address(socket: &OsStr) -> Option<SocketAddr> {
    let bytes = socket.as_bytes();
    match bytes.first()? {
        b'/' => SocketAddr::from_pathname(socket).ok(),
        b'@' => abstract_address(&bytes[1..]),
        _ => None,
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> Option<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name).ok()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> Option<SocketAddr> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("rill-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        assert_eq!(receive(&server), "READY=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("rill-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(OsStr::new(&format!("@{name}")), "READY=1\nSTATUS=up").unwrap();
        assert_eq!(receive(&server), "READY=1\nSTATUS=up");
    }

    #[test]
    fn rejects_relative_and_empty_addresses() {
        for bad in ["", "relative/sock", "sock"] {
            assert!(matches!(
                notify_to(OsStr::new(bad), "READY=1"),
                Err(NotifyError::BadAddress(_))
            ));
        }
    }

    #[test]
    fn missing_socket_is_a_send_error() {
        let err = notify_to(OsStr::new("/nonexistent/rill/notify.sock"), "READY=1").unwrap_err();
        assert!(matches!(err, NotifyError::Send(..)), "{err}");
        assert!(err.to_string().contains("/nonexistent/rill/notify.sock"));
    }
}
