/**
 * The note and record of an eye's mirror image. A horizontally flipped photo of a right eye looks
 * like a photo of a left eye (the optic disc moves to the other side; nasal and temporal stay where
 * the anatomy puts them), so a flip augmentation that keeps "right eye" in the note and in the
 * record teaches the model that the eye's side is noise. The mirror swaps the side words instead.
 */
import type { ExamRecord } from '../types.js';

const SIDE: Readonly<Record<string, string>> = { right: 'left', left: 'right' };

/** 'Right' -> 'Left', 'LEFT' -> 'RIGHT', 'left' -> 'right'. */
function swapSide(w: string): string {
  const o = SIDE[w.toLowerCase()] as string;
  if (w === w.toUpperCase()) return o.toUpperCase();
  return w.charAt(0) === w.charAt(0).toUpperCase() ? o.charAt(0).toUpperCase() + o.slice(1) : o;
}

/**
 * Swap the side where it names the eye: "right eye" / "left-eye" / "eye: right" / "exam eye left" (any
 * case), and OD <-> OS as whole upper-case words. Other uses of the words stay ("lipid left by leakage").
 *
 * @example mirrorEyeText('Fundus photo of the right eye; exudates left by leakage.') // 'Fundus photo of the left eye; exudates left by leakage.'
 */
export function mirrorEyeText(text: string): string {
  return text
    .replace(/\b(right|left)(?=[\s-]+eyes?\b)/gi, swapSide)
    .replace(/(\beyes?[\s:]+)(right|left)\b/gi, (_, pre: string, w: string) => pre + swapSide(w))
    .replace(/\b(OD|OS)\b/g, (w) => (w === 'OD' ? 'OS' : 'OD'));
}

/**
 * The record as it reads for the mirror image: eye and the exam_eye field swapped. Null when the eye
 * is unknown (the flip then changes the photo only).
 *
 * @example mirrorEyeRecord({ ...r, eye: 'right', fields: { exam_eye: 'right' } })?.fields.exam_eye // 'left'
 */
export function mirrorEyeRecord(r: ExamRecord): ExamRecord | null {
  if (r.eye !== 'right' && r.eye !== 'left') return null;
  const other = r.eye === 'right' ? 'left' : 'right';
  const fields = { ...r.fields };
  if (fields['exam_eye'] === r.eye) fields['exam_eye'] = other;
  return { ...r, eye: other, fields };
}
