export { filterCovers, parseAclFile, ResolvedAcl } from './acl.ts'
export type { AclFile, AclIdentity, AclResource, GroupAction, StreamAction } from './acl.ts'
export { defaultFailureLimiterOptions, FailureLimiter, type FailureLimiterOptions } from './failure-limiter.ts'
export { authorizeHttpRequest, httpRouteResources, openHttpPaths } from './http-access.ts'
export { mqttAuthenticator } from './mqtt.ts'
export { nativeOpResources } from './native-access.ts'
export {
  defaultScryptParams,
  formatEntry,
  formatPasswordFile,
  hashPassword,
  parsePasswordFile,
  usernameProblem,
  verifyPassword,
  type PasswordEntry,
  type ScryptParams,
} from './password-file.ts'
export {
  Principal,
  SecurityPolicy,
  type AuthFailureReason,
  type AuthResult,
  type AuthSource,
  type Credentials,
  type SecurityPolicyOptions,
} from './security-policy.ts'
