export {
  MAX_SEGMENTS,
  MAX_SEGMENT_LENGTH,
  WILDCARD,
  PathSyntaxError,
  parsePath,
  isValidPath,
  pathMatches,
  pathCovers,
  createSelector,
  selectPaths,
  leafPaths,
  changedPaths,
} from "./paths.js";
export type { FieldPath, PathSyntaxReason, PathSelector } from "./paths.js";
