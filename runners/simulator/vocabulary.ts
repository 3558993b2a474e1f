/**
 * The words the simulator "generates". Every entry is one cl100k token with a leading space, and
 * the pre-tokenizer splits at each leading space, so counting the output text with cl100k gives
 * exactly the number of tokens emitted.
 */
import type { SeededRandom } from "./random.ts";
import { encodeText, type TokenPiece } from "./tokenizer.ts";

const WORDS = `the of and to in is that for it as with was on be by this are from at or an have not but
they which one you were all we can her has there been if more when will would who so no out up into than
them only some could new other time these two may then do first any like my now over such our man me even
most made after also did many before must through back years where much your way well down should because
each just those people how too little state good very make world still own see men work long get here
between both life being under never day same another know while last might us great old year off come since
against go came right used take three states himself few house use during without again place around however
home small found thought went say part once general high upon school every does got united left number course
war until always away something fact though water less public put think almost hand enough far took head yet
government system better set told nothing night end why called find look going asked later knew point next
program city business give group toward young let room side social present given several order national
possible rather second face per among form important often things looked early white case become large big
need four within felt along children saw best church ever least power development light thing seemed family
interest want members mind country area others done turned although open service certain kind problem began
different door thus help sense means whole matter perhaps itself times law human line above name example
action company hands local show whether five history gave today either act feet across taken past quite
anything seen having death week experience model data answer question simple clear result value token request
stream`
  .split(/\s+/)
  .filter((word) => word.length > 0);

/** Punctuation, never doubled nor leading, so it always stays a token of its own. */
const PUNCTUATION = [",", "."];

function toPiece(text: string): TokenPiece {
  const ids = encodeText(text);
  const id = ids[0];
  if (ids.length !== 1 || id === undefined)
    throw new Error(`vocabulary entry ${JSON.stringify(text)} is not one token`);
  return { text, id, json: JSON.stringify(text) };
}

/** Built once at load: output tokens are shared objects, so emitting one allocates nothing. */
export const WORD_PIECES: readonly TokenPiece[] = WORDS.map((word) => toPiece(` ${word}`));
const PUNCTUATION_PIECES: readonly TokenPiece[] = PUNCTUATION.map(toPiece);

/** Yields output tokens for one choice; undefined marks the model's natural end. */
export interface TokenSource {
  next(): TokenPiece | undefined;
  /** True once the last token has been handed out. */
  readonly exhausted: boolean;
}

/** Sentence-like text from the vocabulary; ends after `naturalLength` tokens (or never). */
export class WordTokenSource implements TokenSource {
  private produced = 0;
  private previousWasPunctuation = true;

  constructor(
    private readonly random: SeededRandom,
    private readonly naturalLength: number,
  ) {}

  get exhausted(): boolean {
    return this.produced >= this.naturalLength;
  }

  next(): TokenPiece | undefined {
    if (this.produced >= this.naturalLength) return undefined;
    this.produced++;
    const roll = this.random.next();
    const isLast = this.produced === this.naturalLength;
    if (!this.previousWasPunctuation && roll < 0.1) {
      this.previousWasPunctuation = true;
      // A sentence ends with a full stop; commas break it up inside.
      return isLast || roll < 0.04 ? (PUNCTUATION_PIECES[1] as TokenPiece) : (PUNCTUATION_PIECES[0] as TokenPiece);
    }
    this.previousWasPunctuation = false;
    return this.random.pick(WORD_PIECES);
  }
}

/** Plays back a precomputed token list (JSON output, tool-call arguments). */
export class FixedTokenSource implements TokenSource {
  private position = 0;

  constructor(private readonly pieces: readonly TokenPiece[]) {}

  get exhausted(): boolean {
    return this.position >= this.pieces.length;
  }

  next(): TokenPiece | undefined {
    return this.pieces[this.position++];
  }
}

/** A few words joined, for JSON string values. */
export function samplePhrase(random: SeededRandom, minimumWords: number, maximumWords: number): string {
  const count = random.integer(minimumWords, maximumWords);
  const words: string[] = [];
  for (let index = 0; index < count; index++) words.push(random.pick(WORDS));
  return words.join(" ");
}

export function sampleWord(random: SeededRandom): string {
  return random.pick(WORDS);
}
