//! Clinical vocabulary: diagnoses (ICD-10 with Japanese names), laboratory and
//! vital-sign codes (LOINC, UCUM units, Japanese common reference intervals
//! — JCCLS 共用基準範囲), drugs (YJ codes with Japanese names), allergens.
//!
//! YJ codes: the first seven characters identify the ingredient and the eighth
//! the dosage form, as in the MHLW price list; the trailing product digits are
//! representative and must not be relied upon for dispensing. This is
//! synthetic data.

/// A diagnosis: ICD-10 code and Japanese name.
pub(crate) struct Dx {
    pub icd10: &'static str,
    pub name: &'static str,
}

macro_rules! dx {
    ($($id:ident = $code:expr, $name:expr;)+) => {
        $(pub(crate) static $id: Dx = Dx { icd10: $code, name: $name };)+
    };
}

dx! {
    HYPERTENSION = "I10", "本態性高血圧症";
    DIABETES = "E11.9", "2型糖尿病";
    DYSLIPIDEMIA = "E78.5", "脂質異常症";
    CKD3 = "N18.3", "慢性腎臓病(ステージ3)";
    CKD4 = "N18.4", "慢性腎臓病(ステージ4)";
    ASTHMA = "J45.9", "気管支喘息";
    ATOPIC_DERMATITIS = "L20.9", "アトピー性皮膚炎";
    GASTRIC_CANCER = "C16.9", "胃癌";
    CEREBRAL_INFARCTION = "I63.9", "脳梗塞";
    ATRIAL_FIBRILLATION = "I48.9", "心房細動";
    OSTEOPOROSIS_PM = "M81.0", "閉経後骨粗鬆症";
    OSTEOPOROSIS = "M81.9", "骨粗鬆症";
    REFLUX_ESOPHAGITIS = "K21.0", "逆流性食道炎";
    HYPERURICEMIA = "E79.0", "高尿酸血症";
    ALZHEIMER = "G30.9", "アルツハイマー型認知症";
    POLLINOSIS = "J30.1", "花粉症";
    KNEE_OA = "M17.9", "変形性膝関節症";
    HYPOTHYROIDISM = "E03.9", "甲状腺機能低下症";
    INSOMNIA = "G47.0", "不眠症";
    CONSTIPATION = "K59.0", "便秘症";
    BPH = "N40", "前立腺肥大症";
    HEART_FAILURE = "I50.9", "慢性心不全";
    COPD = "J44.9", "慢性閉塞性肺疾患";
    ANGINA = "I20.9", "狭心症";
    URTI = "J06.9", "急性上気道炎";
    INFLUENZA = "J11.1", "インフルエンザ";
    COVID19 = "U07.1", "COVID-19";
    GASTROENTERITIS = "A09", "感染性胃腸炎";
    UTI = "N39.0", "尿路感染症";
    PNEUMONIA = "J18.9", "肺炎";
    BRONCHITIS = "J20.9", "急性気管支炎";
    LOW_BACK_PAIN = "M54.5", "腰痛症";
    HIP_FRACTURE = "S72.0", "大腿骨頚部骨折";
    ANKLE_SPRAIN = "S93.4", "足関節捻挫";
    SINUSITIS = "J01.9", "急性副鼻腔炎";
}

/// A laboratory test or vital sign.
pub(crate) struct Lab {
    pub loinc: &'static str,
    pub name: &'static str,
    /// Human-readable unit.
    pub unit: &'static str,
    /// UCUM code.
    pub ucum: &'static str,
    /// Decimal places reported.
    pub places: usize,
    /// Reference interval (low, high) for males and females; `None` = no bound.
    pub male: (Option<f64>, Option<f64>),
    pub female: (Option<f64>, Option<f64>),
}

impl Lab {
    pub(crate) fn range(&self, female: bool) -> (Option<f64>, Option<f64>) {
        if female { self.female } else { self.male }
    }
}

macro_rules! lab {
    ($($id:ident = $loinc:expr, $name:expr, $unit:expr, $ucum:expr, $places:expr,
        $m:expr, $f:expr;)+) => {
        $(pub(crate) static $id: Lab = Lab {
            loinc: $loinc, name: $name, unit: $unit, ucum: $ucum, places: $places,
            male: $m, female: $f,
        };)+
    };
}

const fn both(lo: f64, hi: f64) -> (Option<f64>, Option<f64>) {
    (Some(lo), Some(hi))
}

lab! {
    HBA1C = "4548-4", "HbA1c", "%", "%", 1, both(4.9, 6.0), both(4.9, 6.0);
    GLUCOSE = "2345-7", "血糖", "mg/dL", "mg/dL", 0, both(73.0, 109.0), both(73.0, 109.0);
    LDL = "13457-7", "LDLコレステロール", "mg/dL", "mg/dL", 0, both(65.0, 163.0), both(65.0, 163.0);
    HDL = "2085-9", "HDLコレステロール", "mg/dL", "mg/dL", 0, both(38.0, 90.0), both(48.0, 103.0);
    TG = "2571-8", "中性脂肪", "mg/dL", "mg/dL", 0, both(40.0, 234.0), both(30.0, 117.0);
    CREATININE = "2160-0", "クレアチニン", "mg/dL", "mg/dL", 2, both(0.65, 1.07), both(0.46, 0.79);
    EGFR = "33914-3", "eGFR", "mL/min/1.73m2", "mL/min/{1.73_m2}", 1, (Some(60.0), None), (Some(60.0), None);
    AST = "1920-8", "AST", "U/L", "U/L", 0, both(13.0, 30.0), both(13.0, 30.0);
    ALT = "1742-6", "ALT", "U/L", "U/L", 0, both(10.0, 42.0), both(7.0, 23.0);
    GGT = "2324-2", "γ-GT", "U/L", "U/L", 0, both(13.0, 64.0), both(9.0, 32.0);
    HEMOGLOBIN = "718-7", "ヘモグロビン", "g/dL", "g/dL", 1, both(13.7, 16.8), both(11.6, 14.8);
    WBC = "6690-2", "白血球数", "10^3/μL", "10*3/uL", 1, both(3.3, 8.6), both(3.3, 8.6);
    PLATELETS = "777-3", "血小板数", "10^3/μL", "10*3/uL", 0, both(158.0, 348.0), both(158.0, 348.0);
    POTASSIUM = "2823-3", "カリウム", "mmol/L", "mmol/L", 1, both(3.6, 4.8), both(3.6, 4.8);
    BUN = "3094-0", "尿素窒素", "mg/dL", "mg/dL", 1, both(8.0, 20.0), both(8.0, 20.0);
    CRP = "1988-5", "CRP", "mg/dL", "mg/dL", 2, both(0.0, 0.14), both(0.0, 0.14);
    URIC_ACID = "3084-1", "尿酸", "mg/dL", "mg/dL", 1, both(3.7, 7.8), both(2.6, 5.5);
    CEA = "2039-6", "CEA", "ng/mL", "ng/mL", 1, (None, Some(5.0)), (None, Some(5.0));
    TSH = "3016-3", "TSH", "μIU/mL", "u[IU]/mL", 2, both(0.61, 4.23), both(0.61, 4.23);
    FT4 = "3024-7", "遊離T4", "ng/dL", "ng/dL", 2, both(0.75, 1.45), both(0.75, 1.45);
    BODY_WEIGHT = "29463-7", "体重", "kg", "kg", 1, (None, None), (None, None);
    BODY_HEIGHT = "8302-2", "身長", "cm", "cm", 1, (None, None), (None, None);
    BMI = "39156-5", "BMI", "kg/m2", "kg/m2", 1, both(18.5, 25.0), both(18.5, 25.0);
    BP_PANEL = "85354-9", "血圧", "", "", 0, (None, None), (None, None);
    SYSTOLIC = "8480-6", "収縮期血圧", "mmHg", "mm[Hg]", 0, (None, Some(139.0)), (None, Some(139.0));
    DIASTOLIC = "8462-4", "拡張期血圧", "mmHg", "mm[Hg]", 0, (None, Some(89.0)), (None, Some(89.0));
    HEART_RATE = "8867-4", "脈拍数", "/min", "/min", 0, both(50.0, 100.0), both(50.0, 100.0);
    BODY_TEMP = "8310-5", "体温", "℃", "Cel", 1, (None, Some(37.4)), (None, Some(37.4));
}

/// Dosage form, which decides the unit and the dispensed amount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Form {
    Tablet,
    Capsule,
    /// Granules or dry syrup, dosed in grams per kg of body weight.
    Powder,
    /// Sachet (包).
    Sachet,
    /// Ointment or cream, dispensed in grams.
    Ointment,
    /// Poultice tape (枚).
    Tape,
    /// Inhaler device (本), dosed in inhalations (吸入).
    Inhaler,
    /// Intravenous drip, dosed in grams (inpatient only).
    Intravenous,
}

/// When the medicine is taken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Schedule {
    /// 1日1回 朝食後
    Morning,
    /// 1日1回 夕食後
    Evening,
    /// 1日2回 朝夕食後
    Twice,
    /// 1日3回 毎食後
    Thrice,
    /// 1日3回 毎食前
    ThriceBefore,
    /// 1日1回 就寝前
    Bedtime,
    /// 週1回 起床時
    Weekly,
    /// 頓用 (as needed)
    AsNeeded,
    /// 1日2回 (topical / inhaled)
    TwiceApply,
    /// 1日1回 (tape / inhaled)
    OnceApply,
}

pub(crate) struct Drug {
    pub name: &'static str,
    pub yj: &'static str,
    pub form: Form,
    /// Units per intake (tablets, grams, inhalations ...); for powders, grams per kg.
    pub dose: f64,
    /// Maximum single dose for weight-based powders (grams).
    pub max_dose: f64,
    pub schedule: Schedule,
    /// A non-steroidal anti-inflammatory drug (avoided with NSAID allergy).
    pub nsaid: bool,
    /// A cephalosporin (avoided with cephem allergy).
    pub cephem: bool,
}

macro_rules! drugs {
    ($($id:ident = $name:expr, $yj:expr, $form:ident, $dose:expr, $sched:ident $(, $flag:ident)?;)+) => {
        $(pub(crate) static $id: Drug = Drug {
            $($flag: true,)?
            ..Drug {
                name: $name, yj: $yj, form: Form::$form, dose: $dose, max_dose: 0.0,
                schedule: Schedule::$sched, nsaid: false, cephem: false,
            }
        };)+
    };
}

drugs! {
    AMLODIPINE = "アムロジピン錠5mg", "2171022F2025", Tablet, 1.0, Morning;
    CANDESARTAN = "カンデサルタン錠8mg", "2149040F3023", Tablet, 1.0, Morning;
    OLMESARTAN = "オルメサルタン錠20mg", "2149044F2022", Tablet, 1.0, Morning;
    METFORMIN = "メトホルミン塩酸塩錠250mg", "3962002F2027", Tablet, 2.0, Twice;
    SITAGLIPTIN = "シタグリプチン錠50mg", "3969010F2022", Tablet, 1.0, Morning;
    DAPAGLIFLOZIN = "ダパグリフロジン錠5mg", "3969019F1020", Tablet, 1.0, Morning;
    GLIMEPIRIDE = "グリメピリド錠1mg", "3961008F2023", Tablet, 1.0, Morning;
    ROSUVASTATIN = "ロスバスタチン錠2.5mg", "2189017F1022", Tablet, 1.0, Evening;
    ATORVASTATIN = "アトルバスタチン錠10mg", "2189015F2020", Tablet, 1.0, Evening;
    PITAVASTATIN = "ピタバスタチンカルシウム錠2mg", "2189016F2021", Tablet, 1.0, Evening;
    EZETIMIBE = "エゼチミブ錠10mg", "2189018F1020", Tablet, 1.0, Morning;
    FEBUXOSTAT = "フェブキソスタット錠20mg", "3949003F2028", Tablet, 1.0, Morning;
    ALLOPURINOL = "アロプリノール錠100mg", "3943001F1020", Tablet, 1.0, Twice;
    MONTELUKAST = "モンテルカスト錠10mg", "4490026F2025", Tablet, 1.0, Bedtime;
    OLOPATADINE = "オロパタジン塩酸塩錠5mg", "4490025F1020", Tablet, 1.0, Twice;
    FEXOFENADINE = "フェキソフェナジン塩酸塩錠60mg", "4490023F1024", Tablet, 1.0, Twice;
    CLOPIDOGREL = "クロピドグレル錠75mg", "3399008F2027", Tablet, 1.0, Morning;
    ASPIRIN = "アスピリン腸溶錠100mg", "3399007H1021", Tablet, 1.0, Morning;
    APIXABAN = "アピキサバン錠5mg", "3339004F2029", Tablet, 1.0, Twice;
    BISOPROLOL = "ビソプロロールフマル酸塩錠2.5mg", "2123016F2020", Tablet, 1.0, Morning;
    FUROSEMIDE = "フロセミド錠20mg", "2139005F1027", Tablet, 1.0, Morning;
    NITROGLYCERIN = "ニトログリセリン舌下錠0.3mg", "2171010F1024", Tablet, 1.0, AsNeeded;
    ALENDRONATE = "アレンドロン酸錠35mg", "3999018F2025", Tablet, 1.0, Weekly;
    ELDECALCITOL = "エルデカルシトールカプセル0.75μg", "3112004M2022", Capsule, 1.0, Morning;
    VONOPRAZAN = "ボノプラザン錠10mg", "2329030F1022", Tablet, 1.0, Morning;
    FAMOTIDINE = "ファモチジン錠20mg", "2325003F2027", Tablet, 1.0, Evening;
    DONEPEZIL = "ドネペジル塩酸塩錠5mg", "1190012F2020", Tablet, 1.0, Morning;
    LEVOTHYROXINE = "レボチロキシンナトリウム錠50μg", "2431004F2025", Tablet, 1.0, Morning;
    ZOLPIDEM = "ゾルピデム酒石酸塩錠5mg", "1129009F1025", Tablet, 1.0, Bedtime;
    BROTIZOLAM = "ブロチゾラム錠0.25mg", "1124009F1027", Tablet, 1.0, Bedtime;
    MAGNESIUM_OXIDE = "酸化マグネシウム錠330mg", "2344009F1029", Tablet, 1.0, Thrice;
    TAMSULOSIN = "タムスロシン塩酸塩OD錠0.2mg", "2590008F1024", Tablet, 1.0, Morning;
    LOXOPROFEN = "ロキソプロフェンナトリウム錠60mg", "1149019F1560", Tablet, 1.0, Thrice, nsaid;
    CELECOXIB = "セレコキシブ錠100mg", "1149037F1020", Tablet, 1.0, Twice, nsaid;
    REBAMIPIDE = "レバミピド錠100mg", "2329021F1021", Tablet, 1.0, Thrice;
    ACETAMINOPHEN = "アセトアミノフェン錠200mg", "1141007F1063", Tablet, 2.0, Thrice;
    CARBOCISTEINE = "カルボシステイン錠500mg", "2233002F2028", Tablet, 1.0, Thrice;
    LEVOFLOXACIN = "レボフロキサシン錠500mg", "6241013F3020", Tablet, 1.0, Morning;
    CEFCAPENE = "セフカペンピボキシル塩酸塩錠100mg", "6132016F1027", Tablet, 1.0, Thrice, cephem;
    OSELTAMIVIR = "オセルタミビルカプセル75mg", "6250021M1027", Capsule, 1.0, Twice;
    DOMPERIDONE = "ドンペリドン錠10mg", "2399005F1029", Tablet, 1.0, ThriceBefore;
    HEPARINOID = "ヘパリン類似物質油性クリーム0.3%", "3339950N1028", Ointment, 1.0, TwiceApply;
    BETAMETHASONE_OINT = "ベタメタゾン吉草酸エステル軟膏0.12%", "2646701M1023", Ointment, 1.0, TwiceApply;
    HYDROCORTISONE_OINT = "ヒドロコルチゾン酪酸エステル軟膏0.1%", "2646713M1020", Ointment, 1.0, TwiceApply;
    LOXOPROFEN_TAPE = "ロキソプロフェンナトリウムテープ100mg", "2649735S1026", Tape, 1.0, OnceApply, nsaid;
    BUDESONIDE_FORMOTEROL = "ブデソニド・ホルモテロールフマル酸塩吸入剤", "2290800G1027", Inhaler, 1.0, TwiceApply;
    TIOTROPIUM = "チオトロピウム臭化物吸入剤2.5μg", "2259707G1022", Inhaler, 2.0, OnceApply;
    MONTELUKAST_GRANULE = "モンテルカスト細粒4mg", "4490026C1020", Sachet, 1.0, Bedtime;
    CEFTRIAXONE = "セフトリアキソンナトリウム静注用1g", "6132419D1023", Intravenous, 2.0, Morning, cephem;
}

/// Weight-based paediatric powders: `dose` is grams per kg per intake,
/// `max_dose` caps a single intake (grams).
pub(crate) static ACETAMINOPHEN_GRANULE: Drug = Drug {
    name: "アセトアミノフェン細粒20%",
    yj: "1141007C1075",
    form: Form::Powder,
    dose: 0.05,
    max_dose: 1.0,
    schedule: Schedule::AsNeeded,
    nsaid: false,
    cephem: false,
};
pub(crate) static CARBOCISTEINE_SYRUP: Drug = Drug {
    name: "カルボシステインDS50%",
    yj: "2233002R2029",
    form: Form::Powder,
    dose: 0.02,
    max_dose: 1.0,
    schedule: Schedule::Thrice,
    nsaid: false,
    cephem: false,
};
pub(crate) static AMOXICILLIN_GRANULE: Drug = Drug {
    name: "アモキシシリン細粒10%",
    yj: "6131001C1210",
    form: Form::Powder,
    dose: 0.13,
    max_dose: 5.0,
    schedule: Schedule::Thrice,
    nsaid: false,
    cephem: false,
};
pub(crate) static CLARITHROMYCIN_SYRUP: Drug = Drug {
    name: "クラリスロマイシンDS10%",
    yj: "6149003R1143",
    form: Form::Powder,
    dose: 0.075,
    max_dose: 2.0,
    schedule: Schedule::Twice,
    nsaid: false,
    cephem: false,
};
pub(crate) static OSELTAMIVIR_SYRUP: Drug = Drug {
    name: "オセルタミビルドライシロップ3%",
    yj: "6250021R1024",
    form: Form::Powder,
    dose: 0.0667,
    max_dose: 2.5,
    schedule: Schedule::Twice,
    nsaid: false,
    cephem: false,
};

/// An allergen with how it presents.
pub(crate) struct Allergen {
    pub name: &'static str,
    /// FHIR AllergyIntolerance.category code.
    pub category: &'static str,
    /// FHIR AllergyIntolerance.type code.
    pub kind: &'static str,
    pub reactions: &'static [&'static str],
    /// Relative frequency among children (<15) and adults.
    pub child_weight: u32,
    pub adult_weight: u32,
    /// Probability that the allergy is high-criticality.
    pub high_risk: f64,
    pub nsaid: bool,
    pub cephem: bool,
    pub penicillin: bool,
}

macro_rules! allergen {
    ($name:expr, $cat:expr, $kind:expr, [$($r:expr),+], $cw:expr, $aw:expr, $hr:expr) => {
        Allergen { name: $name, category: $cat, kind: $kind, reactions: &[$($r),+],
            child_weight: $cw, adult_weight: $aw, high_risk: $hr, nsaid: false, cephem: false,
            penicillin: false }
    };
}

pub(crate) static ALLERGENS: &[Allergen] = &[
    allergen!(
        "鶏卵",
        "food",
        "allergy",
        ["蕁麻疹", "嘔吐", "湿疹の悪化"],
        40,
        3,
        0.2
    ),
    allergen!(
        "牛乳",
        "food",
        "allergy",
        ["蕁麻疹", "嘔吐", "下痢"],
        20,
        2,
        0.2
    ),
    allergen!(
        "小麦",
        "food",
        "allergy",
        ["蕁麻疹", "運動誘発アナフィラキシー"],
        12,
        4,
        0.4
    ),
    allergen!(
        "そば",
        "food",
        "allergy",
        ["アナフィラキシー", "呼吸困難", "蕁麻疹"],
        4,
        5,
        0.8
    ),
    allergen!(
        "落花生",
        "food",
        "allergy",
        ["アナフィラキシー", "口腔内違和感", "蕁麻疹"],
        8,
        3,
        0.7
    ),
    allergen!(
        "えび",
        "food",
        "allergy",
        ["蕁麻疹", "口腔内違和感", "呼吸困難"],
        4,
        10,
        0.4
    ),
    allergen!(
        "かに",
        "food",
        "allergy",
        ["蕁麻疹", "口腔内違和感"],
        2,
        6,
        0.3
    ),
    allergen!(
        "キウイフルーツ",
        "food",
        "allergy",
        ["口腔アレルギー症候群"],
        2,
        4,
        0.1
    ),
    Allergen {
        penicillin: true,
        ..allergen!(
            "ペニシリン系抗菌薬",
            "medication",
            "allergy",
            ["薬疹", "蕁麻疹", "アナフィラキシー"],
            3,
            12,
            0.6
        )
    },
    Allergen {
        cephem: true,
        ..allergen!(
            "セフェム系抗菌薬",
            "medication",
            "allergy",
            ["薬疹", "蕁麻疹"],
            2,
            8,
            0.5
        )
    },
    Allergen {
        nsaid: true,
        ..allergen!(
            "NSAIDs(ロキソプロフェン等)",
            "medication",
            "intolerance",
            ["喘息発作", "蕁麻疹", "血管性浮腫"],
            1,
            10,
            0.6
        )
    },
    allergen!(
        "ヨード造影剤",
        "medication",
        "allergy",
        ["蕁麻疹", "悪心", "血圧低下"],
        0,
        5,
        0.7
    ),
    allergen!(
        "ハウスダスト",
        "environment",
        "allergy",
        ["鼻汁・くしゃみ", "喘鳴"],
        6,
        6,
        0.05
    ),
    allergen!(
        "ラテックス",
        "environment",
        "allergy",
        ["接触皮膚炎", "蕁麻疹"],
        0,
        2,
        0.4
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yj_codes_are_well_formed() {
        let all = [
            &AMLODIPINE,
            &METFORMIN,
            &ROSUVASTATIN,
            &HEPARINOID,
            &CEFTRIAXONE,
            &ACETAMINOPHEN_GRANULE,
            &OSELTAMIVIR_SYRUP,
            &CARBOCISTEINE_SYRUP,
            &TIOTROPIUM,
        ];
        for d in all {
            assert_eq!(d.yj.len(), 12, "{}", d.name);
            let b = d.yj.as_bytes();
            assert!(b[..7].iter().all(u8::is_ascii_digit), "{}", d.name);
            assert!(b[7].is_ascii_uppercase(), "{}", d.name);
            assert!(b[8..].iter().all(u8::is_ascii_digit), "{}", d.name);
        }
        assert!(LOXOPROFEN.nsaid && LOXOPROFEN_TAPE.nsaid && !ACETAMINOPHEN.nsaid);
        assert!(CEFCAPENE.cephem && !LEVOFLOXACIN.cephem);
    }

    #[test]
    fn reference_intervals_are_ordered() {
        for l in [
            &HBA1C,
            &GLUCOSE,
            &HDL,
            &TG,
            &CREATININE,
            &HEMOGLOBIN,
            &URIC_ACID,
            &ALT,
        ] {
            for (lo, hi) in [l.male, l.female] {
                assert!(lo.unwrap() < hi.unwrap(), "{}", l.name);
            }
        }
    }
}
