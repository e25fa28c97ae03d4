// Starts GraphiQL on this server's /graphql. Loaded after React, ReactDOM and GraphiQL (all
// served by the server itself, so this works without internet access).
'use strict';

const EXAMPLE = `# Welcome to the Konnektid GraphQL API.
#
# Run the operation below with the ▶ button
# (or Ctrl-Enter). The Docs pane on the left
# lists every field.
#
# Sign in: most fields need a bearer token.
# Open the "Headers" tab below and put
#   {"Authorization": "Bearer <token>"}
# with the token that registerMember or login
# returns, or the admin token (auth.admin_token,
# else the file <data_dir>/admin-token).
# The admin sees the log in /console.

query Catalogue {
  courses(first: 5) {
    totalCount
    edges {
      node { id title priceCents currency seatsAvailable teacher { displayName } }
    }
  }
  stats { members coursesPublished bookingsConfirmed }
}
`;

function start() {
  const fetcher = GraphiQL.createFetcher({ url: `${window.location.origin}/graphql` });
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery: EXAMPLE,
      defaultHeaders: '{}',
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
    }),
  );
}

start();
