//! Planning a patient's contacts with care over the history window: chronic
//! follow-up series at the institutions managing each condition, seasonal
//! visits, acute episodes (some needing admission), admissions for incident
//! strokes, cancers and heart failure, and annual health checkups.

use crate::acute::{Acute, acute_kind, acute_rate};
use crate::emit::Class;
use crate::model::{Care, Chronic, Condition, Person};
use crate::registry::{Dept, Registry};
use crate::rng::Rng;
use crate::time::{Moment, civil_from_days, weekday, years_between};

/// An institution and department.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Site {
    pub inst: usize,
    pub dept: Dept,
}

/// What an admission or emergency visit is about.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Event {
    /// An acute episode (index into `Plan::episodes`).
    Episode(usize),
    /// The onset of a chronic condition (index into the conditions).
    Onset(usize),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Purpose {
    /// Chronic follow-up with prescriptions for `rx_days` days.
    FollowUp {
        rx_days: u32,
    },
    Acute {
        episode: usize,
    },
    Checkup,
    Emergency {
        event: Event,
    },
    Admission {
        event: Event,
    },
    /// Outpatient work-up that leads to a diagnosis (e.g. gastric cancer).
    Workup {
        cond: usize,
    },
}

pub(crate) struct Visit {
    pub start: Moment,
    /// `None` if still in progress on `today`.
    pub end: Option<Moment>,
    pub class: Class,
    pub site: Site,
    pub purpose: Purpose,
}

pub(crate) struct Episode {
    pub kind: Acute,
    pub day: i32,
    pub resolved: i32,
    pub site: Site,
}

pub(crate) struct Plan {
    /// Sorted by start time.
    pub visits: Vec<Visit>,
    pub episodes: Vec<Episode>,
    /// Site managing each chronic condition.
    pub cond_sites: Vec<Site>,
    /// Day from which each condition's drugs are prescribed.
    pub rx_start: Vec<i32>,
}

/// The institutions of the patient's local cluster and the patient's choices among them.
pub(crate) struct Sites<'a> {
    reg: &'a Registry,
    hospital: usize,
    clinics: Vec<usize>,
    family: Site,
}

impl<'a> Sites<'a> {
    pub(crate) fn new(reg: &'a Registry, cluster: usize, child: bool, rng: &mut Rng) -> Sites<'a> {
        let members = &reg.clusters[cluster].members;
        let hospital = members[0];
        let clinics = members[1..].to_vec();
        let mut s = Sites {
            reg,
            hospital,
            clinics,
            family: Site {
                inst: hospital,
                dept: Dept::Internal,
            },
        };
        let wanted = if child {
            Dept::Pediatrics
        } else {
            Dept::Internal
        };
        let options: Vec<usize> = s
            .clinics
            .iter()
            .copied()
            .filter(|&i| reg.institutions[i].dept == wanted)
            .collect();
        s.family = if options.is_empty() || rng.chance(0.12) {
            Site {
                inst: hospital,
                dept: wanted,
            }
        } else {
            Site {
                inst: options[rng.index(options.len())],
                dept: wanted,
            }
        };
        s
    }

    pub(crate) fn resolve(&self, care: Care) -> Site {
        let clinic = |dept: Dept| {
            self.clinics
                .iter()
                .copied()
                .find(|&i| self.reg.institutions[i].dept == dept)
                .map(|inst| Site { inst, dept })
        };
        let hospital = |dept: Dept| {
            self.reg.institutions[self.hospital]
                .has_dept(dept)
                .then_some(Site {
                    inst: self.hospital,
                    dept,
                })
        };
        match care {
            Care::Primary => self.family,
            Care::Dermatology => clinic(Dept::Dermatology)
                .or_else(|| hospital(Dept::Dermatology))
                .unwrap_or(self.family),
            Care::Orthopedics => clinic(Dept::Orthopedics)
                .or_else(|| hospital(Dept::Orthopedics))
                .unwrap_or(self.family),
            Care::Otolaryngology => clinic(Dept::Otolaryngology).unwrap_or(self.family),
            Care::Hospital(dept) => Site {
                inst: self.hospital,
                dept,
            },
        }
    }

    pub(crate) fn family(&self) -> Site {
        self.family
    }
}

fn in_pollen_season(day: i32) -> bool {
    (2..=4).contains(&civil_from_days(day).1)
}

/// Whether a condition's drugs are prescribed on `day`.
pub(crate) fn prescribing(cond: &Condition, rx_start: i32, day: i32) -> bool {
    day >= rx_start && (cond.kind != Chronic::Pollinosis || in_pollen_season(day))
}

/// Clinics close on Sundays and over the New Year (29 December – 3 January).
fn closed(day: i32) -> bool {
    let (_, m, d) = civil_from_days(day);
    weekday(day) == 6 || (m == 12 && d >= 29) || (m == 1 && d <= 3)
}

/// An opening-hours clinic time on or near `day`, never after `today`.
fn clinic_moment(rng: &mut Rng, day: i32, today: i32) -> Moment {
    let mut d = day;
    while closed(d) && d < today {
        d += 1;
    }
    while closed(d) {
        d -= 1;
    }
    let minute = if rng.chance(0.7) {
        9 * 60 + 10 * rng.int(0, 17)
    } else {
        14 * 60 + 10 * rng.int(0, 20)
    };
    Moment::new(d, minute as u32)
}

struct Planner<'b> {
    rng: &'b mut Rng,
    p: &'b Person,
    visits: Vec<Visit>,
}

impl Planner<'_> {
    fn ambulatory(&mut self, day: i32, site: Site, purpose: Purpose) {
        let day = day.clamp(self.p.birth, self.p.today);
        let start = clinic_moment(self.rng, day, self.p.today);
        let minutes = if purpose == Purpose::Checkup {
            self.rng.int(60, 120)
        } else {
            self.rng.int(10, 40)
        };
        let end = start.plus_minutes(minutes as u32);
        self.visits.push(Visit {
            start,
            end: Some(end),
            class: Class::Ambulatory,
            site,
            purpose,
        });
    }

    /// Emergency visit (optional) followed by an admission of `los` days.
    /// Returns the discharge day, if discharged by today.
    fn admission(
        &mut self,
        day: i32,
        site: Site,
        event: Event,
        los: i32,
        emergency: bool,
    ) -> Option<i32> {
        let today = self.p.today;
        let mut start = if emergency {
            // On the last day, arrive early enough to be admitted the same day.
            let latest = if day >= today { 107 } else { 143 };
            let er_start = Moment::new(day, 10 * self.rng.int(0, latest) as u32);
            let er_end = er_start.plus_minutes(self.rng.int(120, 300) as u32);
            self.visits.push(Visit {
                start: er_start,
                end: Some(er_end),
                class: Class::Emergency,
                site,
                purpose: Purpose::Emergency { event },
            });
            er_end.plus_minutes(20)
        } else {
            Moment::new(day, 10 * 60 + 10 * self.rng.int(0, 24) as u32)
        };
        if start.day > today {
            return None;
        }
        if start.day == today && start.minute > 23 * 60 {
            start.minute = 23 * 60;
        }
        let discharge_day = start.day + los;
        let end = (discharge_day <= today)
            .then(|| Moment::new(discharge_day, 10 * 60 + 10 * self.rng.int(0, 9) as u32));
        self.visits.push(Visit {
            start,
            end,
            class: Class::Inpatient,
            site,
            purpose: Purpose::Admission { event },
        });
        end.map(|e| e.day)
    }

    fn near_existing(&self, day: i32, site: Site) -> bool {
        self.visits
            .iter()
            .any(|v| v.site == site && (v.start.day - day).abs() <= 3)
    }
}

pub(crate) fn plan(rng: &mut Rng, p: &Person, conds: &[Condition], sites: &Sites) -> Plan {
    let cond_sites: Vec<Site> = conds.iter().map(|c| sites.resolve(c.care)).collect();
    let mut rx_start: Vec<i32> = conds.iter().map(|c| c.onset).collect();
    let mut pl = Planner {
        rng,
        p,
        visits: Vec::new(),
    };

    // Incident events that start with an admission or a hospital work-up.
    for (i, c) in conds.iter().enumerate() {
        if c.onset < p.window_start {
            continue;
        }
        let hospital_site = |dept| sites.resolve(Care::Hospital(dept));
        let discharged = match c.kind {
            Chronic::Stroke => {
                let los = pl.rng.int(14, 35) as i32;
                pl.admission(
                    c.onset,
                    hospital_site(Dept::Neurology),
                    Event::Onset(i),
                    los,
                    true,
                )
            }
            Chronic::HeartFailure => {
                let los = pl.rng.int(10, 21) as i32;
                let er = pl.rng.chance(0.5);
                pl.admission(
                    c.onset,
                    hospital_site(Dept::Cardiology),
                    Event::Onset(i),
                    los,
                    er,
                )
            }
            Chronic::GastricCancer => {
                pl.ambulatory(
                    c.onset,
                    hospital_site(Dept::Gastroenterology),
                    Purpose::Workup { cond: i },
                );
                let surgery = c.onset + pl.rng.int(21, 45) as i32;
                let los = pl.rng.int(10, 18) as i32;
                pl.admission(
                    surgery,
                    hospital_site(Dept::Surgery),
                    Event::Onset(i),
                    los,
                    false,
                )
            }
            _ => continue,
        };
        // Outpatient drugs start after discharge (or never, if still admitted).
        rx_start[i] = discharged.unwrap_or(p.today + 1);
    }

    // Chronic follow-up series, one per managing site.
    let mut site_list: Vec<Site> = Vec::new();
    for s in &cond_sites {
        if !site_list.contains(s) {
            site_list.push(*s);
        }
    }
    for site in site_list {
        let here: Vec<usize> = (0..conds.len())
            .filter(|&i| cond_sites[i] == site)
            .collect();
        let year_round: Vec<usize> = here
            .iter()
            .copied()
            .filter(|&i| conds[i].kind != Chronic::Pollinosis)
            .collect();
        let inst = &sites.reg.institutions[site.inst];
        let base: i64 = if inst.hospital {
            if here
                .iter()
                .any(|&i| conds[i].kind == Chronic::GastricCancer)
            {
                pl.rng.int(90, 180)
            } else {
                pl.rng.int(56, 112)
            }
        } else if site.dept == Dept::Internal || site.dept == Dept::Pediatrics {
            let w: &[u32] = if p.age >= 75 {
                &[45, 35, 20]
            } else {
                &[25, 40, 35]
            };
            [28, 56, 84][pl.rng.weighted(w)]
        } else {
            pl.rng.int(28, 56)
        };
        let interval = (base / 7 * 7).max(14) as i32;
        if !year_round.is_empty() {
            let first = year_round
                .iter()
                .map(|&i| rx_start[i])
                .min()
                .unwrap_or(p.window_start);
            let series_start = first.max(p.window_start);
            let mut day = series_start;
            while day <= p.today {
                pl.ambulatory(
                    day,
                    site,
                    Purpose::FollowUp {
                        rx_days: interval as u32,
                    },
                );
                day += interval + pl.rng.int(-4, 4) as i32;
            }
            // A visit on the day each later condition is diagnosed.
            for &i in &year_round {
                let d = rx_start[i];
                if d > series_start && d <= p.today && !pl.near_existing(d, site) {
                    pl.ambulatory(
                        d,
                        site,
                        Purpose::FollowUp {
                            rx_days: interval as u32,
                        },
                    );
                }
            }
        } else {
            // Pollen season only: a few visits each February to April.
            let start = here
                .iter()
                .map(|&i| rx_start[i])
                .min()
                .unwrap_or(p.window_start)
                .max(p.window_start);
            let (y0, _, _) = civil_from_days(start);
            let (y1, _, _) = civil_from_days(p.today);
            for y in y0..=y1 {
                let mut day = crate::time::days_from_civil(y, 2, 1) + pl.rng.int(0, 20) as i32;
                let season_end = crate::time::days_from_civil(y, 4, 30);
                while day <= season_end && day <= p.today {
                    if day >= start {
                        pl.ambulatory(day, site, Purpose::FollowUp { rx_days: 28 });
                    }
                    day += 28 + pl.rng.int(-3, 3) as i32;
                }
            }
        }
    }

    // Acute episodes.
    let mut episodes: Vec<Episode> = Vec::new();
    let from = p.window_start.max(p.birth);
    let years = f64::from(p.today - from) / 365.25;
    let mid_age = years_between(p.birth, (from + p.today) / 2);
    let mut n = pl.rng.poisson(acute_rate(mid_age) * years);
    if pl.visits.is_empty() && n == 0 {
        n = 1; // everyone in the network has been seen at least once
    }
    for _ in 0..n {
        let mut day = pl.rng.int(i64::from(from), i64::from(p.today)) as i32;
        let kind = acute_kind(pl.rng, years_between(p.birth, day), p.female);
        if kind.winter() && pl.rng.chance(0.75) {
            for _ in 0..12 {
                if matches!(civil_from_days(day).1, 11 | 12 | 1 | 2 | 3) {
                    break;
                }
                day = pl.rng.int(i64::from(from), i64::from(p.today)) as i32;
            }
        }
        let age = years_between(p.birth, day);
        let site = sites.resolve(kind.care(age));
        let resolved = day + kind.duration(pl.rng);
        let index = episodes.len();
        episodes.push(Episode {
            kind,
            day,
            resolved,
            site,
        });
        let admit = match kind {
            Acute::HipFracture => Some((pl.rng.int(21, 40), true)),
            Acute::Pneumonia => {
                let p_admit = if age >= 75 {
                    0.6
                } else if age >= 65 {
                    0.3
                } else if age < 6 {
                    0.2
                } else {
                    0.05
                };
                pl.rng
                    .chance(p_admit)
                    .then(|| (pl.rng.int(7, 16), pl.rng.chance(0.4)))
            }
            _ => None,
        };
        match admit {
            Some((los, er)) => {
                let dept = if kind == Acute::HipFracture {
                    Dept::Orthopedics
                } else if age < 15 {
                    Dept::Pediatrics
                } else {
                    Dept::Internal
                };
                let site = sites.resolve(Care::Hospital(dept));
                episodes[index].site = site;
                pl.admission(day, site, Event::Episode(index), los as i32, er);
            }
            None => pl.ambulatory(day, site, Purpose::Acute { episode: index }),
        }
    }

    // Annual specific health checkups (特定健診, ages 40-74).
    let in_follow_up = pl
        .visits
        .iter()
        .any(|v| v.site == sites.family() && matches!(v.purpose, Purpose::FollowUp { .. }));
    let rate = if in_follow_up { 0.2 } else { 0.5 };
    let mut year_start = p.window_start;
    while year_start <= p.today {
        let day = year_start + pl.rng.int(120, 300) as i32;
        let age = years_between(p.birth, day);
        if day <= p.today && (40..=74).contains(&age) && pl.rng.chance(rate) {
            pl.ambulatory(day, sites.family(), Purpose::Checkup);
        }
        year_start += 365;
    }

    let mut visits = pl.visits;
    visits.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then_with(|| class_rank(a.class).cmp(&class_rank(b.class)))
    });
    Plan {
        visits,
        episodes,
        cond_sites,
        rx_start,
    }
}

fn class_rank(c: Class) -> u8 {
    match c {
        Class::Emergency => 0,
        Class::Ambulatory => 1,
        Class::Inpatient => 2,
    }
}
