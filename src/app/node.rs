//! This node among those sharing one event store: its id, which store it runs on, and its roles
//! (what it serves and which reactions it may run).

use crate::config::NodeConfig;
use crate::services::{BOOKING_FLOW, EMAIL, PAYMENTS};

/// What a node can be asked to run (`node.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// GraphQL, the console and the commands they send.
    Api,
    BookingFlow,
    Payments,
    Email,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Api, Role::BookingFlow, Role::Payments, Role::Email];

    pub fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::BookingFlow => "booking-flow",
            Role::Payments => "payments",
            Role::Email => "email",
        }
    }

    /// The subscriber a reaction role runs.
    pub fn reaction(self) -> Option<&'static str> {
        match self {
            Role::Api => None,
            Role::BookingFlow => Some(BOOKING_FLOW),
            Role::Payments => Some(PAYMENTS),
            Role::Email => Some(EMAIL),
        }
    }
}

/// Which kind of store holds the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Embedded in the data directory: one node.
    Sled,
    /// PostgreSQL: shared by every node that names it.
    Postgres,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Sled => "sled",
            StoreKind::Postgres => "postgres",
        }
    }
}

/// Why `[node]` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeConfigError {
    #[error("node.roles: {0:?} is not a role (api, booking-flow, payments, email)")]
    UnknownRole(String),
    #[error("node.roles is empty: name at least one of api, booking-flow, payments, email")]
    NoRole,
}

/// This node.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub store: StoreKind,
    pub roles: Vec<Role>,
}

impl Node {
    pub fn from_config(config: &NodeConfig, store: StoreKind) -> Result<Self, NodeConfigError> {
        let mut roles = Vec::new();
        for name in &config.roles {
            let name = name.trim();
            let role =
                Role::ALL.into_iter().find(|role| role.name() == name).ok_or_else(|| NodeConfigError::UnknownRole(name.to_owned()))?;
            if !roles.contains(&role) {
                roles.push(role);
            }
        }
        if roles.is_empty() {
            return Err(NodeConfigError::NoRole);
        }
        roles.sort();
        let id = if config.id.trim().is_empty() { generated_id() } else { config.id.trim().to_owned() };
        Ok(Self { id, store, roles })
    }

    pub fn serves_api(&self) -> bool {
        self.roles.contains(&Role::Api)
    }

    /// The reactions this node may run (each runs on one node at a time among those that may).
    pub fn reactions(&self) -> Vec<&'static str> {
        self.roles.iter().filter_map(|role| role.reaction()).collect()
    }
}

/// The host's name, the process id and a random suffix: unique among nodes, also for two
/// processes on one host, and telling an operator where to look.
fn generated_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    format!("{host}-{}-{suffix}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(roles: &[&str], id: &str) -> NodeConfig {
        NodeConfig { id: id.into(), roles: roles.iter().map(|role| role.to_string()).collect(), ..NodeConfig::default() }
    }

    #[test]
    fn it_should_run_everything_by_default_and_generate_a_distinct_id() {
        let one = Node::from_config(&NodeConfig::default(), StoreKind::Sled).unwrap();
        let other = Node::from_config(&NodeConfig::default(), StoreKind::Sled).unwrap();
        assert!(one.serves_api());
        assert_eq!(one.reactions(), ["booking-flow", "payment-gateway", "email"]);
        assert_ne!(one.id, other.id);
        assert!(one.id.contains(&std::process::id().to_string()));
    }

    #[test]
    fn it_should_run_only_its_roles_under_the_configured_id() {
        let node = Node::from_config(&config(&["payments"], "pay-1"), StoreKind::Postgres).unwrap();
        assert_eq!(node.id, "pay-1");
        assert!(!node.serves_api());
        assert_eq!(node.reactions(), ["payment-gateway"]);
    }

    #[test]
    fn it_should_not_accept_an_unknown_role_or_none() {
        assert_eq!(
            Node::from_config(&config(&["api", "billing"], ""), StoreKind::Sled).unwrap_err(),
            NodeConfigError::UnknownRole("billing".into())
        );
        assert_eq!(Node::from_config(&config(&[], ""), StoreKind::Sled).unwrap_err(), NodeConfigError::NoRole);
    }
}
