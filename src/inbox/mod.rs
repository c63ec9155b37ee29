//! The studio's folders and the mail in them: the layout, the mailbox on `inbox/`, Walt's desk, intake of deliveries, the inbox watch, atomic delivery.

pub mod desk;
pub mod intake;
pub mod mailbox;
pub mod studio;
pub mod submit;
pub mod watch;
