//! The current time (`Date.now()`, ms), refreshed every `every_ms` while
//! `running`: for countdowns, so views need no timers of their own.

use yew::prelude::*;

#[hook]
pub fn use_now(running: bool, every_ms: u32) -> f64 {
    let now = use_state(js_sys::Date::now);
    {
        let now = now.clone();
        use_effect_with((running, every_ms), move |&(running, every_ms)| {
            if running {
                now.set(js_sys::Date::now());
            }
            let interval =
                running.then(|| gloo_timers::callback::Interval::new(every_ms, move || now.set(js_sys::Date::now())));
            move || drop(interval)
        });
    }
    *now
}
