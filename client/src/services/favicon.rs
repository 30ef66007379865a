//! The tab's icon shows the unread count: a badge drawn on a canvas over
//! the app's icon, set as the `<link rel="icon">`'s data URL, and the
//! page's own icon put back at zero. Drawn with the canvas API, so no
//! markup is built from strings.

use std::cell::RefCell;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, Document, HtmlCanvasElement, HtmlLinkElement};

/// Pixels per side; browsers scale it down to the tab's 16 or 32.
const SIZE: u32 = 32;
/// The app's blue (index.html's icon) and the badge's colours.
const BLUE: &str = "#1d6ff2";
const BADGE: &str = "#c62828";
const BADGE_TEXT: &str = "#ffffff";

thread_local! {
    /// The icon index.html declared, put back when nothing is unread.
    static ORIGINAL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What the badge says: the count, or "99+" past two digits.
pub fn badge_text(unread: u32) -> String {
    if unread > 99 {
        "99+".into()
    } else {
        unread.to_string()
    }
}

/// Shows `unread` on the tab's icon (none at zero). Does nothing where
/// there is no document or canvas (the component tests' runner has both).
pub fn show_unread(unread: u32) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else { return };
    let Some(link) = icon_link(&doc) else { return };
    ORIGINAL.with(|o| {
        o.borrow_mut().get_or_insert_with(|| link.href());
    });
    let href = if unread == 0 { ORIGINAL.with(|o| o.borrow().clone()) } else { draw(&doc, &badge_text(unread)) };
    if let Some(href) = href {
        link.set_href(&href);
    }
}

/// The page's `<link rel="icon">`, made if it has none.
fn icon_link(doc: &Document) -> Option<HtmlLinkElement> {
    if let Some(link) = doc.query_selector("link[rel~='icon']").ok().flatten() {
        return link.dyn_into().ok();
    }
    let link: HtmlLinkElement = doc.create_element("link").ok()?.dyn_into().ok()?;
    link.set_rel("icon");
    doc.head()?.append_child(&link).ok()?;
    Some(link)
}

/// The icon with a badge saying `text`, as a PNG data URL.
fn draw(doc: &Document, text: &str) -> Option<String> {
    let canvas: HtmlCanvasElement = doc.create_element("canvas").ok()?.dyn_into().ok()?;
    canvas.set_width(SIZE);
    canvas.set_height(SIZE);
    let ctx: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let s = f64::from(SIZE);
    // The speech bubble of index.html's icon (16×12 with radius 3, doubled).
    ctx.set_fill_style_str(BLUE);
    rounded_rect(&ctx, 0.0, 0.0, s, s * 0.75, 6.0);
    ctx.fill();
    // The badge: a circle at the bottom right, wider for more digits.
    let r = s * 0.34;
    let (cx, cy) = (s - r, s - r);
    ctx.set_fill_style_str(BADGE);
    ctx.begin_path();
    let _ = ctx.arc(cx, cy, r, 0.0, std::f64::consts::TAU);
    ctx.fill();
    ctx.set_fill_style_str(BADGE_TEXT);
    let px = if text.len() > 2 {
        11
    } else if text.len() > 1 {
        14
    } else {
        17
    };
    ctx.set_font(&format!("bold {px}px sans-serif"));
    ctx.set_text_align("center");
    ctx.set_text_baseline("middle");
    let _ = ctx.fill_text_with_max_width(text, cx, cy + 1.0, 2.0 * r - 2.0);
    canvas.to_data_url_with_type("image/png").ok()
}

fn rounded_rect(ctx: &CanvasRenderingContext2d, x: f64, y: f64, w: f64, h: f64, r: f64) {
    ctx.begin_path();
    ctx.move_to(x + r, y);
    let _ = ctx.arc_to(x + w, y, x + w, y + h, r);
    let _ = ctx.arc_to(x + w, y + h, x, y + h, r);
    let _ = ctx.arc_to(x, y + h, x, y, r);
    let _ = ctx.arc_to(x, y, x + w, y, r);
    ctx.close_path();
}

#[cfg(test)]
mod tests {
    use super::badge_text;

    #[test]
    fn the_badge_counts_up_to_99() {
        assert_eq!(badge_text(1), "1");
        assert_eq!(badge_text(42), "42");
        assert_eq!(badge_text(99), "99");
        assert_eq!(badge_text(100), "99+");
    }
}
