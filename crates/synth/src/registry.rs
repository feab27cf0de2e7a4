//! The shared world: medical institutions grouped in local clusters (one
//! hospital and a few clinics in one municipality), their doctors, and the
//! insurers (保険者) that the patients of those prefectures belong to.

use serde_json::{Value, json};

use crate::data::places::PREFECTURES;
use crate::demographics::{Address, PersonName, landline};
use crate::fhir::{
    INSTITUTION_NO, INSURER_NO, LOCAL_DOCTOR_ROOT, concept_code, reference, text_concept,
};
use crate::rng::{DOMAIN_REGISTRY, Rng};

/// Clinical department (診療科).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dept {
    Internal,
    Cardiology,
    Neurology,
    Gastroenterology,
    Nephrology,
    Surgery,
    Orthopedics,
    Pediatrics,
    Dermatology,
    Otolaryngology,
}

impl Dept {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Dept::Internal => "内科",
            Dept::Cardiology => "循環器内科",
            Dept::Neurology => "脳神経内科",
            Dept::Gastroenterology => "消化器内科",
            Dept::Nephrology => "腎臓内科",
            Dept::Surgery => "外科",
            Dept::Orthopedics => "整形外科",
            Dept::Pediatrics => "小児科",
            Dept::Dermatology => "皮膚科",
            Dept::Otolaryngology => "耳鼻咽喉科",
        }
    }
}

/// Departments staffed in every hospital (a doctor each, internal medicine two).
const HOSPITAL_DEPTS: [Dept; 10] = [
    Dept::Internal,
    Dept::Internal,
    Dept::Cardiology,
    Dept::Neurology,
    Dept::Gastroenterology,
    Dept::Nephrology,
    Dept::Surgery,
    Dept::Orthopedics,
    Dept::Pediatrics,
    Dept::Dermatology,
];

/// Specialties of the clinics of a cluster, in order of opening.
const CLINIC_DEPTS: [Dept; 8] = [
    Dept::Internal,
    Dept::Pediatrics,
    Dept::Orthopedics,
    Dept::Dermatology,
    Dept::Internal,
    Dept::Otolaryngology,
    Dept::Internal,
    Dept::Pediatrics,
];

const NAME_STEMS: [&str; 16] = [
    "さくら",
    "ひまわり",
    "あおば",
    "みどり",
    "こもれび",
    "ふれあい",
    "わかば",
    "はなみずき",
    "すずらん",
    "ひだまり",
    "つばさ",
    "かえで",
    "あさひ",
    "やまびこ",
    "ひかり",
    "のぞみ",
];

pub(crate) struct Doctor {
    pub id: String,
    pub dept: Dept,
    pub name: PersonName,
    pub female: bool,
    pub local_id: String,
}

pub(crate) struct Institution {
    pub id: String,
    /// 10-digit medical institution code.
    pub code: String,
    pub name: String,
    pub hospital: bool,
    /// Main department (clinics have one; hospitals: internal medicine).
    pub dept: Dept,
    pub address: Address,
    pub phone: String,
    pub doctors: Vec<Doctor>,
    /// Base of the institution-local patient numbers.
    pub patient_base: u64,
}

impl Institution {
    pub(crate) fn has_dept(&self, dept: Dept) -> bool {
        self.doctors.iter().any(|d| d.dept == dept)
    }

    /// System of this institution's local patient ids (JP-CLINS).
    pub(crate) fn patient_id_system(&self) -> String {
        format!("{}{}", crate::fhir::LOCAL_PATIENT_ROOT, self.code)
    }
}

/// One hospital and a few clinics in one municipality.
pub(crate) struct Cluster {
    pub pref: usize,
    pub city: usize,
    /// Institution indices; the first one is the hospital.
    pub members: Vec<usize>,
}

/// A community pharmacy (保険薬局) filling the cluster's outpatient prescriptions.
pub(crate) struct Pharmacy {
    pub id: String,
    /// 10-digit code with point-table number 4 (調剤).
    pub code: String,
    pub name: String,
    pub address: Address,
    pub phone: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scheme {
    /// 全国健康保険協会 (協会けんぽ), 法別 01
    Kyokai,
    /// 組合管掌健康保険 (健保組合), 法別 06
    Kumiai,
    /// 共済組合, 法別 34 (公立学校共済組合)
    Kyosai,
    /// 国民健康保険 (市町村国保), 6 digits
    Kokuho,
    /// 後期高齢者医療, 法別 39
    Koki,
}

impl Scheme {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Scheme::Kyokai => "協会けんぽ",
            Scheme::Kumiai => "組合管掌健康保険",
            Scheme::Kyosai => "共済組合",
            Scheme::Kokuho => "国民健康保険",
            Scheme::Koki => "後期高齢者医療",
        }
    }
}

pub(crate) struct Insurer {
    pub id: String,
    /// 8 digits, or 6 for National Health Insurance.
    pub number: String,
    pub name: String,
    pub scheme: Scheme,
    pub pref: usize,
    /// Municipality (city index) for Kokuho and Koki.
    pub city: Option<usize>,
}

/// Fictional society-managed health insurance societies (健保組合).
const KUMIAI: [(&str, u8); 6] = [
    ("ひまわり健康保険組合", 13),
    ("あおば商事健康保険組合", 13),
    ("みなと運輸健康保険組合", 14),
    ("わかば食品健康保険組合", 27),
    ("つばさ情報サービス健康保険組合", 13),
    ("かえで精機健康保険組合", 23),
];

pub(crate) struct Registry {
    pub institutions: Vec<Institution>,
    pub clusters: Vec<Cluster>,
    /// One per cluster, same index.
    pub pharmacies: Vec<Pharmacy>,
    pub insurers: Vec<Insurer>,
}

/// Municipality for insurance purposes: "札幌市中央区" → "札幌市".
fn municipality(name: &str) -> &str {
    match name.rfind('市') {
        Some(i) if name.ends_with('区') => &name[..i + '市'.len_utf8()],
        _ => name,
    }
}

fn insurer_number(law: &str, pref: u8, local: u32) -> String {
    let body = format!("{law}{pref:02}{local:03}");
    let c = kizuna_jpid::insurer_check_digit(&body).unwrap_or_default();
    format!("{body}{c}")
}

impl Registry {
    pub(crate) fn new(seed: u64, patients: usize) -> Registry {
        let mut rng = Rng::new(seed, DOMAIN_REGISTRY, 0);
        let n_institutions = patients.div_ceil(50).max(5);
        let n_clusters = n_institutions.div_ceil(5);
        let pref_weights: Vec<u32> = PREFECTURES.iter().map(|p| p.pop).collect();
        let number_base = 1000 + rng.below(1000) as usize;

        let mut clusters = Vec::with_capacity(n_clusters);
        for _ in 0..n_clusters {
            let pref = rng.weighted(&pref_weights);
            let city_weights: Vec<u32> =
                PREFECTURES[pref].cities.iter().map(|c| c.weight).collect();
            let city = rng.weighted(&city_weights);
            clusters.push(Cluster {
                pref,
                city,
                members: Vec::new(),
            });
        }
        let mut institutions = Vec::with_capacity(n_institutions);
        for index in 0..n_institutions {
            let cluster = index % n_clusters;
            let rank = index / n_clusters; // 0 = the hospital
            let (pref, city) = (clusters[cluster].pref, clusters[cluster].city);
            let inst = Self::institution(&mut rng, index, rank, pref, city, number_base);
            clusters[cluster].members.push(index);
            institutions.push(inst);
        }

        let pharmacies = clusters
            .iter()
            .enumerate()
            .map(|(k, c)| Self::pharmacy(&mut rng, k, c.pref, c.city, number_base))
            .collect();

        let mut prefs: Vec<usize> = clusters.iter().map(|c| c.pref).collect();
        prefs.sort_unstable();
        prefs.dedup();
        let mut insurers = Vec::new();
        let mut push = |number: String, name: String, scheme, pref, city| {
            insurers.push(Insurer {
                id: format!("jp-ins-{number}"),
                number,
                name,
                scheme,
                pref,
                city,
            });
        };
        for (k, (name, pref)) in KUMIAI.iter().enumerate() {
            let number = insurer_number("06", *pref, 100 + 37 * k as u32);
            push(
                number,
                (*name).to_string(),
                Scheme::Kumiai,
                usize::from(*pref) - 1,
                None,
            );
        }
        for &p in &prefs {
            let pref = &PREFECTURES[p];
            let branch = pref.name.trim_end_matches(['都', '道', '府', '県']);
            let branch = if branch.is_empty() { pref.name } else { branch };
            push(
                insurer_number("01", pref.code, 1),
                format!("全国健康保険協会 {branch}支部"),
                Scheme::Kyokai,
                p,
                None,
            );
            push(
                insurer_number("34", pref.code, 1),
                format!("公立学校共済組合 {branch}支部"),
                Scheme::Kyosai,
                p,
                None,
            );
            let mut seen: Vec<&str> = Vec::new();
            for (ci, c) in pref.cities.iter().enumerate() {
                let muni = municipality(c.name);
                if seen.contains(&muni) {
                    continue;
                }
                seen.push(muni);
                let local = 1 + 6 * seen.len() as u32;
                let body = format!("{:02}{local:03}", pref.code);
                let nhi = format!(
                    "{body}{}",
                    kizuna_jpid::insurer_check_digit(&body).unwrap_or_default()
                );
                push(
                    nhi,
                    format!("{muni}国民健康保険"),
                    Scheme::Kokuho,
                    p,
                    Some(ci),
                );
                push(
                    insurer_number("39", pref.code, local),
                    format!("{}後期高齢者医療広域連合", pref.name),
                    Scheme::Koki,
                    p,
                    Some(ci),
                );
            }
        }
        Registry {
            institutions,
            clusters,
            pharmacies,
            insurers,
        }
    }

    fn pharmacy(rng: &mut Rng, k: usize, pref: usize, city: usize, number_base: usize) -> Pharmacy {
        let p = &PREFECTURES[pref];
        let c = &p.cities[city];
        let address = Address::random(rng, pref, city);
        let phone = landline(rng, c.area);
        let district = (city + 1 + 10 * (k / 8000)) % 100;
        let body = format!("{:02}4{district:02}{:04}", p.code, number_base + k % 8000);
        let code = format!(
            "{body}{}",
            kizuna_jpid::institution_check_digit(&body).unwrap_or_default()
        );
        let stem = NAME_STEMS[rng.index(NAME_STEMS.len())];
        Pharmacy {
            id: format!("jp-pharm-{:04}", k + 1),
            code,
            name: format!("{stem}薬局 {}店", c.short()),
            address,
            phone,
        }
    }

    fn institution(
        rng: &mut Rng,
        index: usize,
        rank: usize,
        pref: usize,
        city: usize,
        number_base: usize,
    ) -> Institution {
        let p = &PREFECTURES[pref];
        let c = &p.cities[city];
        let hospital = rank == 0;
        let dept = if hospital {
            Dept::Internal
        } else {
            CLINIC_DEPTS[(rank - 1) % CLINIC_DEPTS.len()]
        };
        let address = Address::random(rng, pref, city);
        let phone = landline(rng, c.area);
        // 10-digit code: prefecture, point table 1 (medical), district, number, check.
        let district = (city + 1 + 10 * (index / 8000)) % 100;
        let number = number_base + index % 8000;
        let body = format!("{:02}1{district:02}{number:04}", p.code);
        let code = format!(
            "{body}{}",
            kizuna_jpid::institution_check_digit(&body).unwrap_or_default()
        );
        let id = format!("jp-org-{:04}", index + 1);

        let depts: Vec<Dept> = if hospital {
            HOSPITAL_DEPTS.to_vec()
        } else {
            vec![dept; 1 + usize::from(rng.chance(0.3))]
        };
        let mut doctors = Vec::with_capacity(depts.len());
        for (k, d) in depts.into_iter().enumerate() {
            let female = rng.chance(0.25);
            let birth_year = 2026 - rng.int(30, 72) as i32;
            doctors.push(Doctor {
                id: format!("jp-prac-{:04}-{:02}", index + 1, k + 1),
                dept: d,
                name: PersonName::random(rng, female, birth_year),
                female,
                local_id: format!("{:05}", 10 + 7 * k + rng.below(5) as usize),
            });
        }
        let stem = NAME_STEMS[rng.index(NAME_STEMS.len())];
        let short = c.short();
        let head = doctors[0].name.family;
        let name = if hospital {
            match rng.below(4) {
                0 if c.is_city() => format!("市立{short}{stem}病院"),
                0 | 1 => format!("{short}{stem}総合病院"),
                2 => format!("{stem}記念病院"),
                _ => format!("医療法人{stem}会 {short}{stem}病院"),
            }
        } else {
            let by_name = rng.chance(0.5);
            match (dept, by_name) {
                (Dept::Internal, true) => format!("{head}内科医院"),
                (Dept::Internal, false) => format!("{stem}内科クリニック"),
                (Dept::Pediatrics, true) => format!("{head}小児科"),
                (Dept::Pediatrics, false) => format!("{stem}こどもクリニック"),
                (Dept::Orthopedics, true) => format!("{head}整形外科"),
                (Dept::Orthopedics, false) => format!("{short}{stem}整形外科クリニック"),
                (Dept::Dermatology, true) => format!("{head}皮膚科医院"),
                (Dept::Dermatology, false) => format!("{stem}皮膚科クリニック"),
                (_, true) => format!("{head}耳鼻咽喉科"),
                (_, false) => format!("{stem}耳鼻咽喉科クリニック"),
            }
        };
        Institution {
            id,
            code,
            name,
            hospital,
            dept,
            address,
            phone,
            doctors,
            patient_base: 100_000 + rng.below(800_000) * 10,
        }
    }

    /// The insurer of a scheme for someone living in (pref, city).
    pub(crate) fn insurer(
        &self,
        scheme: Scheme,
        pref: usize,
        city: usize,
        pick: usize,
    ) -> &Insurer {
        let candidates: Vec<&Insurer> = self
            .insurers
            .iter()
            .filter(|i| i.scheme == scheme)
            .filter(|i| match scheme {
                Scheme::Kumiai => true,
                Scheme::Kyokai | Scheme::Kyosai => i.pref == pref,
                Scheme::Kokuho | Scheme::Koki => {
                    i.pref == pref
                        && municipality(PREFECTURES[pref].cities[city].name)
                            == municipality(PREFECTURES[pref].cities[i.city.unwrap_or(0)].name)
                }
            })
            .collect();
        candidates[pick % candidates.len()]
    }

    /// Organization, Practitioner and PractitionerRole resources for the
    /// institutions, then Organization resources for the pharmacies and the
    /// insurers.
    pub(crate) fn resources(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for inst in &self.institutions {
            out.push(json!({
                "resourceType": "Organization",
                "id": inst.id,
                "identifier": [{ "system": INSTITUTION_NO, "value": inst.code }],
                "active": true,
                "type": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }],
                    "text": if inst.hospital { "病院" } else { "診療所" },
                }],
                "name": inst.name,
                "telecom": [{ "system": "phone", "value": inst.phone, "use": "work" }],
                "address": [inst.address.fhir("work", "physical")],
            }));
            for d in &inst.doctors {
                out.push(json!({
                    "resourceType": "Practitioner",
                    "id": d.id,
                    "identifier": [{
                        "system": format!("{LOCAL_DOCTOR_ROOT}{}", inst.code),
                        "value": d.local_id,
                    }],
                    "active": true,
                    "name": d.name.fhir(),
                    "gender": if d.female { "female" } else { "male" },
                    "qualification": [{ "code": text_concept("医師") }],
                }));
            }
            for d in &inst.doctors {
                out.push(json!({
                    "resourceType": "PractitionerRole",
                    "id": format!("{}-role", d.id),
                    "active": true,
                    "practitioner": reference("Practitioner", &d.id),
                    "organization": reference("Organization", &inst.id),
                    "code": [concept_code(
                        "http://terminology.hl7.org/CodeSystem/practitioner-role",
                        "doctor",
                        "Doctor",
                    )],
                    "specialty": [text_concept(d.dept.name())],
                }));
            }
        }
        for ph in &self.pharmacies {
            out.push(json!({
                "resourceType": "Organization",
                "id": ph.id,
                "identifier": [{ "system": INSTITUTION_NO, "value": ph.code }],
                "active": true,
                "type": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }],
                    "text": "薬局",
                }],
                "name": ph.name,
                "telecom": [{ "system": "phone", "value": ph.phone, "use": "work" }],
                "address": [ph.address.fhir("work", "physical")],
            }));
        }
        for ins in &self.insurers {
            out.push(json!({
                "resourceType": "Organization",
                "id": ins.id,
                "identifier": [{ "system": INSURER_NO, "value": ins.number }],
                "active": true,
                "type": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "pay",
                        "display": "Payer",
                    }],
                    "text": ins.scheme.label(),
                }],
                "name": ins.name,
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_patient_count() {
        assert_eq!(Registry::new(1, 0).institutions.len(), 5);
        assert_eq!(Registry::new(1, 100).institutions.len(), 5);
        let r = Registry::new(1, 1000);
        assert_eq!(r.institutions.len(), 20);
        assert_eq!(r.clusters.len(), 4);
        for c in &r.clusters {
            assert!(r.institutions[c.members[0]].hospital);
            assert!(c.members[1..].iter().all(|&m| !r.institutions[m].hospital));
        }
    }

    #[test]
    fn codes_are_unique_and_valid() {
        let r = Registry::new(7, 5000);
        let mut codes: Vec<&str> = r.institutions.iter().map(|i| i.code.as_str()).collect();
        codes.extend(r.pharmacies.iter().map(|p| p.code.as_str()));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), r.institutions.len() + r.pharmacies.len());
        for p in &r.pharmacies {
            assert_eq!(&p.code[2..3], "4");
            assert_eq!(
                p.code.as_bytes()[9] - b'0',
                kizuna_jpid::institution_check_digit(&p.code[..9]).unwrap_or_default()
            );
        }
        for i in &r.institutions {
            assert_eq!(i.code.len(), 10);
            assert_eq!(&i.code[2..3], "1");
            let check = kizuna_jpid::institution_check_digit(&i.code[..9]).unwrap_or_default();
            assert_eq!(i.code.as_bytes()[9] - b'0', check);
        }
        let mut numbers: Vec<&str> = r.insurers.iter().map(|i| i.number.as_str()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), r.insurers.len());
    }

    #[test]
    fn municipality_of_designated_city_wards() {
        assert_eq!(municipality("札幌市中央区"), "札幌市");
        assert_eq!(municipality("四日市市"), "四日市市");
        assert_eq!(municipality("新宿区"), "新宿区");
        assert_eq!(municipality("北九州市小倉北区"), "北九州市");
    }
}
