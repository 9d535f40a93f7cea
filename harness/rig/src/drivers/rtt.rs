//! SEGGER RTT as the firmware lays it out in RAM: a control block (`SEGGER RTT` id, channel
//! counts, one descriptor per channel) and a ring buffer per up channel that the firmware writes
//! and the host drains by moving its read offset. Read over any `TargetMemory`: a probe-rs core
//! on a bench, a RAM image in tests.

use std::ops::Range;

/// The id at the start of a control block.
pub const RTT_ID: &[u8; 16] = b"SEGGER RTT\0\0\0\0\0\0";
/// id, then the counts of up and down channels (32-bit targets).
const HEADER: u64 = 24;
/// name, buffer, size, write offset, read offset, flags.
const DESCRIPTOR: u64 = 24;
/// More channels than this is not a control block but RAM that happens to hold the id.
const MOST_CHANNELS: u32 = 32;

/// What the reader needs from a target: read bytes, write one word.
pub trait TargetMemory {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<(), String>;
    fn write_u32(&mut self, address: u64, value: u32) -> Result<(), String>;

    fn read_u32(&mut self, address: u64) -> Result<u32, String> {
        let mut word = [0; 4];
        self.read(address, &mut word)?;
        Ok(u32::from_le_bytes(word))
    }
}

/// One target-to-host channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpChannel {
    pub number: usize,
    pub name: Option<String>,
    /// Where its descriptor is: the offsets live there.
    descriptor: u64,
    buffer: u64,
    size: u32,
}

/// A control block found in target RAM.
#[derive(Clone, Debug)]
pub struct ControlBlock {
    pub address: u64,
    pub up: Vec<UpChannel>,
}

impl ControlBlock {
    /// Finds the control block at `symbol` (the ELF's `_SEGGER_RTT`), else by its id in `ram`.
    pub fn find(
        memory: &mut impl TargetMemory,
        symbol: Option<u64>,
        ram: &[Range<u64>],
    ) -> Result<ControlBlock, String> {
        if let Some(address) = symbol {
            return Self::at(memory, address);
        }
        for region in ram {
            let mut bytes = vec![0; (region.end - region.start) as usize];
            memory.read(region.start, &mut bytes)?;
            let found = bytes
                .windows(RTT_ID.len())
                .position(|w| w == RTT_ID)
                .map(|i| region.start + i as u64);
            if let Some(address) = found {
                return Self::at(memory, address);
            }
        }
        Err(
            "no RTT control block in RAM: the firmware has not set it up (yet), or logs elsewhere"
                .into(),
        )
    }

    /// Reads the control block at `address`.
    pub fn at(memory: &mut impl TargetMemory, address: u64) -> Result<ControlBlock, String> {
        let mut id = [0; 16];
        memory.read(address, &mut id)?;
        if &id != RTT_ID {
            return Err(format!(
                "no RTT control block at {address:#010x} (the firmware has not initialised it yet)"
            ));
        }
        let up_count = memory.read_u32(address + 16)?;
        let down_count = memory.read_u32(address + 20)?;
        if up_count > MOST_CHANNELS || down_count > MOST_CHANNELS {
            return Err(format!(
                "RTT control block at {address:#010x} claims {up_count} up and {down_count} down channels: RAM is not initialised"
            ));
        }
        let mut up = Vec::new();
        for number in 0..up_count as usize {
            let descriptor = address + HEADER + number as u64 * DESCRIPTOR;
            let name_ptr = memory.read_u32(descriptor)?;
            let buffer = u64::from(memory.read_u32(descriptor + 4)?);
            let size = memory.read_u32(descriptor + 8)?;
            if buffer == 0 || size == 0 {
                continue; // declared but not configured by the firmware
            }
            let name = (name_ptr != 0)
                .then(|| read_c_string(memory, u64::from(name_ptr)))
                .transpose()?;
            up.push(UpChannel {
                number,
                name,
                descriptor,
                buffer,
                size,
            });
        }
        Ok(ControlBlock { address, up })
    }
}

impl UpChannel {
    /// Takes what the firmware wrote since the last read and hands the space back to it.
    pub fn drain(&self, memory: &mut impl TargetMemory) -> Result<Vec<u8>, String> {
        let write = memory.read_u32(self.descriptor + 12)?;
        let read = memory.read_u32(self.descriptor + 16)?;
        if write >= self.size || read >= self.size {
            return Err(format!(
                "RTT up channel {} has offsets {read}/{write} outside its {} byte buffer: the control block was overwritten",
                self.number, self.size
            ));
        }
        let mut data = Vec::new();
        let mut copy = |from: u32, to: u32| -> Result<(), String> {
            let start = data.len();
            data.resize(start + (to - from) as usize, 0);
            memory.read(self.buffer + u64::from(from), &mut data[start..])
        };
        if write >= read {
            copy(read, write)?;
        } else {
            // Wrapped: the end of the buffer, then its start.
            copy(read, self.size)?;
            copy(0, write)?;
        }
        if !data.is_empty() {
            memory.write_u32(self.descriptor + 16, write)?;
        }
        Ok(data)
    }
}

fn read_c_string(memory: &mut impl TargetMemory, address: u64) -> Result<String, String> {
    let mut bytes = [0; 32];
    memory.read(address, &mut bytes)?;
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

/// Target RAM on a bench, through a probe-rs core.
impl TargetMemory for probe_rs::Core<'_> {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<(), String> {
        probe_rs::MemoryInterface::read_8(self, address, buf).map_err(|e| e.to_string())
    }

    fn write_u32(&mut self, address: u64, value: u32) -> Result<(), String> {
        probe_rs::MemoryInterface::write_word_32(self, address, value).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A target's RAM: what the firmware's RTT code would have written.
    pub struct Ram {
        pub base: u64,
        pub bytes: Vec<u8>,
    }

    impl Ram {
        fn span(&self, address: u64, len: usize) -> Result<Range<usize>, String> {
            let start = address
                .checked_sub(self.base)
                .filter(|s| *s as usize + len <= self.bytes.len())
                .ok_or_else(|| format!("{address:#x} is outside RAM"))?;
            Ok(start as usize..start as usize + len)
        }

        pub fn put(&mut self, address: u64, bytes: &[u8]) {
            let span = self.span(address, bytes.len()).unwrap();
            self.bytes[span].copy_from_slice(bytes);
        }

        pub fn put_u32(&mut self, address: u64, value: u32) {
            self.put(address, &value.to_le_bytes());
        }
    }

    impl TargetMemory for Ram {
        fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<(), String> {
            let span = self.span(address, buf.len())?;
            buf.copy_from_slice(&self.bytes[span]);
            Ok(())
        }

        fn write_u32(&mut self, address: u64, value: u32) -> Result<(), String> {
            self.put_u32(address, value);
            Ok(())
        }
    }

    pub const RAM: u64 = 0x2000_0000;
    pub const BLOCK: u64 = RAM + 0x100;
    pub const BUFFER: u64 = RAM + 0x400;
    pub const SIZE: u32 = 64;

    /// RAM as SEGGER's `SEGGER_RTT_Init` leaves it: two up channels (the second unconfigured)
    /// and one down channel, the terminal's buffer empty.
    pub fn firmware_ram() -> Ram {
        let mut ram = Ram {
            base: RAM,
            bytes: vec![0; 0x1000],
        };
        ram.put(BLOCK, RTT_ID);
        ram.put_u32(BLOCK + 16, 2);
        ram.put_u32(BLOCK + 20, 1);
        ram.put(RAM + 0x80, b"Terminal\0");
        ram.put_u32(BLOCK + 24, (RAM + 0x80) as u32);
        ram.put_u32(BLOCK + 28, BUFFER as u32);
        ram.put_u32(BLOCK + 32, SIZE);
        ram
    }

    /// The firmware's side: `SEGGER_RTT_Write` into up channel 0.
    pub fn firmware_writes(ram: &mut Ram, text: &[u8]) {
        let mut write = ram.read_u32(BLOCK + 24 + 12).unwrap();
        for byte in text {
            ram.put(BUFFER + u64::from(write), &[*byte]);
            write = (write + 1) % SIZE;
        }
        ram.put_u32(BLOCK + 24 + 12, write);
    }

    #[test]
    fn the_control_block_is_found_by_its_id_and_lists_configured_up_channels() {
        let mut ram = firmware_ram();
        // Two RAM regions; the block is in the second.
        let regions = [RAM..RAM + 0x80, RAM + 0x80..RAM + 0x1000];
        let block = ControlBlock::find(&mut ram, None, &regions).unwrap();
        assert_eq!(block.address, BLOCK);
        assert_eq!(block.up.len(), 1);
        assert_eq!(block.up[0].name.as_deref(), Some("Terminal"));
        let by_symbol = ControlBlock::find(&mut ram, Some(BLOCK), &[]).unwrap();
        assert_eq!(by_symbol.up, block.up);
    }

    #[test]
    fn no_control_block_is_an_error_that_says_why() {
        let mut ram = Ram {
            base: RAM,
            bytes: vec![0; 0x1000],
        };
        let regions = [RAM..RAM + 0x800, RAM + 0x800..RAM + 0x1000];
        let err = ControlBlock::find(&mut ram, None, &regions).unwrap_err();
        assert!(err.contains("no RTT control block"), "{err}");
        let err = ControlBlock::at(&mut ram, BLOCK).unwrap_err();
        assert!(err.contains("0x20000100"), "{err}");
        ram.put(BLOCK, RTT_ID);
        ram.put_u32(BLOCK + 16, 0xdead_beef);
        assert!(
            ControlBlock::at(&mut ram, BLOCK)
                .unwrap_err()
                .contains("not initialised")
        );
    }

    #[test]
    fn draining_takes_new_bytes_across_the_wrap_and_frees_them() {
        let mut ram = firmware_ram();
        let block = ControlBlock::at(&mut ram, BLOCK).unwrap();
        let terminal = &block.up[0];
        assert!(terminal.drain(&mut ram).unwrap().is_empty());
        firmware_writes(&mut ram, &[b'a'; 50]);
        assert_eq!(terminal.drain(&mut ram).unwrap(), [b'a'; 50]);
        // The next 30 bytes run past the end of the 64-byte buffer.
        let text: Vec<u8> = (0..30).map(|i| b'0' + i % 10).collect();
        firmware_writes(&mut ram, &text);
        assert_eq!(terminal.drain(&mut ram).unwrap(), text);
        assert_eq!(ram.read_u32(BLOCK + 24 + 16).unwrap(), (50 + 30) % SIZE);
        assert!(terminal.drain(&mut ram).unwrap().is_empty());
    }

    #[test]
    fn offsets_outside_the_buffer_are_an_error_not_a_wild_read() {
        let mut ram = firmware_ram();
        let block = ControlBlock::at(&mut ram, BLOCK).unwrap();
        ram.put_u32(BLOCK + 24 + 12, SIZE + 5);
        let err = block.up[0].drain(&mut ram).unwrap_err();
        assert!(err.contains("overwritten"), "{err}");
    }
}
