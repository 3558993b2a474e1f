/**
 * The gateway URL check the k6 scenarios share (pure: also unit-tested under Node). These
 * scripts generate real load, so a non-loopback gateway is refused unless allowed on purpose.
 */
export function checkedBaseUrl(url: string, allowRemote: boolean): string {
  const match = /^(https?):\/\/(\[[^\]]+\]|[^/:]+)(:\d+)?\/?$/.exec(url);
  if (!match) throw new Error(`BASE_URL must look like http://host:port, got "${url}"`);
  const host = match[2] ?? "";
  const loopback = host === "127.0.0.1" || host === "localhost" || host === "[::1]";
  if (!loopback && !allowRemote)
    throw new Error(`BASE_URL ${url} is not loopback; set ALLOW_REMOTE=1 to load a remote gateway on purpose`);
  return url.replace(/\/$/, "");
}

/** ws(s):// twin of an http(s):// base URL, with the WebSocket API's path. */
export function webSocketUrl(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, "ws")}/v1/ws`;
}
