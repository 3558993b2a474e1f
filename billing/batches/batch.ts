/**
 * A signed batch: the records of one epoch cut, the Merkle root over their canonical bytes and
 * the gateway's signature over (epoch, root, record count, creation time). It is the oracle's
 * verification request, and every payout later points back to its root.
 */
import { encodeSignature, verifySignature, type WalletKeypair } from "../receipts/ed25519.ts";
import type { UsageRecord } from "../store/types.ts";
import { canonicalUsageRecordText } from "./canonical.ts";
import { leafHash, type MerkleProof, MerkleTree, verifyMerkleProof } from "./merkle.ts";

export const BATCH_DOMAIN = "hypernode-batch:v1:";

export interface SignedBatch {
  epoch: number;
  /** Hex sha256 Merkle root over the records' leaves, in the order of `records`. */
  root: string;
  records: UsageRecord[];
  /** ms since epoch when the gateway cut the batch; signed with the rest. */
  createdAt: number;
  /** Base58 ed25519 signature over `batchSigningBytes`. */
  gatewaySignature: string;
  /** Base58 address of the gateway's keypair. */
  gatewayPublicKey: string;
}

export interface InclusionProof extends MerkleProof {
  jobId: string;
}

export interface BuildBatchInput {
  epoch: number;
  records: readonly UsageRecord[];
  gatewayKeypair: WalletKeypair;
  createdAt: number;
}

interface IndexedTree {
  tree: MerkleTree;
  indexByJobId: Map<string, number>;
}

// Trees are rebuilt lazily and kept per batch object, so asking for many proofs costs one build.
const treeCache = new WeakMap<SignedBatch, IndexedTree>();

export function usageRecordLeaf(record: UsageRecord): Buffer {
  return leafHash(canonicalUsageRecordText(record));
}

function indexRecords(records: readonly UsageRecord[]): IndexedTree {
  const indexByJobId = new Map<string, number>();
  const leaves: Buffer[] = [];
  records.forEach((record, index) => {
    // One job is captured once; two leaves for it would let it be paid twice from one root.
    if (indexByJobId.has(record.jobId)) throw new Error(`job ${record.jobId} appears twice in the batch`);
    indexByJobId.set(record.jobId, index);
    leaves.push(usageRecordLeaf(record));
  });
  return { tree: new MerkleTree(leaves), indexByJobId };
}

/** The Merkle root (hex) over records in the given order; throws on an empty list. */
export function computeBatchRoot(records: readonly UsageRecord[]): string {
  return indexRecords(records).tree.root.toString("hex");
}

function integer(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`);
  return value;
}

/** Domain-separated bytes the gateway signs: the count pins the tree shape, the epoch its window. */
export function batchSigningBytes(
  batch: Pick<SignedBatch, "epoch" | "root" | "createdAt"> & { count: number },
): Buffer {
  const fields = [
    integer(batch.epoch, "epoch"),
    batch.root.toLowerCase(),
    integer(batch.count, "count"),
    integer(batch.createdAt, "createdAt"),
  ];
  return Buffer.from(`${BATCH_DOMAIN}${JSON.stringify(fields)}`, "utf8");
}

export function buildBatch(input: BuildBatchInput): SignedBatch {
  const records = [...input.records];
  const indexed = indexRecords(records);
  const root = indexed.tree.root.toString("hex");
  const signingBytes = batchSigningBytes({
    epoch: input.epoch,
    root,
    count: records.length,
    createdAt: input.createdAt,
  });
  const batch: SignedBatch = {
    epoch: input.epoch,
    root,
    records,
    createdAt: input.createdAt,
    gatewaySignature: encodeSignature(input.gatewayKeypair.sign(signingBytes)),
    gatewayPublicKey: input.gatewayKeypair.address,
  };
  treeCache.set(batch, indexed);
  return batch;
}

/**
 * The gateway's signature over the batch header. It does not look at the records: whether they
 * hash to `root` is `batchRootMatches`' question.
 */
export function verifyBatchSignature(batch: SignedBatch): boolean {
  let signingBytes: Buffer;
  try {
    signingBytes = batchSigningBytes({ ...batch, count: batch.records.length });
  } catch {
    return false;
  }
  return verifySignature(signingBytes, batch.gatewaySignature, batch.gatewayPublicKey);
}

/** Whether the records, in order, hash to the batch's root. */
export function batchRootMatches(batch: SignedBatch): boolean {
  if (batch.records.length === 0) return false;
  try {
    return computeBatchRoot(batch.records) === batch.root.toLowerCase();
  } catch {
    return false;
  }
}

function cachedTree(batch: SignedBatch): IndexedTree {
  const cached = treeCache.get(batch);
  if (cached) return cached;
  const indexed = indexRecords(batch.records);
  treeCache.set(batch, indexed);
  return indexed;
}

/** The inclusion proof of one job's record; undefined when the job is not in the batch. */
export function inclusionProof(batch: SignedBatch, jobId: string): InclusionProof | undefined {
  const indexed = cachedTree(batch);
  const index = indexed.indexByJobId.get(jobId);
  if (index === undefined) return undefined;
  return { jobId, ...indexed.tree.proof(index) };
}

/** Every record's proof, in record order (one tree build). */
export function allInclusionProofs(batch: SignedBatch): InclusionProof[] {
  const { tree } = cachedTree(batch);
  return batch.records.map((record, index) => ({ jobId: record.jobId, ...tree.proof(index) }));
}

export function verifyInclusion(record: UsageRecord, proof: InclusionProof, rootHex: string): boolean {
  if (proof.jobId !== record.jobId) return false;
  let leaf: Buffer;
  try {
    leaf = usageRecordLeaf(record);
  } catch {
    return false;
  }
  return verifyMerkleProof(leaf, proof, rootHex);
}

/** A root must be 32 bytes of lowercase hex; anything else is refused before hashing. */
export function isRootHex(root: string): boolean {
  return /^[0-9a-f]{64}$/.test(root);
}
