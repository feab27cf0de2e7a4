//! One synthetic patient: demographics, insurance, then the clinical record
//! planned by [`crate::timeline`] and written out as FHIR resources.

use serde_json::{Value, json};

use crate::data::places::PREFECTURES;
use crate::demographics::{Address, PersonName, age_and_sex, landline, mobile};
use crate::fhir::{MEMBER_ID, UCUM, concept, concept_code, reference};
use crate::model::{self, Person};
use crate::physio::Physio;
use crate::record::Record;
use crate::registry::{Registry, Scheme};
use crate::rng::{DOMAIN_PATIENT, Rng};
use crate::time::{add_years, date, years_between};
use crate::timeline::{self, Plan, Sites};

/// Generation settings shared by all patients.
pub(crate) struct Settings {
    pub seed: u64,
    pub today: i32,
    pub window_start: i32,
}

struct Insurance {
    insurer: usize,
    symbol: String,
    number: String,
    branch: String,
    relationship: &'static str,
    start: i32,
    copay: u32,
}

/// All resources of patient `index`, Patient first.
pub(crate) fn generate(reg: &Registry, s: &Settings, index: usize) -> Vec<Value> {
    let mut rng = Rng::new(s.seed, DOMAIN_PATIENT, index as u64);
    let pid = format!("jp-pat-{index:06}");
    let (age, female) = age_and_sex(&mut rng);
    let birth = add_years(s.today, -age) - rng.int(0, 364) as i32;
    let age = years_between(birth, s.today);
    let person = Person {
        female,
        birth,
        age,
        today: s.today,
        window_start: s.window_start,
    };

    let cluster = rng.index(reg.clusters.len());
    let (pref, home_city) = {
        let cl = &reg.clusters[cluster];
        let cities = PREFECTURES[cl.pref].cities;
        let city = if rng.chance(0.7) {
            cl.city
        } else {
            rng.index(cities.len())
        };
        (cl.pref, city)
    };
    let name = PersonName::random(&mut rng, female, crate::time::civil_from_days(birth).0);
    let address = Address::random(&mut rng, pref, home_city);
    let insurance = insurance(&mut rng, reg, &person, pref, home_city);

    let allergies = model::allergies(&mut rng, &person);
    let conds = model::chronic_conditions(&mut rng, &person, &allergies);
    let physio = Physio::new(&mut rng, female, birth, s.today, &conds);
    let sites = Sites::new(reg, cluster, age < 15, &mut rng);
    let plan = timeline::plan(&mut rng, &person, &conds, &sites);

    let mut rec = Record::new(
        reg,
        &pid,
        (index, cluster),
        &person,
        &conds,
        &allergies,
        &physio,
        &plan,
    );
    rec.write(&mut rng);

    let mut out = Vec::with_capacity(2 + rec.total());
    out.push(patient_resource(
        &mut rng, reg, &pid, &person, &name, &address, &insurance, &plan, index,
    ));
    out.push(coverage_resource(reg, &pid, &insurance));
    rec.append_to(&mut out);
    out
}

fn insurance(rng: &mut Rng, reg: &Registry, p: &Person, pref: usize, city: usize) -> Insurance {
    let scheme = match p.age {
        75.. => Scheme::Koki,
        65..=74 => [
            Scheme::Kokuho,
            Scheme::Kyokai,
            Scheme::Kumiai,
            Scheme::Kyosai,
        ][rng.weighted(&[75, 15, 7, 3])],
        _ => [
            Scheme::Kyokai,
            Scheme::Kumiai,
            Scheme::Kyosai,
            Scheme::Kokuho,
        ][rng.weighted(&[40, 27, 8, 25])],
    };
    let insurer = reg.insurer(scheme, pref, city, rng.index(1000));
    let insurer_index = reg
        .insurers
        .iter()
        .position(|i| std::ptr::eq(i, insurer))
        .unwrap_or(0);
    let (relationship, branch) = match (scheme, p.age) {
        (Scheme::Koki, _) => ("self", String::new()),
        (_, ..=19) => ("child", format!("{:02}", rng.int(2, 4))),
        (Scheme::Kokuho, _) => ("self", format!("{:02}", rng.int(0, 1))),
        (_, _) if p.female && p.age >= 25 && rng.chance(0.4) => ("spouse", "01".to_string()),
        _ => ("self", "00".to_string()),
    };
    let symbol = match scheme {
        Scheme::Koki => String::new(),
        Scheme::Kyokai => format!("{}", rng.int(10_000_000, 99_999_999)),
        Scheme::Kumiai => format!("{}", rng.int(1, 120)),
        Scheme::Kyosai => format!("{}", rng.int(100, 999)),
        Scheme::Kokuho => format!("{}", rng.int(10, 99)),
    };
    let number = match scheme {
        Scheme::Koki => format!("{}", rng.int(10_000_000, 99_999_999)),
        _ => format!("{}", rng.int(1, 99_999)),
    };
    let start = if scheme == Scheme::Koki {
        add_years(p.birth, 75)
    } else {
        (p.window_start - rng.int(0, 3650) as i32)
            .max(p.birth + rng.int(0, 30) as i32)
            .min(p.today)
    };
    let copay = match p.age {
        ..=5 => 20,
        6..=69 => 30,
        70..=74 => 20,
        _ => [10, 20, 30][rng.weighted(&[80, 12, 8])],
    };
    Insurance {
        insurer: insurer_index,
        symbol,
        number,
        branch,
        relationship,
        start,
        copay,
    }
}

/// JP-CLINS insured-member id: `insurer(8 digits):symbol:number:branch`.
fn member_id(reg: &Registry, ins: &Insurance) -> String {
    let number = &reg.insurers[ins.insurer].number;
    format!("{number:0>8}:{}:{}:{}", ins.symbol, ins.number, ins.branch)
}

#[allow(clippy::too_many_arguments)]
fn patient_resource(
    rng: &mut Rng,
    reg: &Registry,
    pid: &str,
    p: &Person,
    name: &PersonName,
    address: &Address,
    ins: &Insurance,
    plan: &Plan,
    index: usize,
) -> Value {
    let mut identifiers = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    for v in &plan.visits {
        if !seen.contains(&v.site.inst) {
            seen.push(v.site.inst);
            let inst = &reg.institutions[v.site.inst];
            identifiers.push(json!({
                "use": "usual",
                "system": inst.patient_id_system(),
                "value": (inst.patient_base + index as u64).to_string(),
            }));
        }
    }
    identifiers.push(json!({ "system": MEMBER_ID, "value": member_id(reg, ins) }));
    let mut telecom = Vec::new();
    if p.age >= 13 && rng.chance(0.9) {
        telecom.push(json!({ "system": "phone", "value": mobile(rng), "use": "mobile" }));
    }
    if telecom.is_empty() || rng.chance(0.4) {
        let area = address.municipality().area;
        telecom.push(json!({ "system": "phone", "value": landline(rng, area), "use": "home" }));
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": pid,
        "identifier": identifiers,
        "active": true,
        "name": name.fhir(),
        "telecom": telecom,
        "gender": if p.female { "female" } else { "male" },
        "birthDate": date(p.birth),
        "address": [address.fhir("home", "both")],
    });
    if p.age >= 20 {
        let (code, display) = match p.age {
            20..=29 => [("S", "Never Married"), ("M", "Married")][rng.weighted(&[7, 3])],
            30..=69 => [("M", "Married"), ("S", "Never Married"), ("D", "Divorced")]
                [rng.weighted(&[72, 18, 10])],
            _ => [("M", "Married"), ("W", "Widowed"), ("D", "Divorced")]
                [rng.weighted(if p.female { &[45, 48, 7] } else { &[78, 15, 7] })],
        };
        let marital = concept_code(
            "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
            code,
            display,
        );
        r.as_object_mut()
            .expect("object")
            .insert("maritalStatus".into(), marital);
    }
    r
}

fn coverage_resource(reg: &Registry, pid: &str, ins: &Insurance) -> Value {
    let insurer = &reg.insurers[ins.insurer];
    let mut extension = Vec::new();
    const EXT: &str =
        "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Coverage_InsuredPerson";
    if !ins.symbol.is_empty() {
        extension.push(json!({ "url": format!("{EXT}Symbol"), "valueString": ins.symbol }));
    }
    extension.push(json!({ "url": format!("{EXT}Number"), "valueString": ins.number }));
    if !ins.branch.is_empty() {
        extension.push(json!({ "url": format!("{EXT}SubNumber"), "valueString": ins.branch }));
    }
    let subscriber = if ins.symbol.is_empty() {
        ins.number.clone()
    } else {
        format!("{}:{}", ins.symbol, ins.number)
    };
    let mut r = json!({
        "resourceType": "Coverage",
        "id": format!("{pid}-cov"),
        "extension": extension,
        "identifier": [{
            "system": MEMBER_ID,
            "value": member_id(reg, ins),
            "assigner": reference("Organization", &insurer.id),
        }],
        "status": "active",
        "type": {
            "coding": [{
                "system": crate::fhir::ACT_CODE,
                "code": "PUBLICPOL",
                "display": "public healthcare",
            }],
            "text": insurer.scheme.label(),
        },
        "subscriberId": subscriber,
        "beneficiary": reference("Patient", pid),
    });
    let o = r.as_object_mut().expect("object");
    if !ins.branch.is_empty() {
        o.insert("dependent".into(), ins.branch.clone().into());
    }
    o.insert(
        "relationship".into(),
        concept_code(
            "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
            ins.relationship,
            match ins.relationship {
                "child" => "Child",
                "spouse" => "Spouse",
                _ => "Self",
            },
        ),
    );
    o.insert("period".into(), json!({ "start": date(ins.start) }));
    o.insert(
        "payor".into(),
        json!([reference("Organization", &insurer.id)]),
    );
    o.insert(
        "costToBeneficiary".into(),
        json!([{
            "type": concept("http://terminology.hl7.org/CodeSystem/coverage-copay-type", "copaypct", "Copay Percentage"),
            "valueQuantity": { "value": ins.copay, "unit": "%", "system": UCUM, "code": "%" },
        }]),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_follow_jp_clins() {
        let reg = Registry::new(1, 300);
        let today = crate::time::days_from_civil(2026, 11, 1);
        let s = Settings {
            seed: 1,
            today,
            window_start: add_years(today, -5),
        };
        for i in 0..40 {
            let res = generate(&reg, &s, i);
            let id = res[0]["identifier"]
                .as_array()
                .and_then(|ids| ids.iter().find(|x| x["system"] == MEMBER_ID))
                .and_then(|x| x["value"].as_str())
                .map(str::to_string)
                .unwrap_or_default();
            let parts: Vec<&str> = id.split(':').collect();
            assert_eq!(parts.len(), 4, "{id}");
            assert_eq!(parts[0].len(), 8);
            assert!(parts[0].bytes().all(|b| b.is_ascii_digit()));
            assert!(
                parts[3].is_empty()
                    || (parts[3].len() == 2 && parts[3].bytes().all(|b| b.is_ascii_digit()))
            );
            assert_eq!(res[1]["resourceType"], "Coverage");
        }
    }
}
