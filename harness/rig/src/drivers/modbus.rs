//! Modbus RTU framing, as far as a bench supply needs it: read holding registers (0x03) and write
//! one register (0x06), each frame sealed with CRC-16/MODBUS.

/// CRC-16/MODBUS: reflected polynomial 0xA001, initial value 0xFFFF; sent low byte first.
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0xFFFF, |crc, &byte| {
        (0..8).fold(crc ^ u16::from(byte), |crc, _| {
            if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            }
        })
    })
}

fn sealed(mut frame: Vec<u8>) -> Vec<u8> {
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

pub fn read_request(unit: u8, register: u16, count: u16) -> Vec<u8> {
    let [r_hi, r_lo] = register.to_be_bytes();
    let [c_hi, c_lo] = count.to_be_bytes();
    sealed(vec![unit, 0x03, r_hi, r_lo, c_hi, c_lo])
}

pub fn write_request(unit: u8, register: u16, value: u16) -> Vec<u8> {
    let [r_hi, r_lo] = register.to_be_bytes();
    let [v_hi, v_lo] = value.to_be_bytes();
    sealed(vec![unit, 0x06, r_hi, r_lo, v_hi, v_lo])
}

/// Why a response is not the one expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Damaged or not a response at all: line noise, a wrong baud rate, another unit talking.
    Garbled(String),
    /// A well-formed exception response: the instrument refused the request.
    Refused(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Garbled(why) | FrameError::Refused(why) => f.write_str(why),
        }
    }
}

/// The frame without its CRC, if the CRC is right.
fn checked(frame: &[u8]) -> Result<&[u8], FrameError> {
    let Some((body, crc)) = frame.split_last_chunk::<2>() else {
        return Err(FrameError::Garbled(format!(
            "a {}-byte frame is too short",
            frame.len()
        )));
    };
    if crc16(body).to_le_bytes() == *crc {
        Ok(body)
    } else {
        Err(FrameError::Garbled(
            "CRC mismatch (line noise, or the wrong baud rate?)".into(),
        ))
    }
}

/// The registers of a read response, or why the frame is not one.
pub fn parse_read_response(unit: u8, count: u16, frame: &[u8]) -> Result<Vec<u16>, FrameError> {
    match checked(frame)? {
        [u, 0x03, len, data @ ..] if *u == unit && usize::from(*len) == data.len() => {
            let registers: Vec<u16> = data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            if registers.len() == usize::from(count) {
                Ok(registers)
            } else {
                Err(FrameError::Garbled(format!(
                    "{} registers, not {count}",
                    registers.len()
                )))
            }
        }
        other => Err(unexpected(unit, other)),
    }
}

/// A write is acknowledged by echoing the request.
pub fn parse_write_response(request: &[u8], frame: &[u8]) -> Result<(), FrameError> {
    let body = checked(frame)?;
    if frame == request {
        Ok(())
    } else {
        Err(unexpected(request[0], body))
    }
}

fn unexpected(unit: u8, body: &[u8]) -> FrameError {
    match body {
        [u, function, code] if *u == unit && function & 0x80 != 0 => {
            let meaning = match code {
                1 => "illegal function",
                2 => "illegal data address",
                3 => "illegal data value",
                _ => "device failure",
            };
            FrameError::Refused(format!("refused with exception {code} ({meaning})"))
        }
        _ => FrameError::Garbled(format!("not the expected response: {body:02X?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_modbus_specification() {
        // "Read holding register 0 of unit 1", CRC 0x0A84 as sent on the wire: 84 0A.
        assert_eq!(crc16(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x01]), 0x0A84);
        // The standard check value of CRC-16/MODBUS.
        assert_eq!(crc16(b"123456789"), 0x4B37);
        assert_eq!(
            read_request(1, 0, 1),
            [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A]
        );
    }

    #[test]
    fn responses_are_checked_and_decoded() {
        let response = sealed(vec![0x01, 0x03, 0x04, 0x01, 0x72, 0x00, 0x32]);
        assert_eq!(parse_read_response(1, 2, &response), Ok(vec![370, 50]));

        let mut noisy = response.clone();
        noisy[4] ^= 0x10;
        assert!(matches!(
            parse_read_response(1, 2, &noisy),
            Err(FrameError::Garbled(why)) if why.contains("CRC")
        ));

        let exception = sealed(vec![0x01, 0x83, 0x02]);
        let e = parse_read_response(1, 2, &exception).unwrap_err();
        assert_eq!(
            e,
            FrameError::Refused("refused with exception 2 (illegal data address)".into())
        );
    }
}
