/**
 * Writes checkpoint `last` over and over (4 MiB of weights all equal to k, state { k }) and prints
 * k after each write, until it is killed: the atomic-replace test kills it at varied moments.
 * Usage: node --import tsx test/child/checkpoint-writer.ts <checkpointDir>
 */
import { writeCheckpoint } from '../../src/node';

const [dir] = process.argv.slice(2);
const n = 1 << 20;
for (let k = 1; ; k++) {
  const values = new Float32Array(n).fill(k);
  await writeCheckpoint(dir!, 'last', [{ name: 'w', shape: [n], dtype: 'float32', values }], { k });
  process.stdout.write(`${k}\n`);
}
