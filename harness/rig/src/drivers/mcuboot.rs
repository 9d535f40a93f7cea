//! MCUboot images: what MCUmgr uploads. A header (magic, version), the payload, and a TLV area
//! whose SHA-256 entry is the hash MCUmgr names images by.
//!
//! A scenario names its images by firmware profile, so the same step runs on every rig. The
//! harness builds an MCUboot image from the profile: the header carries the profile's version, the
//! payload is a manifest naming the build (what an emulated device that boots it behaves like),
//! padded to the profile's `image_kb`. A bench uploads the real signed image instead (see README).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use hil_scenario::Profile;

/// The builds this process made images of, by manifest token: what an emulated device becomes
/// when it boots one (the harness's stand-in for the machine code).
static BUILT: LazyLock<Mutex<HashMap<String, Arc<Profile>>>> = LazyLock::new(Default::default);

const IMAGE_MAGIC: u32 = 0x96f3_b83d;
const HEADER_SIZE: u16 = 32;
const TLV_INFO_MAGIC: u16 = 0x6907;
const TLV_SHA256: u16 = 0x10;
/// What erased flash reads as: the padding.
const ERASED: u8 = 0xFF;
/// How a payload built by the harness starts.
const MANIFEST: &[u8] = b"hil-profile ";

/// What the bootloader and MCUmgr read from an image.
#[derive(Clone, Debug)]
pub struct ImageInfo {
    /// `major.minor.revision`.
    pub version: String,
    /// The SHA-256 TLV: the hash MCUmgr's image state and test/confirm use.
    pub hash: [u8; 32],
    /// The build a harness-built image stands for, if this is one.
    pub profile: Option<Arc<Profile>>,
}

/// Builds the MCUboot image that stands for a firmware profile. Equal profiles (a mutant is not
/// equal to its original) give equal images, so an update cut short can resume with a rebuilt one.
pub fn build(profile: &Arc<Profile>) -> Vec<u8> {
    let digest = Sha256::digest(format!("{:?}{:?}", profile.transports, profile.behaviour));
    let digest: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let token = format!("{} {} {digest}", profile.name, profile.version);
    BUILT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(token.clone(), profile.clone());
    let mut payload = MANIFEST.to_vec();
    payload.extend_from_slice(token.as_bytes());
    payload.push(b'\n');
    let size = usize::try_from(profile.behaviour.image_kb).unwrap_or(usize::MAX) * 1024;
    let trailer = 4 + 4 + 32;
    let body = size
        .saturating_sub(usize::from(HEADER_SIZE) + trailer)
        .max(payload.len());
    payload.resize(body, ERASED);

    let mut out = Vec::with_capacity(usize::from(HEADER_SIZE) + body + trailer);
    out.extend_from_slice(&IMAGE_MAGIC.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // load address
    out.extend_from_slice(&HEADER_SIZE.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // protected TLV size
    out.extend_from_slice(&u32::try_from(body).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // flags
    let (major, minor, revision, build) = parse_version(&profile.version);
    out.push(major);
    out.push(minor);
    out.extend_from_slice(&revision.to_le_bytes());
    out.extend_from_slice(&build.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // pad to 32
    out.extend_from_slice(&payload);
    let hash: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&TLV_INFO_MAGIC.to_le_bytes());
    out.extend_from_slice(&(4u16 + 4 + 32).to_le_bytes());
    out.extend_from_slice(&TLV_SHA256.to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(&hash);
    out
}

/// `1.7.0` → (1, 7, 0, 0); missing or unparsable parts are 0.
fn parse_version(version: &str) -> (u8, u8, u16, u32) {
    let mut parts = version
        .split(['.', '+'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    let (major, minor, revision, build) = (next(), next(), next(), next());
    (
        u8::try_from(major).unwrap_or(u8::MAX),
        u8::try_from(minor).unwrap_or(u8::MAX),
        u16::try_from(revision).unwrap_or(u16::MAX),
        u32::try_from(build).unwrap_or(u32::MAX),
    )
}

/// Where the header says the payload starts, and how long it is.
fn layout(bytes: &[u8]) -> Result<(usize, usize), String> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if word(0) != Some(IMAGE_MAGIC) {
        return Err("not an MCUboot image (bad header magic)".into());
    }
    let header = bytes.get(8..10).ok_or("truncated header")?;
    let header = usize::from(u16::from_le_bytes([header[0], header[1]]));
    let body = word(12).ok_or("truncated header")?;
    Ok((header, usize::try_from(body).map_err(|e| e.to_string())?))
}

/// Reads the header and TLVs of a complete image and checks its SHA-256 hash, as MCUboot does
/// before it boots an image.
pub fn inspect(bytes: &[u8]) -> Result<ImageInfo, String> {
    let (header, body) = layout(bytes)?;
    if header < usize::from(HEADER_SIZE) || bytes.len() < header {
        return Err("truncated header".into());
    }
    let version = format!(
        "{}.{}.{}",
        bytes[20],
        bytes[21],
        u16::from_le_bytes([bytes[22], bytes[23]])
    );
    let end = header + body;
    let tlv = bytes.get(end..end + 4).ok_or("no TLV area")?;
    if u16::from_le_bytes([tlv[0], tlv[1]]) != TLV_INFO_MAGIC {
        return Err("no TLV area (bad TLV magic)".into());
    }
    let tlv_end = end + usize::from(u16::from_le_bytes([tlv[2], tlv[3]]));
    let mut at = end + 4;
    let mut hash = None;
    while at + 4 <= tlv_end.min(bytes.len()) {
        let kind = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let len = usize::from(u16::from_le_bytes([bytes[at + 2], bytes[at + 3]]));
        let value = bytes.get(at + 4..at + 4 + len).ok_or("truncated TLV")?;
        if kind == TLV_SHA256 {
            hash = Some(<[u8; 32]>::try_from(value).map_err(|_| "SHA-256 TLV is not 32 bytes")?);
        }
        at += 4 + len;
    }
    let hash = hash.ok_or("no SHA-256 TLV")?;
    let computed: [u8; 32] = Sha256::digest(&bytes[..end]).into();
    if computed != hash {
        return Err("image hash mismatch (corrupt upload)".into());
    }
    Ok(ImageInfo {
        version,
        hash,
        profile: manifest(&bytes[header..end]),
    })
}

/// The build a harness-built payload names.
fn manifest(payload: &[u8]) -> Option<Arc<Profile>> {
    let rest = payload.strip_prefix(MANIFEST)?;
    let token = std::str::from_utf8(&rest[..rest.iter().position(|&b| b == b'\n')?]).ok()?;
    BUILT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(token)
        .cloned()
}

/// The build named by the start of an image (its first upload chunk), before the rest arrives.
pub fn profile_of(first_chunk: &[u8]) -> Option<Arc<Profile>> {
    let (header, _) = layout(first_chunk).ok()?;
    manifest(first_chunk.get(header..)?)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn image(path: &str) -> Arc<Profile> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/profiles")
            .join(path);
        Arc::new(Profile::load(&path).expect("fixture profile loads"))
    }

    #[test]
    fn mcumgr_toolkit_reads_the_version_and_hash_of_a_built_image() {
        let image = image("ring-fw-2.1.toml");
        let bytes = build(&image);
        assert_eq!(bytes.len(), 256 * 1024);
        let theirs = mcumgr_toolkit::mcuboot::get_image_info(std::io::Cursor::new(&bytes))
            .expect("an MCUboot image");
        let ours = inspect(&bytes).expect("a valid image");
        assert_eq!(theirs.version.to_string(), "2.1.0");
        assert_eq!(ours.version, "2.1.0");
        assert_eq!(theirs.hash.as_ref(), ours.hash.as_slice());
        let named = ours.profile.expect("a harness-built image names its build");
        assert!(Arc::ptr_eq(&named, &image));
        assert!(profile_of(&bytes[..200]).is_some_and(|p| Arc::ptr_eq(&p, &image)));
        assert_eq!(build(&image), bytes, "the same build gives the same image");
    }

    #[test]
    fn a_corrupted_image_fails_its_hash_check() {
        let mut bytes = build(&image("lock-fw-1.5.toml"));
        bytes[1000] ^= 1;
        assert_eq!(
            inspect(&bytes).err().as_deref(),
            Some("image hash mismatch (corrupt upload)")
        );
        assert!(inspect(&bytes[4..]).is_err());
    }
}
