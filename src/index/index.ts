/** The embedding index: one folder per model (vectors.f32 + meta.sqlite), exact cosine search. */
export { EmbeddingIndex, VECTORS_FILE, META_FILE, COMPACT_FILE, type IndexOptions, type OpenOptions, type SearchOptions } from './embedding-index.js';
export { cosineTopk, defaultChunkRows, type TopkOptions, type TopkResult } from './topk.js';
export {
  validateId, validateKind, validateIdentity, normalizeMeta, unitVector, ITEM_KINDS,
  type ItemKind, type IndexIdentity, type ItemMeta, type StoredMeta, type NewItem, type IndexItem, type SearchHit, type JsonValue,
} from './types.js';
