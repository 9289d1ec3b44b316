/**
 * @igm/linalg: dense symmetric eigendecomposition, spectral matrix functions and matrix products
 * on row-major Float64Arrays (no tensors), for the small matrices of @igm: the PCA of image
 * features in @igm/datasets and the flat-projection matrices of @igm/flat-projection and @igm/igm.
 */
export type { SymmetricEigen } from './symmetric-eigen';
export { matmulF64, symmetricEigen, symmetricMatrixFunction } from './symmetric-eigen';
