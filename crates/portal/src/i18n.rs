//! The portal's words in Japanese and English, and dates the way each language writes them.
//!
//! Every text is a field of [`Texts`], and both [`JA`] and [`EN`] must give it, so a missing
//! translation does not compile. The language is the `kizuna-lang` cookie's (set by the
//! switch on every page), else the browser's first of `ja` or `en` (`Accept-Language`), else
//! Japanese.

use axum::http::HeaderMap;

/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "kizuna-lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }

    /// The request's language (see the module doc).
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = crate::session::cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return l;
        }
        let accepted = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        for part in accepted.split(',') {
            let tag = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("ja") {
                return Lang::Ja;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Ja
    }

    /// A date (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`, or the date of a dateTime, read in JST when
    /// it has an offset) as this language writes it; what cannot be read is shown as given.
    pub fn date(self, text: &str) -> String {
        let day = local_day(text);
        let parts: Vec<&str> = day.split('-').collect();
        let num = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
        match (self, num(0), num(1), num(2)) {
            (Lang::Ja, Some(y), Some(m), Some(d)) => format!("{y}年{m}月{d}日"),
            (Lang::Ja, Some(y), Some(m), None) => format!("{y}年{m}月"),
            (Lang::Ja, Some(y), None, None) => format!("{y}年"),
            (Lang::En, Some(y), Some(m), Some(d)) if (1..=12).contains(&m) => {
                format!("{d} {} {y}", MONTHS[m as usize - 1])
            }
            (Lang::En, Some(y), Some(m), None) if (1..=12).contains(&m) => {
                format!("{} {y}", MONTHS[m as usize - 1])
            }
            (Lang::En, Some(y), None, None) => y.to_string(),
            _ => text.to_string(),
        }
    }

    /// A birth date: in Japanese with its era year too (`1970年5月1日（昭和45年）`).
    pub fn birth_date(self, text: &str) -> String {
        let plain = self.date(text);
        if self == Lang::En {
            return plain;
        }
        match era(text) {
            Some(e) => format!("{plain}（{e}）"),
            None => plain,
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The date part of `text`; a dateTime with an offset is read in JST (the day a Japanese
/// reader means), one without is taken as written.
fn local_day(text: &str) -> String {
    if text.len() > 10
        && let Ok(ts) = text.parse::<jiff::Timestamp>()
    {
        let jst = jiff::tz::TimeZone::fixed(jiff::tz::offset(9));
        return ts.to_zoned(jst).date().to_string();
    }
    text.chars().take(10).collect()
}

/// The Japanese era year of a date (`昭和45年`; the first year is `元年`).
fn era(text: &str) -> Option<String> {
    let day = local_day(text);
    let date: jiff::civil::Date = day.parse().ok()?;
    const ERAS: [(&str, i16, i8, i8); 5] = [
        ("令和", 2019, 5, 1),
        ("平成", 1989, 1, 8),
        ("昭和", 1926, 12, 25),
        ("大正", 1912, 7, 30),
        ("明治", 1868, 10, 23),
    ];
    let (name, start, _, _) = ERAS
        .iter()
        .find(|(_, y, m, d)| date >= jiff::civil::date(*y, *m, *d))?;
    let n = date.year() - start + 1;
    Some(if n == 1 {
        format!("{name}元年")
    } else {
        format!("{name}{n}年")
    })
}

/// Every text of the portal, in one language.
pub struct Texts {
    pub title: &'static str,
    pub skip: &'static str,
    pub switch_to: &'static str,
    pub sign_in: &'static str,
    pub sign_in_lead: &'static str,
    pub sign_in_plain: &'static str,
    pub institution: &'static str,
    pub institution_hint: &'static str,
    pub staff: &'static str,
    pub staff_hint: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub no_institutions: &'static str,
    pub certificate_lead: &'static str,
    pub find_patient: &'static str,
    pub find_lead: &'static str,
    pub name: &'static str,
    pub name_hint: &'static str,
    pub birth_date: &'static str,
    pub identifier: &'static str,
    pub identifier_hint: &'static str,
    pub search: &'static str,
    pub results: &'static str,
    pub no_results: &'static str,
    pub more_results: &'static str,
    pub gender: &'static str,
    pub open: &'static str,
    pub summary: &'static str,
    pub diagnoses: &'static str,
    pub allergies: &'static str,
    pub infections: &'static str,
    pub prescriptions: &'static str,
    pub labs: &'static str,
    pub source: &'static str,
    pub date: &'static str,
    pub what: &'static str,
    pub value: &'static str,
    pub nothing_visible: &'static str,
    pub partial_note: &'static str,
    pub back_to_search: &'static str,
    pub unknown: &'static str,
    pub this_node: &'static str,
    pub male: &'static str,
    pub female: &'static str,
    pub other: &'static str,
    // Errors, in plain words.
    pub error_title: &'static str,
    pub session_expired: &'static str,
    pub session_forged: &'static str,
    pub form_expired: &'static str,
    pub missing_field: &'static str,
    pub missing_institution: &'static str,
    pub missing_staff: &'static str,
    pub bad_institution: &'static str,
    pub bad_date: &'static str,
    pub need_criteria: &'static str,
    pub not_found: &'static str,
    pub refused: &'static str,
    pub unavailable: &'static str,
    pub certificate_only: &'static str,
    pub back: &'static str,
}

pub const JA: Texts = Texts {
    title: "絆 Kizuna 医療情報ネットワーク",
    skip: "本文へ移動",
    switch_to: "English",
    sign_in: "サインイン",
    sign_in_lead: "施設と、あなたのお名前を選んでください。",
    sign_in_plain: "このノードの運用者として、施設の立場で閲覧します（この端末からの接続のみ）。",
    institution: "施設",
    institution_hint: "医療機関コード（10桁）と施設名",
    staff: "お名前（職員）",
    staff_hint: "閲覧記録に残ります",
    sign_out: "サインアウト",
    signed_in_as: "サインイン中",
    no_institutions: "このノードには施設が登録されていません。",
    certificate_lead: "施設の証明書でサインインしています。",
    find_patient: "患者さんを探す",
    find_lead: "被保険者番号、院内の患者番号、氏名（漢字またはカナ）、生年月日のいずれかで探せます。",
    name: "氏名（漢字・カナ）",
    name_hint: "例: 山田 または ヤマダ",
    birth_date: "生年月日",
    identifier: "被保険者番号・患者番号",
    identifier_hint: "被保険者番号（記号:番号:枝番）または院内の患者番号",
    search: "検索",
    results: "検索結果",
    no_results: "該当する患者さんは、あなたが閲覧できる範囲にいません。",
    more_results: "さらに該当者がいます。条件を絞り込んでください。",
    gender: "性別",
    open: "開く",
    summary: "要約",
    diagnoses: "病名",
    allergies: "アレルギー",
    infections: "感染症",
    prescriptions: "処方",
    labs: "最近の検査結果",
    source: "記録した施設",
    date: "日付",
    what: "内容",
    value: "結果",
    nothing_visible: "閲覧できる記録はありません。",
    partial_note: "他の施設の記録は、患者さんの同意があるときだけ表示されます。",
    back_to_search: "検索に戻る",
    unknown: "不明",
    this_node: "このノード",
    male: "男性",
    female: "女性",
    other: "その他",
    error_title: "エラー",
    session_expired: "一定時間操作がなかったため、サインアウトしました。もう一度サインインしてください。",
    session_forged: "サインインの情報を確認できませんでした。もう一度サインインしてください。",
    form_expired: "このフォームは有効期限が切れたか、別の画面から送信されました。何も保存していません。画面を開き直してやり直してください。",
    missing_field: "入力されていない項目があります。",
    missing_institution: "施設を選んでください。",
    missing_staff: "お名前（職員）を入力してください。",
    bad_institution: "その施設はこのノードに登録されていません。一覧から選んでください。",
    bad_date: "生年月日は 1970-05-01 のように 年-月-日 で入力してください。",
    need_criteria: "検索する条件を1つ以上入力してください。",
    not_found: "お探しのページまたは記録は見つかりません（閲覧できる範囲にない場合も含みます）。",
    refused: "この操作は許可されていません。",
    unavailable: "一時的に処理できません。しばらくしてからもう一度お試しください。",
    certificate_only: "このノードでは施設の証明書でサインインします。証明書をブラウザに設定してください。",
    back: "戻る",
};

pub const EN: Texts = Texts {
    title: "Kizuna medical record network",
    skip: "Skip to content",
    switch_to: "日本語",
    sign_in: "Sign in",
    sign_in_lead: "Choose your institution and give your name.",
    sign_in_plain: "As this node's operator, view as one institution (connections from this machine only).",
    institution: "Institution",
    institution_hint: "10-digit medical institution code and name",
    staff: "Your name (staff)",
    staff_hint: "Kept in the access log",
    sign_out: "Sign out",
    signed_in_as: "Signed in",
    no_institutions: "No institution is registered on this node.",
    certificate_lead: "You are signed in with your institution's certificate.",
    find_patient: "Find a patient",
    find_lead: "Search by insured-member number, your patient number, name (kanji or kana) or birth date.",
    name: "Name (kanji or kana)",
    name_hint: "e.g. 山田 or ヤマダ",
    birth_date: "Birth date",
    identifier: "Insured-member or patient number",
    identifier_hint: "Insured-member number (symbol:number:branch) or your patient number",
    search: "Search",
    results: "Results",
    no_results: "No patient you may see matches.",
    more_results: "More patients match: narrow the search.",
    gender: "Gender",
    open: "Open",
    summary: "Summary",
    diagnoses: "Diagnoses",
    allergies: "Allergies",
    infections: "Infections",
    prescriptions: "Prescriptions",
    labs: "Recent lab results",
    source: "Recorded by",
    date: "Date",
    what: "What",
    value: "Result",
    nothing_visible: "No record you may see.",
    partial_note: "Other institutions' records show only with the patient's consent.",
    back_to_search: "Back to the search",
    unknown: "unknown",
    this_node: "this node",
    male: "male",
    female: "female",
    other: "other",
    error_title: "Error",
    session_expired: "You were signed out after a while without activity. Please sign in again.",
    session_forged: "Your sign-in could not be checked. Please sign in again.",
    form_expired: "This form has expired or was sent from another page. Nothing was saved. Open the page again and retry.",
    missing_field: "Some fields were not filled in.",
    missing_institution: "Please choose your institution.",
    missing_staff: "Please give your name (staff).",
    bad_institution: "That institution is not registered on this node. Choose one from the list.",
    bad_date: "Give the birth date as year-month-day, e.g. 1970-05-01.",
    need_criteria: "Give at least one thing to search by.",
    not_found: "The page or record was not found (or is not one you may see).",
    refused: "You may not do this.",
    unavailable: "This cannot be done right now. Please try again shortly.",
    certificate_only: "This node signs staff in with their institution's certificate: install it in your browser.",
    back: "Back",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_each_language_s_way() {
        assert_eq!(Lang::Ja.date("2026-11-21"), "2026年11月21日");
        assert_eq!(Lang::En.date("2026-11-21"), "21 Nov 2026");
        assert_eq!(Lang::En.date("2026-11"), "Nov 2026");
        // 20:00 UTC is the next morning in Japan.
        assert_eq!(Lang::Ja.date("2026-11-21T20:00:00Z"), "2026年11月22日");
        assert_eq!(Lang::Ja.date("2026-11-21T20:00:00"), "2026年11月21日");
        assert_eq!(Lang::En.date("not a date"), "not a date");
        assert_eq!(Lang::En.date("2026-13-01"), "2026-13-01");
    }

    #[test]
    fn birth_dates_carry_their_era_in_japanese() {
        assert_eq!(
            Lang::Ja.birth_date("1970-05-01"),
            "1970年5月1日（昭和45年）"
        );
        assert_eq!(
            Lang::Ja.birth_date("1989-01-07"),
            "1989年1月7日（昭和64年）"
        );
        assert_eq!(
            Lang::Ja.birth_date("1989-01-08"),
            "1989年1月8日（平成元年）"
        );
        assert_eq!(
            Lang::Ja.birth_date("2019-05-01"),
            "2019年5月1日（令和元年）"
        );
        assert_eq!(Lang::En.birth_date("1970-05-01"), "1 May 1970");
        assert_eq!(Lang::Ja.birth_date("1970"), "1970年");
    }

    #[test]
    fn the_language_follows_the_cookie_then_the_browser() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(&h), Lang::Ja);
        h.insert(
            "accept-language",
            "en-GB,en;q=0.9,ja;q=0.5".parse().unwrap(),
        );
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert("cookie", "a=b; kizuna-lang=ja".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::Ja);
    }
}
