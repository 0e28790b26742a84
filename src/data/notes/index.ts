/**
 * Public API of the knowledge-enhanced note builder.
 *
 * @example
 *   import { buildNote, resolveNoteOptions } from './data/notes/index.js';
 *   buildNote(record, resolveNoteOptions({ includeGrade: false, templateSplit: 'test' }), truth);
 */
export {
  buildNote, buildNotes, buildNoteWithTemplates, resolveNoteOptions, DEFAULT_NOTE_OPTIONS, GRADE_WORDS, RECORD_NOTE_FIELDS,
  type NoteOptions, type NoteTruth, type BuiltNote,
} from './builder.js';
export { loadKnowledgeBase, validateKnowledgeBase, type KnowledgeBase } from './kb.js';
export { TEMPLATES, allowedTemplates, isTestTemplate, type TemplateSplit } from './templates.js';
export { mirrorEyeText, mirrorEyeRecord } from './mirror.js';
