//! FinScore's score models: which `[score, band]` pairs a score product can answer, and
//! how the mock draws one for a subscriber.
//!
//! From FinScore's scoring guide (the "Finscore Scoring Guide", 2023, shipped with a
//! production client; see FACTS.md): `Q1` ("Telco Score Combined Gen. 4.1", Smart and
//! Sun numbers), `GL1` (Globe) and `DT1` (DITO). Each answers prepaid numbers with a
//! score in 300-600 cut into ten bands (band 1 = highest risk), postpaid numbers with
//! exactly 880, 920 or 960 (bands 21, 22, 23: High, Medium, Low risk), and `Q1` also
//! answers Sun Cellular numbers with 91/92/93 (prepaid: HIGH, MID, LOW risk) or
//! 921/922/923 (postpaid) and Smart broadband (and others) with -8 (HIGH risk).
//!
//! The guide gives no band for 91/92/93, 921/922/923 or -8; the mock gives each the band
//! of its risk level on the postpaid scale (HIGH 21, MID 22, LOW 23), which says nothing
//! about the subscription (91-93 are prepaid values). LenderLink's older -9 for Sun
//! subscribers is replaced by 91-93/921-923 in the guide and never emitted. Model `10` is the
//! numeric partner product of `finscore-featurestore.txt`, whose band table is not
//! published: its cut-offs are the mock's, chosen so the document's example (score
//! 560, band 6) is one of its pairs. Both are listed as assumptions in
//! `docs/vendors/finscore.md`.
//!
//! Drawing: a number's subscription (prepaid about 90 %, postpaid 7 %, broadband 3 %)
//! is fixed per number; a prepaid score first picks a band (each about a tenth of
//! subscribers, as cut-offs of this shape suggest) and then a score inside it; the
//! three-level values are weighted 30/40/30 (High/Medium/Low).

use rand::Rng;

use crate::generate::MockRng;

/// The prepaid scale every model shares.
pub const PREPAID_MIN: i64 = 300;
#[cfg(test)]
pub const PREPAID_MAX: i64 = 600;

/// A three-level value: (score, band, weight).
type Level = (i64, i64, u32);

/// Postpaid, every model: 880 High, 920 Medium, 960 Low.
const POSTPAID: &[Level] = &[(880, 21, 30), (920, 22, 40), (960, 23, 30)];
/// Q1, Sun Cellular postpaid.
const SUN_POSTPAID: &[Level] = &[(921, 21, 30), (922, 22, 40), (923, 23, 30)];
/// Q1, Sun Cellular prepaid: 91 HIGH, 92 MID, 93 LOW risk.
const SUN_PREPAID: &[Level] = &[(91, 21, 30), (92, 22, 40), (93, 23, 30)];
/// Q1, Smart broadband and others: -8, HIGH risk.
const BROADBAND: &[Level] = &[(-8, 21, 1)];

/// One score model.
#[derive(Debug, PartialEq, Eq)]
pub struct Model {
    pub name: &'static str,
    /// The highest score of bands 1 to 10 (band 10 ends at 600).
    pub prepaid_tops: [i64; 10],
    pub postpaid: &'static [Level],
    /// Values for numbers of a network flagged `special = "sun"`, when the model has its
    /// own.
    pub sun_prepaid: Option<&'static [Level]>,
    pub sun_postpaid: Option<&'static [Level]>,
    /// The broadband value, when the model has one (else broadband scores as prepaid).
    pub broadband: Option<&'static [Level]>,
}

/// The built-in models, by name.
pub const MODELS: &[Model] = &[
    Model {
        name: "Q1",
        prepaid_tops: [482, 504, 517, 526, 534, 542, 550, 557, 567, 600],
        postpaid: POSTPAID,
        sun_prepaid: Some(SUN_PREPAID),
        sun_postpaid: Some(SUN_POSTPAID),
        broadband: Some(BROADBAND),
    },
    Model {
        name: "GL1",
        prepaid_tops: [502, 521, 532, 540, 546, 552, 558, 563, 570, 600],
        postpaid: POSTPAID,
        sun_prepaid: None,
        sun_postpaid: None,
        broadband: None,
    },
    Model {
        name: "DT1",
        prepaid_tops: [448, 465, 473, 480, 487, 494, 501, 509, 520, 600],
        postpaid: POSTPAID,
        sun_prepaid: None,
        sun_postpaid: None,
        broadband: None,
    },
    // The mock's own table for the partner product (see the module doc): 560 is band 6.
    Model {
        name: "10",
        prepaid_tops: [449, 489, 514, 534, 549, 564, 574, 584, 592, 600],
        postpaid: POSTPAID,
        sun_prepaid: None,
        sun_postpaid: None,
        broadband: None,
    },
];

pub fn model(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

/// A number's subscription, fixed per number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    Prepaid,
    Postpaid,
    /// Broadband SIMs ("Smart broadband and others" in the guide).
    Broadband,
}

/// Out of 100: prepaid 90, postpaid 7, broadband 3.
pub fn subscription(rng: &mut MockRng) -> Subscription {
    match rng.random_range(0..100) {
        0..90 => Subscription::Prepaid,
        90..97 => Subscription::Postpaid,
        _ => Subscription::Broadband,
    }
}

impl Model {
    /// `(score, band)` for a subscriber; `sun` when the number is Sun Cellular's.
    pub fn draw(&self, rng: &mut MockRng, sub: Subscription, sun: bool) -> (i64, i64) {
        let levels = match (sub, sun) {
            (Subscription::Broadband, _) if self.broadband.is_some() => self.broadband,
            (Subscription::Postpaid, true) if self.sun_postpaid.is_some() => self.sun_postpaid,
            (Subscription::Postpaid, _) => Some(self.postpaid),
            (_, true) => self.sun_prepaid,
            (_, false) => None,
        };
        match levels {
            Some(levels) => pick(rng, levels),
            None => self.draw_prepaid(rng),
        }
    }

    /// A band (one tenth each), then a score inside it.
    fn draw_prepaid(&self, rng: &mut MockRng) -> (i64, i64) {
        let i = rng.random_range(0..self.prepaid_tops.len());
        let low = if i == 0 {
            PREPAID_MIN
        } else {
            self.prepaid_tops[i - 1] + 1
        };
        (rng.random_range(low..=self.prepaid_tops[i]), i as i64 + 1)
    }
}

/// Reading the tables back, for the property tests.
#[cfg(test)]
impl Model {
    /// The band of a prepaid score, `None` outside 300-600.
    pub fn prepaid_band(&self, score: i64) -> Option<i64> {
        if !(PREPAID_MIN..=PREPAID_MAX).contains(&score) {
            return None;
        }
        let i = self.prepaid_tops.iter().position(|top| score <= *top)?;
        Some(i as i64 + 1)
    }

    /// Every discrete (three-level or special) value of the model, with its band.
    fn levels(&self) -> impl Iterator<Item = &Level> {
        self.postpaid
            .iter()
            .chain(self.sun_prepaid.into_iter().flatten())
            .chain(self.sun_postpaid.into_iter().flatten())
            .chain(self.broadband.into_iter().flatten())
    }

    /// Whether FinScore's table for this model contains `[score, band]`.
    pub fn allows(&self, score: i64, band: i64) -> bool {
        self.prepaid_band(score) == Some(band)
            || self.levels().any(|(s, b, _)| (*s, *b) == (score, band))
    }
}

fn pick(rng: &mut MockRng, levels: &[Level]) -> (i64, i64) {
    let total: u32 = levels.iter().map(|(_, _, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (score, band, weight) in levels {
        if roll < *weight {
            return (*score, *band);
        }
        roll -= weight;
    }
    let (score, band, _) = levels.last().expect("a model's level lists are not empty");
    (*score, *band)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    /// FACTS.md's tables, written out as (band, lowest, highest) so a typo in
    /// `prepaid_tops` cannot agree with itself.
    const GUIDE: &[(&str, [(i64, i64); 10])] = &[
        (
            "Q1",
            [
                (300, 482),
                (483, 504),
                (505, 517),
                (518, 526),
                (527, 534),
                (535, 542),
                (543, 550),
                (551, 557),
                (558, 567),
                (568, 600),
            ],
        ),
        (
            "GL1",
            [
                (300, 502),
                (503, 521),
                (522, 532),
                (533, 540),
                (541, 546),
                (547, 552),
                (553, 558),
                (559, 563),
                (564, 570),
                (571, 600),
            ],
        ),
        (
            "DT1",
            [
                (300, 448),
                (449, 465),
                (466, 473),
                (474, 480),
                (481, 487),
                (488, 494),
                (495, 501),
                (502, 509),
                (510, 520),
                (521, 600),
            ],
        ),
    ];

    #[test]
    fn the_prepaid_bands_are_the_scoring_guides_at_every_edge() {
        for (name, bands) in GUIDE {
            let m = model(name).unwrap();
            for (i, (low, high)) in bands.iter().enumerate() {
                let band = i as i64 + 1;
                assert_eq!(m.prepaid_band(*low), Some(band), "{name} {low}");
                assert_eq!(m.prepaid_band(*high), Some(band), "{name} {high}");
            }
            assert_eq!(m.prepaid_band(299), None, "{name}");
            assert_eq!(m.prepaid_band(601), None, "{name}");
        }
    }

    #[test]
    fn the_seeds_example_fits_product_10_but_is_band_9_under_q1() {
        assert!(model("10").unwrap().allows(560, 6));
        assert!(!model("Q1").unwrap().allows(560, 6));
        assert!(model("Q1").unwrap().allows(560, 9));
    }

    #[test]
    fn only_the_guides_discrete_values_are_allowed() {
        let q1 = model("Q1").unwrap();
        for (s, b) in [
            (880, 21),
            (920, 22),
            (960, 23),
            (921, 21),
            (922, 22),
            (923, 23),
            (91, 21),
            (92, 22),
            (93, 23),
            (-8, 21),
        ] {
            assert!(q1.allows(s, b), "Q1 {s} {b}");
        }
        for (s, b) in [
            (806, 22),
            (700, 21),
            (999, 23),
            (880, 22),
            (0, 1),
            (601, 10),
        ] {
            assert!(!q1.allows(s, b), "Q1 {s} {b}");
        }
        let gl1 = model("GL1").unwrap();
        assert!(gl1.allows(920, 22));
        for (s, b) in [(921, 21), (91, 21), (-8, 21)] {
            assert!(!gl1.allows(s, b), "GL1 {s} {b}");
        }
    }

    /// The property the issue asks for: whatever the seed, number, subscription and
    /// network, every generated pair is one its model's table allows.
    #[test]
    fn every_generated_score_and_band_is_allowed_by_its_models_table() {
        for m in MODELS {
            for seed in 0..4u64 {
                for i in 0..1500 {
                    let n = format!("639{i:09}");
                    let sub = subscription(&mut generate::rng(seed, "finscore", &n, "sub"));
                    for sun in [false, true] {
                        let mut rng = generate::rng(seed, "finscore", &n, m.name);
                        let (s, b) = m.draw(&mut rng, sub, sun);
                        assert!(m.allows(s, b), "{} {sub:?} sun={sun}: {s} {b}", m.name);
                    }
                }
            }
        }
    }

    #[test]
    fn most_numbers_are_prepaid_and_every_kind_of_value_occurs() {
        let q1 = model("Q1").unwrap();
        let (mut prepaid, mut postpaid, mut broadband, mut sun) = (0, 0, 0, 0);
        for i in 0..4000 {
            let n = format!("639{i:09}");
            let sub = subscription(&mut generate::rng(0, "finscore", &n, "sub"));
            let (s, _) = q1.draw(&mut generate::rng(0, "finscore", &n, "Q1"), sub, i % 4 == 0);
            match s {
                300..=600 => prepaid += 1,
                880 | 920 | 960 => postpaid += 1,
                -8 => broadband += 1,
                91..=93 | 921..=923 => sun += 1,
                other => panic!("{other}"),
            }
        }
        assert!(prepaid > 2400, "{prepaid}");
        assert!(postpaid > 100 && broadband > 50 && sun > 800);
    }

    #[test]
    fn every_prepaid_band_occurs() {
        let m = model("GL1").unwrap();
        let mut seen = [false; 10];
        for i in 0..500 {
            let mut rng = generate::rng(0, "finscore", &i.to_string(), "GL1");
            let (_, b) = m.draw(&mut rng, Subscription::Prepaid, false);
            seen[(b - 1) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
