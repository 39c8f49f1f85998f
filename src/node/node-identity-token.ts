// The join token's shape for the CLI (`strata token create|list|delete`), which may import node/ but not
// auth/: a light re-export (node:crypto only) of src/auth/bootstrap/token.ts.
export {
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_PREFIX,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  TokenKey,
  expirationOf,
  formatToken,
  generateToken,
  isTokenId,
  parseToken,
  secretField,
  secretName,
  tokenSecret,
} from '../auth/bootstrap/token.ts';
