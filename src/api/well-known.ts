// Annotations and labels that Strata's components read and write, in one place.

/** On a Node: the agent's self-signed serving certificate (base64 PEM), which the server pins. */
export const AGENT_CERT_ANNOTATION = 'strata.dev/agent-serving-cert';
