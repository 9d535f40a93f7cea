//! A debug probe on a bench through probe-rs: found by its USB selector, attached to the chip
//! the rig names, and driven for flash (with read-back verify), reset, halt, erase and RTT.
//!
//! probe-rs is blocking; each call runs on tokio's blocking pool with the session behind a
//! mutex, which the RTT reader thread also takes between polls.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hil_scenario::{DebugProbe, WireProtocol};
use probe_rs::config::MemoryRegion;
use probe_rs::flashing::{DownloadOptions, FlashProgress};
use probe_rs::probe::list::{Accessibility, Lister, ProbeListItem};
use probe_rs::{Permissions, Session};
use tokio::sync::mpsc;

use super::defmt_log::{LogDecoder, defmt_table};
use super::rtt::ControlBlock;
use super::target::{FlashImage, ImageFormat, chip};
use crate::{Console, Probe, RigError};

/// How long `halt` waits for the core to stop.
const HALT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the RTT reader looks at the up channels when they were empty.
const RTT_POLL: Duration = Duration::from_millis(10);
/// Lines waiting for the runner.
const RTT_QUEUE: usize = 4096;
/// Where Linux lists USB devices; probe-rs finds probes there.
const USB_DEVICES: &str = "/sys/bus/usb/devices";

pub struct BenchProbe {
    name: String,
    session: Arc<Mutex<Session>>,
    /// The ELF the device runs (the last one written): its RTT symbol and defmt table.
    running_elf: Option<Arc<Vec<u8>>>,
    /// Counts the images written: an RTT reader of an older image ends (its control block and
    /// defmt table are gone), closing its console; a new `rtt` step reads the new one.
    image: Arc<AtomicU64>,
}

impl BenchProbe {
    /// Finds the probe `wiring` names among the attached ones and attaches to its chip.
    /// `running` is the build the device runs now (its profile's artefact, if any): until a
    /// `flash`, an `rtt` step finds its control block and defmt table there.
    pub fn open(
        device: &str,
        wiring: &DebugProbe,
        running: Option<&Path>,
    ) -> Result<BenchProbe, RigError> {
        let name = format!("probe on {device}");
        let fail = |message: String| RigError::new(&name, message);
        let target = chip(&wiring.chip).map_err(fail)?;
        let running_elf = match running.filter(|p| ImageFormat::of(p) == Some(ImageFormat::Elf)) {
            Some(path) => Some(Arc::new(
                std::fs::read(path).map_err(|e| fail(format!("{}: {e}", path.display())))?,
            )),
            None => None,
        };
        let found = Lister::new().list_all_with_access();
        let item = select(&found, &wiring.selector).map_err(fail)?;
        let mut probe = item
            .info
            .open()
            .map_err(|e| fail(format!("cannot open {}: {e}", wiring.selector)))?;
        if let Some(protocol) = wiring.protocol {
            let protocol = match protocol {
                WireProtocol::Swd => probe_rs::probe::WireProtocol::Swd,
                WireProtocol::Jtag => probe_rs::probe::WireProtocol::Jtag,
            };
            probe
                .select_protocol(protocol)
                .map_err(|e| fail(format!("{protocol:?}: {e}")))?;
        }
        if let Some(khz) = wiring.speed_khz {
            probe
                .set_speed(khz)
                .map_err(|e| fail(format!("{khz} kHz: {e}")))?;
        }
        let session = probe
            .attach(target, Permissions::new().allow_erase_all())
            .map_err(|e| {
                fail(format!(
                    "cannot attach to {} through {}: {e} (is the board powered and its SWD cable seated?)",
                    wiring.chip, wiring.selector
                ))
            })?;
        Ok(Self::attached(name, session, running_elf))
    }

    /// A probe over a session already attached (tests attach probe-rs's `FakeProbe`).
    fn attached(name: String, session: Session, running_elf: Option<Arc<Vec<u8>>>) -> Self {
        BenchProbe {
            name,
            session: Arc::new(Mutex::new(session)),
            running_elf,
            image: Arc::default(),
        }
    }

    /// Runs `work` on the session off the async runtime.
    async fn with_session<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Session) -> Result<T, String> + Send + 'static,
    ) -> Result<T, RigError> {
        let session = self.session.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut session = session.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut session)
        })
        .await
        .map_err(|e| RigError::new(&self.name, format!("probe call died: {e}")))?;
        result.map_err(|message| RigError::new(&self.name, message))
    }
}

/// The attached probe `selector` (`VID:PID[:serial]`) names, or an error that lists what was
/// found and what to check.
pub fn select<'a>(found: &'a [ProbeListItem], selector: &str) -> Result<&'a ProbeListItem, String> {
    let mut parts = selector.splitn(3, ':');
    let id = |part: Option<&str>| part.and_then(|p| u16::from_str_radix(p, 16).ok());
    let (vid, pid, serial) = (id(parts.next()), id(parts.next()), parts.next());
    let matches = |item: &&ProbeListItem| {
        Some(item.info.vendor_id) == vid
            && Some(item.info.product_id) == pid
            && serial.is_none_or(|s| item.info.serial_number.as_deref() == Some(s))
    };
    match found.iter().find(matches) {
        Some(item) if item.accessibility == Accessibility::PermissionDenied => Err(format!(
            "debug probe {selector} is attached but this user may not open it: install probe-rs's udev rules (69-probe-rs.rules in /etc/udev/rules.d, then `udevadm control --reload && udevadm trigger`) and add the user to `plugdev`"
        )),
        Some(item) => Ok(item),
        None => Err(not_found(found, selector)),
    }
}

fn not_found(found: &[ProbeListItem], selector: &str) -> String {
    let listed: Vec<String> = found
        .iter()
        .map(|item| {
            let info = &item.info;
            let serial = info.serial_number.as_deref().unwrap_or("no serial");
            let access = match item.accessibility {
                Accessibility::Accessible => "",
                Accessibility::PermissionDenied => ", permission denied",
            };
            format!(
                "{} {:04x}:{:04x} ({serial}{access})",
                info.identifier, info.vendor_id, info.product_id
            )
        })
        .collect();
    let listed = if listed.is_empty() {
        "none".to_string()
    } else {
        listed.join("; ")
    };
    // Without a USB bus (a container or VM without passthrough) nothing can ever be listed.
    let no_bus = if cfg!(target_os = "linux") && !Path::new(USB_DEVICES).exists() {
        format!(
            " This machine shows no USB bus ({USB_DEVICES} is missing): a container or VM needs the USB device passed through."
        )
    } else {
        String::new()
    };
    format!(
        "no debug probe {selector} attached; probes found: {listed}.{no_bus} Check: the probe's USB cable and that `lsusb` lists it; probe-rs's udev rules (69-probe-rs.rules in /etc/udev/rules.d); that this user is in the `plugdev` group (`groups`) or may open /dev/bus/usb/…; the selector's VID:PID[:serial] against `probe-rs list`"
    )
}

#[async_trait]
impl Probe for BenchProbe {
    async fn flash(&mut self, image: &hil_scenario::Image) -> Result<(), RigError> {
        let Some(path) = image.profile.image.clone() else {
            // The planner refuses this; a rig built by hand might not have planned.
            return Err(RigError::new(
                &self.name,
                format!(
                    "profile `{}` names no build artefact to write",
                    image.profile.name
                ),
            ));
        };
        self.image.fetch_add(1, Ordering::SeqCst);
        let elf = self
            .with_session(move |session| write_image(session, &path))
            .await?;
        self.running_elf = elf.map(Arc::new);
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), RigError> {
        self.with_session(|session| {
            let mut core = session.core(0).map_err(|e| e.to_string())?;
            core.reset().map_err(|e| format!("reset: {e}"))
        })
        .await
    }

    async fn halt(&mut self) -> Result<(), RigError> {
        self.with_session(|session| {
            let mut core = session.core(0).map_err(|e| e.to_string())?;
            core.halt(HALT_TIMEOUT)
                .map(|_| ())
                .map_err(|e| format!("halt: {e}"))
        })
        .await
    }

    async fn erase(&mut self) -> Result<(), RigError> {
        self.with_session(|session| {
            probe_rs::flashing::erase_all(session, &mut FlashProgress::default(), false)
                .map_err(|e| format!("erase: {e}"))
        })
        .await
    }

    async fn rtt(&mut self, within: Duration) -> Result<Box<dyn Console>, RigError> {
        let elf = self.running_elf.clone();
        let symbol = elf.as_deref().and_then(|elf| {
            probe_rs::rtt::find_rtt_control_block_in_raw_file(elf)
                .ok()
                .flatten()
        });
        let block = self
            .with_session(move |session| {
                let ram: Vec<_> = session
                    .target()
                    .memory_map
                    .iter()
                    .filter_map(MemoryRegion::as_ram_region)
                    .map(|r| r.range.clone())
                    .collect();
                let deadline = Instant::now() + within;
                loop {
                    let mut core = session.core(0).map_err(|e| e.to_string())?;
                    match ControlBlock::find(&mut core, symbol, &ram) {
                        Ok(block) => return Ok(block),
                        Err(e) if Instant::now() >= deadline => {
                            return Err(format!("{e} (waited {})", seconds(within)));
                        }
                        Err(_) => std::thread::sleep(RTT_POLL * 10),
                    }
                }
            })
            .await?;
        let reader = RttReader {
            session: self.session.clone(),
            block,
            image: self.image.clone(),
            read_image: self.image.load(Ordering::SeqCst),
        };
        Ok(Box::new(RttConsole::start(self.name.clone(), reader, elf)?))
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Loads, layout-checks, writes and verifies `path`, then resets into it; returns the ELF.
fn write_image(session: &mut Session, path: &Path) -> Result<Option<Vec<u8>>, String> {
    let image = FlashImage::load(path, session.target())?;
    let mut loader = session.target().flash_loader();
    for segment in &image.segments {
        loader
            .add_data(segment.address, &segment.data)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut options = DownloadOptions::new();
    options.verify = true;
    loader
        .commit(session, options)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    let mut core = session.core(0).map_err(|e| e.to_string())?;
    core.reset()
        .map_err(|e| format!("reset after flashing: {e}"))?;
    Ok(image.elf)
}

/// The firmware's RTT up channels as a console, read on a thread of its own.
struct RttConsole {
    lines: mpsc::Receiver<Result<String, RigError>>,
}

impl RttConsole {
    fn start(name: String, reader: RttReader, elf: Option<Arc<Vec<u8>>>) -> Result<Self, RigError> {
        let table = match elf.as_deref() {
            Some(elf) => defmt_table(elf).map_err(|e| RigError::new(&name, e))?,
            None => None,
        };
        let (sender, lines) = mpsc::channel(RTT_QUEUE);
        std::thread::Builder::new()
            .name(format!("rtt {name}"))
            .spawn(move || {
                if let Err(e) = reader.run(table.as_ref(), &sender) {
                    let cause =
                        format!("rtt (control block at {:#010x}): {e}", reader.block.address);
                    let _ = sender.blocking_send(Err(RigError::new(&name, cause)));
                }
            })
            .map_err(|e| RigError::new("rtt", format!("no thread for the reader: {e}")))?;
        Ok(Self { lines })
    }
}

type Lines = mpsc::Sender<Result<String, RigError>>;

/// What one RTT console reads: a control block in the image that was running when it attached.
struct RttReader {
    session: Arc<Mutex<Session>>,
    block: ControlBlock,
    image: Arc<AtomicU64>,
    read_image: u64,
}

impl RttReader {
    /// Drains every up channel until the console is dropped or another image is written; one
    /// decoder per channel.
    fn run(&self, table: Option<&defmt_decoder::Table>, sender: &Lines) -> Result<(), String> {
        let mut decoders: Vec<LogDecoder<'_>> = self
            .block
            .up
            .iter()
            .map(|_| LogDecoder::new(table))
            .collect();
        while !sender.is_closed() {
            let drained: Vec<Vec<u8>> = {
                let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
                if self.image.load(Ordering::SeqCst) != self.read_image {
                    return Ok(());
                }
                let mut core = session.core(0).map_err(|e| e.to_string())?;
                self.block
                    .up
                    .iter()
                    .map(|channel| channel.drain(&mut core))
                    .collect::<Result<_, _>>()?
            };
            if drained.iter().all(Vec::is_empty) {
                std::thread::sleep(RTT_POLL);
                continue;
            }
            for (bytes, decoder) in drained.iter().zip(&mut decoders) {
                for line in decoder.push(bytes)? {
                    if sender.blocking_send(Ok(line)).is_err() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Console for RttConsole {
    async fn read_line(&mut self) -> Result<Option<String>, RigError> {
        self.lines.recv().await.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wiring(selector: &str, chip: &str) -> DebugProbe {
        let source = hil_scenario::SourceFile::new(Path::new("rig.toml"), "chip");
        DebugProbe {
            selector: selector.into(),
            chip: chip.into(),
            chip_at: hil_scenario::Located::new(&source, 0..4),
            protocol: None,
            speed_khz: None,
        }
    }

    /// Nothing is plugged into this machine: opening is an ERROR that says what to check.
    #[test]
    fn no_probe_attached_is_an_error_listing_what_was_found_and_what_to_check() {
        let Err(e) = BenchProbe::open("ring", &wiring("1366:1015", "nRF52840_xxAA"), None) else {
            panic!("a probe is attached to this machine");
        };
        assert_eq!(e.instrument, "probe on ring");
        assert!(
            e.message
                .contains("no debug probe 1366:1015 attached; probes found: none"),
            "{}",
            e.message
        );
        for hint in ["USB cable", "udev", "plugdev"] {
            assert!(e.message.contains(hint), "{hint}: {}", e.message);
        }
    }

    #[test]
    fn an_unknown_chip_is_refused_before_any_probe_is_looked_for() {
        let Err(e) = BenchProbe::open("ring", &wiring("1366:1015", "nRF52841_xxAA"), None) else {
            panic!("opened");
        };
        assert!(
            e.message.contains("unknown chip `nRF52841_xxAA`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_selector_matches_vid_pid_and_serial_and_lists_the_others() {
        let item = |vid, pid, serial: &str, accessibility| ProbeListItem {
            info: probe_rs::probe::DebugProbeInfo::new(
                "J-Link",
                vid,
                pid,
                Some(serial.into()),
                &probe_rs::probe::jlink::JLinkFactory,
                None,
                false,
            ),
            accessibility,
        };
        let found = [
            item(0x1366, 0x1015, "000683", Accessibility::Accessible),
            item(0x1366, 0x1015, "000999", Accessibility::PermissionDenied),
        ];
        assert_eq!(
            select(&found, "1366:1015")
                .unwrap()
                .info
                .serial_number
                .as_deref(),
            Some("000683")
        );
        let err = select(&found, "1366:1015:000999").unwrap_err();
        assert!(err.contains("may not open it"), "{err}");
        let err = select(&found, "0d28:0204").unwrap_err();
        assert!(
            err.contains("J-Link 1366:1015 (000683); J-Link 1366:1015 (000999, permission denied)"),
            "{err}"
        );
    }

    /// probe-rs's fake probe with a mocked Cortex-M core, attached as an STM32F103C8: its memory
    /// reads as zeros and ignores writes, and its DHCSR follows halt requests. (It cannot stand in
    /// for an nRF52: that chip's debug sequence needs AP registers the fake does not script.)
    fn fake_bench_probe() -> BenchProbe {
        let session = probe_rs::probe::fake_probe::FakeProbe::with_mocked_core()
            .into_probe()
            .attach("STM32F103C8", Permissions::new())
            .expect("the fake probe attaches");
        BenchProbe::attached("probe on ring".into(), session, None)
    }

    #[tokio::test]
    async fn rtt_without_a_control_block_gives_up_at_its_deadline_with_the_reason() {
        let mut probe = fake_bench_probe();
        let started = Instant::now();
        let Err(e) = probe.rtt(Duration::from_millis(300)).await else {
            panic!("attached to RTT in zeroed RAM");
        };
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(e.instrument, "probe on ring");
        assert!(
            e.message.contains("no RTT control block in RAM"),
            "{}",
            e.message
        );
        assert!(e.message.contains("waited 0.3 s"), "{}", e.message);
    }

    #[tokio::test]
    async fn halt_stops_the_core_through_the_session() {
        let mut probe = fake_bench_probe();
        probe.halt().await.unwrap();
        let session = probe.session.clone();
        let halted = tokio::task::spawn_blocking(move || {
            let mut session = session.lock().unwrap();
            session.core(0).unwrap().core_halted().unwrap()
        })
        .await
        .unwrap();
        assert!(halted);
    }

    #[tokio::test]
    async fn an_image_for_another_chip_is_refused_before_the_flash_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        // An nRF52 build at 0x0000_0000: the STM32F103's flash starts at 0x0800_0000.
        let hex = ":020000040000FA\n:0400000001020304F2\n:00000001FF\n";
        std::fs::write(dir.path().join("nrf.hex"), hex).unwrap();
        let rules = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/profiles/zephyr-ble.rules.toml");
        let profile = dir.path().join("ring.toml");
        std::fs::write(
            &profile,
            format!(
                "name = \"ring-fw\"\nversion = \"2.2.0\"\ntransports = [\"ble\"]\nrules = {:?}\nimage = \"nrf.hex\"\n",
                rules.display().to_string()
            ),
        )
        .unwrap();
        let image = hil_scenario::Image {
            path: profile.clone(),
            profile: Arc::new(hil_scenario::Profile::load(&profile).unwrap()),
        };
        let mut probe = fake_bench_probe();
        let err = probe.flash(&image).await.unwrap_err();
        assert!(
            err.message.contains("4 bytes at 0x00000000"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("flash of `STM32F103C8`"),
            "{}",
            err.message
        );
    }
}
