//! Setting up the instance (owner staff, under Instance in the sidebar): Clients, Campaigns (with
//! a page per campaign: fields, caps, suppliers, change log) and Suppliers (docs/DOMAIN.md §9).

pub mod server_fns;
