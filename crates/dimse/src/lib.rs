//! `kizuna-dimse`: DICOM networking, the way modalities and PACS talk (PS3.7, PS3.8).
//!
//! Owns Kizuna's DIMSE service class provider (AE title `KIZUNA` unless configured): C-ECHO;
//! C-STORE (a data set received is kept as the file made of it with rebuilt file meta
//! information, the data set byte for byte); C-FIND at study, series and image level (Study
//! Root and Patient Root models), matched like QIDO-RS; C-GET (the objects sent back on the
//! same association) and C-MOVE (sent to a configured peer AE by a new association), and the
//! C-STORE service class user those two use. Everything goes through `kizuna-records` within
//! the caller's scope (the node's), so images follow the record's access rules, and every
//! operation is appended to the audit log (a store before it runs too). Associations come
//! from this machine (the node's operator, any calling AE title) or from a configured peer:
//! its calling AE title, from an address its host resolves to; any other is rejected
//! ("calling AE title not recognized").
//!
//! Must never: keep part of an object (an association that aborts mid-transfer keeps what was
//! acknowledged and nothing else), log attribute values, or panic on what a peer sends.

pub mod message;
pub mod scu;

pub use message::{field, status};

use bytes::Bytes;
use dicom_core::Tag;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_ul::ServerAssociationOptions;
use dicom_ul::association::{Association, AsyncAssociation};
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, RequestorRoles};
use kizuna_access::audit::Event;
use kizuna_access::{Caller, Network};
use kizuna_blobs::Blobs;
use kizuna_records::Records;
use kizuna_records::imaging::{AuditKept, Placed, Refusal, Stored, qido};
use kizuna_store::imaging::{Found, Level};
use message::Command;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Kizuna's AE title (`KIZUNA`); associations calling another are rejected.
    pub ae_title: String,
    /// Where images are kept.
    pub blobs: Blobs,
    /// The AEs C-MOVE may send to, and the only AEs other machines may associate as.
    pub peers: Vec<Peer>,
}

/// A DICOM peer: its AE title and address (`host:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub ae_title: String,
    pub address: String,
}

impl Peer {
    /// `AE@host:port`.
    pub fn parse(s: &str) -> Result<Peer, String> {
        let (ae, address) = s
            .split_once('@')
            .ok_or_else(|| format!("'{s}' is not AE@host:port"))?;
        if ae.is_empty() || ae.len() > 16 || !ae.chars().all(|c| c.is_ascii_graphic() && c != '\\')
        {
            return Err(format!(
                "'{ae}' is not an AE title (1 to 16 characters, no spaces or backslashes)"
            ));
        }
        if !address.contains(':') {
            return Err(format!("'{address}' is not host:port"));
        }
        Ok(Peer {
            ae_title: ae.into(),
            address: address.into(),
        })
    }
}

const QR_SOP_CLASSES: &[&str] = &[
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
    uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_MOVE,
    uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_GET,
];

/// The requestor of a C-GET acts as a storage SCP on the association: granted.
struct Roles;

impl dicom_ul::association::server::Negotiation for Roles {
    fn negotiate_roles(&self, _sop_class: &str, scu: bool, scp: bool) -> Option<RequestorRoles> {
        Some(RequestorRoles { scu, scp })
    }
}

/// Serves DIMSE on `listener` until `shutdown` completes; each association runs on its own.
pub async fn serve(
    listener: TcpListener,
    net: Arc<Network>,
    setup: Arc<Setup>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (socket, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "a DICOM connection could not be accepted");
                        continue;
                    }
                };
                // A command and its data set go as separate small writes: without this, each
                // waits for the peer's delayed acknowledgement (tens of ms an object).
                let _ = socket.set_nodelay(true);
                let (net, setup) = (net.clone(), setup.clone());
                tokio::spawn(async move {
                    let callers = Callers::of(&setup.peers, peer.ip()).await;
                    if let Err(e) = association(socket, net, setup, callers).await {
                        tracing::info!(error = %e, "a DICOM association ended with an error");
                    }
                });
            }
        }
    }
}

/// Who may associate from one address: from this machine, anyone (the node's operator);
/// from another, only the configured peers whose host resolves to that address.
#[derive(Debug, Clone)]
struct Callers {
    this_machine: bool,
    /// The peers' AE titles that may call from this address.
    known: Vec<String>,
    /// Where the association comes from, for the audit log.
    from: std::net::IpAddr,
}

impl Callers {
    async fn of(peers: &[Peer], from: std::net::IpAddr) -> Callers {
        let from = from.to_canonical();
        let this_machine = from.is_loopback();
        let mut known = Vec::new();
        // From this machine anyone may call: no peer's host needs resolving.
        for p in peers.iter().filter(|_| !this_machine) {
            let resolved = tokio::net::lookup_host(p.address.as_str()).await;
            if resolved.is_ok_and(|mut r| r.any(|a| a.ip().to_canonical() == from)) {
                known.push(p.ae_title.clone());
            }
        }
        Callers {
            this_machine,
            known,
            from,
        }
    }

    /// The calling AE title as the audit log names it (with its address, from elsewhere).
    fn describe(&self, calling: &str) -> String {
        if self.this_machine {
            calling.to_string()
        } else {
            format!("{calling} at {}", self.from)
        }
    }
}

impl dicom_ul::association::server::AccessControl for Callers {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&dicom_ul::pdu::UserIdentity>,
    ) -> Result<(), dicom_ul::pdu::AssociationRJServiceUserReason> {
        use dicom_ul::pdu::AssociationRJServiceUserReason as Reason;
        if this_ae_title.trim() != called_ae_title.trim() {
            return Err(Reason::CalledAETitleNotRecognized);
        }
        let calling = calling_ae_title.trim();
        if self.this_machine || self.known.iter().any(|k| k == calling) {
            Ok(())
        } else {
            tracing::warn!(
                from = %self.from,
                "a DICOM association from an unconfigured AE or address was rejected; add it with --dicom-peer AE@host:port"
            );
            Err(Reason::CallingAETitleNotRecognized)
        }
    }
}

/// An association, from negotiation to release (or abort).
async fn association(
    socket: TcpStream,
    net: Arc<Network>,
    setup: Arc<Setup>,
    callers: Callers,
) -> Result<(), String> {
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(callers.clone())
        .ae_title(setup.ae_title.clone())
        .promiscuous(true)
        .with_negotiation(Roles)
        .with_abstract_syntax(uids::VERIFICATION);
    for sop in QR_SOP_CLASSES {
        options = options.with_abstract_syntax(*sop);
    }
    let mut assoc = options
        .establish_async(socket)
        .await
        .map_err(|e| format!("negotiation failed: {e}"))?;
    let calling = assoc.peer_ae_title().trim().to_string();
    let described = callers.describe(&calling);
    let caller = Caller::node();
    let records = net
        .records_for(&caller)
        .await
        .map_err(|f| format!("no scope: {}", f.status))?;
    let ctx = Ctx {
        net: &net,
        setup: &setup,
        caller: &caller,
        records: &records,
        calling: &calling,
        described: &described,
    };
    let mut touched = BTreeSet::new();
    let mut announced = false;
    let outcome = loop {
        let (pc, command, data) = match read_message(&mut assoc).await {
            Ok(Incoming::Message(pc, c, d)) => (pc, c, d),
            Ok(Incoming::Released) => break Ok(()),
            Ok(Incoming::Aborted) => break Err("the peer aborted the association".to_string()),
            Err(e) => break Err(e),
        };
        let done = match command.field() {
            field::C_ECHO_RQ => {
                send(
                    &mut assoc,
                    pc,
                    &Command::response(&command, field::C_ECHO_RSP, status::SUCCESS, false),
                    None,
                )
                .await
            }
            field::C_STORE_RQ => {
                ctx.store(&mut assoc, pc, &command, data, &mut touched, &mut announced)
                    .await
            }
            field::C_FIND_RQ => ctx.find(&mut assoc, pc, &command, data).await,
            field::C_GET_RQ | field::C_MOVE_RQ => {
                ctx.retrieve(&mut assoc, pc, &command, data).await
            }
            field::C_CANCEL_RQ => Ok(()),
            other => Err(format!("unsupported DIMSE command 0x{other:04X}")),
        };
        if let Err(e) = done {
            let _ = assoc.abort().await;
            break Err(e);
        }
    };
    // The record's ImagingStudy catches up once per association (objects are acknowledged
    // one by one as they arrive, each already durable and findable).
    let studies: Vec<String> = touched.into_iter().collect();
    if let Err(f) = records.refresh_studies(&studies).await {
        tracing::warn!(
            status = f.status,
            "the studies received could not be brought up to date"
        );
    }
    outcome
}

pub(crate) enum Incoming {
    Message(u8, Command, Option<Vec<u8>>),
    Released,
    Aborted,
}

/// The next message: its command set and data set, gathered from P-DATA fragments.
pub(crate) async fn read_message<A: AsyncAssociation<TcpStream> + Send>(
    assoc: &mut A,
) -> Result<Incoming, String> {
    let mut command_bytes = Vec::new();
    let mut command: Option<Command> = None;
    let mut data = Vec::new();
    let mut pc = 0;
    loop {
        let pdu = AsyncAssociation::receive(assoc)
            .await
            .map_err(|e| format!("receiving: {e}"))?;
        match pdu {
            Pdu::PData { data: values } => {
                for v in values {
                    pc = v.presentation_context_id;
                    match v.value_type {
                        PDataValueType::Command => {
                            command_bytes.extend_from_slice(&v.data);
                            if v.is_last {
                                command = Some(Command::decode(&command_bytes)?);
                            }
                        }
                        PDataValueType::Data => {
                            data.extend_from_slice(&v.data);
                            if v.is_last {
                                let c =
                                    command.take().ok_or("a data set came before its command")?;
                                return Ok(Incoming::Message(pc, c, Some(data)));
                            }
                        }
                    }
                }
                if let Some(c) = &command
                    && !c.has_data()
                {
                    return Ok(Incoming::Message(pc, c.clone(), None));
                }
            }
            Pdu::ReleaseRQ => {
                let _ = AsyncAssociation::send(assoc, &Pdu::ReleaseRP).await;
                return Ok(Incoming::Released);
            }
            Pdu::AbortRQ { .. } => return Ok(Incoming::Aborted),
            other => return Err(format!("unexpected {}", other.short_description())),
        }
    }
}

/// Sends a command set and, if given, its data set (split into P-DATA fragments).
pub(crate) async fn send<A: AsyncAssociation<TcpStream> + Send>(
    assoc: &mut A,
    pc: u8,
    command: &Command,
    data: Option<&[u8]>,
) -> Result<(), String> {
    AsyncAssociation::send(
        assoc,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command.encode()?,
            }],
        },
    )
    .await
    .map_err(|e| format!("sending: {e}"))?;
    if let Some(d) = data {
        // Fragments within what the peer takes (its maximum PDU length counts each fragment's
        // 6-byte item header; 0 means no limit).
        let max = match assoc.peer_max_pdu_length() {
            0 => 64 * 1024,
            n => (n as usize).saturating_sub(6).clamp(1024, 4 * 1024 * 1024),
        };
        let mut chunks = d.chunks(max).peekable();
        if chunks.peek().is_none() {
            chunks = [0u8; 0].chunks(1).peekable();
        }
        while let Some(chunk) = chunks.next() {
            AsyncAssociation::send(
                assoc,
                &Pdu::PData {
                    data: vec![PDataValue {
                        presentation_context_id: pc,
                        value_type: PDataValueType::Data,
                        is_last: chunks.peek().is_none(),
                        data: chunk.to_vec(),
                    }],
                },
            )
            .await
            .map_err(|e| format!("sending: {e}"))?;
        }
    }
    Ok(())
}

/// What an association works with.
struct Ctx<'a> {
    net: &'a Network,
    setup: &'a Setup,
    caller: &'a Caller,
    records: &'a Records,
    /// The calling AE title.
    calling: &'a str,
    /// It, with where it calls from (another machine's address), for the audit log.
    described: &'a str,
}

impl Ctx<'_> {
    async fn audit(&self, mut event: Event, found: &[Found]) -> Result<(), String> {
        for f in found {
            concerning(&mut event, &f.study_res, &f.patient);
        }
        self.net
            .audit(self.caller, &event)
            .await
            .map_err(|_| "the audit log could not be written".to_string())
    }

    fn event(&self, action: &'static str, what: &str, status: u16) -> Event {
        Event {
            action,
            subtype: format!("dimse:{what}"),
            request: format!("{} from {}", what.to_uppercase(), self.described),
            status,
            ..Default::default()
        }
    }

    /// C-STORE: the data set kept as a file ([`keep`]), acknowledged once durable.
    async fn store<A: AsyncAssociation<TcpStream> + Send>(
        &self,
        assoc: &mut A,
        pc: u8,
        rq: &Command,
        data: Option<Vec<u8>>,
        touched: &mut BTreeSet<String>,
        announced: &mut bool,
    ) -> Result<(), String> {
        let ts = transfer_syntax(assoc, pc);
        let sop = rq.text(tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default();
        if !*announced {
            // Written ahead, once an association (as once a STOW-RS request): no object of it
            // commits without an entry naming the association's stores; each object then has
            // its own entry with its outcome.
            let mut started = self.event("C", "c-store", 0);
            started.started = true;
            started.request = format!("{} (the association's objects)", started.request);
            self.audit(started, &[]).await?;
            *announced = true;
        }
        // An object kept now has its entry committed with its index rows (one commit, not
        // two); one already kept, or refused, has its entry appended here.
        let kept_entry = |p: &Placed| {
            let mut event = self.event("C", "c-store", 200);
            concerning(&mut event, &p.study_res, &p.patient);
            kizuna_access::audit::entry_of(self.caller, &event)
        };
        let kept = keep(self.records, self.setup, rq, &ts, data, Some(&kept_entry)).await;
        let (code, comment) = (kept.code, kept.comment);
        let found = kept.placed.map(|p| {
            touched.insert(p.study_uid.clone());
            Found {
                study_res: p.study_res,
                patient: p.patient,
                ..Default::default()
            }
        });
        if !kept.audited {
            let http_like = if code == status::SUCCESS { 200 } else { 409 };
            let mut event = self.event("C", "c-store", http_like);
            event.detail = comment.clone();
            self.audit(event, found.as_slice()).await?;
        }
        let mut rsp = match &comment {
            Some(c) => Command::failure(rq, field::C_STORE_RSP, code, c),
            None => Command::response(rq, field::C_STORE_RSP, code, false),
        };
        rsp.set_text(tags::AFFECTED_SOP_INSTANCE_UID, dicom_core::VR::UI, &sop);
        send(assoc, pc, &rsp, None).await
    }

    /// The identifier of a C-FIND, C-GET or C-MOVE, the query it asks, the keys to return and
    /// what matched, audited; `None` once a refusal has been answered (and audited) here.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    async fn matches<A: AsyncAssociation<TcpStream> + Send>(
        &self,
        assoc: &mut A,
        pc: u8,
        rq: &Command,
        rsp_field: u16,
        what: &str,
        data: Option<Vec<u8>>,
        retrieve: bool,
    ) -> Result<Option<(InMemDicomObject, qido::Qido, Vec<Tag>, Vec<Found>)>, String> {
        let ts = transfer_syntax(assoc, pc);
        let (code, why, outcome) = 'refused: {
            let Some(Ok(identifier)) = data.as_deref().map(|d| message::read_data_set(d, &ts))
            else {
                break 'refused (
                    status::UNABLE_TO_PROCESS,
                    "the identifier cannot be read".to_string(),
                    400,
                );
            };
            let (q, requested) = match query(&identifier, retrieve) {
                Ok(q) => q,
                Err(why) => break 'refused (status::IDENTIFIER_DOES_NOT_MATCH, why, 400),
            };
            match self.records.find_images(q.query.clone()).await {
                Ok(found) => {
                    self.audit(self.event("R", what, 200), &found).await?;
                    return Ok(Some((identifier, q, requested, found)));
                }
                Err(_) => {
                    break 'refused (
                        status::UNABLE_TO_PROCESS,
                        "the search failed".to_string(),
                        500,
                    );
                }
            }
        };
        self.audit(self.event("R", what, outcome), &[]).await?;
        send(
            assoc,
            pc,
            &Command::failure(rq, rsp_field, code, &why),
            None,
        )
        .await?;
        Ok(None)
    }

    /// C-FIND: a pending response per match, then success.
    async fn find<A: AsyncAssociation<TcpStream> + Send>(
        &self,
        assoc: &mut A,
        pc: u8,
        rq: &Command,
        data: Option<Vec<u8>>,
    ) -> Result<(), String> {
        let Some((identifier, q, requested, found)) = self
            .matches(assoc, pc, rq, field::C_FIND_RSP, "c-find", data, false)
            .await?
        else {
            return Ok(());
        };
        let ts = transfer_syntax(assoc, pc);
        let level = identifier_level(&identifier);
        for f in &found {
            let answer = qido::answer(f, &q, "");
            let mut out = InMemDicomObject::new_empty();
            out.put(dicom_core::DataElement::new(
                tags::SPECIFIC_CHARACTER_SET,
                dicom_core::VR::CS,
                dicom_core::value::PrimitiveValue::from("ISO_IR 192"),
            ));
            out.put(dicom_core::DataElement::new(
                tags::QUERY_RETRIEVE_LEVEL,
                dicom_core::VR::CS,
                dicom_core::value::PrimitiveValue::from(level.as_str()),
            ));
            for tag in &requested {
                let key = format!("{:04X}{:04X}", tag.group(), tag.element());
                out.put(element_of(*tag, answer.get(&key)));
            }
            let bytes = message::write_data_set(&out, &ts)?;
            send(
                assoc,
                pc,
                &Command::response(rq, field::C_FIND_RSP, status::PENDING, true),
                Some(&bytes),
            )
            .await?;
        }
        send(
            assoc,
            pc,
            &Command::response(rq, field::C_FIND_RSP, status::SUCCESS, false),
            None,
        )
        .await
    }

    /// C-GET (on this association) and C-MOVE (to a peer): each object as a C-STORE
    /// sub-operation, a pending response after each, then the counts.
    async fn retrieve<A: AsyncAssociation<TcpStream> + Send>(
        &self,
        assoc: &mut A,
        pc: u8,
        rq: &Command,
        data: Option<Vec<u8>>,
    ) -> Result<(), String> {
        let is_move = rq.field() == field::C_MOVE_RQ;
        let rsp_field = if is_move {
            field::C_MOVE_RSP
        } else {
            field::C_GET_RSP
        };
        let what = if is_move { "c-move" } else { "c-get" };
        let failed = |code: u16, why: &str| Command::failure(rq, rsp_field, code, why);
        let destination = if is_move {
            let ae = rq.text(tags::MOVE_DESTINATION).unwrap_or_default();
            match self.setup.peers.iter().find(|p| p.ae_title == ae) {
                Some(p) => Some(p.clone()),
                None => {
                    self.audit(self.event("R", what, 404), &[]).await?;
                    return send(
                        assoc,
                        pc,
                        &failed(
                            status::MOVE_DESTINATION_UNKNOWN,
                            "the move destination is not a known AE",
                        ),
                        None,
                    )
                    .await;
                }
            }
        } else {
            None
        };
        let Some((_, _, _, found)) = self
            .matches(assoc, pc, rq, rsp_field, what, data, true)
            .await?
        else {
            return Ok(());
        };
        let mut counts = Counts {
            remaining: found.len() as u16,
            ..Default::default()
        };
        match destination {
            None => {
                for (n, f) in found.iter().enumerate() {
                    let ok = match self.object(f).await {
                        Some((file, placed)) => {
                            sub_store(assoc, &file, &placed, 1000 + n as u16, None).await?
                        }
                        None => false,
                    };
                    counts.add(ok);
                    send(
                        assoc,
                        pc,
                        &counts.response(rq, rsp_field, status::PENDING),
                        None,
                    )
                    .await?;
                }
            }
            Some(peer) => {
                let mut objects = Vec::new();
                for f in &found {
                    objects.push(self.object(f).await);
                }
                let pairs = objects
                    .iter()
                    .flatten()
                    .map(|(_, p)| (p.sop_class.clone(), p.transfer_syntax.clone()));
                let mut out = match scu::open_for(&self.setup.ae_title, &peer, pairs).await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "the move destination could not be reached");
                        return send(
                            assoc,
                            pc,
                            &failed(
                                status::OUT_OF_RESOURCES_SUBOPS,
                                "the move destination could not be reached",
                            ),
                            None,
                        )
                        .await;
                    }
                };
                let origin = (
                    self.calling.to_string(),
                    rq.us(tags::MESSAGE_ID).unwrap_or(0),
                );
                for (n, object) in objects.into_iter().enumerate() {
                    let ok = match object {
                        Some((file, placed)) => {
                            sub_store(&mut out, &file, &placed, 1000 + n as u16, Some(&origin))
                                .await
                                .unwrap_or(false)
                        }
                        None => false,
                    };
                    counts.add(ok);
                    send(
                        assoc,
                        pc,
                        &counts.response(rq, rsp_field, status::PENDING),
                        None,
                    )
                    .await?;
                }
                let _ = out.release().await;
            }
        }
        let code = if counts.failed == 0 {
            status::SUCCESS
        } else {
            status::SUB_FAILURES
        };
        send(assoc, pc, &counts.response(rq, rsp_field, code), None).await
    }

    /// A kept object's file and where its data set is.
    async fn object(&self, f: &Found) -> Option<(Bytes, kizuna_dicom::file::Placed)> {
        let file = match self.setup.blobs.get(&f.blob).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "a kept image could not be read from object storage");
                return None;
            }
        };
        let placed = kizuna_dicom::file::data_set_of(&file).ok()?;
        Some((file, placed))
    }
}

/// Keeps the data set of a C-STORE request (in transfer syntax `ts`) as the file made of it: its
/// status, why not (for the Error Comment), and where it was placed.
pub(crate) async fn keep(
    records: &Records,
    setup: &Setup,
    rq: &Command,
    ts: &str,
    data: Option<Vec<u8>>,
    audit: Option<&AuditKept<'_>>,
) -> Kept {
    let class = rq.text(tags::AFFECTED_SOP_CLASS_UID).unwrap_or_default();
    let sop = rq.text(tags::AFFECTED_SOP_INSTANCE_UID).unwrap_or_default();
    let answer = |code, comment: Option<String>, placed| Kept {
        code,
        comment,
        placed,
        audited: false,
    };
    let file = match data
        .ok_or_else(|| "no data set".to_string())
        .and_then(|d| kizuna_dicom::file::file_of(&class, &sop, ts, &d).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => return answer(status::UNABLE_TO_PROCESS, Some(e), None),
    };
    match records
        .store_images(&setup.blobs, vec![Bytes::from(file)], None, false, audit)
        .await
    {
        Err(f) => answer(
            0xA700,
            Some(format!("the object could not be kept ({})", f.status)),
            None,
        ),
        Ok(mut r) => match r.pop() {
            Some(Stored::Kept(p)) => Kept {
                audited: audit.is_some(),
                ..answer(status::SUCCESS, None, Some(p))
            },
            Some(Stored::AlreadyKept(p)) => answer(status::SUCCESS, None, Some(p)),
            Some(Stored::Refused { why, message, .. }) => {
                answer(store_status(why), Some(message), None)
            }
            None => answer(status::UNABLE_TO_PROCESS, None, None),
        },
    }
}

/// What became of an object received in a C-STORE.
pub(crate) struct Kept {
    /// The C-STORE status to answer.
    code: u16,
    /// Why it was not kept.
    comment: Option<String>,
    placed: Option<Placed>,
    /// Whether its audit entry was committed with it.
    audited: bool,
}

/// Names the study's `ImagingStudy` and its patient among what `event` concerns (once).
fn concerning(event: &mut Event, study_res: &str, patient: &str) {
    let e = format!("ImagingStudy/{study_res}");
    if !study_res.is_empty() && !event.entities.contains(&e) {
        event.entities.push(e);
    }
    let p = format!("Patient/{patient}");
    if !patient.is_empty() && !event.patients.contains(&p) {
        event.patients.push(p);
    }
}

/// Sends one object as a C-STORE on `assoc`, and reads the answer; Ok(false) if it was not
/// taken (no presentation context for it, or a failure status).
pub(crate) async fn sub_store<A: AsyncAssociation<TcpStream> + Send>(
    assoc: &mut A,
    file: &[u8],
    placed: &kizuna_dicom::file::Placed,
    message_id: u16,
    origin: Option<&(String, u16)>,
) -> Result<bool, String> {
    let Some(pc) = assoc
        .presentation_contexts()
        .iter()
        .find(|c| {
            c.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
                && c.abstract_syntax.trim_end_matches('\0') == placed.sop_class
                && c.transfer_syntax.trim_end_matches('\0') == placed.transfer_syntax
        })
        .map(|c| c.id)
    else {
        return Ok(false);
    };
    let mut rq = Command::new(field::C_STORE_RQ, &placed.sop_class, true);
    rq.set_us(tags::MESSAGE_ID, message_id);
    rq.set_us(tags::PRIORITY, 0);
    rq.set_text(
        tags::AFFECTED_SOP_INSTANCE_UID,
        dicom_core::VR::UI,
        &placed.sop_instance,
    );
    if let Some((ae, id)) = origin {
        rq.set_text(
            tags::MOVE_ORIGINATOR_APPLICATION_ENTITY_TITLE,
            dicom_core::VR::AE,
            ae,
        );
        rq.set_us(tags::MOVE_ORIGINATOR_MESSAGE_ID, *id);
    }
    send(assoc, pc, &rq, Some(&file[placed.offset..])).await?;
    match read_message(assoc).await? {
        Incoming::Message(_, rsp, _) if rsp.field() == field::C_STORE_RSP => {
            let s = rsp.us(tags::STATUS).unwrap_or(0xFFFF);
            Ok(s == status::SUCCESS || (0xB000..=0xBFFF).contains(&s))
        }
        _ => Err("the peer answered a C-STORE with something else".into()),
    }
}

#[derive(Default)]
pub(crate) struct Counts {
    remaining: u16,
    completed: u16,
    failed: u16,
}

impl Counts {
    fn add(&mut self, ok: bool) {
        self.remaining = self.remaining.saturating_sub(1);
        if ok {
            self.completed += 1;
        } else {
            self.failed += 1;
        }
    }

    fn response(&self, rq: &Command, rsp_field: u16, code: u16) -> Command {
        let mut r = Command::response(rq, rsp_field, code, false);
        if code == status::PENDING {
            r.set_us(tags::NUMBER_OF_REMAINING_SUBOPERATIONS, self.remaining);
        }
        r.set_us(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS, self.completed);
        r.set_us(tags::NUMBER_OF_FAILED_SUBOPERATIONS, self.failed);
        r.set_us(tags::NUMBER_OF_WARNING_SUBOPERATIONS, 0);
        r
    }
}

/// The C-STORE status of a refusal (PS3.4 B.2.3): 0xA700 out of resources, 0xA900 data set
/// does not match, 0xC000 cannot understand.
fn store_status(why: Refusal) -> u16 {
    match why {
        Refusal::Unavailable => 0xA700,
        Refusal::WrongStudy | Refusal::Conflict => 0xA900,
        Refusal::Unreadable | Refusal::UnknownPatient => 0xC000,
    }
}

pub(crate) fn transfer_syntax<A: Association>(assoc: &A, pc: u8) -> String {
    assoc
        .presentation_contexts()
        .iter()
        .find(|c| c.id == pc)
        .map(|c| c.transfer_syntax.trim_end_matches('\0').to_string())
        .unwrap_or_else(|| uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string())
}

fn identifier_level(identifier: &InMemDicomObject) -> String {
    identifier
        .element_opt(tags::QUERY_RETRIEVE_LEVEL)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

/// The index query an identifier asks (PS3.4 C.4.1.2): its level, and each key with a value
/// as a matching key (for retrieval, the unique keys only); and the keys to return.
fn query(identifier: &InMemDicomObject, retrieve: bool) -> Result<(qido::Qido, Vec<Tag>), String> {
    let level = match identifier_level(identifier).as_str() {
        "STUDY" => Level::Study,
        "SERIES" => Level::Series,
        "IMAGE" => Level::Instance,
        "PATIENT" => return Err("the patient level is not offered; query at STUDY level".into()),
        other => return Err(format!("'{other}' is not a query/retrieve level")),
    };
    const UNIQUE: [Tag; 3] = [
        tags::STUDY_INSTANCE_UID,
        tags::SERIES_INSTANCE_UID,
        tags::SOP_INSTANCE_UID,
    ];
    let mut params = Vec::new();
    let mut requested = Vec::new();
    for e in identifier.iter() {
        let tag = e.header().tag;
        if tag == tags::QUERY_RETRIEVE_LEVEL
            || tag == tags::SPECIFIC_CHARACTER_SET
            || tag.group() == 0x0002
        {
            continue;
        }
        if retrieve && !UNIQUE.contains(&tag) {
            continue;
        }
        requested.push(tag);
        if matches!(e.value(), dicom_core::value::Value::Sequence(_)) {
            continue;
        }
        let v = e
            .to_str()
            .map(|s| s.trim_matches(['\0', ' ']).to_string())
            .unwrap_or_default();
        params.push((format!("{:04X}{:04X}", tag.group(), tag.element()), v));
    }
    let mut q = qido::parse(level, None, None, &params).map_err(|f| {
        f.issues
            .first()
            .map(|i| i.message.clone())
            .unwrap_or_default()
    })?;
    q.query.limit = None;
    q.query.with_attrs = !retrieve;
    if retrieve {
        q.query.level = Level::Instance;
        if params.iter().all(|(_, v)| v.is_empty()) {
            return Err("a retrieval names the study, series or instances to send".into());
        }
    }
    Ok((q, requested))
}

/// An element of a C-FIND answer from the DICOM JSON of the same attribute (empty if none).
fn element_of(tag: Tag, json: Option<&Value>) -> dicom_core::DataElement<InMemDicomObject> {
    use dicom_core::VR;
    use dicom_core::value::PrimitiveValue;
    let vr = json
        .and_then(|j| j["vr"].as_str())
        .and_then(|v| v.parse::<VR>().ok())
        .unwrap_or_else(|| message::vr_of(tag));
    let values: Vec<String> = json
        .and_then(|j| j["Value"].as_array())
        .into_iter()
        .flatten()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Object(pn) => ["Alphabetic", "Ideographic", "Phonetic"]
                .iter()
                .map(|k| pn.get(*k).and_then(Value::as_str).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("=")
                .trim_end_matches('=')
                .to_string(),
            other => other.to_string(),
        })
        .collect();
    if values.is_empty() || vr == VR::SQ {
        return dicom_core::DataElement::empty(tag, if vr == VR::SQ { VR::UN } else { vr });
    }
    let numbers = |f: fn(&str) -> Option<PrimitiveValue>| -> Option<PrimitiveValue> {
        values
            .iter()
            .map(|v| f(v.trim()))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .next()
    };
    let value = match vr {
        VR::US => numbers(|s| s.parse::<u16>().ok().map(PrimitiveValue::from)),
        VR::UL => numbers(|s| s.parse::<u32>().ok().map(PrimitiveValue::from)),
        VR::SS => numbers(|s| s.parse::<i16>().ok().map(PrimitiveValue::from)),
        VR::SL => numbers(|s| s.parse::<i32>().ok().map(PrimitiveValue::from)),
        VR::FL => numbers(|s| s.parse::<f32>().ok().map(PrimitiveValue::from)),
        VR::FD => numbers(|s| s.parse::<f64>().ok().map(PrimitiveValue::from)),
        _ => Some(PrimitiveValue::Strs(values.clone().into())),
    };
    match value {
        Some(v) => dicom_core::DataElement::new(tag, vr, v),
        None => dicom_core::DataElement::empty(tag, vr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_with_their_group_length() {
        let mut c = Command::new(field::C_ECHO_RQ, uids::VERIFICATION, false);
        c.set_us(tags::MESSAGE_ID, 7);
        let bytes = c.encode().unwrap();
        // (0000,0000) UL, implicit VR: tag, length 4, then the length of the rest.
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 4, 0, 0, 0]);
        let rest = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!(rest, bytes.len() - 12);
        let back = Command::decode(&bytes).unwrap();
        assert_eq!(back.field(), field::C_ECHO_RQ);
        assert_eq!(back.us(tags::MESSAGE_ID), Some(7));
        assert!(!back.has_data());
        assert_eq!(
            back.text(tags::AFFECTED_SOP_CLASS_UID).as_deref(),
            Some(uids::VERIFICATION)
        );
    }

    #[test]
    fn peers_are_ae_at_host_port() {
        assert_eq!(
            Peer::parse("ORTHANC@127.0.0.1:4242").unwrap(),
            Peer {
                ae_title: "ORTHANC".into(),
                address: "127.0.0.1:4242".into()
            }
        );
        for bad in [
            "ORTHANC",
            "@h:1",
            "A B@h:1",
            "THIS_AE_IS_TOO_LONG@h:1",
            "A@host",
        ] {
            assert!(Peer::parse(bad).is_err(), "{bad}");
        }
    }
}
