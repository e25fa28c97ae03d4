//! Which node answered (`node`): its id, store and roles, and for the admin the reactions it
//! runs now.

use juniper::graphql_object;

use crate::api::Context;
use crate::app::Caller;

pub struct NodeInfoObject;

/// This node and the cluster it belongs to.
#[graphql_object(name = "NodeInfo", context = Context)]
impl NodeInfoObject {
    /// Stable for the life of the process; unique among the nodes sharing a store.
    fn id(context: &Context) -> &str {
        &context.app.node().id
    }

    /// The event store's kind: `sled` (embedded) or `postgres`.
    fn store(context: &Context) -> &str {
        context.app.node().store.name()
    }

    /// The services this node runs (e.g. api, booking-flow, payments, email).
    fn roles(context: &Context) -> Vec<&str> {
        context.app.node().roles.iter().map(|role| role.name()).collect()
    }

    /// Admin only (null for others): the reactions (process managers, handlers) this node runs now.
    fn running(context: &Context) -> Option<Vec<String>> {
        matches!(context.caller, Caller::Admin).then(|| context.app.runtime().subscribers().reactions_running_here())
    }
}
