// Kubernetes protobuf request bodies (kubectl's typed clients) → Kubernetes JSON. See README.md.
export { decodeKubernetesProtobuf, PROTOBUF_CONTENT_TYPE, ProtobufBodyError } from './decode.ts';
