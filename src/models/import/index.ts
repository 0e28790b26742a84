/** Weight import from Hugging Face and timm checkpoints (local files only). */
export { readStateDictFile } from './files.js';
export { renameKeys, stripPrefix, rows, type Renamed, type Rule } from './rename.js';
export { vitFromHf, vitFromTimm, vitFromFormat, type VitWeightFormat } from './vit.js';
export { bertFromHf, textConfigFromHf, checkTextConfig, loadBertFolder, type BertWeights, type BertFolder } from './bert.js';
export { loadPretrainedImage, loadPretrainedText } from './pretrained.js';
