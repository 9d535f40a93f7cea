//! A device's UART as a `Console`: a thread reads the port into a bounded channel, split into
//! lines, each stamped when its end arrived. Nothing is dropped: a full channel makes the thread
//! wait (the port's buffers and the device's flow hold the rest), a line with no end yet waits
//! for it, and a line that never ends is passed on in pieces.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::transport::{SerialTransport, Transport, TransportError};
use crate::{Console, RigError};

/// Lines waiting for the runner before the reader thread waits for it.
const QUEUE: usize = 4096;
/// A line longer than this is passed on in pieces: a device that never ends a line (a wrong
/// baud rate, binary output) must not grow the harness without bound.
pub const LONGEST_LINE: usize = 4096;
/// How often the reader thread looks up from the port to see whether anyone still listens.
const POLL: Duration = Duration::from_millis(200);

/// One line of a device's log: its text, without its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleLine {
    /// When the line's last byte was read from the port.
    pub received: SystemTime,
    /// Bytes that are not UTF-8 are replaced by U+FFFD.
    pub text: String,
}

pub struct SerialConsole {
    lines: mpsc::Receiver<Result<ConsoleLine, RigError>>,
    stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Dropping a console releases its port before returning: the port is opened exclusively, and
/// whoever opens it next (the run after `hil rig check`'s look) must find it free.
impl Drop for SerialConsole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.lines.close();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl SerialConsole {
    /// Opens `port` at `baud` for `device` and starts reading it at once.
    pub fn open(device: &str, port: &str, baud: u32) -> Result<Self, RigError> {
        let transport = SerialTransport::open(port, baud)
            .map_err(|e| RigError::new(device, format!("console: {e}")))?;
        Ok(Self::over(device, transport))
    }

    /// Reads `transport` on a thread of its own until the console is dropped or the port goes.
    pub fn over(device: &str, transport: impl Transport + 'static) -> Self {
        let (sender, lines) = mpsc::channel(QUEUE);
        let device = device.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = std::thread::Builder::new()
            .name(format!("console {device}"))
            .spawn({
                let stop = stop.clone();
                move || read_lines(&device, transport, &sender, &stop)
            })
            .expect("a thread for the console");
        Self {
            lines,
            stop,
            reader: Some(reader),
        }
    }

    /// The next line with its time of arrival; `None` once the port is gone and every line
    /// before that was read.
    pub async fn next_line(&mut self) -> Result<Option<ConsoleLine>, RigError> {
        self.lines.recv().await.transpose()
    }
}

#[async_trait]
impl Console for SerialConsole {
    async fn read_line(&mut self) -> Result<Option<String>, RigError> {
        Ok(self.next_line().await?.map(|line| line.text))
    }
}

type Sender = mpsc::Sender<Result<ConsoleLine, RigError>>;

fn read_lines(device: &str, mut transport: impl Transport, sender: &Sender, stop: &AtomicBool) {
    let mut splitter = LineSplitter::default();
    let mut buf = [0u8; 1024];
    let send = |text: String| {
        let line = ConsoleLine {
            received: SystemTime::now(),
            text,
        };
        sender.blocking_send(Ok(line)).is_ok()
    };
    while !stop.load(Ordering::Relaxed) {
        match transport.read_some(&mut buf, POLL) {
            Ok(n) => {
                for line in splitter.push(&buf[..n]) {
                    if !send(line) {
                        return;
                    }
                }
            }
            Err(TransportError::TimedOut(_)) if !sender.is_closed() => {}
            Err(TransportError::TimedOut(_)) => return,
            Err(e) => {
                // What came before the port went is still the device's log.
                if let Some(rest) = splitter.finish()
                    && !send(rest)
                {
                    return;
                }
                let cause = format!("console on {}: {e}", transport.port());
                let _ = sender.blocking_send(Err(RigError::new(device, cause)));
                return;
            }
        }
    }
}

/// Splits a byte stream into lines ended by LF, CR, CR LF or LF CR.
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// The end of the previous line, if nothing came after it yet: its pair (LF after CR, or
    /// CR after LF) belongs to it and starts no empty line.
    last_end: Option<u8>,
}

impl LineSplitter {
    /// The lines `bytes` completes.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &byte in bytes {
            match (byte, self.last_end.take()) {
                (b'\n', Some(b'\r')) | (b'\r', Some(b'\n')) => {}
                (b'\n' | b'\r', _) => {
                    lines.push(self.take());
                    self.last_end = Some(byte);
                }
                _ => {
                    self.partial.push(byte);
                    if self.partial.len() == LONGEST_LINE {
                        lines.push(self.take());
                    }
                }
            }
        }
        lines
    }

    /// A last line the device never ended, if any.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        // Lines end at ASCII bytes, which never occur inside a UTF-8 sequence (only the pieces
        // of an overlong line can split one).
        String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_end_ends_one_line() {
        let mut splitter = LineSplitter::default();
        let lines = splitter.push(b"a\nb\r\nc\rd\n\re\n\nf");
        assert_eq!(lines, ["a", "b", "c", "d", "e", ""]);
        assert_eq!(splitter.finish().as_deref(), Some("f"));
        assert_eq!(splitter.finish(), None);
    }

    #[test]
    fn a_line_end_split_across_reads_is_still_one() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push(b"boot ok\r"), ["boot ok"]);
        assert!(splitter.push(b"\n").is_empty());
        assert_eq!(splitter.push(b"adv st"), Vec::<String>::new());
        assert_eq!(splitter.push(b"art\r\n"), ["adv start"]);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_long_lines_come_in_pieces() {
        let mut splitter = LineSplitter::default();
        assert_eq!(
            splitter.push(b"t=\xff\xfe\xc3\xa9\n"),
            ["t=\u{fffd}\u{fffd}é"]
        );
        let long = vec![b'x'; LONGEST_LINE + 10];
        let lines = splitter.push(&long);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), LONGEST_LINE);
        assert_eq!(splitter.finish().map(|rest| rest.len()), Some(10));
    }
}
