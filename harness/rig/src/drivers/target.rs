//! What a debug probe will find on a bench, checked against probe-rs's own target database: the
//! chip's name, and whether a build artefact's segments land in that chip's flash.

use std::ops::Range;
use std::path::Path;

use probe_rs::Target;
use probe_rs::config::{MemoryRegion, Registry};

/// How many close names an unknown chip name is answered with.
const SUGGESTIONS: usize = 5;

/// The chip called `name` in probe-rs's built-in targets, or the closest names there are.
pub fn chip(name: &str) -> Result<Target, String> {
    let registry = Registry::from_builtin_families();
    if let Ok(target) = registry.get_target_by_name(name) {
        // probe-rs also takes a unique prefix or `x` wildcards; a rig names the chip exactly, so
        // the next reader sees the same chip probe-rs will attach to.
        if target.name.eq_ignore_ascii_case(name) {
            return Ok(target);
        }
        return Err(format!(
            "chip `{name}` is ambiguous shorthand for `{}` in probe-rs's targets",
            target.name
        ));
    }
    Err(format!(
        "unknown chip `{name}`: probe-rs has no such target"
    ))
}

/// The probe-rs target names closest to `name`, best first.
pub fn closest_chips(name: &str) -> Vec<String> {
    let registry = Registry::from_builtin_families();
    let wanted = name.to_ascii_lowercase();
    // Fewest edits first (a digit off, a package suffix), then the longest common start.
    let mut scored: Vec<(usize, usize, String)> = registry
        .families()
        .iter()
        .flat_map(|family| family.variants.iter())
        .map(|chip| {
            let name = chip.name.to_ascii_lowercase();
            let distance = strsim::levenshtein(&wanted, &name);
            let common = wanted
                .chars()
                .zip(name.chars())
                .take_while(|(a, b)| a == b)
                .count();
            (distance, common, chip.name.clone())
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.cmp(&a.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, _, name)| name)
        .collect()
}

/// A build artefact in one of the formats a probe writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Elf,
    IntelHex,
    /// Raw bytes, written from the start of the chip's boot flash.
    Bin,
}

impl ImageFormat {
    pub fn of(path: &Path) -> Option<ImageFormat> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "elf" => Some(ImageFormat::Elf),
            "hex" | "ihex" => Some(ImageFormat::IntelHex),
            "bin" => Some(ImageFormat::Bin),
            _ => None,
        }
    }
}

/// A contiguous run of bytes the image puts at an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub address: u64,
    pub data: Vec<u8>,
}

impl Segment {
    fn range(&self) -> Range<u64> {
        self.address..self.address + self.data.len() as u64
    }
}

/// An image read into its segments and checked against the chip it is for.
#[derive(Debug)]
pub struct FlashImage {
    pub segments: Vec<Segment>,
    /// The whole file when it is an ELF: its defmt table and RTT symbol come from there.
    pub elf: Option<Vec<u8>>,
}

impl FlashImage {
    /// Reads `path` and checks every segment lies in `target`'s flash.
    pub fn load(path: &Path, target: &Target) -> Result<FlashImage, String> {
        let format = ImageFormat::of(path).ok_or_else(|| {
            format!(
                "{}: not an ELF (.elf), Intel HEX (.hex) or raw binary (.bin)",
                path.display()
            )
        })?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let segments = match format {
            ImageFormat::Elf => elf_segments(&bytes),
            ImageFormat::IntelHex => hex_segments(&bytes),
            ImageFormat::Bin => boot_flash(target)
                .map(|start| {
                    vec![Segment {
                        address: start,
                        data: bytes.clone(),
                    }]
                })
                .ok_or_else(|| format!("chip `{}` has no boot flash", target.name)),
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        if segments.iter().all(|s| s.data.is_empty()) {
            return Err(format!(
                "{}: the image has no data to write",
                path.display()
            ));
        }
        check_layout(&segments, target).map_err(|e| format!("{}: {e}", path.display()))?;
        let elf = (format == ImageFormat::Elf).then_some(bytes);
        Ok(FlashImage { segments, elf })
    }
}

/// Loadable segments at their physical (load) addresses, as probe-rs writes them.
fn elf_segments(bytes: &[u8]) -> Result<Vec<Segment>, String> {
    use object::{Object, ObjectSegment};
    let file = object::File::parse(bytes).map_err(|e| format!("not a valid ELF: {e}"))?;
    let mut segments = Vec::new();
    for segment in file.segments() {
        let data = segment
            .data()
            .map_err(|e| format!("unreadable segment: {e}"))?;
        if data.is_empty() {
            continue;
        }
        segments.push(Segment {
            address: physical_address(&file, segment.address()),
            data: data.to_vec(),
        });
    }
    Ok(segments)
}

/// The load address of the segment at virtual address `vaddr` (`.data` is linked in RAM and
/// stored in flash).
fn physical_address(file: &object::File, vaddr: u64) -> u64 {
    use object::read::elf::{FileHeader, ProgramHeader};
    let paddr = |headers: Option<Vec<(u64, u64)>>| {
        headers
            .and_then(|h| h.into_iter().find(|(v, _)| *v == vaddr))
            .map_or(vaddr, |(_, p)| p)
    };
    match file {
        object::File::Elf32(elf) => {
            let endian = elf.endian();
            paddr(
                elf.elf_header()
                    .program_headers(endian, elf.data())
                    .ok()
                    .map(|hs| {
                        hs.iter()
                            .filter(|h| h.p_type(endian) == object::elf::PT_LOAD)
                            .map(|h| (u64::from(h.p_vaddr(endian)), u64::from(h.p_paddr(endian))))
                            .collect()
                    }),
            )
        }
        object::File::Elf64(elf) => {
            let endian = elf.endian();
            paddr(
                elf.elf_header()
                    .program_headers(endian, elf.data())
                    .ok()
                    .map(|hs| {
                        hs.iter()
                            .filter(|h| h.p_type(endian) == object::elf::PT_LOAD)
                            .map(|h| (h.p_vaddr(endian), h.p_paddr(endian)))
                            .collect()
                    }),
            )
        }
        _ => vaddr,
    }
}

fn hex_segments(bytes: &[u8]) -> Result<Vec<Segment>, String> {
    use ihex::Record;
    let text = std::str::from_utf8(bytes).map_err(|_| "not an Intel HEX file (not text)")?;
    let mut base = 0u64;
    let mut segments: Vec<Segment> = Vec::new();
    for record in ihex::Reader::new(text) {
        match record.map_err(|e| format!("not a valid Intel HEX file: {e}"))? {
            Record::Data { offset, value } => {
                let address = base + u64::from(offset);
                match segments.last_mut() {
                    Some(last) if last.range().end == address => last.data.extend(value),
                    _ => segments.push(Segment {
                        address,
                        data: value,
                    }),
                }
            }
            Record::ExtendedSegmentAddress(a) => base = u64::from(a) * 16,
            Record::ExtendedLinearAddress(a) => base = u64::from(a) << 16,
            Record::EndOfFile
            | Record::StartSegmentAddress { .. }
            | Record::StartLinearAddress(_) => {}
        }
    }
    Ok(segments)
}

/// Where a raw binary goes: the chip's boot flash, else its first flash region.
fn boot_flash(target: &Target) -> Option<u64> {
    let mut nvm = target
        .memory_map
        .iter()
        .filter_map(MemoryRegion::as_nvm_region);
    let all: Vec<_> = nvm.by_ref().collect();
    all.iter()
        .find(|r| r.is_boot_memory())
        .or_else(|| all.first())
        .map(|r| r.range.start)
}

/// Every segment must lie in the chip's flash (contiguous regions count as one).
fn check_layout(segments: &[Segment], target: &Target) -> Result<(), String> {
    let flash: Vec<Range<u64>> = target
        .memory_map
        .iter()
        .filter_map(MemoryRegion::as_nvm_region)
        .map(|r| r.range.clone())
        .collect();
    for segment in segments.iter().filter(|s| !s.data.is_empty()) {
        let range = segment.range();
        let mut address = range.start;
        while address < range.end {
            match flash.iter().find(|r| r.contains(&address)) {
                Some(region) => address = region.end,
                None => {
                    let regions: Vec<String> = flash
                        .iter()
                        .map(|r| format!("{:#010x}..{:#010x}", r.start, r.end))
                        .collect();
                    return Err(format!(
                        "{} bytes at {:#010x} fall outside the flash of `{}` at {address:#010x} (its flash: {}): the image is linked for another chip",
                        segment.data.len(),
                        range.start,
                        target.name,
                        regions.join(", ")
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_chip_is_found_and_an_unknown_one_gets_close_names() {
        assert_eq!(chip("nRF52840_xxAA").unwrap().name, "nRF52840_xxAA");
        let err = chip("nRF52841_xxAA").unwrap_err();
        assert!(err.contains("unknown chip `nRF52841_xxAA`"), "{err}");
        let close = closest_chips("nRF52841_xxAA");
        assert_eq!(close[0], "nRF52840_xxAA", "{close:?}");
        assert_eq!(
            closest_chips("stm32f103c8t6")[0],
            "STM32F103C8",
            "a package suffix"
        );
        assert_eq!(close.len(), SUGGESTIONS);
    }

    #[test]
    fn a_shorthand_name_is_refused_with_the_full_one() {
        // probe-rs resolves a unique prefix; the rig must say which chip it means.
        let err = chip("nRF52840").unwrap_err();
        assert!(
            err.contains("ambiguous shorthand for `nRF52840_xxAA"),
            "{err}"
        );
    }

    fn hex_at(address: u32, data: &[u8]) -> Vec<u8> {
        use ihex::Record;
        let mut records = vec![Record::ExtendedLinearAddress((address >> 16) as u16)];
        for (i, chunk) in data.chunks(16).enumerate() {
            records.push(Record::Data {
                offset: (address & 0xffff) as u16 + (i * 16) as u16,
                value: chunk.to_vec(),
            });
        }
        records.push(Record::EndOfFile);
        ihex::create_object_file_representation(&records)
            .unwrap()
            .into_bytes()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn an_intel_hex_image_in_the_chips_flash_loads_as_one_segment() {
        let dir = tempfile::tempdir().unwrap();
        let nrf = chip("nRF52840_xxAA").unwrap();
        let path = write(dir.path(), "app.hex", &hex_at(0x1000, &[0xa5; 64]));
        let image = FlashImage::load(&path, &nrf).unwrap();
        assert_eq!(
            image.segments,
            [Segment {
                address: 0x1000,
                data: vec![0xa5; 64]
            }]
        );
        assert!(image.elf.is_none());
    }

    #[test]
    fn an_image_linked_for_another_chip_is_refused_naming_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let nrf = chip("nRF52840_xxAA").unwrap();
        // An STM32 build: its flash starts at 0x0800_0000.
        let path = write(dir.path(), "stm32.hex", &hex_at(0x0800_0000, &[0; 32]));
        let err = FlashImage::load(&path, &nrf).unwrap_err();
        assert!(err.contains("32 bytes at 0x08000000"), "{err}");
        assert!(err.contains("flash of `nRF52840_xxAA`"), "{err}");
        assert!(err.contains("0x00000000..0x00100000"), "{err}");
    }

    #[test]
    fn a_raw_binary_goes_to_boot_flash_and_must_fit() {
        let dir = tempfile::tempdir().unwrap();
        let nrf = chip("nRF52840_xxAA").unwrap();
        let path = write(dir.path(), "app.bin", &[1, 2, 3, 4]);
        let image = FlashImage::load(&path, &nrf).unwrap();
        assert_eq!(image.segments[0].address, 0);
        let too_big = write(dir.path(), "big.bin", &vec![0xff; 0x10_0001]);
        let err = FlashImage::load(&too_big, &nrf).unwrap_err();
        assert!(err.contains("at 0x00100000"), "{err}");
    }

    #[test]
    fn unknown_formats_and_broken_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let nrf = chip("nRF52840_xxAA").unwrap();
        let uf2 = write(dir.path(), "app.uf2", b"UF2");
        assert!(
            FlashImage::load(&uf2, &nrf)
                .unwrap_err()
                .contains("not an ELF")
        );
        let elf = write(dir.path(), "app.elf", b"not an elf");
        assert!(
            FlashImage::load(&elf, &nrf)
                .unwrap_err()
                .contains("not a valid ELF")
        );
        let hex = write(dir.path(), "app.hex", b":zz\n");
        assert!(
            FlashImage::load(&hex, &nrf)
                .unwrap_err()
                .contains("not a valid Intel HEX")
        );
    }

    /// An executable as a linker leaves it: one PT_LOAD segment per `(vaddr, paddr, data)`.
    fn elf(segments: &[(u64, u64, &[u8])]) -> Vec<u8> {
        use object::elf;
        use object::write::elf::{FileHeader, ProgramHeader, Writer};
        let mut bytes = Vec::new();
        let mut w = Writer::new(object::Endianness::Little, false, &mut bytes);
        w.reserve_file_header();
        w.reserve_program_headers(segments.len() as u32);
        let offsets: Vec<usize> = segments
            .iter()
            .map(|(_, _, d)| w.reserve(d.len(), 4))
            .collect();
        w.write_file_header(&FileHeader {
            os_abi: 0,
            abi_version: 0,
            e_type: elf::ET_EXEC,
            e_machine: elf::EM_ARM,
            e_entry: 0,
            e_flags: 0,
        })
        .unwrap();
        w.write_align_program_headers();
        for ((vaddr, paddr, data), offset) in segments.iter().zip(&offsets) {
            w.write_program_header(&ProgramHeader {
                p_type: elf::PT_LOAD,
                p_flags: elf::PF_R,
                p_offset: *offset as u64,
                p_vaddr: *vaddr,
                p_paddr: *paddr,
                p_filesz: data.len() as u64,
                p_memsz: data.len() as u64,
                p_align: 4,
            });
        }
        for (_, _, data) in segments {
            w.write_align(4);
            w.write(data);
        }
        bytes
    }

    #[test]
    fn an_elf_is_written_at_its_load_addresses_and_kept_for_rtt_and_defmt() {
        let dir = tempfile::tempdir().unwrap();
        let nrf = chip("nRF52840_xxAA").unwrap();
        // `.text` in flash; `.data` runs in RAM at 0x2000_0000 but is stored in flash at 0x100.
        let bytes = elf(&[(0, 0, &[0x11; 0x100]), (0x2000_0000, 0x100, &[0x22; 8])]);
        let path = write(dir.path(), "zephyr.elf", &bytes);
        let image = FlashImage::load(&path, &nrf).unwrap();
        assert_eq!(
            image.segments,
            [
                Segment {
                    address: 0,
                    data: vec![0x11; 0x100]
                },
                Segment {
                    address: 0x100,
                    data: vec![0x22; 8]
                },
            ]
        );
        assert_eq!(image.elf.as_deref(), Some(bytes.as_slice()));

        let stm32 = write(
            dir.path(),
            "stm32.elf",
            &elf(&[(0x0800_0000, 0x0800_0000, &[0; 16])]),
        );
        let err = FlashImage::load(&stm32, &nrf).unwrap_err();
        assert!(err.contains("16 bytes at 0x08000000"), "{err}");
    }
}
