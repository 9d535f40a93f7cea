//! A Riden RD6006 as a Modbus RTU slave: holding registers, CRC-checked frames, exceptions.

use std::time::Duration;

use hil_rig::drivers::modbus::crc16;

use super::Protocol;
use super::channel::Channel;

const UNIT: u8 = 1;
const REGISTERS: usize = 100;
/// Counts per volt and per amp of an RD6006.
const VOLTS_SCALE: f64 = 100.0;
const AMPS_SCALE: f64 = 1000.0;
const VOLTS_SET: usize = 8;
const AMPS_SET: usize = 9;
const VOLTS_OUT: usize = 10;
const AMPS_OUT: usize = 11;
const OUTPUT: usize = 18;
const OVP: usize = 82;
/// Requests this emulator answers (read holding registers, write one) are all 8 bytes long.
const REQUEST_LEN: usize = 8;

pub struct RidenRegisters {
    registers: [u16; REGISTERS],
    /// What a wired device draws (emulated rig).
    drawn: Option<f64>,
}

impl RidenRegisters {
    pub fn new() -> Self {
        let mut registers = [0; REGISTERS];
        registers[0] = 60062; // RD6006, hardware revision 2
        registers[2] = 12345; // serial number, low word
        registers[3] = 141; // firmware 1.41
        registers[VOLTS_SET] = 500;
        registers[AMPS_SET] = 1000;
        registers[OVP] = 6200;
        Self {
            registers,
            drawn: None,
        }
    }

    /// Writable registers and the largest value each takes; the RD6006 ignores anything else.
    fn writable(register: usize) -> Option<u16> {
        match register {
            VOLTS_SET => Some(6000),
            AMPS_SET => Some(6100),
            OUTPUT => Some(1),
            OVP => Some(6200),
            _ => None,
        }
    }

    fn read(&self, start: usize, count: usize) -> Result<Vec<u8>, u8> {
        if count == 0 || start + count > REGISTERS {
            return Err(2);
        }
        let (volts, amps) = self.front_panel().measure(self.drawn);
        let mut data = Vec::with_capacity(count * 2);
        for register in start..start + count {
            let value = match register {
                VOLTS_OUT => (volts * VOLTS_SCALE).round() as u16,
                AMPS_OUT => (amps * AMPS_SCALE).round() as u16,
                _ => self.registers[register],
            };
            data.extend_from_slice(&value.to_be_bytes());
        }
        Ok(data)
    }

    fn front_panel(&self) -> Channel {
        Channel {
            volts: f64::from(self.registers[VOLTS_SET]) / VOLTS_SCALE,
            amps: f64::from(self.registers[AMPS_SET]) / AMPS_SCALE,
            on: self.registers[OUTPUT] == 1,
            ovp: Some(f64::from(self.registers[OVP]) / VOLTS_SCALE),
            series_ohms: 0.0,
        }
    }
}

fn sealed(mut frame: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

impl Protocol for RidenRegisters {
    /// Whole, CRC-valid frames for this unit; anything else is noise and skipped a byte at a time.
    fn take_requests(&mut self, received: &mut Vec<u8>, quiet: bool) -> Vec<Vec<u8>> {
        let mut requests = Vec::new();
        while received.len() >= REQUEST_LEN {
            let (body, crc) = received[..REQUEST_LEN].split_at(REQUEST_LEN - 2);
            if body[0] == UNIT && crc16(body).to_le_bytes() == crc {
                requests.push(received.drain(..REQUEST_LEN).collect());
            } else {
                received.remove(0);
            }
        }
        if quiet {
            received.clear();
        }
        requests
    }

    fn execute(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let function = request[1];
        let register = usize::from(u16::from_be_bytes([request[2], request[3]]));
        let value = u16::from_be_bytes([request[4], request[5]]);
        let answer = match function {
            0x03 => self.read(register, usize::from(value)).map(|data| {
                let mut frame = vec![UNIT, 0x03, data.len() as u8];
                frame.extend(data);
                frame
            }),
            0x06 => match Self::writable(register) {
                Some(max) => {
                    if value <= max {
                        self.registers[register] = value;
                    }
                    Ok(request[..REQUEST_LEN - 2].to_vec())
                }
                None => Err(2),
            },
            _ => Err(1),
        };
        Some(sealed(
            answer.unwrap_or_else(|code| vec![UNIT, function | 0x80, code]),
        ))
    }

    fn channel(&self, channel: u8) -> Option<Channel> {
        (channel == 1).then(|| self.front_panel())
    }

    fn set_drawn(&mut self, channel: u8, amps: f64) {
        if channel == 1 {
            self.drawn = Some(amps);
        }
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(20)
    }

    fn noise(&self) -> Vec<u8> {
        vec![0x01, 0x03, 0x04, 0xFF, 0x13, 0xFE, 0x00, 0x7E, 0x00]
    }
}

#[cfg(test)]
mod tests {
    use hil_rig::drivers::modbus::{read_request, write_request};

    use super::*;

    #[test]
    fn noise_before_a_request_is_skipped_and_bad_frames_dropped() {
        let mut riden = RidenRegisters::new();
        let mut corrupt = write_request(UNIT, 8, 370);
        corrupt[5] ^= 1;
        let mut received = vec![0xFF, 0x00];
        received.extend(corrupt);
        received.extend(read_request(UNIT, 8, 1));

        let requests = riden.take_requests(&mut received, true);

        assert_eq!(requests, [read_request(UNIT, 8, 1)]);
        assert!(received.is_empty());
    }

    #[test]
    fn reading_past_the_register_map_is_an_exception() {
        let mut riden = RidenRegisters::new();
        let reply = riden.execute(&read_request(UNIT, 99, 2)).unwrap();
        assert_eq!(reply[..3], [UNIT, 0x83, 2]);
    }
}
