export type { SymmetricEigen } from './symmetric-eigen';
export { matmulF64, symmetricEigen, symmetricMatrixFunction } from './symmetric-eigen';
