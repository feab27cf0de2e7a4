//! `kizuna-jpid`: the identifiers of Japanese health care and their rules: check digits of
//! insurer numbers (保険者番号), medical institution codes (医療機関コード) and the My Number
//! (個人番号), and the normalization of digits as people type them (full-width `１２３`).
//!
//! Owns only pure functions over text. Must never: store, log or print a My Number (callers
//! hash it, see the trust crate), or know FHIR, HTTP or storage.

use unicode_normalization::UnicodeNormalization;

/// `text` with compatibility forms folded (NFKC: full-width digits and letters to ASCII,
/// half-width kana to full-width) and surrounding whitespace removed.
pub fn normalize(text: &str) -> String {
    text.nfkc().collect::<String>().trim().to_string()
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Modulus-10 check digit with weights 2,1,2,1,... applied from the
/// *rightmost* digit leftwards; two-digit products contribute the sum of their
/// digits; check = (10 - sum mod 10) mod 10.
fn weights_21_from_right(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            let p = if i % 2 == 0 { d * 2 } else { d };
            p / 10 + p % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Check digit (検証番号) of an insurer number (保険者番号).
///
/// Source: MHLW 保険者番号設定要領, as quoted e.g. at
/// <http://www5f.biglobe.ne.jp/~h-it/mlcont/mc0124.htm> and
/// <https://iryoujimu-blog.com/2018/05/15/> (保険者番号、受給者番号の仕組み):
/// "法別番号、都道府県番号及び保険者別番号の各数に末尾の桁を起点として順次2と1を
/// 乗じ、積の和（積が2桁のときは各位の和）を求め、10からその下1桁を引いた数
/// （下1桁が0なら0）". For the 7 leading digits of an 8-digit number this is the
/// weights 2,1,2,1,2,1,2 from the left. Worked example from the first source:
/// 3312001 → 6+3+2+2+0+0+2 = 15 → 5, i.e. 33120015. The 6-digit National
/// Health Insurance numbers (2-digit prefecture + 3-digit insurer + check) use
/// the same rule over their first 5 digits (e.g. Sapporo's 01001 → 010017).
pub fn insurer_check_digit(body: &str) -> Option<u8> {
    ((body.len() == 7 || body.len() == 5) && all_digits(body)).then(|| weights_21_from_right(body))
}

/// Check digit of a 10-digit medical institution code (医療機関コード):
/// prefecture (2) + point-table code (1: medical, 3: dental, 4: pharmacy) +
/// district (2) + institution number (4) + check digit (1).
///
/// The brief for this crate described the check as "modulus 10, weights 2-1
/// over the 6 digits" (district + number). The sources found disagree on what
/// is covered: Japanese Wikipedia (処方箋発行医療機関コード) states that the
/// check digit "is computed together with the 2-digit prefecture number and the
/// 1-digit point-table number" and names the Luhn algorithm, i.e. weights 2,1
/// from the right over all 9 leading digits; its example 0110113719 verifies
/// under that rule (and not under a 6-digit-only rule, which gives 2). The
/// 9-digit rule is implemented here.
pub fn institution_check_digit(body: &str) -> Option<u8> {
    (body.len() == 9 && all_digits(body)).then(|| weights_21_from_right(body))
}

/// A 10-digit medical institution code (医療機関コード), normalized and checked: prefecture
/// (01–47), point-table code (1 medical, 3 dental, 4 pharmacy, 6 visiting nursing), district,
/// institution number and check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstitutionCode(String);

impl InstitutionCode {
    /// Reads a code as typed (full-width digits allowed), or says what is wrong with it.
    pub fn parse(text: &str) -> Result<InstitutionCode, String> {
        let code = normalize(text);
        if code.len() != 10 || !all_digits(&code) {
            return Err(format!(
                "'{text}' is not a medical institution code: it has 10 digits (prefecture, point table, district, number, check digit)"
            ));
        }
        let prefecture: u8 = code[..2].parse().unwrap_or(0);
        if !(1..=47).contains(&prefecture) {
            return Err(format!(
                "'{text}' is not a medical institution code: its first two digits are a prefecture, 01 to 47"
            ));
        }
        if !matches!(&code[2..3], "1" | "3" | "4" | "6") {
            return Err(format!(
                "'{text}' is not a medical institution code: its third digit is the point table (1 medical, 3 dental, 4 pharmacy, 6 visiting nursing)"
            ));
        }
        let expected = institution_check_digit(&code[..9]).unwrap_or(10);
        if code.as_bytes()[9] - b'0' != expected {
            return Err(format!(
                "'{text}' is not a medical institution code: its check digit should be {expected}"
            ));
        }
        Ok(InstitutionCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for InstitutionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The check digit (検査用数字) of a My Number from its first 11 digits: with `P(n)` the
/// n-th digit from the right and `Q(n)` = n + 1 for n ≤ 6, n − 5 for n ≥ 7, the remainder
/// r = Σ P(n)·Q(n) mod 11 gives 0 when r ≤ 1, else 11 − r (個人番号の検査用数字を算出する
/// 算式, 総務省令第85号 第5条).
pub fn my_number_check_digit(first11: &str) -> Option<u8> {
    if first11.len() != 11 || !all_digits(first11) {
        return None;
    }
    let sum: u32 = first11
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let n = i as u32 + 1;
            let q = if n <= 6 { n + 1 } else { n - 5 };
            u32::from(b - b'0') * q
        })
        .sum();
    let r = sum % 11;
    Some(if r <= 1 { 0 } else { (11 - r) as u8 })
}

/// The 12 digits of a My Number as typed (full-width digits, spaces and hyphens allowed), if
/// it is well-formed (its last digit is the check digit). Callers hash it at once; it must
/// never be stored, logged or echoed.
pub fn my_number_digits(text: &str) -> Option<String> {
    let n = normalize(text).replace(['-', ' '], "");
    (n.len() == 12
        && all_digits(&n)
        && my_number_check_digit(&n[..11]).is_some_and(|c| n.as_bytes()[11] - b'0' == c))
    .then_some(n)
}

/// Whether `text` (as typed) is a well-formed My Number. The answer never includes the number.
pub fn is_valid_my_number(text: &str) -> bool {
    my_number_digits(text).is_some()
}

/// The JP-CLINS system of the individualized insured-member id.
pub const INSURED_MEMBER_ID_SYSTEM: &str =
    "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID";

/// An individualized insured-member id (被保険者個人識別子), JP-CLINS value
/// `insurer:symbol:number:branch` (保険者番号:記号:番号:枝番), normalized: full-width digits
/// and letters made ASCII (NFKC), spaces removed. `warnings` says what looks wrong without
/// being refused (an insurer number whose check digit fails, like the examples' `00012345`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsuredMemberId {
    pub insurer: String,
    pub symbol: String,
    pub number: String,
    pub branch: String,
    pub warnings: Vec<String>,
}

impl InsuredMemberId {
    /// Reads an id as written (full-width digits, spaces allowed), or says what is wrong.
    pub fn parse(value: &str) -> Result<InsuredMemberId, String> {
        let parts: Vec<String> = normalize(value)
            .split(':')
            .map(|p| p.chars().filter(|c| !c.is_whitespace()).collect())
            .collect();
        let [insurer, symbol, number, branch] = parts.as_slice() else {
            return Err(format!(
                "'{value}' is not an insured-member id: it is insurer:symbol:number:branch (保険者番号:記号:番号:枝番)"
            ));
        };
        if !matches!(insurer.len(), 6 | 8) || !all_digits(insurer) {
            return Err(format!(
                "'{insurer}' is not an insurer number: it has 6 or 8 digits"
            ));
        }
        if number.is_empty() {
            return Err(format!("'{value}' has no insured person's number (番号)"));
        }
        if branch.len() != 2 || !all_digits(branch) {
            return Err(format!(
                "'{branch}' is not a branch number (枝番): it has 2 digits"
            ));
        }
        let mut warnings = Vec::new();
        let body = &insurer[..insurer.len() - 1];
        let written = insurer.as_bytes()[insurer.len() - 1] - b'0';
        if insurer_check_digit(body) != Some(written) {
            warnings.push(format!(
                "the insurer number {insurer} fails its check digit (expected {})",
                insurer_check_digit(body).unwrap_or_default()
            ));
        }
        Ok(InsuredMemberId {
            insurer: insurer.clone(),
            symbol: symbol.clone(),
            number: number.clone(),
            branch: branch.clone(),
            warnings,
        })
    }

    /// The normalized value, `insurer:symbol:number:branch`: equal ids give equal values.
    pub fn value(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.insurer, self.symbol, self.number, self.branch
        )
    }
}

/// A kana name reduced to what matching compares: NFKC (half-width kana made full-width),
/// hiragana made katakana, small kana made large (ャ → ヤ), spaces and middle dots removed, so
/// that ﾔﾏﾀﾞ ﾀﾛｳ, やまだ たろう and ヤマダ・タロウ give one key.
pub fn kana_key(name: &str) -> String {
    normalize(name)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '・' | '･' | '.'))
        .map(|c| match c {
            // ぁ..ゖ → ァ..ヶ
            '\u{3041}'..='\u{3096}' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .map(|c| match c {
            'ァ' => 'ア',
            'ィ' => 'イ',
            'ゥ' => 'ウ',
            'ェ' => 'エ',
            'ォ' => 'オ',
            'ッ' => 'ツ',
            'ャ' => 'ヤ',
            'ュ' => 'ユ',
            'ョ' => 'ヨ',
            'ヮ' => 'ワ',
            'ヵ' => 'カ',
            'ヶ' => 'ケ',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn institution_codes() {
        assert_eq!(
            InstitutionCode::parse("0110113719").unwrap().as_str(),
            "0110113719"
        );
        assert_eq!(
            InstitutionCode::parse("０１１０１１３７１９")
                .unwrap()
                .as_str(),
            "0110113719"
        );
        for bad in [
            "0110113718",
            "011011371",
            "4810113719",
            "0120113719",
            "abcdefghij",
            "",
        ] {
            assert!(InstitutionCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insured_member_ids() {
        let id = InsuredMemberId::parse("０６１３９９９２:あいう ２:１８７:０５").unwrap();
        assert_eq!(id.value(), "06139992:あいう2:187:05");
        assert!(id.warnings.is_empty(), "{:?}", id.warnings);
        // The JP-CLINS examples' dummy insurer: accepted, with a warning.
        let dummy = InsuredMemberId::parse("00012345:1:2:01").unwrap();
        assert_eq!(dummy.warnings.len(), 1);
        assert!(dummy.warnings[0].contains("check digit"));
        for bad in [
            "00012345:1:2",
            "0001234:1:2:01",
            "00012345:1::01",
            "00012345:1:2:1",
            "x:1:2:01",
        ] {
            assert!(InsuredMemberId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kana_keys() {
        let k = kana_key("ヤマダ タロウ");
        assert_eq!(kana_key("ﾔﾏﾀﾞ ﾀﾛｳ"), k);
        assert_eq!(kana_key("やまだ　たろう"), k);
        assert_eq!(kana_key("ヤマダ・タロウ"), k);
        assert_eq!(kana_key("キョウコ"), kana_key("きようこ"));
        assert_ne!(kana_key("ヤマダ"), kana_key("ヤマタ"));
    }

    #[test]
    fn my_numbers() {
        // A number built by the rule: 12345678901 → check digit.
        let c = my_number_check_digit("12345678901").unwrap();
        assert_eq!(c, 8);
        assert!(is_valid_my_number("123456789018"));
        assert!(is_valid_my_number("１２３４ ５６７８ ９０１８"));
        assert!(!is_valid_my_number("123456789011"));
        assert!(!is_valid_my_number("12345678901"));
        assert!(!is_valid_my_number("abcdefghijkl"));
        // Twelve bytes that are not twelve digits (a multi-byte character) are refused, not
        // sliced through.
        assert!(!is_valid_my_number("123456789あ"));
    }

    #[test]
    fn insurer_examples() {
        assert_eq!(insurer_check_digit("3312001"), Some(5)); // 33120015, worked example of the MHLW rule
        assert_eq!(insurer_check_digit("0113001"), Some(2)); // 01130012, 協会けんぽ東京支部
        assert_eq!(insurer_check_digit("01001"), Some(7)); // 010017, 札幌市国保
    }

    #[test]
    fn institution_example() {
        assert_eq!(institution_check_digit("011011371"), Some(9)); // 0110113719
    }

    #[test]
    fn single_digit_errors_are_detected() {
        let body = "2712345";
        let c = insurer_check_digit(body);
        for pos in 0..body.len() {
            for d in b'0'..=b'9' {
                let mut v = body.as_bytes().to_vec();
                if v[pos] == d {
                    continue;
                }
                v[pos] = d;
                let other = std::str::from_utf8(&v).unwrap_or_default();
                assert_ne!(insurer_check_digit(other), c, "{other}");
            }
        }
    }
}
