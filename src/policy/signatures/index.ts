// Image signature admission: what the control plane wires in (see README.md).
export {
  installImageSignatureAdmission,
  type ImageSignatureCheck,
  type SignatureOutcome,
} from './admission.ts';
