/** Module importers for selectBackend tests. */

/** An importer where the tfjs-node packages are not installed, as on this machine. */
export const withoutNode = async (specifier: string): Promise<unknown> => {
  if (specifier.startsWith('@tensorflow/tfjs-node')) {
    throw Object.assign(new Error(`Cannot find package '${specifier}'`), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
  }
  return import(specifier);
};
