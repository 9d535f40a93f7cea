//! A Zephyr device's MCUmgr SMP server on its UART, written from the SMP specification
//! independently of the client: serial frames (start bytes 06 09 / 04 14, base64 per frame,
//! at most 127 bytes a line), a big-endian length and CRC16/XMODEM around each packet, the 8-byte
//! SMP header, CBOR bodies. Requests go to the virtual device's firmware (`McuMgrPort`), which
//! answers only while it runs; the emulator holds what flash holds: the bytes uploaded to the
//! secondary slot.

use std::time::Duration;

use base64::prelude::*;
use ciborium::Value;
use hil_rig::drivers::mcuboot;
use sha2::{Digest, Sha256};

use super::Protocol;
use crate::device::{McuMgrPort, McuMgrRequest, McuMgrResponse, SlotState};

const FIRST_FRAME: [u8; 2] = [0x06, 0x09];
const NEXT_FRAME: [u8; 2] = [0x04, 0x14];
/// Zephyr's serial MTU: one frame line, start bytes and newline included.
const FRAME_MTU: usize = 127;
/// What MCUmgr parameters report: Zephyr's default SMP buffer (the client sizes chunks by it).
const BUF_SIZE: u64 = 384;
const BUF_COUNT: u64 = 4;
/// How long the UART waits for the firmware to answer before the host hears nothing.
const FIRMWARE_WAIT: Duration = Duration::from_millis(250);
const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

const GROUP_OS: u16 = 0;
const GROUP_IMAGE: u16 = 1;
const OP_READ: u8 = 0;
const OP_WRITE: u8 = 2;
/// MCUmgr's "not supported" and "invalid value" return codes.
const RC_ENOTSUP: i32 = 8;
const RC_EINVAL: i32 = 3;

/// The UART of a device running MCUmgr (or MCUboot's serial recovery).
pub struct McuBootUart {
    firmware: McuMgrPort,
    /// A packet being reassembled from frames: its bytes so far and its announced length.
    packet: Option<(Vec<u8>, usize)>,
    /// The secondary slot's bytes as written so far, the upload's size and whole-image SHA-256.
    slot: Vec<u8>,
    upload_len: u64,
    upload_sha: Option<Vec<u8>>,
}

impl McuBootUart {
    pub fn new(firmware: McuMgrPort) -> Self {
        Self {
            firmware,
            packet: None,
            slot: Vec::new(),
            upload_len: 0,
            upload_sha: None,
        }
    }

    /// Adds one frame's payload; a complete, intact packet (header + body) when this was its last.
    fn frame(&mut self, line: &[u8]) -> Option<Vec<u8>> {
        // Zephyr's UART transport drops a line longer than its MTU (newline included).
        if line.len() >= FRAME_MTU {
            self.packet = None;
            return None;
        }
        let (start, text) = line.split_at_checked(2)?;
        let bytes = BASE64_STANDARD.decode(text).ok()?;
        if start == FIRST_FRAME {
            let (len, rest) = bytes.split_first_chunk::<2>()?;
            self.packet = Some((rest.to_vec(), usize::from(u16::from_be_bytes(*len))));
        } else if start == NEXT_FRAME {
            self.packet.as_mut()?.0.extend_from_slice(&bytes);
        } else {
            return None;
        }
        let (data, len) = self.packet.as_ref()?;
        // A packet that does not fit the SMP buffer (with its length prefix) is dropped.
        if *len + 2 > BUF_SIZE as usize {
            self.packet = None;
            return None;
        }
        if data.len() < *len {
            return None;
        }
        let (data, _) = self.packet.take()?;
        let (body, crc) = data.split_last_chunk::<2>()?;
        (CRC.checksum(body) == u16::from_be_bytes(*crc)).then(|| body.to_vec())
    }

    /// Runs one SMP request; the response body, or `None` if the firmware did not answer.
    fn respond(&mut self, op: u8, group: u16, id: u8, body: &Value) -> Option<Result<Value, i32>> {
        let field = |name: &str| map_get(body, name);
        let ask = |request| self.firmware.ask(request, FIRMWARE_WAIT);
        Some(match (group, id, op) {
            // Zephyr serves echo as a read and as a write.
            (GROUP_OS, 0, OP_READ | OP_WRITE) => {
                ask(McuMgrRequest::Echo)?;
                let said = field("d").cloned().unwrap_or(Value::Text(String::new()));
                Ok(map(vec![("r", said)]))
            }
            (GROUP_OS, 5, OP_WRITE) => ask(McuMgrRequest::Reset).map(|_| Ok(map(vec![])))?,
            (GROUP_OS, 6, OP_READ) => {
                ask(McuMgrRequest::Echo)?;
                Ok(map(vec![
                    ("buf_size", Value::from(BUF_SIZE)),
                    ("buf_count", Value::from(BUF_COUNT)),
                ]))
            }
            (GROUP_IMAGE, 0, OP_READ) => state(ask(McuMgrRequest::Slots)?),
            (GROUP_IMAGE, 0, OP_WRITE) => {
                let confirm = matches!(field("confirm"), Some(Value::Bool(true)));
                let hash = field("hash").and_then(Value::as_bytes).cloned();
                match self.set_state(hash, confirm)? {
                    Ok(request) => state(self.firmware.ask(request, FIRMWARE_WAIT)?),
                    Err(rc) => Err(rc),
                }
            }
            (GROUP_IMAGE, 1, OP_WRITE) => self.upload(body)?,
            _ => Err(RC_ENOTSUP),
        })
    }

    /// Which image a set-state names: the running one (confirm) or the complete upload (test).
    fn set_state(
        &self,
        hash: Option<Vec<u8>>,
        confirm: bool,
    ) -> Option<Result<McuMgrRequest, i32>> {
        let Some(hash) = hash else {
            return Some(if confirm {
                Ok(McuMgrRequest::Confirm)
            } else {
                Err(RC_EINVAL)
            });
        };
        if confirm {
            let McuMgrResponse::Slots(slots) =
                self.firmware.ask(McuMgrRequest::Slots, FIRMWARE_WAIT)?
            else {
                return Some(Err(RC_EINVAL));
            };
            if slots.iter().any(|s| s.active && image_hash(s) == hash) {
                return Some(Ok(McuMgrRequest::Confirm));
            }
        }
        // MCUboot checks an image's hash before it agrees to boot it.
        let uploaded = mcuboot::inspect(&self.slot).is_ok_and(|i| i.hash.as_slice() == hash);
        Some(if uploaded {
            Ok(McuMgrRequest::Test)
        } else {
            Err(RC_EINVAL)
        })
    }

    fn upload(&mut self, body: &Value) -> Option<Result<Value, i32>> {
        let number = |name: &str| {
            map_get(body, name)
                .and_then(|v| v.as_integer())
                .and_then(|i| u64::try_from(i).ok())
        };
        let (Some(off), Some(data)) = (
            number("off"),
            map_get(body, "data").and_then(Value::as_bytes),
        ) else {
            return Some(Err(RC_EINVAL));
        };
        let len = data.len() as u64;
        let first = if off == 0 {
            let (Some(total), Some(image)) = (number("len"), mcuboot::profile_of(data)) else {
                // Not an image this emulated device can run.
                return Some(Err(RC_EINVAL));
            };
            self.upload_sha = map_get(body, "sha").and_then(Value::as_bytes).cloned();
            self.upload_len = total;
            Some((image, total))
        } else {
            None
        };
        let request = McuMgrRequest::Upload { off, len, first };
        let McuMgrResponse::Offset(now) = self.firmware.ask(request, FIRMWARE_WAIT)? else {
            return Some(Err(RC_EINVAL));
        };
        if now == off + len {
            let at = usize::try_from(off).unwrap_or(usize::MAX);
            self.slot.truncate(at);
            if self.slot.len() == at {
                self.slot.extend_from_slice(data);
            }
        }
        let mut reply = vec![("off", Value::from(now))];
        let complete = now == self.upload_len && now == self.slot.len() as u64;
        if let (true, Some(sha)) = (complete, &self.upload_sha) {
            let matched = Sha256::digest(&self.slot).as_slice() == sha.as_slice();
            reply.push(("match", Value::Bool(matched)));
        }
        Some(Ok(map(reply)))
    }
}

/// The hash MCUmgr names a slot's image by: the SHA-256 TLV of the image built from its profile.
fn image_hash(slot: &SlotState) -> Vec<u8> {
    mcuboot::inspect(&mcuboot::build(&slot.image)).map_or_else(|_| Vec::new(), |i| i.hash.to_vec())
}

fn state(response: McuMgrResponse) -> Result<Value, i32> {
    let slots = match response {
        McuMgrResponse::Slots(slots) => slots,
        McuMgrResponse::Refused(rc) => return Err(rc),
        McuMgrResponse::Done | McuMgrResponse::Offset(_) => return Err(RC_EINVAL),
    };
    let images = slots
        .iter()
        .map(|s| {
            map(vec![
                ("image", Value::from(0u8)),
                ("slot", Value::from(s.slot)),
                ("version", Value::Text(s.image.version.clone())),
                ("hash", Value::Bytes(image_hash(s))),
                ("bootable", Value::Bool(true)),
                ("pending", Value::Bool(s.pending)),
                ("confirmed", Value::Bool(s.confirmed)),
                ("active", Value::Bool(s.active)),
                ("permanent", Value::Bool(false)),
            ])
        })
        .collect();
    Ok(map(vec![("images", Value::Array(images))]))
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::Text(k.into()), v))
            .collect(),
    )
}

fn map_get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

/// One SMP packet on the wire: length, packet, CRC, base64 frames of at most `FRAME_MTU`.
fn frames(packet: &[u8]) -> Vec<u8> {
    let mut whole = u16::try_from(packet.len() + 2)
        .unwrap_or(u16::MAX)
        .to_be_bytes()
        .to_vec();
    whole.extend_from_slice(packet);
    whole.extend_from_slice(&CRC.checksum(packet).to_be_bytes());
    let raw_per_frame = (FRAME_MTU - 3) / 4 * 3;
    let mut out = Vec::new();
    for (i, chunk) in whole.chunks(raw_per_frame).enumerate() {
        out.extend_from_slice(if i == 0 { &FIRST_FRAME } else { &NEXT_FRAME });
        out.extend_from_slice(BASE64_STANDARD.encode(chunk).as_bytes());
        out.push(b'\n');
    }
    out
}

impl Protocol for McuBootUart {
    fn take_requests(&mut self, received: &mut Vec<u8>, _quiet: bool) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        while let Some(end) = received.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = received.drain(..=end).collect();
            if let Some(packet) = self.frame(&line[..end]) {
                packets.push(packet);
            }
        }
        packets
    }

    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let (header, body) = request.split_first_chunk::<8>()?;
        let (op, version) = (header[0] & 0x07, (header[0] >> 3) & 0x03);
        let group = u16::from_be_bytes([header[4], header[5]]);
        let id = header[7];
        let body: Value = ciborium::from_reader(body).unwrap_or(Value::Map(Vec::new()));
        let answer = match self.respond(op, group, id, &body)? {
            Ok(answer) => answer,
            // Management-level errors keep the SMP v1 form in v2; group errors use `err`.
            Err(rc) if version == 0 || rc == RC_ENOTSUP => map(vec![("rc", Value::from(rc))]),
            Err(rc) => map(vec![(
                "err",
                map(vec![("group", Value::from(group)), ("rc", Value::from(rc))]),
            )]),
        };
        let mut cbor = Vec::new();
        ciborium::into_writer(&answer, &mut cbor).ok()?;
        let mut packet = vec![(version << 3) | (op + 1), 0];
        packet.extend_from_slice(&u16::try_from(cbor.len()).ok()?.to_be_bytes());
        packet.extend_from_slice(&header[4..8]);
        packet.extend_from_slice(&cbor);
        Some(frames(&packet))
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn noise(&self) -> Vec<u8> {
        let mut noise = FIRST_FRAME.to_vec();
        noise.extend_from_slice(b"AAAA!!garbage\n");
        noise
    }
}
