//! The single-process bus.

use super::{Bus, Event};
use crate::hub::Hub;
use std::sync::Arc;

/// The single-process bus: publishing is delivering to the local hub.
pub(crate) struct LocalBus {
    hub: Arc<Hub>,
}

impl LocalBus {
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl Bus for LocalBus {
    fn publish(&self, event: Event) {
        match event {
            Event::Entry { project, entry, frame, origin } => self.hub.deliver(&project, &entry, &frame, origin),
            Event::Typing { project, from, to, active } => self.hub.typing(&project, &from, &to, active),
            Event::ToUser { project, user, frame } => self.hub.to_user(&project, &user, &frame),
            Event::ProfileChanged { project, profile, frame } => self.hub.update_profile(&project, &profile, &frame),
            Event::ToProject { project, frame } => self.hub.to_project(&project, &frame),
            Event::CloseUser { project, user, code } => {
                self.hub.close_user(&project, &user, code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::conformance::{run_all, Node};
    use crate::metrics::Metrics;

    #[test]
    fn the_local_bus_passes_the_bus_conformance_suite() {
        let hub = Arc::new(Hub::new(Arc::new(Metrics::default())));
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(hub.clone()));
        run_all(&[Node { hub, bus }], |_| {});
    }
}
