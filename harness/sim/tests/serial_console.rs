//! The serial console reader against a pty flooded with a device's log: every line arrives, in
//! order, whatever its line end, however the bytes are cut into writes, whatever noise is in it.

use std::io::Write;
use std::time::Duration;

use hil_rig::Console;
use hil_rig::drivers::SerialConsole;
use serialport::{SerialPort, TTYPort};

/// A pty: the master end to write to, and the slave's path for the console to open.
fn pty() -> (TTYPort, TTYPort, String) {
    let (master, slave) = TTYPort::pair().expect("a pty");
    let path = slave.name().expect("the pty has a name");
    (master, slave, path)
}

/// `count` lines of a busy device, with every kind of line end and some bytes that are not UTF-8;
/// the bytes on the wire and the lines they must come out as.
fn device_log(count: usize) -> (Vec<u8>, Vec<String>) {
    let ends: [&[u8]; 4] = [b"\n", b"\r\n", b"\r", b"\n\r"];
    let mut wire = Vec::new();
    let mut lines = Vec::new();
    for i in 0..count {
        let mut line = format!("[{i:06}] adv interval=100ms rssi=-{} ", i % 90).into_bytes();
        if i % 7 == 0 {
            line.extend_from_slice(b"\xff\xfe garbage \x80");
        }
        if i % 11 == 0 {
            line.extend_from_slice("température ✓".as_bytes());
        }
        lines.push(String::from_utf8_lossy(&line).into_owned());
        wire.extend_from_slice(&line);
        wire.extend_from_slice(ends[i % ends.len()]);
    }
    (wire, lines)
}

#[tokio::test]
async fn a_flood_of_lines_arrives_whole_and_in_order() {
    let (mut master, _slave, path) = pty();
    let mut console = SerialConsole::open("ring", &path, 115_200).unwrap();
    let (wire, expected) = device_log(20_000);

    let writer = std::thread::spawn(move || {
        // Writes of odd sizes cut lines, line ends and UTF-8 sequences anywhere.
        for chunk in wire.chunks(997) {
            master.write_all(chunk).unwrap();
        }
        // The start of a line whose end comes later: it must wait for it, not come out alone.
        master.write_all(b"boot: reset rea").unwrap();
        master
    });

    let mut received = Vec::with_capacity(expected.len());
    while received.len() < expected.len() {
        received.push(next_line(&mut console).await);
    }
    for (i, (got, want)) in received.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "line {i}");
    }

    let mut master = writer.join().unwrap();
    master.write_all(b"son=0x04\r\n").unwrap();
    assert_eq!(next_line(&mut console).await, "boot: reset reason=0x04");
}

async fn next_line(console: &mut SerialConsole) -> String {
    tokio::time::timeout(Duration::from_secs(60), console.read_line())
        .await
        .expect("lines keep coming")
        .unwrap()
        .expect("the console is open")
}

#[tokio::test]
async fn a_console_whose_port_goes_is_a_rig_error_naming_the_device_and_port() {
    let (mut master, slave, path) = pty();
    let mut console = SerialConsole::open("lock", &path, 115_200).unwrap();
    master.write_all(b"motor: locked\r\n").unwrap();
    assert_eq!(
        console.read_line().await.unwrap().as_deref(),
        Some("motor: locked")
    );

    drop((master, slave));
    let e = tokio::time::timeout(Duration::from_secs(60), console.read_line())
        .await
        .expect("the loss is noticed")
        .expect_err("a lost port is an error");
    assert_eq!(e.instrument, "lock");
    assert!(e.message.contains(&path), "{e}");
    assert!(e.message.contains("connection was lost"), "{e}");
}

#[test]
fn a_console_port_that_is_not_there_says_what_to_do() {
    let Err(e) = SerialConsole::open("ring", "/dev/ttyHIL-no-console", 115_200) else {
        panic!("opened a port that does not exist");
    };
    assert_eq!(e.instrument, "ring");
    assert!(
        e.message.contains("/dev/ttyHIL-no-console does not exist"),
        "{e}"
    );
}
