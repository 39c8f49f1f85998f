// Image references: `name[:tag][@sha256:…]` with an optional registry host, in the grammar of
// distribution/reference (what docker, podman and skopeo accept). Docker's defaults apply as naming only
// (`busybox` → `docker.io/library/busybox:latest`); nothing here touches the network.
import { parseDigest, type Digest } from './digest.ts';
import { ImageError } from './errors.ts';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';
/** The API host behind docker.io. */
const DOCKER_HUB_API = 'registry-1.docker.io';

export interface Reference {
  /** Registry host[:port], e.g. "docker.io", "127.0.0.1:5000", "[::1]:5000". */
  registry: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  repository: string;
  /** Set unless the reference is by digest only. */
  tag?: string;
  digest?: Digest;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const MAX_NAME = 255;

function bad(input: string, why: string): ImageError {
  return new ImageError('InvalidReference', `invalid image reference ${JSON.stringify(input)}: ${why}`);
}

/** Parses and normalises a reference; a tag defaults to "latest" unless a digest is given. */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || input.trim() === '') throw bad(String(input), 'it is empty');
  if (input !== input.trim() || /\s/.test(input)) throw bad(input, 'it contains whitespace');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1), 'digest');
    } catch (err) {
      throw bad(input, (err as Error).message);
    }
    rest = rest.slice(0, at);
  }
  // The tag is after the last colon that follows the last slash (a colon before it is a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      throw bad(input, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (rest === '') throw bad(input, 'the repository name is missing');

  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const first = rest.slice(0, slash);
    // As docker: the first component is a host if it has a dot or a port, or is "localhost".
    if (first.includes('.') || first.includes(':') || first.startsWith('[') || first === 'localhost') {
      if (!DOMAIN.test(first))
        throw bad(input, `registry host ${JSON.stringify(first)} is not a valid host[:port]`);
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !path.includes('/')) path = `library/${path}`;
  for (const component of path.split('/')) {
    if (component === '') throw bad(input, 'the repository path has an empty component');
    if (/[A-Z]/.test(component))
      throw bad(input, `repository name ${JSON.stringify(path)} must be lowercase`);
    if (!COMPONENT.test(component))
      throw bad(
        input,
        `repository component ${JSON.stringify(component)} may only contain [a-z0-9] separated by . _ __ -`,
      );
  }
  if (registry.length + 1 + path.length > MAX_NAME)
    throw bad(input, `the name is longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository: path, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** `registry/repository` without tag or digest. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The canonical, fully qualified form: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  return `${repositoryName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The short form docker prints: no docker.io/ or library/ prefix. */
export function familiarReference(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.registry === DEFAULT_REGISTRY) {
    name =
      ref.repository.startsWith('library/') && ref.repository.split('/').length === 2
        ? ref.repository.slice('library/'.length)
        : ref.repository;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The host to speak the distribution API to. */
export function registryApiHost(ref: Reference): string {
  return ref.registry === DEFAULT_REGISTRY ? DOCKER_HUB_API : ref.registry;
}

/** What a manifest request names: the digest when pinned, else the tag. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** The same repository with another tag or digest. */
export function withTarget(ref: Reference, target: { tag?: string; digest?: Digest }): Reference {
  return { registry: ref.registry, repository: ref.repository, ...target };
}

/** Loopback registries are spoken to over plain http, like docker's built-in insecure 127.0.0.0/8. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '');
  return host === 'localhost' || /^127(?:\.[0-9]{1,3}){3}$/.test(host) || host === '[::1]';
}
