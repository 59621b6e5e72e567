// Silero VAD, the anchor of bench/vad_bench, run the upstream way
// (silero-vad's OnnxWrapper / VADIterator): 16 kHz audio in chunks of 512
// samples, each preceded by the last 64 samples of the one before (zeros at
// the start), the state [2, 1, 128] carried from chunk to chunk, inputs
// `input`, `state`, `sr`; one intra-op thread.
//   node silero.mjs v5|v6 FILE.f32...   (raw little-endian float32, mono, 16 kHz)
// Prints one JSON line: per file the speech probability of each chunk, and
// the CPU time spent per chunk (process user + system time over the runs).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const [version, ...files] = process.argv.slice(2);
if (!['v5', 'v6'].includes(version) || files.length === 0) {
  console.error('usage: node silero.mjs v5|v6 FILE.f32...');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const model = path.join(here, 'node_modules/@ricky0123/vad-web/dist', `silero_vad_${version}.onnx`);
const session = await ort.InferenceSession.create(model, {
  intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
});
const CHUNK = 512, CONTEXT = 64;
const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
const input = new Float32Array(CONTEXT + CHUNK);
const results = [];
let chunks = 0;
const cpu0 = process.cpuUsage();
for (const file of files) {
  const bytes = fs.readFileSync(file);
  const audio = new Float32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.length / 4));
  let state = new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
  input.fill(0);
  const probs = [];
  for (let at = 0; at + CHUNK <= audio.length; at += CHUNK) {
    input.copyWithin(0, CHUNK);                 // the previous chunk's last 64 samples
    input.set(audio.subarray(at, at + CHUNK), CONTEXT);
    const out = await session.run({ input: new ort.Tensor('float32', input, [1, CONTEXT + CHUNK]), state, sr });
    probs.push(out.output.data[0]);
    state = out.stateN;
    ++chunks;
  }
  results.push(probs);
}
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ version, chunks, cpu_us_per_chunk: (cpu.user + cpu.system) / Math.max(1, chunks),
                             probabilities: results }));
