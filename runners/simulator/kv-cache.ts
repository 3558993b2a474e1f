/**
 * A prefix cache in the manner of vLLM's automatic prefix caching: the prompt is cut into full
 * blocks, each named by a hash chained onto the previous block's, kept in an LRU of fixed
 * capacity. A request reuses the leading run of blocks already present.
 */
import { hashText, hashTokenBlock } from "./random.ts";

export interface KvCacheConfiguration {
  blockTokens: number;
  capacityBlocks: number;
}

export interface KvCacheCounters {
  hitBlocks: number;
  missBlocks: number;
  hitTokens: number;
  missTokens: number;
  hitRate: number;
}

export class PrefixCache {
  /** Block hash → nothing; a Map keeps insertion order, so its first key is the least recently used. */
  private readonly blocks = new Map<number, true>();
  private hitBlocks = 0;
  private missBlocks = 0;
  private hitTokens = 0;
  private missTokens = 0;

  constructor(private readonly configuration: KvCacheConfiguration | false) {}

  /**
   * Looks the prompt's blocks up, then stores them. Returns how many leading prompt tokens were
   * served from the cache. `namespace` (the model) keeps models' caches apart.
   */
  admit(namespace: string, tokens: ArrayLike<number>): number {
    if (this.configuration === false || this.configuration.capacityBlocks <= 0) {
      this.missTokens += tokens.length;
      return 0;
    }
    const { blockTokens } = this.configuration;
    const fullBlocks = Math.floor(tokens.length / blockTokens);
    // Like vLLM, the last prompt token is always computed: a prompt never hits in full.
    const lookupBlocks = Math.floor((tokens.length - 1) / blockTokens);
    let previousHash = hashText(namespace);
    let cachedBlocks = 0;
    let stillHitting = true;
    for (let block = 0; block < fullBlocks; block++) {
      const blockHash = hashTokenBlock(tokens, block * blockTokens, (block + 1) * blockTokens, previousHash);
      previousHash = blockHash;
      const present = this.blocks.delete(blockHash);
      if (stillHitting && present && block < lookupBlocks) cachedBlocks++;
      else stillHitting = false;
      this.blocks.set(blockHash, true);
    }
    this.evictOverflow();
    const cachedTokens = cachedBlocks * blockTokens;
    this.hitBlocks += cachedBlocks;
    this.missBlocks += fullBlocks - cachedBlocks;
    this.hitTokens += cachedTokens;
    this.missTokens += tokens.length - cachedTokens;
    return cachedTokens;
  }

  counters(): KvCacheCounters {
    const lookedUp = this.hitTokens + this.missTokens;
    return {
      hitBlocks: this.hitBlocks,
      missBlocks: this.missBlocks,
      hitTokens: this.hitTokens,
      missTokens: this.missTokens,
      hitRate: lookedUp === 0 ? 0 : this.hitTokens / lookedUp,
    };
  }

  private evictOverflow(): void {
    if (this.configuration === false) return;
    while (this.blocks.size > this.configuration.capacityBlocks) {
      const oldest = this.blocks.keys().next();
      if (oldest.done) return;
      this.blocks.delete(oldest.value);
    }
  }
}
