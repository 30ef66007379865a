//! Times as the reader wants them: a clock on each message group, the full
//! date on hover, and a label per day (Today, Yesterday, a date).

use js_sys::Date;
use wasm_bindgen::JsValue;

fn date(ts: f64) -> Date {
    Date::new(&JsValue::from_f64(ts))
}

/// `HH:MM`, local time.
pub fn clock(ts: f64) -> String {
    let d = date(ts);
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// The full local date and time, for a tooltip.
pub fn full(ts: f64) -> String {
    String::from(date(ts).to_locale_string("default", &JsValue::UNDEFINED))
}

pub fn iso(ts: f64) -> String {
    date(ts).to_iso_string().into()
}

/// The local calendar day, comparable.
pub fn day(ts: f64) -> (u32, u32, u32) {
    let d = date(ts);
    (d.get_full_year(), d.get_month(), d.get_date())
}

/// "Today", "Yesterday", or e.g. "Monday, 30 November 2026".
pub fn day_label(ts: f64, now: f64) -> String {
    let this = day(ts);
    if this == day(now) {
        return "Today".into();
    }
    let yesterday = date(now);
    yesterday.set_date(yesterday.get_date() - 1);
    if this == day(yesterday.get_time()) {
        return "Yesterday".into();
    }
    const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let d = date(ts);
    format!(
        "{}, {} {} {}",
        DAYS[d.get_day() as usize % 7],
        d.get_date(),
        MONTHS[d.get_month() as usize % 12],
        d.get_full_year()
    )
}
