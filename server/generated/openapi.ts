// The contract's types are generated once, into the SDK (clients/sdk/generated/openapi.ts, by
// `npm run codegen`): the server and its clients type-check against the very same file.
export type * from '../../clients/sdk/generated/openapi.js';
