/**
 * Deterministic embeddings: the normalised sum of one pseudo-random vector per input token. Texts
 * sharing words therefore point in similar directions, which makes semantic-search demos behave
 * sensibly, and the same text always embeds the same way.
 */
import { hashText, SeededRandom } from "./random.ts";

/** Inputs longer than this contribute only their first tokens (the model's window). */
const MAXIMUM_EMBEDDED_TOKENS = 8192;

/**
 * A unit vector of `dimensions` for the token ids. `outputDimensions` below `dimensions` keeps
 * the leading components and renormalises (Matryoshka truncation, as nomic-embed-text supports).
 */
export function embedTokens(
  modelId: string,
  tokens: ArrayLike<number>,
  dimensions: number,
  outputDimensions = dimensions,
): Float32Array {
  const modelSeed = hashText(modelId);
  const sum = new Float64Array(dimensions);
  const count = Math.min(tokens.length, MAXIMUM_EMBEDDED_TOKENS);
  for (let position = 0; position < count; position++) {
    const random = new SeededRandom(modelSeed + (tokens[position] ?? 0) * 2654435761);
    for (let dimension = 0; dimension < dimensions; dimension++)
      sum[dimension] = (sum[dimension] ?? 0) + random.next() * 2 - 1;
  }
  if (count === 0) {
    // An empty input still gets a valid unit vector.
    const random = new SeededRandom(modelSeed);
    for (let dimension = 0; dimension < dimensions; dimension++) sum[dimension] = random.next() * 2 - 1;
  }
  const size = Math.min(outputDimensions, dimensions);
  let norm = 0;
  for (let dimension = 0; dimension < size; dimension++) norm += (sum[dimension] ?? 0) ** 2;
  norm = Math.sqrt(norm) || 1;
  const vector = new Float32Array(size);
  for (let dimension = 0; dimension < size; dimension++) vector[dimension] = (sum[dimension] ?? 0) / norm;
  return vector;
}

/** Little-endian float32 bytes in base64, as OpenAI's `encoding_format: "base64"`. */
export function float32Base64(vector: Float32Array): string {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64");
}
