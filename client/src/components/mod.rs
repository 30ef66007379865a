//! One component per file. They render state and call back; none of them
//! touches the socket, storage or timers (those are in `hooks/`).

pub mod chat_screen;
pub mod composer;
pub mod join_form;
pub mod linkify;
pub mod message_list;
pub mod message_view;
pub mod search;
pub mod sidebar;
pub mod status_banner;
pub mod when;

/// A user's colour for a `style` attribute. Colours come from other users
/// (through the server); anything but `#rrggbb` is replaced, so a colour can
/// never smuggle in other CSS.
pub fn css_color(color: &str) -> String {
    protocol::validate::color(color).unwrap_or_else(|_| "inherit".into())
}

/// The panel backgrounds of the light and dark themes (style.css `--panel`
/// and `--bg`: the darker light one and the lighter dark one).
const LIGHT_BG: [u8; 3] = [0xf7, 0xf7, 0xf8];
const DARK_BG: [u8; 3] = [0x1c, 0x1c, 0x1f];
/// WCAG AA for normal text.
const MIN_CONTRAST: f64 = 4.5;

/// A name's colour as CSS custom properties: the user's colour made dark
/// enough for the light theme and light enough for the dark one (style.css
/// picks one), so every name is readable on both.
pub fn name_color(color: &str) -> String {
    let Some(rgb) = parse_hex(&css_color(color)) else { return String::new() };
    let light = readable_on(rgb, LIGHT_BG, [0, 0, 0]);
    let dark = readable_on(rgb, DARK_BG, [255, 255, 255]);
    format!("--name-light: {}; --name-dark: {}", hex(light), hex(dark))
}

fn parse_hex(c: &str) -> Option<[u8; 3]> {
    let c = c.strip_prefix('#')?;
    let byte = |i: usize| u8::from_str_radix(c.get(i..i + 2)?, 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn luminance(rgb: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}

pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// `rgb` mixed towards `toward` (black or white) in small steps until it
/// reaches [`MIN_CONTRAST`] on `bg`.
fn readable_on(rgb: [u8; 3], bg: [u8; 3], toward: [u8; 3]) -> [u8; 3] {
    let mix = |t: f64| {
        let m = |i: usize| (f64::from(rgb[i]) + (f64::from(toward[i]) - f64::from(rgb[i])) * t).round() as u8;
        [m(0), m(1), m(2)]
    };
    (0..=20).map(|step| mix(f64::from(step) / 20.0)).find(|c| contrast(*c, bg) >= MIN_CONTRAST).unwrap_or(toward)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_colours_reach_a_style_attribute() {
        assert_eq!(super::css_color("#A0B1C2"), "#a0b1c2");
        assert_eq!(super::css_color("red; background: url(x)"), "inherit");
        assert_eq!(name_color("red; background: url(x)"), "");
    }

    #[test]
    fn name_colours_are_readable_in_both_themes() {
        for c in ["#ffff00", "#000000", "#1d6ff2", "#ffffff", "#888888", "#e91e63"] {
            let style = name_color(c);
            let colours: Vec<[u8; 3]> =
                style.split("; ").map(|d| parse_hex(d.split(": ").nth(1).unwrap()).unwrap()).collect();
            let (light, dark) = (colours[0], colours[1]);
            assert!(contrast(light, LIGHT_BG) >= MIN_CONTRAST, "{c} on light: {style}");
            assert!(contrast(dark, DARK_BG) >= MIN_CONTRAST, "{c} on dark: {style}");
            // Also against the other background of each theme.
            assert!(contrast(light, [255, 255, 255]) >= MIN_CONTRAST);
            assert!(contrast(dark, [0x14, 0x14, 0x16]) >= MIN_CONTRAST);
        }
        // A colour that is already fine is kept.
        assert!(name_color("#1d4ed8").starts_with("--name-light: #1d4ed8"));
    }
}
