//! Bytes to and from an instrument: a serial port (USB-CDC, RS-232 adapter or a pty), with a
//! timeout on every read. Framing (line terminators, quiet gaps) is the dialect's business.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort};
use thiserror::Error;

/// What can go wrong on the wire. The driver adds the instrument and the port.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("no answer within {0:?} (timed out)")]
    TimedOut(Duration),
    /// Bytes came, but not the line end: often another model (Korad sends none) or a wrong baud.
    #[error(
        "no line end within {0:?} (timed out) after {1:?}; another model, or the wrong baud rate?"
    )]
    Unterminated(Duration, String),
    #[error("the connection was lost ({0})")]
    Lost(io::Error),
}

/// A byte pipe to one instrument. Drivers are generic over it, so a test can swap the wire.
pub trait Transport: Send {
    /// Where the instrument is (a port path), for errors.
    fn port(&self) -> &str;

    /// Drops input nobody asked for, such as a late answer to an earlier query.
    fn discard_input(&mut self) -> Result<(), TransportError>;

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError>;

    /// Reads what has arrived, waiting at most `timeout` for the first byte.
    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError>;
}

/// How an instrument ends its answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// SCPI: every message ends with this byte (`\n`).
    Terminated(u8),
    /// Korad and friends send no terminator: an answer is over when the line goes quiet.
    Quiet(Duration),
}

/// Reads one answer, or fails once `timeout` passes without a complete one.
pub fn read_answer(
    transport: &mut dyn Transport,
    framing: Framing,
    timeout: Duration,
) -> Result<Vec<u8>, TransportError> {
    let deadline = Instant::now() + timeout;
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = match framing {
            Framing::Quiet(gap) if !answer.is_empty() => gap.min(left),
            _ => left,
        };
        let read = if wait.is_zero() {
            Err(TransportError::TimedOut(wait))
        } else {
            transport.read_some(&mut buf, wait)
        };
        match (read, framing) {
            (Ok(n), _) => answer.extend_from_slice(&buf[..n]),
            (Err(TransportError::TimedOut(_)), _) if answer.is_empty() => {
                return Err(TransportError::TimedOut(timeout));
            }
            (Err(TransportError::TimedOut(_)), Framing::Quiet(_)) => return Ok(answer),
            (Err(TransportError::TimedOut(_)), Framing::Terminated(_)) => {
                let partial = String::from_utf8_lossy(&answer).into_owned();
                return Err(TransportError::Unterminated(timeout, partial));
            }
            (Err(e), _) => return Err(e),
        }
        if let Framing::Terminated(end) = framing
            && let Some(at) = answer.iter().position(|&b| b == end)
        {
            answer.truncate(at);
            if answer.last() == Some(&b'\r') {
                answer.pop();
            }
            return Ok(answer);
        }
    }
}

/// A serial port opened by path.
pub struct SerialTransport {
    port: Box<dyn SerialPort>,
    path: String,
}

impl SerialTransport {
    /// Opens `path` at `baud`, 8N1, no flow control, exclusively (two programs on one supply
    /// interleave each other's commands).
    pub fn open(path: &str, baud: u32) -> Result<Self, OpenError> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(100))
            .open()
            .map_err(|e| OpenError::classify(path, e))?;
        Ok(Self {
            port,
            path: path.to_string(),
        })
    }
}

impl Transport for SerialTransport {
    fn port(&self) -> &str {
        &self.path
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.port
            .clear(ClearBuffer::Input)
            .map_err(|e| TransportError::Lost(e.into()))
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        self.port
            .set_timeout(Duration::from_secs(2))
            .map_err(|e| TransportError::Lost(e.into()))?;
        self.port.write_all(bytes).map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => TransportError::TimedOut(Duration::from_secs(2)),
            _ => TransportError::Lost(e),
        })
    }

    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        self.port
            .set_timeout(timeout)
            .map_err(|e| TransportError::Lost(e.into()))?;
        match self.port.read(buf) {
            // A pty whose other end closed reads as end-of-file.
            Ok(0) => Err(TransportError::Lost(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(TransportError::TimedOut(timeout)),
            Err(e) => Err(TransportError::Lost(e)),
        }
    }
}

/// Why a port would not open, phrased as what to do about it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OpenError {
    #[error(
        "{port} does not exist: is the instrument plugged in and switched on? (`ls /dev/serial/by-id/` lists what is connected)"
    )]
    Missing { port: String },
    #[error(
        "permission denied on {port}: add your user to the `{group}` group (`sudo usermod -aG {group} $USER`, then log in again)"
    )]
    PermissionDenied { port: String, group: String },
    #[error("{port} is in use by another program (`fuser {port}` names it)")]
    Busy { port: String },
    #[error("cannot open {port}: {cause}")]
    Other { port: String, cause: String },
}

impl OpenError {
    fn classify(port: &str, e: serialport::Error) -> Self {
        let port = port.to_string();
        match e.kind() {
            serialport::ErrorKind::Io(io::ErrorKind::NotFound) => OpenError::Missing { port },
            serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied) => {
                let group = owning_group(Path::new(&port)).unwrap_or_else(|| "dialout".into());
                OpenError::PermissionDenied { port, group }
            }
            serialport::ErrorKind::NoDevice
            | serialport::ErrorKind::Io(io::ErrorKind::WouldBlock) => OpenError::Busy { port },
            _ => OpenError::Other {
                port,
                cause: e.description,
            },
        }
    }
}

/// The group that owns a device node (`dialout` on Debian, `uucp` on Arch), from /etc/group.
fn owning_group(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let gid = std::fs::metadata(path).ok()?.gid();
    group_name(&std::fs::read_to_string("/etc/group").ok()?, gid)
}

fn group_name(etc_group: &str, gid: u32) -> Option<String> {
    etc_group.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == gid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_port_says_so_and_names_it() {
        let Err(e) = SerialTransport::open("/dev/ttyHIL-nothing-here", 9600) else {
            panic!("opened a port that does not exist");
        };
        assert_eq!(
            e,
            OpenError::Missing {
                port: "/dev/ttyHIL-nothing-here".into()
            }
        );
    }

    #[test]
    fn permission_denied_names_the_group_to_join() {
        let e = OpenError::classify(
            "/dev/null-not-a-port",
            serialport::Error::new(
                serialport::ErrorKind::Io(io::ErrorKind::PermissionDenied),
                "Permission denied",
            ),
        );
        // /dev/null-not-a-port has no owner to look up: the Debian default is suggested.
        assert!(e.to_string().contains("`dialout` group"), "{e}");
    }

    #[test]
    fn group_names_come_from_etc_group() {
        let etc_group = "root:x:0:\ndialout:x:20:alice\nuucp:x:14:\n";
        assert_eq!(group_name(etc_group, 20).as_deref(), Some("dialout"));
        assert_eq!(group_name(etc_group, 14).as_deref(), Some("uucp"));
        assert_eq!(group_name(etc_group, 99), None);
    }
}
