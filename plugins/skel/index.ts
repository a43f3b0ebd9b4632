export { decodeJson, parseNetConf, parseValidAttachments, sniffVersion } from './config.js';
export {
  type CniEnv,
  COMMANDS,
  type Environment,
  parseCniArgs,
  parseCniPath,
  parseCommand,
  parseEnv,
  validateContainerId,
  validateIfName,
} from './env.js';
export { type JsonSyntaxError, locateJsonError } from './json.js';
export { main } from './main.js';
export { convertResult, decodeResult, encodeResult, type ResultJson } from './result.js';
export { runSkel, type SkelIO, type SkelOptions } from './skel.js';
export {
  CURRENT_VERSION,
  compareVersions,
  isSupportedVersion,
  looksLikeVersion,
  negotiateVersion,
  requireVerbInVersion,
  SUPPORTED_VERSIONS,
  versionInfo,
} from './version.js';
