//! A device console flooded with log lines, read through hil's `SerialConsole` and the ring
//! profile's rules, for `bench/run`, which runs pexpect against the same feed
//! (`bench/console_pexpect.py`).
//!
//! ```text
//! console_bench feed MB RATE     make a pty and print `PATH LINES EVENTS BYTES`; on a line on
//!                                standard input, write MB (10⁶ bytes, rounded up to a whole line)
//!                                of device log at RATE bytes/s (0: as fast as the pty takes it);
//!                                exit when standard input closes
//! console_bench read MB RATE     start `feed` as a child, read its pty as the runner does (every
//!                                line redacted, then recognised); prints `lines LINES EVENTS
//!                                SECONDS CPU_SECONDS` and what it expected
//! console_bench memory MB EVENTS stream MB through the pty, the console, the rules and a JSON
//!                                lines events file; prints RSS (kB) at the start, peak and end
//! ```
//!
//! The log is one block of Zephyr-style lines like the virtual devices print, a third of them
//! events the rules recognise, the rest debug chatter, hex dumps up to 1.5 kB and bursts of bytes
//! that are not UTF-8; every line ends in CR LF and none is longer than the console's
//! `LONGEST_LINE`, so lines written and lines read can be counted alike.

use std::fs::File;
use std::io::{BufRead, BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use hil_rig::drivers::{LONGEST_LINE, SerialConsole};
use hil_scenario::Profile;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serialport::{SerialPort, TTYPort};

const PROFILE: &str = "fixtures/profiles/ring-fw-2.1.toml";
const BAUD: u32 = 115_200;
/// Lines in the block that is repeated to make up the volume.
const BLOCK_LINES: usize = 2000;
/// A reader that hears nothing for this long has lost the lines it has not got yet.
const SILENCE: Duration = Duration::from_secs(2);
/// Linux reports CPU time in /proc in ticks of 1/100 s on every architecture hil runs on.
const TICKS_PER_SECOND: f64 = 100.0;
/// How often `memory` samples its RSS.
const SAMPLE_EVERY: u64 = 1 << 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = match args.as_slice() {
        ["feed", mb, rate] => number(mb).and_then(|mb| feed(mb, number(rate)?)),
        ["read", mb, rate] => number(mb).and_then(|mb| read(mb, number(rate)?)),
        ["memory", mb, events] => number(mb).and_then(|mb| memory(mb, Path::new(events))),
        _ => Err("usage: console_bench feed MB RATE | read MB RATE | memory MB EVENTS".into()),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("console_bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn number(text: &str) -> Result<f64, String> {
    text.parse().map_err(|e| format!("{text:?}: {e}"))
}

/// One block of device log: its bytes on the wire, where each line ends and whether it is an
/// event.
struct Block {
    wire: Vec<u8>,
    ends: Vec<usize>,
    events: Vec<bool>,
}

/// How much of the log makes up a volume: whole blocks, then the first `tail` bytes of one.
#[derive(Clone, Copy)]
struct Volume {
    blocks: u64,
    tail: usize,
    lines: u64,
    events: u64,
}

impl Block {
    fn new() -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let mut wire = Vec::new();
        let mut ends = Vec::new();
        let mut events = Vec::new();
        for i in 0..BLOCK_LINES {
            let ms = i as u64 * 37;
            let stamp = format!(
                "[{:02}:{:02}:{:02}.{:03},000] ",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            );
            let (line, event): (Vec<u8>, bool) = match i % 12 {
                0 => (
                    format!(
                        "<inf> battery: {:.2} V, {} %",
                        3.0 + rng.random::<f64>(),
                        rng.random_range(0..100)
                    )
                    .into(),
                    true,
                ),
                1 => (
                    format!(
                        "<dbg> bt_hci: rx acl handle 0x{:04x} len {}",
                        rng.random::<u16>(),
                        rng.random_range(1..251)
                    )
                    .into(),
                    false,
                ),
                2 => ("<inf> bt: advertising as ring".into(), true),
                3 => {
                    let dump: String = (0..rng.random_range(16..500))
                        .map(|_| format!("{:02x} ", rng.random::<u8>()))
                        .collect();
                    (format!("<dbg> bt_hci: rx dump {dump}").into(), false)
                }
                4 => (
                    format!(
                        "<inf> bt: connected to C0:11:22:33:44:{:02X}",
                        rng.random::<u8>()
                    )
                    .into(),
                    true,
                ),
                5 => (
                    "<dbg> keys: LTK 0x00112233445566778899aabbccddeeff for C0:11:22:33:44:55"
                        .into(),
                    false,
                ),
                6 => (
                    format!("<inf> dfu: {} %", rng.random_range(0..100)).into(),
                    false,
                ),
                7 => {
                    // Noise on the line: a burst of bytes that are not UTF-8 (never CR or LF).
                    let mut noise = b"<err> uart: framing error ".to_vec();
                    noise.extend(
                        (0..rng.random_range(4..64)).map(|_| rng.random_range(0x80..=0xffu8)),
                    );
                    (noise, false)
                }
                8 => (
                    format!(
                        "<inf> bt: disconnected (reason 0x{:02x})",
                        rng.random_range(8..0x20)
                    )
                    .into(),
                    true,
                ),
                9 => (
                    format!(
                        "<dbg> sensor: accel x={} y={} z={}",
                        rng.random_range(-999..999),
                        rng.random_range(-999..999),
                        rng.random_range(-999..999)
                    )
                    .into(),
                    false,
                ),
                10 => ("<wrn> pair: refused: low_battery".into(), true),
                _ => (
                    format!("<dbg> pm: idle {} ms", rng.random_range(1..5000)).into(),
                    false,
                ),
            };
            assert!(stamp.len() + line.len() < LONGEST_LINE);
            wire.extend_from_slice(stamp.as_bytes());
            wire.extend_from_slice(&line);
            wire.extend_from_slice(b"\r\n");
            ends.push(wire.len());
            events.push(event);
        }
        Self { wire, ends, events }
    }

    /// The log up to the first line end at or after `mb` × 10⁶ bytes.
    fn volume(&self, mb: f64) -> Volume {
        let bytes = (mb * 1e6).max(1.0) as u64;
        let size = self.wire.len() as u64;
        let (blocks, rest) = (bytes / size, (bytes % size) as usize);
        let tail_lines =
            self.ends.iter().take_while(|&&end| end < rest).count() + usize::from(rest > 0);
        let count = |events: &[bool]| events.iter().filter(|&&e| e).count() as u64;
        Volume {
            blocks,
            tail: if tail_lines > 0 {
                self.ends[tail_lines - 1]
            } else {
                0
            },
            lines: blocks * BLOCK_LINES as u64 + tail_lines as u64,
            events: blocks * count(&self.events) + count(&self.events[..tail_lines]),
        }
    }
}

/// Writes `volume` of `block` to `out` at `rate` bytes/s (0: unpaced), in chunks of about 10 ms.
fn write_paced(
    out: &mut impl Write,
    block: &Block,
    volume: Volume,
    rate: f64,
) -> Result<(), String> {
    let chunk = if rate > 0.0 {
        ((rate / 100.0) as usize).clamp(64, 16 * 1024)
    } else {
        16 * 1024
    };
    let start = Instant::now();
    let mut written = 0u64;
    let whole = std::iter::repeat_n(&block.wire[..], volume.blocks as usize);
    for part in whole.chain([&block.wire[..volume.tail]]) {
        for piece in part.chunks(chunk) {
            if rate > 0.0 {
                let due = Duration::from_secs_f64(written as f64 / rate);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            out.write_all(piece)
                .map_err(|e| format!("writing the pty: {e}"))?;
            written += piece.len() as u64;
        }
    }
    Ok(())
}

fn pty() -> Result<(TTYPort, TTYPort, String), String> {
    let (master, slave) = TTYPort::pair().map_err(|e| format!("a pty: {e}"))?;
    let path = slave.name().ok_or("the pty has no name")?;
    Ok((master, slave, path))
}

fn feed(mb: f64, rate: f64) -> Result<(), String> {
    let block = Block::new();
    let volume = block.volume(mb);
    // The slave stays open here so that the pty lives until we exit.
    let (mut master, _slave, path) = pty()?;
    println!(
        "{path} {} {} {}",
        volume.lines,
        volume.events,
        volume.blocks * block.wire.len() as u64 + volume.tail as u64
    );
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut stdin = std::io::stdin().lock();
    let mut go = String::new();
    stdin.read_line(&mut go).map_err(|e| e.to_string())?;
    write_paced(&mut master, &block, volume, rate)?;
    // Whoever reads says when it has everything by closing our standard input.
    let _ = stdin.read_to_end(&mut Vec::new());
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())
}

fn read(mb: f64, rate: f64) -> Result<(), String> {
    let profile = Profile::load(Path::new(PROFILE)).map_err(|e| format!("{PROFILE}: {e:?}"))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut feeder = Command::new(exe)
        .args(["feed", &mb.to_string(), &rate.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the feeder: {e}"))?;
    let mut header = String::new();
    std::io::BufReader::new(feeder.stdout.take().ok_or("the feeder has no output")?)
        .read_line(&mut header)
        .map_err(|e| e.to_string())?;
    let [path, lines_written, events_written, _bytes] =
        header.split_whitespace().collect::<Vec<_>>()[..]
    else {
        return Err(format!("the feeder said {header:?}"));
    };
    let lines_written: u64 = lines_written
        .parse()
        .map_err(|e| format!("{header:?}: {e}"))?;

    let mut console = SerialConsole::open("ring", path, BAUD).map_err(|e| e.to_string())?;
    let mut go = feeder.stdin.take().ok_or("the feeder has no input")?;
    go.write_all(b"go\n").map_err(|e| e.to_string())?;
    let cpu_before = cpu_seconds()?;
    let start = Instant::now();
    let (mut lines, mut events, mut last) = (0u64, 0u64, start);
    runtime()?.block_on(async {
        while lines < lines_written
            && let Ok(Ok(Some(line))) = tokio::time::timeout(SILENCE, console.next_line()).await
        {
            // What the runner does with every line.
            let text = profile.redact(&line.text);
            events += u64::from(profile.recognise(&text).is_some());
            lines += 1;
            last = Instant::now();
        }
    });
    let cpu = cpu_seconds()? - cpu_before;
    drop(go);
    feeder.wait().map_err(|e| e.to_string())?;
    println!(
        "lines {lines} {events} {:.6} {cpu:.2} expected {lines_written} {events_written}",
        (last - start).as_secs_f64()
    );
    Ok(())
}

/// User and system CPU seconds of this process, every thread.
fn cpu_seconds() -> Result<f64, String> {
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| e.to_string())?;
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').ok_or("an odd /proc/self/stat")?.1;
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|field| field.parse().unwrap_or(0.0))
        .collect();
    Ok(ticks.iter().sum::<f64>() / TICKS_PER_SECOND)
}

/// Resident set size of this process in kB.
fn rss_kb() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

fn memory(mb: f64, events_path: &Path) -> Result<(), String> {
    let profile = Profile::load(Path::new(PROFILE)).map_err(|e| format!("{PROFILE}: {e:?}"))?;
    let block = Block::new();
    let volume = block.volume(mb);
    let (mut master, _slave, path) = pty()?;
    let mut console = SerialConsole::open("ring", &path, BAUD).map_err(|e| e.to_string())?;
    let mut events_file = BufWriter::new(
        File::create(events_path).map_err(|e| format!("{}: {e}", events_path.display()))?,
    );
    let (lines_written, events_written) = (volume.lines, volume.events);
    let start_rss = rss_kb()?;
    // The writer hands the pty's master back: closing it would hang up the lines still in the pty.
    let writer =
        std::thread::spawn(move || write_paced(&mut master, &block, volume, 0.0).map(|()| master));

    let start = Instant::now();
    let (mut lines, mut events, mut bytes, mut last) = (0u64, 0u64, 0u64, start);
    let (mut next_sample, mut peak) = (0, start_rss);
    runtime()?.block_on(async {
        while lines < lines_written
            && let Ok(Ok(Some(line))) = tokio::time::timeout(SILENCE, console.next_line()).await
        {
            bytes += line.text.len() as u64 + 2;
            let text = profile.redact(&line.text);
            if let Some(event) = profile.recognise(&text) {
                let record = serde_json::json!({
                    "device": "ring",
                    "line": lines,
                    "event": event.event,
                    "fields": event.fields,
                });
                writeln!(events_file, "{record}").map_err(|e| e.to_string())?;
                events += 1;
            }
            lines += 1;
            last = Instant::now();
            if bytes >= next_sample {
                peak = peak.max(rss_kb()?);
                next_sample = bytes + SAMPLE_EVERY;
            }
        }
        Ok::<_, String>(())
    })?;
    let master = writer.join().map_err(|_| "the writer panicked")??;
    events_file.flush().map_err(|e| e.to_string())?;
    let end_rss = rss_kb()?;
    drop(master);
    println!(
        "rss {start_rss} {} {end_rss} lines {lines} {events} {:.3} expected {lines_written} {events_written}",
        peak.max(end_rss),
        (last - start).as_secs_f64()
    );
    Ok(())
}
