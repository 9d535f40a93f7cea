//! A simulated device's UART on a pty: its log as a real board sends it (CR LF line ends), for
//! the real console driver to read on an emulated rig.

use std::io::{self, Write};
use std::thread;

use serialport::{SerialPort, TTYPort};
use tokio::sync::mpsc;

/// The console of a simulated device, on a pty. Stops when the device's firmware model does.
pub struct Uart {
    port: String,
}

impl Uart {
    /// Sends every line the device writes to a fresh pty.
    pub fn start(device: &str, mut lines: mpsc::UnboundedReceiver<String>) -> io::Result<Uart> {
        let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
        let port = slave
            .name()
            .ok_or_else(|| io::Error::other("the pty has no name"))?;
        thread::Builder::new()
            .name(format!("uart {device}"))
            .spawn(move || {
                // Holding the slave open keeps the master from EIO while the driver reopens it.
                let _slave = slave;
                while let Some(line) = lines.blocking_recv() {
                    if master.write_all(format!("{line}\r\n").as_bytes()).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Uart { port })
    }

    /// The path the console driver opens.
    pub fn port(&self) -> &str {
        &self.port
    }
}
