//! One component per file. They render state and call back; none of them
//! touches the socket, storage or timers (those are in `hooks/`).

pub mod chat_screen;
pub mod composer;
pub mod join_form;
pub mod message_list;
pub mod sidebar;
pub mod status_banner;

/// A user's colour for a `style` attribute. Colours come from other users
/// (through the server); anything but `#rrggbb` is replaced, so a colour can
/// never smuggle in other CSS.
pub fn css_color(color: &str) -> String {
    protocol::validate::color(color).unwrap_or_else(|_| "inherit".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_hex_colours_reach_a_style_attribute() {
        assert_eq!(super::css_color("#A0B1C2"), "#a0b1c2");
        assert_eq!(super::css_color("red; background: url(x)"), "inherit");
    }
}
