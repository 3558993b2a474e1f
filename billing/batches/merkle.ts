/**
 * A binary Merkle tree over sha256 with domain separation: a leaf is sha256(0x00 ‖ data) and an
 * inner node sha256(0x01 ‖ left ‖ right), so a leaf can never be passed off as an inner node
 * (second-preimage attacks on the tree shape).
 *
 * An odd node at the end of a level is PROMOTED unchanged to the next level rather than
 * duplicated: duplication lets the lists [a, b, c] and [a, b, c, c] share a root (Bitcoin's
 * CVE-2012-2459), promotion does not. The batch signature also commits to the leaf count.
 *
 * A proof is only the sibling hashes; the verifier derives left/right and the promoted levels
 * from the leaf index and the leaf count, so a proof cannot choose its own path.
 */
import { createHash } from "node:crypto";

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** `data` as a string is hashed as its UTF-8 bytes (saves a copy per leaf on large batches). */
export function leafHash(data: Uint8Array | string): Buffer {
  return createHash("sha256").update(LEAF_PREFIX).update(data).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest();
}

export interface MerkleProof {
  leafIndex: number;
  leafCount: number;
  /** Hex sibling hashes from the leaf level up; promoted levels contribute none. */
  siblings: string[];
}

export class MerkleTree {
  /** levels[0] are the leaves, the last level holds only the root. */
  private readonly levels: Buffer[][];
  // Hex of every node, made on the first proof: proofs share these strings instead of each
  // re-encoding ~log2(n) hashes.
  private hexLevels: string[][] | undefined;

  constructor(leaves: readonly Buffer[]) {
    if (leaves.length === 0) throw new RangeError("a Merkle tree needs at least one leaf");
    const levels: Buffer[][] = [[...leaves]];
    let current = levels[0] as Buffer[];
    while (current.length > 1) {
      const next: Buffer[] = [];
      for (let index = 0; index + 1 < current.length; index += 2) {
        next.push(nodeHash(current[index] as Buffer, current[index + 1] as Buffer));
      }
      if (current.length % 2 === 1) next.push(current[current.length - 1] as Buffer);
      levels.push(next);
      current = next;
    }
    this.levels = levels;
  }

  get leafCount(): number {
    return (this.levels[0] as Buffer[]).length;
  }

  get root(): Buffer {
    return (this.levels[this.levels.length - 1] as Buffer[])[0] as Buffer;
  }

  proof(leafIndex: number): MerkleProof {
    if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= this.leafCount) {
      throw new RangeError(`leaf index ${leafIndex} is outside 0..${this.leafCount - 1}`);
    }
    this.hexLevels ??= this.levels.map((level) => level.map((node) => node.toString("hex")));
    const siblings: string[] = [];
    let index = leafIndex;
    for (let depth = 0; depth < this.hexLevels.length - 1; depth += 1) {
      const level = this.hexLevels[depth] as string[];
      const siblingIndex = index % 2 === 1 ? index - 1 : index + 1;
      if (siblingIndex < level.length) siblings.push(level[siblingIndex] as string);
      index = Math.floor(index / 2);
    }
    return { leafIndex, leafCount: this.leafCount, siblings };
  }
}

const HEX_HASH = /^[0-9a-f]{64}$/;

/** Recomputes the root from a leaf hash and its proof; undefined when the proof is malformed. */
export function rootFromProof(leaf: Uint8Array, proof: MerkleProof): Buffer | undefined {
  const { leafIndex, leafCount, siblings } = proof;
  if (!Number.isSafeInteger(leafCount) || leafCount < 1) return undefined;
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0 || leafIndex >= leafCount) return undefined;
  let hash: Buffer = Buffer.from(leaf);
  let index = leafIndex;
  let width = leafCount;
  let used = 0;
  while (width > 1) {
    const isRight = index % 2 === 1;
    const hasSibling = isRight || index + 1 < width;
    if (hasSibling) {
      const sibling = siblings[used];
      if (sibling === undefined || !HEX_HASH.test(sibling)) return undefined;
      used += 1;
      const siblingBytes = Buffer.from(sibling, "hex");
      hash = isRight ? nodeHash(siblingBytes, hash) : nodeHash(hash, siblingBytes);
    }
    index = Math.floor(index / 2);
    width = Math.ceil(width / 2);
  }
  // Extra siblings would mean the proof describes a different tree shape than it claims.
  return used === siblings.length ? hash : undefined;
}

export function verifyMerkleProof(leaf: Uint8Array, proof: MerkleProof, rootHex: string): boolean {
  const computed = rootFromProof(leaf, proof);
  return computed !== undefined && computed.toString("hex") === rootHex.toLowerCase();
}
