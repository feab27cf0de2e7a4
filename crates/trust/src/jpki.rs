//! A real My Number card in a PC/SC reader: its JPKI user-authentication key
//! (利用者証明用電子証明書) as a [`Card`]. Built only with the `pcsc` feature, which links
//! the system's PC/SC library (Debian: `libpcsclite-dev` to build, `pcscd` to run).
//!
//! The card is driven with the JPKI application's published commands (ISO 7816-4 SELECT,
//! VERIFY and READ BINARY, and the proprietary COMPUTE DIGITAL SIGNATURE): select the JPKI
//! application, check the 4-digit authentication PIN against the card (the card itself counts
//! wrong PINs and locks after three), and have the card sign a PKCS#1 v1.5 `DigestInfo` of the
//! SHA-256 of the challenge. The signature is therefore the same RSA PKCS#1 v1.5 SHA-256
//! signature a [`crate::card::SoftwareCard`] makes, and the network verifies both alike.
//!
//! The private key never leaves the card, and this module never sees it. The PIN is passed to
//! the card and dropped; it is never logged.

use crate::card::{Card, CardError, check_pin};
use aws_lc_rs::digest;
use std::ffi::CString;

/// The JPKI application's identifier.
const JPKI_AID: &[u8] = &[0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// The authentication certificate, PIN and private key files of the JPKI application.
const EF_AUTH_CERT: [u8; 2] = [0x00, 0x0A];
const EF_AUTH_PIN: [u8; 2] = [0x00, 0x18];
const EF_AUTH_KEY: [u8; 2] = [0x00, 0x17];
/// The DER prefix of a SHA-256 `DigestInfo` (RFC 8017 section 9.2, note 1): the card pads and
/// signs `DigestInfo`, so the host supplies it.
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// A My Number card in a reader.
pub struct JpkiCard {
    card: pcsc::Card,
    reader: String,
}

fn pcsc_error(what: &str, e: pcsc::Error) -> CardError {
    let hint = match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => {
            " (is pcscd running? Debian: apt install pcscd)"
        }
        pcsc::Error::NoReadersAvailable | pcsc::Error::UnknownReader => {
            " (is the reader plugged in? `kizuna card readers` lists them)"
        }
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => " (put the card on the reader)",
        _ => "",
    };
    CardError::Unusable(format!("{what}: {e}{hint}"))
}

/// The names of the PC/SC readers this machine has.
pub fn readers() -> Result<Vec<String>, CardError> {
    reader_names(&context()?)
}

fn context() -> Result<pcsc::Context, CardError> {
    pcsc::Context::establish(pcsc::Scope::User).map_err(|e| pcsc_error("no PC/SC service", e))
}

fn reader_names(ctx: &pcsc::Context) -> Result<Vec<String>, CardError> {
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(pcsc_error("listing readers", e)),
    }
}

/// A command APDU in short form (ISO 7816-4): header, then `Lc` and data if any, then `Le`.
fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut out = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        out.push(data.len() as u8);
        out.extend_from_slice(data);
    }
    if let Some(le) = le {
        out.push(le);
    }
    out
}

impl JpkiCard {
    /// Connects to the card in `reader`, or in the only reader if `None`; checks that it holds
    /// the JPKI application.
    pub fn connect(reader: Option<&str>) -> Result<JpkiCard, CardError> {
        let ctx = context()?;
        let names = reader_names(&ctx)?;
        let name = match reader {
            Some(r) => names
                .iter()
                .find(|n| n.as_str() == r)
                .cloned()
                .ok_or_else(|| {
                    CardError::Unusable(format!(
                        "no reader named '{r}'; readers: {}",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?,
            None => match names.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(CardError::Unusable(
                        "no PC/SC reader found; plug one in".into(),
                    ));
                }
                _ => {
                    return Err(CardError::Unusable(format!(
                        "several readers ({}); choose one with --reader",
                        names.join(", ")
                    )));
                }
            },
        };
        let cname = CString::new(name.clone())
            .map_err(|_| CardError::Unusable("a reader name holds NUL".into()))?;
        let card = ctx
            .connect(
                cname.as_c_str(),
                pcsc::ShareMode::Exclusive,
                pcsc::Protocols::ANY,
            )
            .map_err(|e| pcsc_error(&format!("connecting to '{name}'"), e))?;
        Io(&card).select_application()?;
        Ok(JpkiCard { card, reader: name })
    }

    /// The reader the card is in.
    pub fn reader(&self) -> &str {
        &self.reader
    }
}

/// Commands to a connected card (or to one reserved by a transaction).
struct Io<'a>(&'a pcsc::Card);

impl Io<'_> {
    /// Sends `command`; returns the response data and status word, following `61xx` (more data:
    /// GET RESPONSE) as T=0 readers require.
    fn transmit(&self, command: &[u8]) -> Result<(Vec<u8>, u16), CardError> {
        let mut data = Vec::new();
        let mut next = command.to_vec();
        // A card that keeps answering "more data" is broken: 64 parts exceed any JPKI answer.
        for _ in 0..64 {
            let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
            let answer = self
                .0
                .transmit(&next, &mut buf)
                .map_err(|e| pcsc_error("talking to the card", e))?;
            let Some((body, sw)) = answer.split_last_chunk::<2>() else {
                return Err(CardError::Unusable("the card gave no status word".into()));
            };
            data.extend_from_slice(body);
            let sw = u16::from_be_bytes(*sw);
            if sw >> 8 == 0x61 {
                next = apdu(0x00, 0xC0, 0, 0, &[], Some((sw & 0xFF) as u8));
                continue;
            }
            return Ok((data, sw));
        }
        Err(CardError::Unusable(
            "the card never finished its answer".into(),
        ))
    }

    /// Sends `command` and expects `9000`.
    fn expect_ok(&self, command: &[u8], what: &str) -> Result<Vec<u8>, CardError> {
        match self.transmit(command)? {
            (data, 0x9000) => Ok(data),
            (_, sw) => Err(CardError::Unusable(format!(
                "the card refused {what} (status {sw:04X})"
            ))),
        }
    }

    fn select_application(&self) -> Result<(), CardError> {
        match self.transmit(&apdu(0x00, 0xA4, 0x04, 0x0C, JPKI_AID, None))? {
            (_, 0x9000) => Ok(()),
            (_, 0x6A82) => Err(CardError::Unusable(
                "this card has no JPKI application: is it a My Number card?".into(),
            )),
            (_, sw) => Err(CardError::Unusable(format!(
                "the card refused to select the JPKI application (status {sw:04X})"
            ))),
        }
    }

    fn select_file(&self, id: [u8; 2]) -> Result<(), CardError> {
        self.expect_ok(
            &apdu(0x00, 0xA4, 0x02, 0x0C, &id, None),
            &format!("to select file {:02X}{:02X}", id[0], id[1]),
        )
        .map(|_| ())
    }

    /// `len` bytes of the selected file from `offset`, in reads of at most 255 bytes.
    fn read_binary(&self, offset: usize, len: usize) -> Result<Vec<u8>, CardError> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = offset + out.len();
            if at > 0x7FFF {
                return Err(CardError::Unusable(
                    "the file is larger than the card's".into(),
                ));
            }
            let want = (len - out.len()).min(0xFF) as u8;
            let part = self.expect_ok(
                &apdu(0x00, 0xB0, (at >> 8) as u8, at as u8, &[], Some(want)),
                "to read the certificate",
            )?;
            if part.is_empty() {
                return Err(CardError::Unusable("the card's file ended early".into()));
            }
            out.extend_from_slice(&part);
        }
        out.truncate(len);
        Ok(out)
    }

    /// Sends VERIFY for the selected PIN file; `None` asks only how many tries are left.
    fn verify(&self, pin: Option<&str>) -> Result<(), CardError> {
        let data = pin.map(str::as_bytes).unwrap_or_default();
        match self.transmit(&apdu(0x00, 0x20, 0x00, 0x80, data, None))? {
            (_, 0x9000) => Ok(()),
            (_, 0x63C0) | (_, 0x6983) | (_, 0x6984) => Err(CardError::Locked),
            (_, sw) if sw & 0xFFF0 == 0x63C0 => Err(CardError::WrongPin {
                remaining: (sw & 0x0F) as u8,
            }),
            (_, sw) => Err(CardError::Unusable(format!(
                "the card refused the PIN check (status {sw:04X})"
            ))),
        }
    }
}

impl Card for JpkiCard {
    fn certificate(&self) -> Result<Vec<u8>, CardError> {
        use x509_parser::der_parser::asn1_rs::{FromDer, Header, Length};
        let io = Io(&self.card);
        io.select_application()?;
        io.select_file(EF_AUTH_CERT)?;
        // The file is the certificate's DER followed by padding: read its header for the length.
        let head = io.read_binary(0, 8)?;
        let (rest, header) = Header::from_der(&head)
            .map_err(|_| CardError::Unusable("the card's certificate file is not DER".into()))?;
        let Length::Definite(body) = header.length() else {
            return Err(CardError::Unusable(
                "the card's certificate has an indefinite length".into(),
            ));
        };
        let len = head.len() - rest.len() + body;
        if len > 0x8000 {
            return Err(CardError::Unusable(
                "the card's certificate is larger than its file can be".into(),
            ));
        }
        io.read_binary(0, len)
    }

    fn sign(&mut self, pin: &str, message: &[u8]) -> Result<Vec<u8>, CardError> {
        check_pin(pin)?;
        // One transaction from PIN to signature: no other program's commands interleave.
        let session = self
            .card
            .transaction()
            .map_err(|e| pcsc_error("reserving the card", e))?;
        let io = Io(&session);
        io.select_application()?;
        io.select_file(EF_AUTH_PIN)?;
        io.verify(Some(pin))?;
        io.select_file(EF_AUTH_KEY)?;
        let mut digest_info = SHA256_DIGEST_INFO.to_vec();
        digest_info.extend_from_slice(digest::digest(&digest::SHA256, message).as_ref());
        let sig = io.expect_ok(
            &apdu(0x80, 0x2A, 0x00, 0x80, &digest_info, Some(0)),
            "to sign",
        )?;
        if sig.is_empty() {
            return Err(CardError::Unusable("the card returned no signature".into()));
        }
        Ok(sig)
    }

    fn pin_tries(&mut self) -> Result<u8, CardError> {
        let io = Io(&self.card);
        io.select_application()?;
        io.select_file(EF_AUTH_PIN)?;
        match io.verify(None) {
            Ok(()) => Ok(crate::card::PIN_TRIES),
            Err(CardError::WrongPin { remaining }) => Ok(remaining),
            Err(CardError::Locked) => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// The machine's PC/SC readers as reception's [`crate::card::CardReader`]: a card is opened
/// by its reader's name (`only`: just that reader).
pub struct PcscReaders {
    pub only: Option<String>,
}

impl crate::card::CardReader for PcscReaders {
    fn present(&self) -> Result<Vec<String>, CardError> {
        let mut names = readers()?;
        if let Some(only) = &self.only {
            names.retain(|n| n == only);
        }
        Ok(names)
    }

    fn open(&self, name: &str) -> Result<Box<dyn Card + Send>, CardError> {
        // Only a reader this one lists (`only` bounds it): never one named by the form alone.
        if !self.present()?.iter().any(|n| n == name) {
            return Err(CardError::Unusable(format!("no reader named {name:?}")));
        }
        Ok(Box::new(JpkiCard::connect(Some(name))?))
    }

    fn describe(&self) -> String {
        match &self.only {
            Some(n) => format!("the PC/SC reader {n}"),
            None => "the PC/SC card readers".into(),
        }
    }
}
