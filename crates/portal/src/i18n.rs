//! The portal's words in Japanese and English, and dates the way each language writes them.
//!
//! Every text is a field of [`Texts`], and both [`JA`] and [`EN`] must give it, so a missing
//! translation does not compile. The language is the `kizuna-lang` cookie's (set by the
//! switch on every page), else the browser's first of `ja` or `en` (`Accept-Language`), else
//! Japanese.

use axum::http::HeaderMap;

pub use crate::texts::{EN, JA, Texts};

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

    /// An instant (microseconds since the Unix epoch) in JST, to the minute, as this language
    /// writes it: `2026年11月22日 10:05`, `22 Nov 2026 10:05 JST`.
    pub fn instant(self, micros: i64) -> String {
        let Ok(ts) = jiff::Timestamp::from_microsecond(micros) else {
            return String::new();
        };
        let z = ts.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)));
        let day = self.date(&z.date().to_string());
        match self {
            Lang::Ja => format!("{day} {:02}:{:02}", z.hour(), z.minute()),
            Lang::En => format!("{day} {:02}:{:02} JST", z.hour(), z.minute()),
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
    fn instants_are_shown_in_japan_time() {
        // 2026-11-21T20:05:00Z
        let t = 1_795_291_500_000_000;
        assert_eq!(Lang::Ja.instant(t), "2026年11月22日 05:05");
        assert_eq!(Lang::En.instant(t), "22 Nov 2026 05:05 JST");
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
