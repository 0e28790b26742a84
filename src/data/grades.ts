/**
 * The DR grade scales, stated once for every layer: ICDR (the International Clinical DR scale) and
 * SDRG (the Scottish DR grading scheme) both run 0..4, so a grade head has NUM_GRADES outputs;
 * referable DR is ICDR >= REFERABLE_FROM_GRADE. A grade that is not known is UNKNOWN_GRADE wherever a
 * grade is a number (prepared items, batch tensors, evaluation arrays): -100, PyTorch's ignore
 * index, so a batch's grade tensor goes to the cross-entropy as it is.
 *
 * @example
 *   const known = grades.filter((g) => g !== UNKNOWN_GRADE); // each in 0..NUM_GRADES - 1
 */

/** Classes per scale: ICDR 0-4 and SDRG 0-4. */
export const NUM_GRADES = 5;

/** The lowest referable ICDR grade (moderate NPDR): referable DR is ICDR >= 2. */
export const REFERABLE_FROM_GRADE = 2;

/** An unknown grade: PyTorch's cross-entropy ignore index. */
export const UNKNOWN_GRADE = -100;
