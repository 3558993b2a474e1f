/**
 * Types for the part of better-sqlite3 12 the billing store uses. The package ships none and
 * @types/better-sqlite3 is not installed; the shapes follow @types/better-sqlite3, so switching
 * to it later needs no code change (delete this file).
 */
declare module "better-sqlite3" {
  namespace BetterSqlite3 {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    /** `Parameters` is a tuple of positional parameters, or one object of named ones. */
    interface Statement<Parameters extends unknown[] | object = unknown[], Row = unknown> {
      readonly source: string;
      readonly reader: boolean;
      run(...parameters: Parameters extends unknown[] ? Parameters : [Parameters]): RunResult;
      get(...parameters: Parameters extends unknown[] ? Parameters : [Parameters]): Row | undefined;
      all(...parameters: Parameters extends unknown[] ? Parameters : [Parameters]): Row[];
      iterate(...parameters: Parameters extends unknown[] ? Parameters : [Parameters]): IterableIterator<Row>;
      safeIntegers(toggle?: boolean): this;
    }

    type TransactionFunction<Arguments extends unknown[], Result> = ((...values: Arguments) => Result) & {
      default(...values: Arguments): Result;
      deferred(...values: Arguments): Result;
      immediate(...values: Arguments): Result;
      exclusive(...values: Arguments): Result;
    };

    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** ms to wait on a locked database before SQLITE_BUSY. */
      timeout?: number;
    }

    interface PragmaOptions {
      simple?: boolean;
    }

    interface Database {
      readonly name: string;
      readonly open: boolean;
      readonly inTransaction: boolean;
      readonly memory: boolean;
      prepare<Parameters extends unknown[] | object = unknown[], Row = unknown>(
        source: string,
      ): Statement<Parameters, Row>;
      transaction<Arguments extends unknown[], Result>(
        body: (...values: Arguments) => Result,
      ): TransactionFunction<Arguments, Result>;
      exec(source: string): this;
      pragma(source: string, options?: PragmaOptions): unknown;
      defaultSafeIntegers(toggle?: boolean): this;
      close(): this;
    }

    interface DatabaseConstructor {
      new (filename?: string, options?: Options): Database;
      (filename?: string, options?: Options): Database;
    }
  }

  const Database: BetterSqlite3.DatabaseConstructor;
  // Lets `Database.Database`, `Database.Statement` etc. name the types, as with @types.
  namespace Database {
    type Database = BetterSqlite3.Database;
    type Statement<Parameters extends unknown[] | object = unknown[], Row = unknown> = BetterSqlite3.Statement<
      Parameters,
      Row
    >;
    type RunResult = BetterSqlite3.RunResult;
    type Options = BetterSqlite3.Options;
    type TransactionFunction<Arguments extends unknown[], Result> = BetterSqlite3.TransactionFunction<
      Arguments,
      Result
    >;
  }
  export = Database;
}
