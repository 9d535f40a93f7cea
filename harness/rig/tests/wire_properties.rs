//! Property tests of the wire parsers: whatever bytes an instrument (or line noise) sends, the
//! parsers answer or refuse, never panic, and never accept a corrupted frame.

use std::collections::VecDeque;
use std::time::Duration;

use hil_rig::drivers::modbus::{crc16, parse_read_response, parse_write_response, write_request};
use hil_rig::drivers::{
    Framing, LONGEST_LINE, LineSplitter, Transport, TransportError, read_answer,
};
use proptest::prelude::*;

/// A wire that delivers scripted chunks, then silence.
struct Chunks(VecDeque<Vec<u8>>);

impl Transport for Chunks {
    fn port(&self) -> &str {
        "/dev/test"
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.0.clear();
        Ok(())
    }

    fn write_all(&mut self, _bytes: &[u8]) -> Result<(), TransportError> {
        Ok(())
    }

    fn read_some(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        let Some(mut chunk) = self.0.pop_front() else {
            return Err(TransportError::TimedOut(timeout));
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            self.0.push_front(chunk.split_off(n));
        }
        Ok(n)
    }
}

/// Splits `bytes` at the given points.
fn chunked(bytes: &[u8], cuts: &[prop::sample::Index]) -> VecDeque<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    points.extend([0, bytes.len()]);
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

/// A Modbus read response for `registers`, sealed with its CRC.
fn read_response(unit: u8, registers: &[u16]) -> Vec<u8> {
    let mut frame = vec![unit, 0x03, (registers.len() * 2) as u8];
    for r in registers {
        frame.extend(r.to_be_bytes());
    }
    frame.extend(crc16(&frame).to_le_bytes());
    frame
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn an_answer_reads_the_same_however_the_line_splits_it(
        answer in "[ -~]{0,40}",
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let line = format!("{answer}{}", if crlf { "\r\n" } else { "\n" });
        let mut wire = Chunks(chunked(line.as_bytes(), &cuts));
        let read = read_answer(&mut wire, Framing::Terminated(b'\n'), Duration::from_millis(10)).unwrap();
        prop_assert_eq!(read, answer.as_bytes());
    }

    #[test]
    fn line_noise_never_panics_the_reader(noise in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut wire = Chunks(VecDeque::from([noise.clone()]));
        match read_answer(&mut wire, Framing::Terminated(b'\n'), Duration::from_millis(10)) {
            Ok(answer) => prop_assert!(noise.contains(&b'\n') && answer.len() < noise.len()),
            Err(TransportError::Unterminated(..) | TransportError::TimedOut(_)) => {
                prop_assert!(!noise.contains(&b'\n'));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn any_bytes_are_refused_or_parsed_without_panicking(frame in prop::collection::vec(any::<u8>(), 0..40), unit in any::<u8>(), count in 0u16..8) {
        let _ = parse_read_response(unit, count, &frame);
        let _ = parse_write_response(&write_request(unit, 0x08, 370), &frame);
    }

    #[test]
    fn a_valid_frame_parses_and_any_bit_flip_is_refused(
        unit in 1u8..=247,
        registers in prop::collection::vec(any::<u16>(), 1..6),
        bit in any::<prop::sample::Index>(),
    ) {
        let frame = read_response(unit, &registers);
        let count = registers.len() as u16;
        prop_assert_eq!(parse_read_response(unit, count, &frame).unwrap(), registers);
        let mut corrupted = frame.clone();
        let bit = bit.index(frame.len() * 8);
        corrupted[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(parse_read_response(unit, count, &corrupted).is_err(), "CRC-16 catches every single-bit error");
    }
}

/// Every line of a console stream, split however the reads fall.
fn console_lines(chunks: impl IntoIterator<Item = Vec<u8>>) -> Vec<String> {
    let mut splitter = LineSplitter::default();
    let mut lines: Vec<String> = chunks
        .into_iter()
        .flat_map(|chunk| splitter.push(&chunk))
        .collect();
    lines.extend(splitter.finish());
    lines
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// A device's log reads the same however the UART's reads split it: line ends (CR, LF, and
    /// their pairs) across two reads, multi-byte characters across two reads, any noise.
    #[test]
    fn console_lines_do_not_depend_on_how_reads_split_the_stream(
        noise in prop::collection::vec(any::<u8>(), 0..600),
        // Runs of one byte (up to past the longest line) with their line ends.
        runs in prop::collection::vec(
            (any::<u8>(), 0..6_000usize, prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b"\r"[..]), Just(&b""[..])]),
            0..6,
        ),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let mut stream = noise;
        for (byte, len, end) in runs {
            stream.extend(std::iter::repeat_n(byte, len));
            stream.extend_from_slice(end);
        }
        let whole = console_lines([stream.clone()]);
        let split = console_lines(chunked(&stream, &cuts));
        prop_assert_eq!(&whole, &split);
        for line in &whole {
            prop_assert!(line.chars().count() <= LONGEST_LINE, "a line of {} chars", line.chars().count());
            prop_assert!(!line.contains(['\r', '\n']));
        }
    }

    /// Text lines ended by LF, CR LF, CR or LF CR (one style per device, as firmware does) come
    /// out as the lines written, empty ones included.
    #[test]
    fn console_text_lines_come_out_as_written(
        lines in prop::collection::vec("[ -~]{0,200}", 0..50),
        end in prop_oneof![Just("\n"), Just("\r\n"), Just("\r"), Just("\n\r")],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let stream: String = lines.iter().map(|l| format!("{l}{end}")).collect();
        prop_assert_eq!(console_lines(chunked(stream.as_bytes(), &cuts)), lines);
    }
}
