//! Credolab's generated data: a dataset per reference number (platform, device, upload
//! date), its scores and fragments, and Iovation fraud-check results.
//!
//! Everything is drawn from `ctx.rng(referenceNumber, purpose)`, so one reference number
//! always shows the same device, scores and fragments. Consistency kept: a higher score
//! has a lower probability of default (one logistic curve for every scorecard);
//! `isRepeatableUpload` is "1" exactly when `associatedDatasetsCount` is above 1; an
//! Iovation result follows its rule score (D ≤ -100 < R < 0 ≤ A) and its rules follow
//! the device facts (an emulator shows `simulator: true`, a new device `isNew: true`
//! and `firstSeen` now, an IP mismatch a real-IP country unlike the stated one). The
//! Iovation device is the dataset's device; "Accounts Per Device" fires exactly when
//! `associatedDatasetsCount` is above 2, and a device with more than one associated
//! dataset is never "new".
//!
//! The catalogues (devices, places, rules) are the mock's own, in
//! `fixtures/credolab/catalogue.json`; the permission names are Credolab's.

use std::cell::Cell;
use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::settings::CredolabSettings;
use super::store::{Channel, Upload};
use crate::generate::{self, MockRng};
use crate::memo::{json_digits_or, Template};
use crate::vendors::Ctx;

/// `2021-08-31T06:23:14.342556`: the doc's `uploadDate` / `requestedDate` (GMT, no zone).
pub const INSIGHT_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6f";
/// `2020-01-20T14:33:14.682Z`: the Iovation example's timestamps.
pub const IOVATION_TIME: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

#[derive(Deserialize)]
struct Catalogue {
    android_permissions: Vec<String>,
    ios_permissions: Vec<String>,
    android_devices: Vec<AndroidDevice>,
    android_versions: Vec<(String, u32)>,
    ios_devices: Vec<String>,
    ios_versions: Vec<String>,
    places: Vec<Place>,
    iovation_rules: Vec<RuleSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AndroidDevice {
    brand: String,
    manufacturer: String,
    model: String,
    device: String,
    product: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Place {
    city: String,
    region: String,
    country: String,
    country_code: String,
    latitude: f64,
    longitude: f64,
    isp: String,
    parent_organization: String,
    carrier: String,
    mcc: String,
    currency: String,
    lang: String,
    timezone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    fact: Fact,
    #[serde(rename = "type")]
    kind: String,
    reason: String,
    score: i64,
    p: f64,
}

/// What can be true of a device, and which Iovation rule notices it.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Fact {
    Evidence,
    Simulator,
    JailRoot,
    Velocity,
    IpMismatch,
    NewDevice,
    Trusted,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../fixtures/credolab/catalogue.json"))
        .expect("fixtures/credolab/catalogue.json is valid (checked by a unit test)")
});

/// The device platform, `datasetInfo.source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Android,
    Ios,
    Web,
}

impl Platform {
    pub fn source(self) -> u8 {
        match self {
            Platform::Android => 0,
            Platform::Ios => 1,
            Platform::Web => 2,
        }
    }
}

/// The device a dataset was collected from.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub brand: String,
    pub manufacturer: String,
    pub model: String,
    pub os_version: String,
    /// Android SDK level.
    pub sdk: Option<u32>,
    pub build_device: Option<String>,
    pub product: Option<String>,
}

/// One dataset as every endpoint sees it.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub reference: String,
    pub platform: Platform,
    pub upload_date: DateTime<Utc>,
    pub associated: u32,
    pub device: Device,
    place: usize,
    /// The `realIp` given at upload.
    pub real_ip: Option<String>,
    /// A scenario asked for the first scorecard only (outcome `ready_one_score`).
    pub single_score: bool,
}

/// Where a dataset came from, beyond its reference number.
#[derive(Debug, Clone)]
pub struct Origin {
    /// A scenario's forced platform.
    pub platform: Option<Platform>,
    /// When it was uploaded (through any upload route), how often, from where, and
    /// through which SDK route.
    pub upload: Option<Upload>,
    /// When the mock first heard of the reference number (implicit datasets were
    /// uploaded a little before that).
    pub first_seen: DateTime<Utc>,
    /// Only the first scorecard answers.
    pub single_score: bool,
}

/// The dataset of `reference`.
pub fn dataset(ctx: &Ctx<'_>, reference: &str, origin: Origin) -> Dataset {
    let cat = &*CATALOGUE;
    let mut rng = ctx.rng(reference, "dataset");
    let drawn = match rng.random_range(0..100) {
        0..70 => Platform::Android,
        70..90 => Platform::Ios,
        _ => Platform::Web,
    };
    // A scenario's platform wins; then the upload route's (`/upload/web` is the web SDK,
    // `/upload/mobile` Android or iOS: a drawn Web becomes Android); then the draw.
    let platform = match (
        origin.platform,
        origin.upload.as_ref().and_then(|u| u.channel),
    ) {
        (Some(p), _) => p,
        (None, Some(Channel::Web)) => Platform::Web,
        (None, Some(Channel::Mobile)) if drawn == Platform::Web => Platform::Android,
        _ => drawn,
    };
    let mut associated = match rng.random_range(0..100) {
        0..75 => 1,
        75..92 => 2,
        _ => rng.random_range(3..=6),
    };
    let (upload_date, real_ip) = match origin.upload {
        Some(Upload {
            uploaded,
            count,
            real_ip,
            ..
        }) => {
            associated = associated.max(count);
            (uploaded, real_ip)
        }
        None => {
            let before = rng.random_range(120_000_000i64..=259_200_000_000);
            (origin.first_seen - TimeDelta::microseconds(before), None)
        }
    };
    let device = match platform {
        Platform::Android => {
            let d = &cat.android_devices[rng.random_range(0..cat.android_devices.len())];
            let (os, sdk) = &cat.android_versions[rng.random_range(0..cat.android_versions.len())];
            Device {
                id: generate::hex(&rng.random(), 32),
                brand: d.brand.clone(),
                manufacturer: d.manufacturer.clone(),
                model: d.model.clone(),
                os_version: os.clone(),
                sdk: Some(*sdk),
                build_device: Some(d.device.clone()),
                product: Some(d.product.clone()),
            }
        }
        Platform::Ios => Device {
            id: uuid(&rng.random()).to_ascii_uppercase(),
            brand: "iPhone".into(),
            manufacturer: "Apple".into(),
            model: cat.ios_devices[rng.random_range(0..cat.ios_devices.len())].clone(),
            os_version: cat.ios_versions[rng.random_range(0..cat.ios_versions.len())].clone(),
            sdk: None,
            build_device: None,
            product: None,
        },
        Platform::Web => Device {
            id: generate::hex(&rng.random(), 32),
            brand: "".into(),
            manufacturer: "".into(),
            model: "".into(),
            os_version: ["Windows 10", "Windows 11", "Mac OS X 14"][rng.random_range(0..3)].into(),
            sdk: None,
            build_device: None,
            product: None,
        },
    };
    Dataset {
        reference: reference.to_string(),
        platform,
        upload_date,
        associated,
        device,
        place: rng.random_range(0..cat.places.len()),
        real_ip,
        single_score: origin.single_score,
    }
}

/// 32 bytes as a lower-case UUID (version 4 layout).
pub fn uuid(bytes: &[u8; 32]) -> String {
    String::from_utf8(uuid_digits(bytes).to_vec()).expect("hex digits and dashes are ASCII")
}

/// [`uuid`]'s 36 characters.
fn uuid_digits(bytes: &[u8; 32]) -> [u8; 36] {
    // The hex of the first 16 bytes, `-` after 8, 12, 16 and 20 digits, digit 12 `4`,
    // digit 16 one of `89ab` (written by hand: `format!` cost more than the rest of an
    // Iovation answer's per-request work).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut h = [0u8; 32];
    for (pair, b) in h.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    h[12] = b'4';
    h[16] = b"89ab"[usize::from(bytes[8] & 3)];
    let mut out = [b'-'; 36];
    for (from, to, len) in [(0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)] {
        out[to..to + len].copy_from_slice(&h[from..from + len]);
    }
    out
}

/// Probability of default for a score: one logistic curve, strictly falling, giving
/// the doc's 0.0407 near 595.
pub fn probability(value: i64) -> f64 {
    generate::round(1.0 / (1.0 + ((value as f64 - 468.6) / 40.0).exp()), 4)
}

/// How far another scorecard's value may lie from the first's.
pub const SCORECARD_SPREAD: i64 = 25;

/// The `{code, value, probability}` of each scorecard in `codes` (in order; only the
/// first when the dataset asks for one). Several scorecards on one subscription score
/// the same dataset, so they agree: the first is drawn per (reference number, its code);
/// each other lies within [`SCORECARD_SPREAD`] points of it (drawn per its own code);
/// every probability comes from the one falling curve of its own value.
pub fn scores(ctx: &Ctx<'_>, ds: &Dataset, codes: &[String]) -> Vec<(String, Value)> {
    let take = if ds.single_score { 1 } else { codes.len() };
    let mut first = None;
    codes
        .iter()
        .take(take)
        .map(|code| {
            let mut rng = ctx.rng(&ds.reference, &format!("score:{code}"));
            let value = match first {
                None => {
                    // Roughly normal around 600 (sum of four uniforms), within 300..=850.
                    let z: f64 = (0..4).map(|_| rng.random_range(-1.0..=1.0)).sum::<f64>() / 1.155;
                    let v = (600.0 + 80.0 * z).round().clamp(300.0, 850.0) as i64;
                    first = Some(v);
                    v
                }
                Some(f) => {
                    (f + rng.random_range(-SCORECARD_SPREAD..=SCORECARD_SPREAD)).clamp(300, 850)
                }
            };
            let body = json!({"code": code, "value": value, "probability": probability(value)});
            (code.clone(), body)
        })
        .collect()
}

/// The standard fragments, in the order and with the quirks of the doc's samples:
/// Android `velocity` is an object and permission states are strings ("1", "0" or
/// null) under `permission`; iOS `velocity` is an array of one object and states are
/// numbers under `permissions`. Web datasets have no standard fragments ("For
/// Android/iOS, credolab will set up 3 standard fragments"). Then the client-specific
/// fragments of `[insights] custom_fragments`, on every platform (they are configured
/// per subscription, "on top of" the standard ones): `device` is
/// `{"deviceId": <the device_info deviceID>}`, the fragment a production lender reads.
pub fn fragments(ctx: &Ctx<'_>, ds: &Dataset) -> Vec<(&'static str, Value)> {
    let mut out = standard_fragments(ctx, ds);
    for name in &ctx.settings::<CredolabSettings>().custom_fragments {
        if name == "device" {
            out.push(("device", json!({ "deviceId": ds.device.id })));
        }
    }
    out
}

fn standard_fragments(ctx: &Ctx<'_>, ds: &Dataset) -> Vec<(&'static str, Value)> {
    let cat = &*CATALOGUE;
    let mut rng = ctx.rng(&ds.reference, "fragments");
    let velocity = json!({
        "isRepeatableUpload": if ds.associated > 1 { "1" } else { "0" },
        "associatedDatasetsCount": ds.associated.to_string(),
    });
    let device_info = json!({
        "deviceID": ds.device.id,
        "osVersion": ds.device.os_version,
        "brand": ds.device.brand,
        "model": ds.device.model,
    });
    match ds.platform {
        Platform::Android => {
            let perms: Vec<Value> = cat
                .android_permissions
                .iter()
                .map(|p| {
                    let state = match rng.random_range(0..10) {
                        0..7 => json!("1"),
                        7..9 => json!("0"),
                        _ => Value::Null,
                    };
                    json!({"permission": p, "state": state})
                })
                .collect();
            vec![
                ("velocity", velocity),
                ("device_info", device_info),
                ("permission", Value::Array(perms)),
            ]
        }
        Platform::Ios => {
            let perms: Vec<Value> = cat
                .ios_permissions
                .iter()
                .map(|p| json!({"permission": p, "state": u8::from(rng.random_bool(0.5))}))
                .collect();
            vec![
                ("permissions", Value::Array(perms)),
                ("device_info", device_info),
                ("velocity", json!([velocity])),
            ]
        }
        Platform::Web => vec![],
    }
}

/// Tags of the insight codes, for `/api/insights/v1?tags=` (the mock's own: Credolab
/// configures them per subscription).
pub fn tags(code: &str, is_score: bool) -> &'static [&'static str] {
    match code {
        _ if is_score => &["score", "credit_risk"],
        "velocity" => &["fraud", "velocity"],
        "device_info" | "device" => &["device"],
        "permission" | "permissions" => &["device", "permissions"],
        _ => &[],
    }
}

/// Facts about a dataset's device, as Iovation would see them.
struct Facts {
    present: Vec<Fact>,
    first_seen: DateTime<Utc>,
    alias: u64,
}

/// Iovation's "Too many accounts per device" fires above this many associated datasets.
const VELOCITY_ABOVE: u32 = 2;

fn facts(ctx: &Ctx<'_>, ds: &Dataset) -> Facts {
    let mut rng = ctx.rng(&ds.reference, "iovation-device");
    let mut present: Vec<Fact> = CATALOGUE
        .iovation_rules
        .iter()
        .filter(|r| rng.random_bool(r.p))
        .map(|r| r.fact)
        .collect();
    // A device seen with this account before is not new.
    if present.contains(&Fact::Trusted) {
        present.retain(|f| *f != Fact::NewDevice);
    }
    // Web sessions are neither emulators nor rooted.
    if ds.platform == Platform::Web {
        present.retain(|f| !matches!(f, Fact::Simulator | Fact::JailRoot));
    }
    // "Accounts Per Device" follows the velocity fragment's `associatedDatasetsCount`
    // alone (the catalogue's draw for it is discarded), and a device that already
    // carried another dataset is not new.
    present.retain(|f| *f != Fact::Velocity);
    if ds.associated > VELOCITY_ABOVE {
        present.push(Fact::Velocity);
    }
    if ds.associated > 1 {
        present.retain(|f| *f != Fact::NewDevice);
    }
    let first_seen = if present.contains(&Fact::NewDevice) {
        ds.upload_date
    } else {
        ds.upload_date - TimeDelta::seconds(rng.random_range(86_400..=400 * 86_400))
    };
    Facts {
        present,
        first_seen,
        alias: rng.random_range(1..=999_999),
    }
}

/// What one fraud check needs beyond the dataset.
pub struct Check<'a> {
    pub ruleset: &'a str,
    pub account_code: &'a str,
    pub requestor: &'a str,
    pub now: DateTime<Utc>,
    /// An issued id for this transaction.
    pub id: [u8; 32],
    /// Render the per-request values as [`Template`] holes instead: `requestedDate`
    /// (0), `value.id` (1) and `blackboxMetadata.timeStamp` (2).
    pub holes: bool,
}

/// `2020-01-20T14:33:14.682Z` ([`IOVATION_TIME`]).
pub fn iovation_time(t: DateTime<Utc>) -> String {
    civil(t, 3).map_or_else(
        || t.format(IOVATION_TIME).to_string(),
        |mut s| {
            s.push('Z');
            s
        },
    )
}

/// [`iovation_time`] as a JSON string, appended to `out` (no `String` in between for
/// the years [`civil`] writes).
pub fn put_iovation_time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    // The buffer has room for the `Z` after three digits.
    let civil = civil_digits(t, 3).map(|(mut d, len)| {
        d[len] = b'Z';
        (d, len + 1)
    });
    json_digits_or(out, civil.as_ref().map(|(d, len)| &d[..*len]), || {
        iovation_time(t)
    });
}

/// [`insight_time`] as a JSON string, appended to `out` (see [`put_iovation_time`]).
pub fn put_insight_time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    let civil = civil_digits(t, 6);
    json_digits_or(out, civil.as_ref().map(|(d, len)| &d[..*len]), || {
        insight_time(t)
    });
}

/// [`uuid`] as a JSON string, appended to `out`.
pub fn put_uuid(out: &mut Vec<u8>, bytes: &[u8; 32]) {
    out.push(b'"');
    out.extend_from_slice(&uuid_digits(bytes));
    out.push(b'"');
}

/// `2021-08-31T06:23:14.342556` ([`INSIGHT_TIME`]).
pub fn insight_time(t: DateTime<Utc>) -> String {
    civil(t, 6).unwrap_or_else(|| t.format(INSIGHT_TIME).to_string())
}

/// `YYYY-MM-DDTHH:MM:SS.` and `digits` (3 or 6) digits of the second's fraction,
/// truncated, as chrono's `%.3f` / `%.6f` write it; written by hand (chrono parses its
/// format string on every call). `None` outside years 0-9999 and in a leap second:
/// chrono's own rendering then.
fn civil(t: DateTime<Utc>, digits: usize) -> Option<String> {
    let (out, len) = civil_digits(t, digits)?;
    // Room for the `Z` an Iovation time adds.
    let mut text = Vec::with_capacity(len + 1);
    text.extend_from_slice(&out[..len]);
    Some(String::from_utf8(text).expect("digits and separators are ASCII"))
}

thread_local! {
    /// The `YYYY-MM-DDThh:mm:ss` of the two seconds this thread last wrote an answer's
    /// time in, by Unix second, the latest first (`i64::MIN`: none): an answer's times
    /// fall in the same second as the last answer's nearly always (a frozen clock, or a
    /// client's steady stream of requests), so their date and time of day, most of the
    /// work of writing them, are copied. Two, for the Iovation answer's two times.
    static SECONDS: Cell<[(i64, [u8; 19]); 2]> = const { Cell::new([(i64::MIN, [0; 19]); 2]) };
}

/// [`civil`]'s text in a buffer, and its length.
fn civil_digits(t: DateTime<Utc>, digits: usize) -> Option<([u8; 26], usize)> {
    let mut out = [0; 26];
    let (second, nanos) = (t.timestamp(), t.timestamp_subsec_nanos());
    let seen = SECONDS.with(Cell::get);
    match seen.iter().find(|(s, _)| *s == second) {
        // A leap second's nanoseconds are 1e9 and up (`put_iso_time` declines it): it
        // shares its Unix second with the second before it, which may be kept.
        Some((_, text)) if nanos < 1_000_000_000 => out[..19].copy_from_slice(text),
        _ => {
            if !generate::put_iso_time(&mut out, &t.naive_utc(), b'.', digits) {
                return None;
            }
            let mut text = [0; 19];
            text.copy_from_slice(&out[..19]);
            SECONDS.with(|c| c.set([(second, text), seen[0]]));
            return Some((out, 20 + digits));
        }
    }
    out[19] = b'.';
    generate::put_digits(&mut out, 20, digits, nanos / 10u32.pow(9 - digits as u32));
    Some((out, 20 + digits))
}

/// The full Iovation fraud-check answer.
pub fn iovation(ctx: &Ctx<'_>, ds: &Dataset, c: &Check<'_>) -> Value {
    let cat = &*CATALOGUE;
    let f = facts(ctx, ds);
    let ruleset_key = c.ruleset.to_ascii_lowercase();
    let mut rrng = ctx.rng(&ds.reference, &format!("iovation-ruleset:{ruleset_key}"));
    // The `default` ruleset checks every rule; others a deterministic subset.
    let mut srng = ctx.rng("", &format!("ruleset:{ruleset_key}"));
    let mut rules: Vec<&RuleSpec> = cat
        .iovation_rules
        .iter()
        .filter(|_| ruleset_key == "default" || srng.random_bool(0.7))
        .filter(|r| f.present.contains(&r.fact))
        .collect();
    rules.sort_by_key(|r| r.score);
    let score: i64 = rules.iter().map(|r| r.score).sum();
    let result = if score <= -100 {
        "D"
    } else if score < 0 {
        "R"
    } else {
        "A"
    };
    let reason = rules.first().map_or("", |r| r.reason.as_str());
    let place = &cat.places[ds.place];
    let stated_ip = ds
        .real_ip
        .clone()
        .unwrap_or_else(|| ip(&mut ctx.rng(&ds.reference, "stated-ip")));
    let real_place = if f.present.contains(&Fact::IpMismatch) {
        let other: Vec<&Place> = cat
            .places
            .iter()
            .filter(|p| p.country_code != place.country_code)
            .collect();
        other[rrng.random_range(0..other.len())]
    } else {
        place
    };
    let real_ip = if f.present.contains(&Fact::IpMismatch) {
        ip(&mut ctx.rng(&ds.reference, "real-ip"))
    } else {
        stated_ip.clone()
    };
    let age: i64 = rrng.random_range(1..=600);
    let mut drng = ctx.rng(&ds.reference, "iovation-mobile");
    let mobile = match ds.platform {
        Platform::Web => Value::Null,
        p => {
            let android = p == Platform::Android;
            json!({
                "brand": ds.device.brand,
                "charging": drng.random_bool(0.3),
                "imei": Value::Null,
                "manufacturer": ds.device.manufacturer,
                "model": ds.device.model,
                "orientation": "portrait",
                "screenResolution": if android { "1080x2400" } else { "1170x2532" },
                "app": {
                    "bundleId": "com.example.lender",
                    "exeName": if android { "com.example.lender" } else { "Lender" },
                    "debug": false,
                    "marketId": if android { "com.android.vending" } else { "com.apple.AppStore" },
                    "name": "Lender",
                    "signerId": generate::hex(&drng.random(), 40),
                    "version": "3.4.1",
                },
                "location": {"enabled": drng.random_bool(0.8), "timezone": place.timezone},
                "system": {
                    "allowUnknownStore": android && drng.random_bool(0.2),
                    "androidSdkLevel": ds.device.sdk.map(|s| s.to_string()),
                    "buildFingerprint": ds.device.product.as_ref().map(|p| format!("{}/{p}/{}:{}/release-keys", ds.device.brand, ds.device.build_device.as_deref().unwrap_or(""), ds.device.os_version)),
                    "carrier": place.carrier,
                    "carrierCountryCode": place.mcc,
                    "hostname": "localhost",
                    "jailRootDetected": f.present.contains(&Fact::JailRoot),
                    "localeCurrency": place.currency,
                    "localeLang": place.lang,
                    "networkOperatorCountry": place.country_code.to_ascii_lowercase(),
                    "networkOperatorName": place.carrier,
                    "osVersion": ds.device.os_version,
                    "simulator": f.present.contains(&Fact::Simulator),
                    "uptime": drng.random_range(600..=2_000_000),
                },
                "build": {"device": ds.device.build_device, "product": ds.device.product},
            })
        }
    };
    let (os, kind) = match ds.platform {
        Platform::Android => (format!("ANDROID {}", ds.device.os_version), "ANDROID"),
        Platform::Ios => (format!("iOS {}", ds.device.os_version), "IPHONE"),
        Platform::Web if ds.device.os_version.starts_with("Mac") => {
            (ds.device.os_version.to_ascii_uppercase(), "MAC")
        }
        Platform::Web => (ds.device.os_version.to_ascii_uppercase(), "WINDOWS"),
    };
    let ip_json = |address: &str, p: &Place, source: &str| {
        json!({
            "address": address,
            "isp": p.isp,
            "parentOrganization": p.parent_organization,
            "source": source,
            "ipLocation": {
                "city": p.city,
                "country": p.country,
                "countryCode": p.country_code,
                "region": p.region,
                "latitude": p.latitude,
                "longitude": p.longitude,
            },
        })
    };
    let tracking = 4_611_686_018_400_000_000u64 + rrng.random_range(0..10_000_000_000u64);
    json!({
        "accountCode": c.account_code,
        "requestedDate": if c.holes { Template::hole(0) } else { iovation_time(c.now) },
        "rulesetId": c.ruleset,
        "requestor": c.requestor,
        "value": {
            "id": if c.holes { Template::hole(1) } else { uuid(&c.id) },
            "result": result,
            "reason": reason,
            "statedIp": stated_ip,
            "accountCode": c.account_code,
            "trackingNumber": tracking,
            "details": {
                "device": {
                    "alias": f.alias,
                    "blackboxMetadata": {
                        "age": age,
                        "timeStamp": if c.holes { Template::hole(2) } else { iovation_time(c.now - TimeDelta::seconds(age)) },
                    },
                    "firstSeen": iovation_time(f.first_seen),
                    "isNew": f.present.contains(&Fact::NewDevice),
                    "mobile": mobile,
                    "os": os,
                    "type": kind,
                },
                "statedIp": ip_json(&stated_ip, place, "subscriber"),
                "realIp": ip_json(&real_ip, real_place, "iovation"),
                "ruleResults": {
                    "score": score,
                    "rulesMatched": rules.len(),
                    "rules": rules.iter().map(|r| json!({"type": r.kind, "reason": r.reason, "score": r.score})).collect::<Vec<_>>(),
                },
            },
        },
    })
}

/// A public-looking IPv4 address.
fn ip(rng: &mut MockRng) -> String {
    format!(
        "{}.{}.{}.{}",
        [36, 103, 110, 112, 114, 120, 180, 182, 187, 202][rng.random_range(0..10)],
        rng.random_range(0..=255),
        rng.random_range(0..=255),
        rng.random_range(1..=254)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_with_the_documented_permission_names() {
        let c = &*CATALOGUE;
        assert_eq!(c.android_permissions.len(), 8);
        assert_eq!(c.ios_permissions[0], "NSPhotoLibraryUsageDescription");
        assert!(c
            .places
            .iter()
            .any(|p| p.country_code != c.places[0].country_code));
    }

    #[test]
    fn a_higher_score_never_has_a_higher_probability_of_default() {
        let mut last = 1.0;
        for v in 300..=850 {
            let p = probability(v);
            assert!(p <= last, "{v}: {p} > {last}");
            assert!((0.0..=1.0).contains(&p));
            last = p;
        }
        assert_eq!(probability(595), 0.0407);
        assert!(probability(300) > probability(850));
    }

    /// The writers into an answer give the JSON string of what the `String` versions
    /// give, and those chrono's own rendering, in and out of the years written by hand,
    /// in a leap second, at every fraction length.
    #[test]
    fn times_and_uuids_written_in_place_are_the_json_of_their_strings() {
        let json = |s: String| serde_json::to_vec(&s).unwrap();
        for t in generate::awkward_times() {
            assert_eq!(iovation_time(t), t.format(IOVATION_TIME).to_string());
            assert_eq!(insight_time(t), t.format(INSIGHT_TIME).to_string());
            let mut out = b"[".to_vec();
            put_iovation_time(&mut out, t);
            assert_eq!(out[1..], json(iovation_time(t)), "{t:?}");
            let mut out = Vec::new();
            put_insight_time(&mut out, t);
            assert_eq!(out, json(insight_time(t)), "{t:?}");
        }
        for seed in [0u8, 7, 0xab, 0xff] {
            let bytes: [u8; 32] = std::array::from_fn(|i| seed.wrapping_mul(i as u8 + 3));
            let mut out = vec![b'x'];
            put_uuid(&mut out, &bytes);
            assert_eq!(out[1..], json(uuid(&bytes)));
        }
    }

    /// The seconds a thread keeps ([`SECONDS`]) never change a time: each written right
    /// after each other (its own second; 23:59:59, whose Unix second the leap second
    /// after it shares; another year), at both lengths, is chrono's.
    #[test]
    fn times_written_after_other_times_are_still_chronos() {
        let times = generate::awkward_times();
        for a in &times {
            for b in &times {
                for t in [*a, *b, *a] {
                    let mut out = Vec::new();
                    put_insight_time(&mut out, t);
                    put_iovation_time(&mut out, t);
                    let want = [
                        serde_json::to_vec(&t.format(INSIGHT_TIME).to_string()).unwrap(),
                        serde_json::to_vec(&t.format(IOVATION_TIME).to_string()).unwrap(),
                    ]
                    .concat();
                    assert_eq!(out, want, "{a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn uuids_have_the_version_4_layout() {
        // As they were written with `format!` before.
        for seed in [0u8, 7, 0xab, 0xff] {
            let bytes: [u8; 32] = std::array::from_fn(|i| seed.wrapping_mul(i as u8 + 1));
            let h = generate::hex(&bytes, 32);
            let before = format!(
                "{}-{}-4{}-{}{}-{}",
                &h[0..8],
                &h[8..12],
                &h[13..16],
                ["8", "9", "a", "b"][usize::from(bytes[8] & 3)],
                &h[17..20],
                &h[20..32]
            );
            assert_eq!(uuid(&bytes), before);
        }
        let u = uuid(&[0xab; 32]);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(
            u.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
    }
}
