//! # kizuna-synth: reproducible synthetic Japanese patients as FHIR R4 JSON
//!
//! The data source of `kizuna demo` and of the benchmarks.
//!
//! ## What this crate owns
//!
//! * A small world of **medical institutions** (clinics — 診療所 — and
//!   hospitals — 病院 — in local clusters, with valid 10-digit medical
//!   institution codes), their **doctors**, and the **insurers** (保険者, with
//!   valid insurer-number check digits) of the prefectures they serve:
//!   [`Synth::institutions`].
//! * **Patients** ([`Synth::patient`]): kanji and katakana names (JP Core
//!   `IDE` / `SYL` representations), a Japanese age pyramid, addresses in
//!   the 47 prefectures, phone numbers, institution-local patient ids and the
//!   JP-CLINS insured-member id, a `Coverage`, and a clinical history over
//!   [`Config::years_of_history`] years: encounters (outpatient, emergency,
//!   inpatient), chronic and acute conditions (ICD-10, Japanese names),
//!   allergies, prescriptions (YJ codes, Japanese dosage instructions) and
//!   laboratory results and vital signs (LOINC, UCUM) whose values follow
//!   each patient's diseases and treatment over time.
//! * The **resource identifiers**: deterministic and readable, e.g.
//!   `jp-pat-000123`, `jp-pat-000123-enc-0004`, `jp-org-0002`,
//!   `jp-prac-0002-01`, `jp-ins-01130012`. Every reference in the output is
//!   `Type/id` and resolves to a resource of the same output.
//!
//! ## What it must never do
//!
//! * **Never contain real people's data.** Names are random combinations
//!   of common family and given names; addresses are random street numbers in
//!   real towns; phone, insurance and patient numbers are random (they follow
//!   the real formats, so a number may coincide with a real one by chance,
//!   but it is never associated with that person's data). Institution names
//!   are invented; their codes are generated.
//! * **Never depend on the wall clock, the machine or iteration order.** The
//!   "current date" is [`Config::today`]; randomness comes only from ChaCha8
//!   streams keyed by the seed, a domain tag and the patient index; no hash
//!   map is iterated; floating-point work avoids the platform `libm`. The
//!   same [`Config`] gives byte-identical output on every machine, and
//!   patient `i` can be generated on its own without generating `0..i`.
//! * **Never emit invalid FHIR R4**: only base-spec elements with the right
//!   types and cardinalities, and codes from the required value sets.
//! * It is not a clinical reference: disease prevalence, treatments and
//!   drug codes are plausible, not authoritative; never use them for care.
//!
//! ```
//! let synth = kizuna_synth::Synth::new(kizuna_synth::Config { patients: 3, ..Default::default() });
//! let mut out = Vec::new();
//! let count = synth.write_ndjson(&mut out).unwrap();
//! assert_eq!(count as usize, out.iter().filter(|&&b| b == b'\n').count());
//! let first_patient = synth.patient(0);
//! assert_eq!(first_patient[0]["resourceType"], "Patient");
//! ```

mod acute;
mod custody;
mod data;
mod demographics;
mod emit;
mod fhir;
mod model;
mod patient;
mod physio;
mod record;
mod registry;
mod rng;
mod time;
mod timeline;

use std::io::{BufWriter, Write};

use serde_json::Value;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Seed of every random choice; same seed and patient count, same output.
    pub seed: u64,
    /// Number of patients (indices `0..patients`); also sizes the institution
    /// registry (about one institution per 50 patients, at least 5).
    pub patients: usize,
    /// The "current date": nothing generated is later than this day.
    pub today: jiff::civil::Date,
    /// Length of the clinical history before `today`, in years.
    pub years_of_history: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            seed: 1,
            patients: 100,
            today: jiff::civil::date(2026, 11, 1),
            years_of_history: 5,
        }
    }
}

/// A configured generator; cheap to query for any patient index.
pub struct Synth {
    config: Config,
    registry: registry::Registry,
    settings: patient::Settings,
}

impl Synth {
    pub fn new(config: Config) -> Synth {
        let t = config.today;
        let today = time::days_from_civil(i32::from(t.year()), t.month() as u32, t.day() as u32);
        let years = i32::try_from(config.years_of_history)
            .unwrap_or(i32::MAX)
            .min(100);
        let settings = patient::Settings {
            seed: config.seed,
            today,
            window_start: time::add_years(today, -years),
        };
        let registry = registry::Registry::new(config.seed, config.patients);
        Synth {
            config,
            registry,
            settings,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Shared resources, to be loaded before any patient: an Organization,
    /// Practitioners and PractitionerRoles for each institution, then an
    /// Organization for each insurer.
    pub fn institutions(&self) -> Vec<Value> {
        self.registry.resources()
    }

    /// All resources of patient `index`: Patient, Coverage, Encounters,
    /// Conditions, AllergyIntolerances, MedicationRequests, Observations.
    /// References point only to earlier resources of this list or to
    /// [`Synth::institutions`]. Independent of any other index; `index` may
    /// exceed `config.patients`. The content depends on the whole [`Config`]
    /// (the institution registry is sized by `config.patients`), the ids only
    /// on `index`.
    pub fn patient(&self, index: usize) -> Vec<Value> {
        patient::generate(&self.registry, &self.settings, index)
    }

    /// [`Synth::patient`] as the institutions that saw the patient keep the records: a
    /// Patient per institution (the first keeps the id, the others are `{id}-{organization
    /// id}`), each resource tagged `tag_system|institution code` (its custodian) and referring
    /// to its own institution's Patient. Every Patient carries the insured-member id, which
    /// links them in a patient index.
    pub fn patient_as_kept(&self, index: usize, tag_system: &str) -> Vec<Value> {
        custody::split(&self.registry, self.patient(index), tag_system)
    }

    /// Everything — institutions, then patients `0..patients` — as NDJSON
    /// (one resource per line). Returns the number of resources written.
    pub fn write_ndjson(&self, w: &mut impl Write) -> std::io::Result<u64> {
        let mut w = BufWriter::with_capacity(1 << 16, w);
        let mut count = 0u64;
        let mut line = |w: &mut BufWriter<_>, r: &Value| -> std::io::Result<()> {
            serde_json::to_writer(&mut *w, r)?;
            w.write_all(b"\n")?;
            count += 1;
            Ok(())
        };
        for r in self.institutions() {
            line(&mut w, &r)?;
        }
        for i in 0..self.config.patients {
            for r in self.patient(i) {
                line(&mut w, &r)?;
            }
        }
        w.flush()?;
        Ok(count)
    }
}
