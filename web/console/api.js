// The console's only ways to the server: GraphQL over HTTP and WebSocket (graphql-transport-ws),
// and the overview's samples, all with the admin token kept in this tab's session storage.

const KEY = 'konnektid.console.token';

export const token = () => sessionStorage.getItem(KEY);
export const setToken = (value) => sessionStorage.setItem(KEY, value.trim());
export const clearToken = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

// Runs one named operation; answers `data`, throws the first error with its code.
export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token()}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError(`the server cannot be reached (${error.message})`, 'NETWORK');
  }
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code ?? 'INTERNAL');
  }
  return body.data;
}

// The server's own figures over the last minutes (GET /console/overview).
export async function overview() {
  const response = await fetch('/console/overview', { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new ApiError(`the overview answered HTTP ${response.status}`, response.status === 401 ? 'UNAUTHENTICATED' : 'INTERNAL');
  return response.json();
}

// A subscription over graphql-transport-ws. Calls `next(data)` per result and `failed(error)`
// once if it breaks; answers a function that ends it.
export function subscribe(query, variables, { next, failed }) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  const socket = new WebSocket(url, 'graphql-transport-ws');
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ id: '1', type: 'complete' }));
    socket.close(1000);
  };
  socket.addEventListener('open', () => {
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token()}` } }));
  });
  socket.addEventListener('message', (message) => {
    const frame = JSON.parse(message.data);
    switch (frame.type) {
      case 'connection_ack':
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
        break;
      case 'ping':
        socket.send(JSON.stringify({ type: 'pong' }));
        break;
      case 'next':
        if (frame.payload.errors?.length) {
          failed(new ApiError(frame.payload.errors[0].message, frame.payload.errors[0].extensions?.code));
        } else {
          next(frame.payload.data);
        }
        break;
      case 'error':
        failed(new ApiError(frame.payload?.[0]?.message ?? 'the subscription was refused', frame.payload?.[0]?.extensions?.code));
        end();
        break;
      default:
        break;
    }
  });
  socket.addEventListener('close', (event) => {
    if (!ended) failed(new ApiError(`the live connection closed (${event.code})`, 'NETWORK'));
    ended = true;
  });
  return end;
}

// The fields every list of events asks for.
export const EVENT_FIELDS = 'position eventId type aggregate aggregateId version recordedAt correlationId causationId';
