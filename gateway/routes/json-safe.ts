/**
 * Money is bigint inside and a decimal string outside: the one conversion every JSON response
 * that may carry base units goes through.
 */
export function jsonSafe<Value>(value: Value): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, entry]) => [String(key), jsonSafe(entry)]));
  if (value instanceof Set) return [...value].map((entry) => jsonSafe(entry));
  if (Array.isArray(value)) return value.map((entry) => jsonSafe(entry));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, jsonSafe(entry)]));
  }
  return value;
}
