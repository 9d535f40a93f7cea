//! An RTT up channel's bytes as log lines: defmt frames decoded with the table in the flashed
//! ELF when it has one, otherwise text split at line ends like a UART's.

use defmt_decoder::{DecodeError, StreamDecoder, Table};

use super::console::LineSplitter;

/// The defmt table of `elf`, if the firmware logs with defmt.
pub fn defmt_table(elf: &[u8]) -> Result<Option<Table>, String> {
    Table::parse(elf).map_err(|e| format!("the ELF's defmt table is unreadable: {e}"))
}

/// Turns a channel's bytes into lines.
pub enum LogDecoder<'t> {
    Text(LineSplitter),
    Defmt {
        frames: Box<dyn StreamDecoder + Send + Sync + 't>,
        /// rzCOBS frames resynchronise after a corrupt one; raw frames cannot.
        can_recover: bool,
    },
}

impl<'t> LogDecoder<'t> {
    pub fn new(table: Option<&'t Table>) -> Self {
        match table {
            Some(table) => LogDecoder::Defmt {
                frames: table.new_stream_decoder(),
                can_recover: table.encoding().can_recover(),
            },
            None => LogDecoder::Text(LineSplitter::default()),
        }
    }

    /// The lines `bytes` completes; an error once the stream cannot be decoded any more.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, String> {
        match self {
            LogDecoder::Text(splitter) => Ok(splitter.push(bytes)),
            LogDecoder::Defmt {
                frames,
                can_recover,
            } => {
                frames.received(bytes);
                let mut lines = Vec::new();
                loop {
                    match frames.decode() {
                        Ok(frame) => lines.push(line_of(&frame)),
                        Err(DecodeError::UnexpectedEof) => return Ok(lines),
                        Err(DecodeError::Malformed) if *can_recover => {
                            lines.push("(defmt: a corrupt frame was skipped)".into());
                        }
                        Err(DecodeError::Malformed) => {
                            return Err(
                                "a defmt frame does not match the ELF's table (raw encoding cannot resynchronise): was this ELF the one flashed?"
                                    .into(),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `<level> <message>` in defmt's own words (`INFO`, `WARN`, …), the timestamp first if the
/// firmware sends one: the form a profile's rules for a defmt build match.
fn line_of(frame: &defmt_decoder::Frame<'_>) -> String {
    let mut line = String::new();
    if let Some(ts) = frame.display_timestamp() {
        line.push_str(&format!("{ts} "));
    }
    if let Some(level) = frame.level() {
        line.push_str(&format!("{} ", level.as_str().to_ascii_uppercase()));
    }
    line.push_str(&frame.display_message().to_string());
    line
}

#[cfg(test)]
pub(crate) mod tests {
    use object::write::{Object, StandardSection, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};

    use super::*;

    /// An ELF as a defmt firmware's linker leaves it: a `.defmt` section whose symbols' names are
    /// the JSON-encoded log statements and whose addresses are their indices.
    pub fn defmt_elf(statements: &[(&str, &str)]) -> Vec<u8> {
        let mut elf = Object::new(BinaryFormat::Elf, Architecture::Arm, Endianness::Little);
        let text = elf.section_id(StandardSection::Text);
        let defmt = elf.add_section(
            Vec::new(),
            b".defmt".to_vec(),
            object::SectionKind::ReadOnlyData,
        );
        elf.append_section_data(defmt, &vec![0; statements.len() + 1], 1);
        let mut symbol = |name: String, section: SymbolSection, value: u64| {
            elf.add_symbol(Symbol {
                name: name.into_bytes(),
                value,
                size: 1,
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section,
                flags: SymbolFlags::None,
            });
        };
        symbol(
            "_defmt_version_ = 4".into(),
            SymbolSection::Section(text),
            0,
        );
        symbol(
            "_defmt_encoding_ = raw".into(),
            SymbolSection::Section(text),
            0,
        );
        for (i, (tag, format)) in statements.iter().enumerate() {
            let name = format!(
                r#"{{"package":"ring-fw","tag":"{tag}","data":"{format}","disambiguator":"{i}","crate_name":"ring_fw"}}"#
            );
            symbol(name, SymbolSection::Section(defmt), i as u64 + 1);
        }
        elf.write().unwrap()
    }

    #[test]
    fn defmt_frames_decode_to_lines_with_their_level() {
        let elf = defmt_elf(&[
            ("defmt_info", "boot ok, reset reason {=u8}"),
            ("defmt_warn", "battery low ({=u8} %)"),
        ]);
        let table = defmt_table(&elf).unwrap().expect("a defmt table");
        let mut decoder = LogDecoder::new(Some(&table));
        // Raw encoding: the statement's index (u16 LE), then its arguments.
        let mut stream = vec![1, 0, 4, 2, 0];
        let first = decoder.push(&stream[..4]).unwrap();
        assert_eq!(first, ["INFO boot ok, reset reason 4"]);
        // A frame split across two reads comes out whole.
        assert!(decoder.push(&stream[4..]).unwrap().is_empty());
        stream = vec![9];
        assert_eq!(decoder.push(&stream).unwrap(), ["WARN battery low (9 %)"]);
    }

    #[test]
    fn an_elf_without_defmt_is_read_as_text_and_a_foreign_frame_is_an_error() {
        let plain = Object::new(BinaryFormat::Elf, Architecture::Arm, Endianness::Little)
            .write()
            .unwrap();
        assert!(defmt_table(&plain).unwrap().is_none());
        let mut text = LogDecoder::new(None);
        assert_eq!(
            text.push(b"<inf> boot ok\r\nhalf").unwrap(),
            ["<inf> boot ok"]
        );

        let elf = defmt_elf(&[("defmt_info", "boot ok")]);
        let table = defmt_table(&elf).unwrap().unwrap();
        let mut decoder = LogDecoder::new(Some(&table));
        let err = decoder.push(&[0x77, 0x00]).unwrap_err();
        assert!(err.contains("was this ELF the one flashed"), "{err}");
    }
}
